"""Approval broker figures (the pure-broker part; the gateway bench measures verdict → first byte end to end).

Prints, on a real SQLite file in a temporary directory:
1. request+decide throughput: `broker.request` then `broker.decide` (approve, real TOTP check) per held
   command, against a baseline of the bare SQL the broker needs (insert the row, update it to approved,
   two audit-table inserts) without broker, audit chain or TOTP; plus p50/p99 of each half.
2. 1,000 pending requests held, each with a coroutine awaiting `broker.wait()`, and 100 subscribers:
   RSS growth, time to list them (`pending()`, `list(limit=1000)`), the cost of
   one expiry sweep when nothing is due (the gateway runs it every second) against an empty store, the
   time to push one event to 100 subscribers, and the time to expire all 1,000 and wake every waiter.

Run: python bench/approvals_bench.py [--n 1000] [--pending 1000] [--subscribers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyotp  # noqa: E402

from bastion.approvals import ApprovalBroker, ApprovalSettings  # noqa: E402
from bastion.audit import SqliteAuditLog  # noqa: E402
from bastion.clock import FakeClock  # noqa: E402
from bastion.identity.totp import TotpVerifier  # noqa: E402
from bastion.store.db import Store  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def hold(i: int) -> dict:
    return dict(session_id=f"s-{i}", user="agent-7", groups=("agents",), target="web-1",
                command=f"apt-get install -y pkg{i}", grant_key=f"apt-get install -y pkg{i}", rules=("pkg-install",),
                reason="package installs need a human", policy_version="sha256:bench", timeout=10**9,
                approvers_required=1)


class Rig:
    """A broker on a fresh SQLite file, with one enrolled reviewer."""

    def __init__(self, root: Path, name: str) -> None:
        self.clock = FakeClock()
        self.store = Store.open(root / f"{name}.sqlite3", clock=self.clock)
        self.audit = SqliteAuditLog(self.store, self.clock)
        self.totp = TotpVerifier(self.store, self.clock, self.audit)
        self.secret = self.totp.enroll("carol").secret.expose()
        self.broker = ApprovalBroker(self.store, self.audit, self.clock, ApprovalSettings(), self.totp)

    def code(self) -> str:
        return pyotp.TOTP(self.secret).at(self.clock.now())


def baseline_sql(root: Path, n: int) -> float:
    """µs per op for the bare statements a request + verdict needs."""
    clock = FakeClock()
    store = Store.open(root / "baseline.sqlite3", clock=clock)
    t0 = time.perf_counter()
    for i in range(n):
        h = hold(i)
        cur = store.write(
            "INSERT INTO approvals (session_id, user, target, command, grant_key, requested_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [h["session_id"], h["user"], h["target"], h["command"], h["grant_key"],
                                             1.0, 2.0])
        for seq in (2 * i + 1, 2 * i + 2):
            store.write("INSERT INTO audit_events (seq, at, code, name, severity, data, prev_hash, hash) "
                        "VALUES (?, 1, 'T7000I', 'x', 'info', '{}', '', '')", [seq])
        store.write("UPDATE approvals SET state = 'approved' WHERE id = ?", [cur.lastrowid])
    elapsed = time.perf_counter() - t0
    store.close()
    return elapsed / n * 1e6


async def throughput(root: Path, n: int) -> None:
    base = baseline_sql(root, n)
    rig = Rig(root, "throughput")
    req_us, dec_us = [], []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        req = await rig.broker.request(**hold(i))
        t1 = time.perf_counter()
        rig.broker.decide(req.id, reviewer="carol", approve=True, reason="ok", totp_code=rig.code())
        t2 = time.perf_counter()
        req_us.append((t1 - t) * 1e6)
        dec_us.append((t2 - t1) * 1e6)
        rig.clock.advance(30)  # one code per 30 s step per reviewer: move to the next step
    total = time.perf_counter() - t0
    per_op = total / n * 1e6
    print(f"1. request+decide, {n} held commands approved with a TOTP code")
    print(f"   baseline bare SQL        {base:8.1f} µs/op")
    print(f"   broker request+decide    {per_op:8.1f} µs/op  {n / total:8.0f} ops/s  ratio {per_op / base:5.2f}x baseline")
    print(f"     request  p50 {pct(req_us, .5):7.1f} µs  p99 {pct(req_us, .99):7.1f} µs")
    print(f"     decide   p50 {pct(dec_us, .5):7.1f} µs  p99 {pct(dec_us, .99):7.1f} µs  (includes the TOTP check)")
    rig.store.close()


async def held(root: Path, count: int, subscribers: int) -> None:
    empty = Rig(root, "empty")
    sweep_empty = statistics.median(_timed(empty.broker.expire_due) for _ in range(50))
    empty.store.close()

    rig = Rig(root, "held")
    subs = [rig.broker.subscribe(maxsize=count + 10) for _ in range(subscribers)]
    gc.collect()
    before = rss_bytes()
    t0 = time.perf_counter()
    ids = [(await rig.broker.request(**{**hold(i), "timeout": 600})).id for i in range(count)]
    create_s = time.perf_counter() - t0
    waiters = [asyncio.create_task(rig.broker.wait(i)) for i in ids]
    await asyncio.sleep(0)
    gc.collect()
    held_bytes = rss_bytes() - before

    list_pending = statistics.median(_timed(rig.broker.pending) for _ in range(5))
    list_1000 = statistics.median(_timed(lambda: rig.broker.list(limit=count)) for _ in range(5))
    sweep_held = statistics.median(_timed(rig.broker.expire_due) for _ in range(50))
    fanout = statistics.median(_timed(lambda: rig.broker._publish("changed", rig.broker.get(ids[0])))
                               for _ in range(20))

    rig.clock.advance(601)
    t = time.perf_counter()
    expired = rig.broker.expire_due()
    results = await asyncio.gather(*waiters)
    expire_all = time.perf_counter() - t
    assert len(expired) == count and all(r.state == "expired" for r in results)

    print(f"2. {count} pending requests, each awaited by a wait() coroutine, {subscribers} subscribers")
    print(f"   created in {create_s * 1e3:7.1f} ms ({create_s / count * 1e6:.0f} µs each, "
          f"audit + push to {subscribers} subscribers)")
    print(f"   RSS growth               {held_bytes / 1024:8.0f} KiB  ({held_bytes / count:.0f} B per request, "
          f"incl. its waiter task, {subscribers} queued events and SQLite's page cache)")
    print(f"   pending()                {list_pending * 1e3:8.2f} ms")
    print(f"   list(limit={count})        {list_1000 * 1e3:8.2f} ms")
    print(f"   expiry sweep, none due   {sweep_held * 1e6:8.1f} µs  vs {sweep_empty * 1e6:.1f} µs on an empty store "
          f"(ratio {sweep_held / sweep_empty:.2f}x)")
    print(f"   one event to {subscribers} subs    {fanout * 1e6:8.1f} µs (get + publish)")
    print(f"   expire all + wake all    {expire_all * 1e3:8.1f} ms ({expire_all / count * 1e6:.0f} µs each)")
    for s in subs:
        s.close()
    rig.store.close()


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="held commands for the throughput run")
    parser.add_argument("--pending", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="approvals-bench-") as tmp:
        await throughput(Path(tmp), args.n)
        await held(Path(tmp), args.pending, args.subscribers)


if __name__ == "__main__":
    asyncio.run(main())
