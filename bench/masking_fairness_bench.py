"""One session's dense output against everyone else's latency: does a slow-to-mask stream stall the loop?

    python bench/masking_fairness_bench.py [--seconds 6] [--mib 4]

Starts a throw-away sshd and `bastion serve` in front of it (as gateway_bench does). Session B runs
`true` over one open connection through the gateway, back to back, and its exec round trip is measured
twice in the same run: with the gateway otherwise idle (the baseline), and while session A streams output
dense with trigger words (`4111 …`, `<password>`, `token=`: the masker's slowest kind of input, well
under 1 MiB/s on its own) through the gateway. Prints B's p50 / p99 both ways and their ratio, and A's
throughput. Before per-session masking slices, one 32 KiB packet of such output held the event loop for
tens to hundreds of milliseconds; see output_masking.py. Bounded in time; everything on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _gateway_setup import start_rig  # noqa: E402
from gateway_bench import ms, pct  # noqa: E402

DENSE_LINE = "4111 4111 <password>a</password> token=x pass secret 4111 1111 1111 1111 akia ghp_ eyJ"


async def exec_loop(conn, seconds: float) -> list[float]:  # noqa: ANN001
    out: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        done = await asyncio.wait_for(conn.run("true"), 60)
        out.append(time.perf_counter() - t0)
        if done.exit_status != 0:
            raise RuntimeError(f"`true` exited {done.exit_status}: {done.stderr!r}")
    return out


async def dense_stream(conn, mib: float, stop: asyncio.Event) -> tuple[int, float]:  # noqa: ANN001
    total, t0 = 0, time.perf_counter()
    while not stop.is_set():
        done = await asyncio.wait_for(
            conn.run(f"yes '{DENSE_LINE}' | head -c {int(mib * (1 << 20))}"), 600)
        total += len(done.stdout or b"")
    return total, time.perf_counter() - t0


async def main(args: argparse.Namespace) -> None:
    rig = start_rig()
    try:
        ep = rig.via_gateway
        b = await ep.connect(encoding=None)
        a = await ep.connect(encoding=None)
        await exec_loop(b, 1.0)  # warm-up: pooled upstream connection, caches
        idle = await exec_loop(b, args.seconds)
        stop = asyncio.Event()
        streamer = asyncio.create_task(dense_stream(a, args.mib, stop))
        await asyncio.sleep(0.5)
        busy = await exec_loop(b, args.seconds)
        stop.set()
        total, elapsed = await streamer
        b.close()
        a.close()
    finally:
        rig.close()
    print(f"session B, `true` round trip over {len(idle)} / {len(busy)} execs")
    print(f"{'':<28}{'idle gateway':>14}{'A streaming':>14}{'ratio':>8}")
    for q in (50, 99):
        print(f"{'p' + str(q):<28}{ms(pct(idle, q)):>14}{ms(pct(busy, q)):>14}{pct(busy, q) / pct(idle, q):>7.1f}x")
    print(f"{'max':<28}{ms(max(idle)):>14}{ms(max(busy)):>14}{max(busy) / max(idle):>7.1f}x")
    print(f"session A: {total / (1 << 20):.1f} MiB of dense output masked at {total / (1 << 20) / elapsed:.2f} MiB/s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each measured loop")
    ap.add_argument("--mib", type=float, default=4.0, help="size of each dense output A asks for")
    asyncio.run(main(ap.parse_args()))
