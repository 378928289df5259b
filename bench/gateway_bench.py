"""Gateway speed and memory against direct OpenSSH, measured in the same run.

    python bench/gateway_bench.py [--only 1,3,5] [--quick]

Starts a throw-away sshd (tests.sshd) and `bastion serve` as a separate process in front of it, then
runs the seven benchmarks of the "Gateway core" issue, each against both paths:

  1. exec round trip (`true`) over one open connection, p50 / p99
  2. connect + authenticate + exec `true` + close with the real `ssh` binary, p50
  3. throughput of `head -c 200M /dev/urandom | base64` with recording on, MiB/s (first byte to EOF)
  4. 1,000 concurrent idle sessions: gateway RSS growth per session, keystroke echo in one of them
  5. keystroke echo round trip in a pty session (`stty raw -echo; cat`), p50 / p99
  6. recording size against output bytes, for text and binary-heavy output
  7. 100 sessions each running `true` in a closed loop: execs per second

Each benchmark gets a fresh sshd and gateway, so one cannot skew the next (RSS, pooled connections).
Everything listens on 127.0.0.1 and every loop is bounded in count or time. Prints a summary table;
goals are informational and the exit status is 0 unless the rig itself cannot start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncssh  # noqa: E402

from _gateway_setup import MASKING_OFF_POLICY, BenchRig, Endpoint, start_rig  # noqa: E402

MiB = 1024 * 1024


# --- scale ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scale:
    """How much work each benchmark does; --quick keeps the whole run near a minute."""

    exec_count: int           # 1: execs per path
    connect_count: int        # 2: ssh invocations per path
    throughput_size: str      # 3: `head -c SIZE`
    throughput_runs: int      # 3: runs per path (median reported)
    idle_sessions: int        # 4
    echo_count: int           # 4, 5: keystrokes per path
    record_mib: int           # 6: MiB of each payload
    record_lines: int         # 6: lines of the small-writes payload
    loop_sessions: int        # 7
    loop_seconds: float       # 7: measured window per path (after a warm-up)


FULL = Scale(exec_count=1000, connect_count=30, throughput_size="200M", throughput_runs=3,
             idle_sessions=1000, echo_count=2000, record_mib=32, record_lines=50_000,
             loop_sessions=100, loop_seconds=20.0)
QUICK = Scale(exec_count=150, connect_count=6, throughput_size="20M", throughput_runs=1,
              idle_sessions=100, echo_count=300, record_mib=4, record_lines=5_000,
              loop_sessions=100, loop_seconds=4.0)


# --- results ----------------------------------------------------------------------------------------

@dataclass
class Row:
    """One line of the summary table."""

    bench: str
    direct: str
    gateway: str
    ratio: str
    goal: str
    ok: bool | None


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)

    def add(self, bench: str, direct: str, gateway: str, ratio: float | None, goal: str, ok: bool | None) -> None:
        self.rows.append(Row(bench, direct, gateway, "-" if ratio is None else f"{ratio:.2f}x", goal, ok))
        print(f"  => {bench}: direct {direct}, gateway {gateway}, ratio "
              f"{'-' if ratio is None else f'{ratio:.2f}x'}, goal {goal}: {_verdict(ok)}", flush=True)

    def table(self) -> str:
        head = ("benchmark", "direct", "gateway", "ratio", "goal", "result")
        body = [(r.bench, r.direct, r.gateway, r.ratio, r.goal, _verdict(r.ok)) for r in self.rows]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
        line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])


def _verdict(ok: bool | None) -> str:
    return "info" if ok is None else ("PASS" if ok else "FAIL")


def pct(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def say(text: str) -> None:
    print(f"  {text}", flush=True)


# --- shared client pieces ---------------------------------------------------------------------------

class EchoSession(asyncssh.SSHClientSession):
    """A pty channel running `cat` in raw mode; resolves a future when the expected bytes are back."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.need = 0
        self.waiter: asyncio.Future[None] | None = None
        self.closed: Exception | None = None

    def data_received(self, data: bytes, datatype: object) -> None:
        self.buffer += data
        if self.waiter is not None and not self.waiter.done() and len(self.buffer) >= self.need:
            self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = exc or ConnectionError("echo channel closed")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.closed)

    async def expect(self, count: int, timeout: float = 10) -> bytes:
        loop = asyncio.get_running_loop()
        self.need = count
        self.waiter = loop.create_future()
        if len(self.buffer) >= count:
            self.waiter.set_result(None)
        await asyncio.wait_for(self.waiter, timeout)
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


# `printf R` says raw mode is on, so nothing typed before it can be echoed twice.
ECHO_COMMAND = "stty raw -echo && printf R && exec cat"
# What is typed, one byte at a time: ordinary command lines, so the echoed stream looks like a terminal
# session to the masker (one endless run of letters would look like a token and be held back).
TYPED = b"ls -la /var/log | tail -n 20\rgit status\rcat README.md\rcd /srv/app && make test\r"


class Echoer:
    """One open keystroke-echo channel on a connection."""

    def __init__(self, chan: asyncssh.SSHClientChannel, session: EchoSession) -> None:
        self.chan = chan
        self.session = session
        self._next = 0

    @classmethod
    async def open(cls, conn: asyncssh.SSHClientConnection) -> "Echoer":
        chan, session = await conn.create_session(
            EchoSession, ECHO_COMMAND, request_pty="force", term_type="xterm", term_size=(80, 24),
            encoding=None)
        ready = await session.expect(1)
        if ready != b"R":
            raise RuntimeError(f"echo session did not start cleanly: {ready!r}")
        return cls(chan, session)

    async def samples(self, count: int) -> list[float]:
        out: list[float] = []
        for _ in range(count):
            key = TYPED[self._next % len(TYPED):][:1]
            self._next += 1
            t0 = time.perf_counter()
            self.chan.write(key)
            got = await self.session.expect(1)
            out.append(time.perf_counter() - t0)
            if got != key:
                raise RuntimeError(f"echo sent {key!r}, got {got!r}")
        return out

    def close(self) -> None:
        self.chan.close()


async def open_many(ep: Endpoint, count: int, parallel: int = 16) -> list[asyncssh.SSHClientConnection]:
    """`count` client connections, at most `parallel` handshakes at a time."""
    gate = asyncio.Semaphore(parallel)

    async def one() -> asyncssh.SSHClientConnection:
        async with gate:
            return await ep.connect(encoding=None)

    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    conns = [r for r in results if isinstance(r, asyncssh.SSHClientConnection)]
    failures = [r for r in results if not isinstance(r, asyncssh.SSHClientConnection)]
    if failures:
        await close_all(conns)
        raise RuntimeError(f"{len(failures)} of {count} connections to {ep.label} failed: {failures[0]!r}")
    return conns


async def close_all(conns: list[asyncssh.SSHClientConnection]) -> None:
    for conn in conns:
        conn.close()
    for conn in conns:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.wait_closed(), 5)


async def alternate(direct: Callable[[int], Awaitable[list[float]]],
                    gateway: Callable[[int], Awaitable[list[float]]],
                    total: int, rounds: int = 10) -> tuple[list[float], list[float]]:
    """Run both paths in alternating chunks, so drift on the machine hits both alike."""
    d: list[float] = []
    g: list[float] = []
    chunk = max(1, total // rounds)
    while len(d) < total:
        n = min(chunk, total - len(d))
        d += await direct(n)
        g += await gateway(n)
    return d, g


# --- 1. exec round trip over one open connection ----------------------------------------------------

async def bench_exec_rtt(rig: BenchRig, scale: Scale, results: Results) -> None:
    conns = {ep.label: await ep.connect(encoding=None) for ep in (rig.direct, rig.via_gateway)}

    def runner(label: str) -> Callable[[int], Awaitable[list[float]]]:
        async def run(n: int) -> list[float]:
            out = []
            for _ in range(n):
                t0 = time.perf_counter()
                done = await asyncio.wait_for(conns[label].run("true"), 30)
                out.append(time.perf_counter() - t0)
                if done.exit_status != 0:
                    raise RuntimeError(f"{label}: `true` exited {done.exit_status}: {done.stderr!r}")
            return out
        return run

    try:
        for label in conns:  # warm-up: pooled upstream connection, caches, first-use imports
            await runner(label)(20)
        cpu0 = rig.gateway.cpu_seconds()
        d, g = await alternate(runner("direct"), runner("gateway"), scale.exec_count)
        cpu = rig.gateway.cpu_seconds() - cpu0
    finally:
        await close_all(list(conns.values()))
    say(f"{len(d)} execs each; direct mean {ms(statistics.mean(d))}, gateway mean {ms(statistics.mean(g))}; "
        f"gateway CPU {cpu / len(g) * 1000:.2f} ms per exec")
    r50, r99 = pct(g, 50) / pct(d, 50), pct(g, 99) / pct(d, 99)
    results.add("1 exec RTT p50", ms(pct(d, 50)), ms(pct(g, 50)), r50, "<= 1.5x", r50 <= 1.5)
    results.add("1 exec RTT p99", ms(pct(d, 99)), ms(pct(g, 99)), r99, "<= 2x", r99 <= 2.0)


# --- 2. connect + authenticate + exec + close (real ssh) --------------------------------------------

def _ssh_once(ep: Endpoint) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(ep.ssh_argv("true"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=60)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{ep.label}: ssh exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    return elapsed


async def bench_connect_exec(rig: BenchRig, scale: Scale, results: Results) -> None:
    for ep in (rig.direct, rig.via_gateway):  # warm-up (the gateway's first one also dials upstream)
        _ssh_once(ep)
    d: list[float] = []
    g: list[float] = []
    for _ in range(scale.connect_count):
        d.append(_ssh_once(rig.direct))
        g.append(_ssh_once(rig.via_gateway))
    say(f"{len(d)} ssh runs each (default client algorithms); means: direct {ms(statistics.mean(d))}, "
        f"gateway {ms(statistics.mean(g))}")
    ratio = pct(g, 50) / pct(d, 50)
    results.add("2 connect+exec p50", ms(pct(d, 50)), ms(pct(g, 50)), ratio, "<= 0.7x", ratio <= 0.7)


# --- 3. throughput with recording on ----------------------------------------------------------------

def _ssh_stream(ep: Endpoint, command: str) -> tuple[int, float, float]:
    """Run `command`, count its output bytes. Returns (bytes, seconds first byte→EOF, seconds total)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(ep.ssh_argv(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err, bufsize=0)
        assert proc.stdout is not None
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        total = 0
        first = None
        while True:
            n = proc.stdout.readinto(view)
            if not n:
                break
            if first is None:
                first = time.perf_counter()
            total += n
        end = time.perf_counter()
        status = proc.wait(60)
        if status != 0:
            err.seek(0)
            raise RuntimeError(f"{ep.label}: ssh exited {status}: {err.read().decode(errors='replace')[-500:]}")
    return total, end - (first or end), end - t0


def _new_recordings(root: Path, before: set[Path]) -> list[Path]:
    return sorted(set(root.rglob("*.cast")) - before)


async def bench_throughput(rig: BenchRig, scale: Scale, results: Results) -> None:
    command = f"head -c {scale.throughput_size} /dev/urandom | base64"
    rec_root = rig.gateway.recordings
    d_rates: list[float] = []
    g_rates: list[float] = []
    cpu_per_gib: list[float] = []
    rec_ratio: list[float] = []
    for _ in range(scale.throughput_runs):
        n, secs, _ = _ssh_stream(rig.direct, command)
        d_rates.append(n / MiB / secs)
        before = set(rec_root.rglob("*.cast"))
        cpu0 = rig.gateway.cpu_seconds()
        n, secs, _ = _ssh_stream(rig.via_gateway, command)
        cpu_per_gib.append((rig.gateway.cpu_seconds() - cpu0) / (n / 1024 / MiB))
        g_rates.append(n / MiB / secs)
        new = _new_recordings(rec_root, before)
        if len(new) != 1:
            raise RuntimeError(f"expected one new recording, found {len(new)}")
        rec_ratio.append(new[0].stat().st_size / n)
        new[0].unlink()  # a few hundred MB each; the size is all this needs
    say(f"{scale.throughput_runs} run(s) of {n / MiB:.0f} MiB each; direct {_rates(d_rates)}, gateway "
        f"{_rates(g_rates)} MiB/s; gateway CPU {statistics.median(cpu_per_gib):.1f} s per GiB; "
        f"recording {statistics.median(rec_ratio):.3f}x output bytes")
    d, g = statistics.median(d_rates), statistics.median(g_rates)
    _THROUGHPUT["masking on"] = (d, g)
    results.add("3 throughput, recording on", f"{d:.0f} MiB/s", f"{g:.0f} MiB/s", g / d, ">= 0.45x", g / d >= 0.45)
    results.add("3 ...with masking on (issue 4)", f"{d:.0f} MiB/s", f"{g:.0f} MiB/s", g / d, ">= 0.40x", g / d >= 0.40)


_THROUGHPUT: dict[str, tuple[float, float]] = {}


async def bench_masking_off(rig: BenchRig, scale: Scale, results: Results) -> None:
    """Benchmark 3 again on a gateway whose policy turns every masking detector off: the baseline for
    "masking costs at most 20% of the gateway's throughput"."""
    command = f"head -c {scale.throughput_size} /dev/urandom | base64"
    d_rates, g_rates = [], []
    for _ in range(scale.throughput_runs):
        n, secs, _ = _ssh_stream(rig.direct, command)
        d_rates.append(n / MiB / secs)
        n, secs, _ = _ssh_stream(rig.via_gateway, command)
        g_rates.append(n / MiB / secs)
        for cast in rig.gateway.recordings.rglob("*.cast"):
            cast.unlink()
    d, g = statistics.median(d_rates), statistics.median(g_rates)
    results.add("8 throughput, masking off", f"{d:.0f} MiB/s", f"{g:.0f} MiB/s", g / d, "-", None)
    if "masking on" in _THROUGHPUT:
        d_on, g_on = _THROUGHPUT["masking on"]
        # Normalise each gateway figure by its own run's direct figure: the machine's load drifts.
        ratio = (g_on / d_on) / (g / d)
        results.add("8 masking on / masking off", f"{g:.0f} MiB/s", f"{g_on:.0f} MiB/s", ratio, ">= 0.8x",
                    ratio >= 0.8)


def _rates(rates: list[float]) -> str:
    return "/".join(f"{r:.0f}" for r in rates)


# --- 4. 1,000 concurrent idle sessions --------------------------------------------------------------

async def bench_idle_sessions(rig: BenchRig, scale: Scale, results: Results) -> None:
    gw = rig.gateway
    # Reference echo straight to the sshd, with nothing else open.
    dconn = await rig.direct.connect(encoding=None)
    try:
        echo = await Echoer.open(dconn)
        await echo.samples(20)
        direct_echo = await echo.samples(scale.echo_count)
        echo.close()
    finally:
        await close_all([dconn])

    # Warm the gateway (imports, pooled upstream connection, first session) before the baseline.
    warm = await rig.via_gateway.connect(encoding=None)
    await warm.run("true")
    await close_all([warm])
    await asyncio.sleep(1.0)
    rss0 = gw.rss_kib()
    fds0 = gw.open_fds()

    count = scale.idle_sessions
    t0 = time.perf_counter()
    conns = await open_many(rig.via_gateway, count)
    procs: list[asyncssh.SSHClientProcess] = []
    try:
        gate = asyncio.Semaphore(16)

        async def idle_session(conn: asyncssh.SSHClientConnection) -> asyncssh.SSHClientProcess:
            async with gate:
                proc = await conn.create_process("cat", encoding=None)
                # Proves the upstream channel is open end to end, then the session sits idle.
                proc.stdin.write(b"up\n")
                got = await asyncio.wait_for(proc.stdout.readexactly(3), 30)
                if got != b"up\n":
                    raise RuntimeError(f"idle session answered {got!r}")
                return proc

        procs = list(await asyncio.gather(*(idle_session(c) for c in conns)))
        opened = time.perf_counter() - t0
        await asyncio.sleep(2.0)
        rss1 = gw.rss_kib()
        fds1 = gw.open_fds()
        cpu0 = gw.cpu_seconds()
        await asyncio.sleep(3.0)
        idle_cpu = (gw.cpu_seconds() - cpu0) / 3.0

        # Keystroke echo in one more session while all the others stay open.
        econn = await rig.via_gateway.connect(encoding=None)
        try:
            echo = await Echoer.open(econn)
            await echo.samples(20)
            gw_echo = await echo.samples(scale.echo_count)
            echo.close()
        finally:
            await close_all([econn])
        alive = sum(1 for p in procs if not p.channel.is_closing())
        if alive != count:
            raise RuntimeError(f"only {alive} of {count} idle sessions were still open after the echo test")
    finally:
        for proc in procs:
            proc.close()
        await close_all(conns)
    # The gateway finishes each session (recording fsync, store rows, audit) after its client is gone:
    # wait until its descriptors stop falling, and report how long that took.
    t_close = time.perf_counter()
    fds2, settled = gw.open_fds(), 0.0
    while time.perf_counter() - t_close < 60 and settled < 1.0:
        await asyncio.sleep(0.25)
        now = gw.open_fds()
        settled = settled + 0.25 if now == fds2 else 0.0
        fds2 = now
    drained = time.perf_counter() - t_close - settled
    rss2 = gw.rss_kib()
    per = (rss1 - rss0) / count
    say(f"{count} idle sessions (one connection each) opened in {opened:.1f} s; gateway RSS {rss0 / 1024:.1f} "
        f"-> {rss1 / 1024:.1f} MiB ({rss2 / 1024:.1f} MiB after they closed); fds {fds0} -> {fds1} -> {fds2} "
        f"(closing took {drained:.1f} s); idle CPU {idle_cpu * 100:.1f}% of a core")
    say(f"echo under load: p50 {ms(pct(gw_echo, 50))} p99 {ms(pct(gw_echo, 99))}; direct (no load) "
        f"p50 {ms(pct(direct_echo, 50))} p99 {ms(pct(direct_echo, 99))}")
    results.add(f"4 RSS per idle session (n={count})", "-", f"{per:.1f} KiB", None, "<= 100 KiB", per <= 100)
    p50 = pct(gw_echo, 50)
    results.add(f"4 echo p50 among {count} idle", ms(pct(direct_echo, 50)), ms(p50), p50 / pct(direct_echo, 50),
                "<= 2 ms", p50 <= 0.002)


# --- 5. keystroke echo in a pty session -------------------------------------------------------------

async def bench_echo(rig: BenchRig, scale: Scale, results: Results) -> None:
    conns = [await ep.connect(encoding=None) for ep in (rig.direct, rig.via_gateway)]
    try:
        echoers = [await Echoer.open(c) for c in conns]
        for e in echoers:
            await e.samples(50)
        d, g = await alternate(echoers[0].samples, echoers[1].samples, scale.echo_count)
        for e in echoers:
            e.close()
    finally:
        await close_all(conns)
    d50, g50, d99, g99 = pct(d, 50), pct(g, 50), pct(d, 99), pct(g, 99)
    say(f"{len(d)} keystrokes each; added latency p50 +{(g50 - d50) * 1000:.2f} ms, p99 +{(g99 - d99) * 1000:.2f} ms")
    results.add("5 echo p50", ms(d50), ms(g50), g50 / d50, "<= direct+0.6 ms", g50 - d50 <= 0.0006)
    results.add("5 echo p99", ms(d99), ms(g99), g99 / d99, "<= direct+2 ms", g99 - d99 <= 0.002)


# --- 6. recording size against output bytes ---------------------------------------------------------

def _payloads(scale: Scale) -> list[tuple[str, str, bool]]:
    """(label, command, is_text): the goal applies to text."""
    mib = scale.record_mib
    lines = scale.record_lines
    return [
        ("text: base64", f"head -c {mib * 3 // 4}M /dev/urandom | base64", True),
        ("text: seq", f"seq 1 {mib * 1024 * 1024 // 8}", True),
        ("text: small writes", 'i=0; while [ $i -lt %d ]; do echo "build step $i: compiling module ok"; '
                               'i=$((i+1)); done' % lines, True),
        ("binary: random", f"head -c {mib}M /dev/urandom", False),
        ("binary: NUL", f"head -c {max(1, mib // 4)}M /dev/zero", False),
    ]


async def bench_recording_size(rig: BenchRig, scale: Scale, results: Results) -> None:
    root = rig.gateway.recordings
    for label, command, is_text in _payloads(scale):
        before = set(root.rglob("*.cast"))
        n, _, _ = _ssh_stream(rig.via_gateway, command)
        new = _new_recordings(root, before)
        if len(new) != 1:
            raise RuntimeError(f"{label}: expected one new recording, found {len(new)}")
        rig.gateway.wait_recording_closed(new[0])
        size = new[0].stat().st_size
        ratio = size / n
        results.add(f"6 recording size, {label}", f"{n / MiB:.2f} MiB out", f"{size / MiB:.2f} MiB .cast",
                    ratio, "<= 1.15x" if is_text else "-", (ratio <= 1.15) if is_text else None)


# --- 7. closed loop of short commands ---------------------------------------------------------------

async def closed_loop(ep: Endpoint, sessions: int, seconds: float,
                      cpu_seconds: Callable[[], float] | None = None) -> tuple[float, int, float]:
    """execs/s over `seconds` (after a warm-up), errors, and the relay's CPU ms per exec (`cpu_seconds` reads
    its process's CPU time; 0 without one, as for direct OpenSSH)."""
    conns = await open_many(ep, sessions)
    state = {"counting": False, "stop": False, "done": 0, "errors": 0}

    async def worker(conn: asyncssh.SSHClientConnection) -> None:
        while not state["stop"]:
            try:
                done = await asyncio.wait_for(conn.run("true"), 30)
                ok = done.exit_status == 0
            except (asyncssh.Error, OSError, asyncio.TimeoutError):
                ok = False
            if state["counting"]:
                state["done" if ok else "errors"] += 1

    tasks = [asyncio.create_task(worker(c)) for c in conns]
    try:
        await asyncio.sleep(min(3.0, seconds / 2))
        cpu0 = cpu_seconds() if cpu_seconds else 0.0
        state["counting"] = True
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        state["counting"] = False
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds() - cpu0 if cpu_seconds else 0.0
        state["stop"] = True
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    finally:
        for t in tasks:
            t.cancel()
        await close_all(conns)
    done = int(state["done"])
    return done / elapsed, int(state["errors"]), (cpu / done * 1000 if done else 0.0)


async def bench_closed_loop(rig: BenchRig, scale: Scale, results: Results) -> None:
    n = scale.loop_sessions
    d_rate, d_err, _ = await closed_loop(rig.direct, n, scale.loop_seconds)
    g_rate, g_err, g_cpu = await closed_loop(rig.via_gateway, n, scale.loop_seconds, rig.gateway.cpu_seconds)
    say(f"{n} connections x 1 session each, {scale.loop_seconds:g} s measured; errors direct {d_err}, gateway "
        f"{g_err}; gateway CPU {g_cpu:.2f} ms per exec")
    ratio = g_rate / d_rate
    results.add(f"7 closed loop, {n} sessions", f"{d_rate:.0f} exec/s", f"{g_rate:.0f} exec/s", ratio,
                ">= 0.85x", ratio >= 0.85)


# --- driver -----------------------------------------------------------------------------------------

BENCHMARKS: dict[int, tuple[str, Callable[[BenchRig, Scale, Results], Awaitable[None]]]] = {
    1: ("exec round trip over one open connection", bench_exec_rtt),
    2: ("connect + auth + exec + close (ssh binary)", bench_connect_exec),
    3: ("throughput with recording on (ssh binary)", bench_throughput),
    4: ("concurrent idle sessions: RSS and echo", bench_idle_sessions),
    5: ("keystroke echo in a pty session", bench_echo),
    6: ("recording size against output bytes", bench_recording_size),
    7: ("closed loop of short commands", bench_closed_loop),
    8: ("throughput with masking off (baseline for 3)", bench_masking_off),
}


def _raise_fd_limit() -> None:
    # Bench 4 holds ~1,000 client connections in this process (the gateway inherits the limit too).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated benchmark numbers (1-8)")
    parser.add_argument("--quick", action="store_true", help="small counts: about a minute in total")
    args = parser.parse_args(argv)
    chosen = sorted(BENCHMARKS) if not args.only else sorted({int(x) for x in args.only.split(",") if x.strip()})
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        parser.error(f"no benchmark {unknown}; choose from 1-8")
    scale = QUICK if args.quick else FULL
    _raise_fd_limit()
    # Other work on the machine skews every figure (both paths, but not equally): say how busy it was.
    load0 = os.getloadavg()[0]
    results = Results()
    started = time.perf_counter()
    for number in chosen:
        title, bench = BENCHMARKS[number]
        print(f"[{number}] {title}", flush=True)
        rig: BenchRig | None = None
        try:
            rig = start_rig(max_sessions=10, extra_policy=MASKING_OFF_POLICY if number == 8 else None)
            asyncio.run(bench(rig, scale, results))
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            results.add(f"{number} {title}", "error", "error", None, "-", False)
            if rig is not None:
                print(f"  gateway log tail:\n{rig.gateway.log_tail()}", flush=True)
        finally:
            if rig is not None:
                rig.close()
    print(f"\nSummary ({'quick' if args.quick else 'full'} run, {time.perf_counter() - started:.0f} s, "
          f"{os.cpu_count()} cores, 1-min load {load0:.2f} before / {os.getloadavg()[0]:.2f} after; "
          "ratio = gateway / direct OpenSSH, same run, 127.0.0.1)\n")
    print(results.table(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
