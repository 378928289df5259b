"""Approvals end to end: verdict → first output byte latency, and the cost of many pending requests and
watchers to unrelated sessions. Prints figures; not a test.

    python bench/approvals_e2e_bench.py [--verdicts 40] [--pending 1000] [--watchers 100]

1. A command held by a `review` rule; a reviewer (asyncssh client on the bastion-review subsystem)
   approves with a valid TOTP code; the time from sending `approvals.decide` to the first byte of the
   command's output at the agent's client. p50/p99 (goals: ≤ 20 ms, ≤ 100 ms on loopback).
2. Exec latency (`true` over one open connection) of an unrelated session, first alone, then with
   `--pending` requests held and `--watchers` reviewers watching a live session (goal: ≤ 1.10× alone).
The gateway runs in this process (a background thread, the same `GatewayService` as `bastion serve`) with
an injected clock, so each verdict can use a fresh TOTP time step; the watchers run in a child process; the
target is a real OpenSSH sshd.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncssh  # noqa: E402
import pyotp  # noqa: E402

from bastion.clock import FakeClock  # noqa: E402
from tests.harness import GatewayHarness  # noqa: E402
from tests.review_client import ReviewTestClient  # noqa: E402
from tests.sshd import start_sshd  # noqa: E402

POLICY = """\
default: allow
opaque: review
rules:
  - id: held
    action: review
    reason: benchmark
    approval: {timeout: 10m}
    when:
      program: [apt-get]
"""
USERS = {"alice": {}, "bob": {}, "carol": {"groups": ["reviewers"]}}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def connect(gw: GatewayHarness, user: str) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect("127.0.0.1", gw.port, username=f"{user}:web-1",
                                  client_keys=[str(gw.keys[user])], known_hosts=None)


async def verdict_latency(gw: GatewayHarness, clock: FakeClock, secret: str, rounds: int) -> list[float]:
    reviewer = await ReviewTestClient.connect(gw.port, "carol", gw.keys["carol"])
    latencies = []
    async with await connect(gw, "alice") as conn:
        for _ in range(rounds):
            proc = await conn.create_process("apt-get moo >/dev/null 2>&1; echo go", encoding=None)
            line = await asyncio.wait_for(proc.stderr.readline(), 10)
            request_id = int(line.split(b"request ")[1].split(b",")[0])
            clock.advance(30)  # a fresh TOTP step: each code is accepted once
            code = pyotp.TOTP(secret).at(clock.now())
            started = time.perf_counter()
            reply = asyncio.ensure_future(reviewer.call("approvals.decide", approval_id=request_id,
                                                        verdict="approve", reason="bench", totp=code))
            first = await asyncio.wait_for(proc.stdout.read(1), 10)
            latencies.append(time.perf_counter() - started)
            assert first == b"g", first
            assert (await reply)["ok"]
            await proc.wait()
    await reviewer.close()
    return latencies


async def exec_latency(conn: asyncssh.SSHClientConnection, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await conn.run("true")
        times.append(time.perf_counter() - started)
    return times


async def load_test(gw: GatewayHarness, pending: int, watchers: int, n: int) -> tuple[list[float], list[float]]:
    async with await connect(gw, "bob") as conn:
        await exec_latency(conn, 20)
        alone = await exec_latency(conn, n)
        broker = gw.service.ctx.approvals

        async def hold_many() -> None:
            for i in range(pending):
                await broker.request(session_id="bench", user="bench", groups=(), target="web-1",
                                     command=f"apt-get install pkg{i}", grant_key=f"k{i}", rules=("held",),
                                     reason="bench", policy_version="bench", timeout=3600, approvers_required=1)

        gw.call(hold_many(), timeout=300)
        # A live session that keeps printing, watched by `watchers` reviewers.
        async with await connect(gw, "alice") as busy:
            noisy = await busy.create_process("while :; do date; sleep 0.05; done", encoding=None)
            probe = await ReviewTestClient.connect(gw.port, "carol", gw.keys["carol"])
            live = (await probe.call("sessions.list", status="live"))["result"]["sessions"]
            noisy_id = next(s["id"] for s in live if s["user"] == "alice")
            await probe.close()
            # The watchers run in their own process, as reviewers' terminals would: their SSH work must
            # not share this process (and its GIL) with the gateway being measured.
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--watcher-child", str(gw.port), str(gw.keys["carol"]), noisy_id,
                str(watchers), stdout=asyncio.subprocess.PIPE)
            assert child.stdout is not None
            assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"watching"
            loaded = await exec_latency(conn, n)
            child.terminate()
            await child.wait()
            noisy.close()
    return alone, loaded


async def watcher_child(port: int, key: str, session_id: str, count: int) -> None:
    clients = [await ReviewTestClient.connect(port, "carol", Path(key)) for _ in range(count)]
    for client in clients:
        await client.call("sessions.watch", session_id=session_id)
    print("watching", flush=True)
    while True:  # drain events until terminated
        for client in clients:
            while not client.events.empty():
                client.events.get_nowait()
        await asyncio.sleep(0.05)


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--watcher-child":
        asyncio.run(watcher_child(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verdicts", type=int, default=40)
    parser.add_argument("--pending", type=int, default=1000)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--execs", type=int, default=200)
    args = parser.parse_args()
    sshd = start_sshd()
    workdir = Path(tempfile.mkdtemp(prefix="bastion-approvals-bench-"))
    clock = FakeClock(start=time.time())
    gw = GatewayHarness(workdir, sshd, policy=POLICY, users=USERS, clock=clock).start()
    try:
        async def enroll() -> str:
            return gw.service.ctx.totp.enroll("carol").secret.expose()

        secret = gw.call(enroll())
        lat = asyncio.run(verdict_latency(gw, clock, secret, args.verdicts))
        print(f"1 verdict -> first output byte ({len(lat)} verdicts): p50 {pct(lat, .5) * 1000:.1f} ms, "
              f"p99 {pct(lat, .99) * 1000:.1f} ms  (goals: <= 20 ms, <= 100 ms)")
        alone, loaded = asyncio.run(load_test(gw, args.pending, args.watchers, args.execs))
        a50, l50 = statistics.median(alone), statistics.median(loaded)
        print(f"2 exec of an unrelated session: alone p50 {a50 * 1000:.2f} ms; with {args.pending} pending "
              f"requests and {args.watchers} watchers p50 {l50 * 1000:.2f} ms -> {l50 / a50:.2f}x "
              f"(goal: <= 1.10x); p99 {pct(alone, .99) * 1000:.2f} -> {pct(loaded, .99) * 1000:.2f} ms")
    finally:
        gw.stop()
        sshd.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
