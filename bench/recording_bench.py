"""Recorder throughput and recording size, against a plain file write in the same run.

    python bench/recording_bench.py [--mib 64]

Prints, for text output (base64 of random data) and binary-heavy output (random bytes), in 32 KiB and
512-byte chunks: MiB/s of a plain buffered file write, MiB/s of Recorder.output() (+ close, which flushes
and fsyncs), their ratio, and the recording size divided by the output bytes.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bastion.clock import SystemClock  # noqa: E402
from bastion.recording.recorder import Recorder  # noqa: E402

# Field notes: a minimal asyncssh relay spends ~7 CPU-seconds per GiB on one core (~146 MiB/s).
RELAY_MIB_S = 1024 / 7


def make_data(kind: str, size: int) -> bytes:
    rnd = os.urandom(size * 3 // 4 if kind == "text" else size)
    return base64.encodebytes(rnd)[:size] if kind == "text" else rnd


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def plain_write(dirpath: Path, chunks: list[bytes]) -> float:
    path = dirpath / "plain.bin"
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    elapsed = time.perf_counter() - t0
    path.unlink()
    return elapsed


def record(dirpath: Path, chunks: list[bytes]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this thread — the event loop's share —, file size)."""
    path = dirpath / "rec.cast"
    clock = SystemClock()
    cpu0 = time.thread_time()
    t0 = time.perf_counter()
    rec = Recorder.open(path, width=80, height=24, started_at=clock.now(), command="bench", title="bench",
                        env={"TERM": "xterm"}, clock=clock)
    output = rec.output
    for chunk in chunks:
        output(chunk)
    rec.close("exit 0")
    elapsed = time.perf_counter() - t0
    cpu = time.thread_time() - cpu0
    size = path.stat().st_size
    path.unlink()
    return elapsed, cpu, size


def best_of(n: int, fn, *args):
    results = [fn(*args) for _ in range(n)]
    if isinstance(results[0], float):
        return min(results)
    return tuple(min(column) for column in zip(*results))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64, help="output per case for 32 KiB chunks")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        import orjson  # noqa: F401
        encoder = "orjson"
    except ImportError:
        encoder = "json"
    print(f"encoder: {encoder}; best of {args.repeat}; relay cost assumed {RELAY_MIB_S:.0f} MiB/s (field notes)")
    print("recorder wall: output() for every chunk + close (flush, fsync), against the plain write;")
    print("loop CPU: what the event loop's thread spent (writes and hashing of large batches run on a worker")
    print("thread); relay+rec: the relay's estimated throughput with recording on, from loop CPU.")
    print(f"{'output':<7} {'chunk':>6} {'MiB':>4} {'plain MiB/s':>11} {'rec wall MiB/s':>14} {'ratio':>6} "
          f"{'loop CPU MiB/s':>14} {'size/out':>8} {'relay+rec MiB/s':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        dirpath = Path(tmp)
        for kind in ("text", "binary"):
            for chunk_size in (32 * 1024, 512):
                mib = args.mib if chunk_size >= 4096 else max(1, args.mib // 4)
                data = make_data(kind, mib << 20)
                chunks = chunks_of(data, chunk_size)
                plain = best_of(args.repeat, plain_write, dirpath, chunks)
                rec_time, rec_cpu, size = best_of(args.repeat, record, dirpath, chunks)
                plain_mib, rec_mib, cpu_mib = mib / plain, mib / rec_time, mib / rec_cpu
                # The relay and the recorder's loop share one core: costs per MiB add up.
                combined = 1 / (1 / RELAY_MIB_S + 1 / cpu_mib)
                print(f"{kind:<7} {chunk_size:>6} {mib:>4} {plain_mib:>11.0f} {rec_mib:>14.0f} "
                      f"{rec_mib / plain_mib:>6.2f} {cpu_mib:>14.0f} {size / len(data):>8.3f} "
                      f"{combined:>9.0f} ({combined / RELAY_MIB_S:.0%})")


if __name__ == "__main__":
    main()
