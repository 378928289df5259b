"""Live view under a flood: 5 MB/s of session output through the fake review client into the TUI.

Prints, for an idle run (the baseline) and a flooded run of the same app in the same process:
  - repaints per second of the terminal view (capped by design at ~30),
  - input latency: a key event posted to the app until its action runs (median and worst),
  - how much output was emulated vs skipped to keep up, and the scrollback size,
  - memory: Python heap peak (tracemalloc) over the run.

Usage: python bench/tui_bench.py [--seconds 4] [--rate-mb 5]
Headless (Textual's test driver), on this machine's 2 cores; figures are this run's, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events  # noqa: E402

from bastion.clock import SystemClock  # noqa: E402
from tui.app import create_app  # noqa: E402
from tui.fake import FakeReviewClient  # noqa: E402
from tui.screens.live import LivePane  # noqa: E402

SESSION = "s-7f3a"


def flood_chunk(size: int, start: int) -> tuple[str, int]:
    """Coloured log lines, about `size` characters (what `tail -f` or a noisy build prints)."""
    lines = []
    n = start
    total = 0
    while total < size:
        line = f"\x1b[3{n % 7 + 1}m{n:09d}\x1b[0m build step {n % 97:02d}: compiling module_{n % 1000:03d}.c ok\r\n"
        lines.append(line)
        total += len(line)
        n += 1
    return "".join(lines), n


async def run(seconds: float, rate: float, flood: bool) -> dict:
    clock = SystemClock()
    fake = FakeReviewClient(clock)
    app = create_app(fake, clock=clock, cursor_blink=False)
    latencies: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        session = next(s for s in await fake.list_sessions() if s.id == SESSION)
        await app.watch_session(session)
        await pilot.pause(0.5)
        pane = app.screen.query_one(LivePane)
        view = pane.view
        pending: list[float] = []

        def on_key_action() -> None:
            if pending:
                latencies.append(time.perf_counter() - pending.pop(0))
            view.scroll = 0

        view.action_scroll_live = on_key_action  # type: ignore[method-assign]
        tracemalloc.start()
        repaints0 = view.repaints
        chunk_size = 32 * 1024
        interval = chunk_size / rate
        started = time.perf_counter()
        next_chunk = started
        next_key = started + 0.1
        # Made before the clock starts: generating 5 MB/s of text in Python would itself eat a core.
        chunks = []
        n = 0
        for _ in range(16):
            chunk, n = flood_chunk(chunk_size, n)
            chunks.append(chunk)
        k = 0
        sent = 0
        while (now := time.perf_counter()) - started < seconds:
            while flood and now >= next_chunk:  # catch up: a socket would have delivered it all
                chunk = chunks[k % len(chunks)]
                k += 1
                fake.emit_output(SESSION, chunk)
                sent += len(chunk)
                next_chunk += interval
            if now >= next_key and not pending:
                pending.append(time.perf_counter())
                app.post_message(events.Key("end", None))
                next_key = now + 0.1
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - started
        await pilot.pause(0.3)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {
            "sent_mb_s": sent / elapsed / 1e6,
            "repaints_s": (view.repaints - repaints0) / elapsed,
            "lat_median_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
            "lat_max_ms": max(latencies) * 1000 if latencies else float("nan"),
            "keys": len(latencies),
            "emulated_mb": pane.model.fed / 1e6,
            "skipped_mb": pane.model.skipped / 1e6,
            "scrollback": pane.model.history_size,
            "heap_peak_mb": peak / 1e6,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rate-mb", type=float, default=5.0)
    args = parser.parse_args()
    idle = asyncio.run(run(args.seconds, args.rate_mb * 1e6, flood=False))
    flooded = asyncio.run(run(args.seconds, args.rate_mb * 1e6, flood=True))
    print(f"tui live view, 120x40, {args.seconds:g} s per run, target {args.rate_mb:g} MB/s of output")
    print(f"{'':24}{'idle (baseline)':>18}{'flooded':>14}{'ratio':>9}")
    rows = [("output sent, MB/s", "sent_mb_s", "{:.2f}"), ("repaints/s", "repaints_s", "{:.1f}"),
            ("key latency median, ms", "lat_median_ms", "{:.1f}"), ("key latency max, ms", "lat_max_ms", "{:.1f}"),
            ("keys measured", "keys", "{:d}"), ("emulated, MB", "emulated_mb", "{:.2f}"),
            ("skipped to keep up, MB", "skipped_mb", "{:.2f}"), ("scrollback lines", "scrollback", "{:d}"),
            ("Python heap peak, MB", "heap_peak_mb", "{:.1f}")]
    for label, key, fmt in rows:
        a, b = idle[key], flooded[key]
        ratio = f"{b / a:.2f}x" if isinstance(a, (int, float)) and a else ""
        print(f"{label:24}{fmt.format(a):>18}{fmt.format(b):>14}{ratio:>9}")


if __name__ == "__main__":
    main()
