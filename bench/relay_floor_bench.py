"""How close can any asyncssh gateway get to direct OpenSSH? A bare relay as the floor, beside bastion.

Runs, in the same run against the same sshd: direct OpenSSH; `_bare_relay.py`, an asyncssh relay that does
nothing but relay (no policy, recording, audit or masking; pooled upstream connections), as plain asyncssh
and with bastion's asyncssh send-path tuning; and bastion. It
prints, for goal 1 (exec round trip over one open connection, p50/p99) and goal 7 (100 sessions running
`true` in a closed loop) of the gateway issue, each relay's ratio to direct and its CPU per exec. If the bare
relay misses a goal, no gateway built on asyncssh can meet it on this machine; the gap between the two
columns is what bastion's own work costs.

Run: python bench/relay_floor_bench.py [--execs 600] [--loop-seconds 15] [--sessions 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncssh

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _gateway_setup import Endpoint, _known_hosts, start_rig  # noqa: E402
from gateway_bench import _raise_fd_limit, close_all, closed_loop, pct  # noqa: E402

from tests.sshd import free_port, write_private_key  # noqa: E402

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def start_bare_relay(workdir: Path, sshd, tuned: bool) -> tuple[subprocess.Popen, Endpoint]:  # noqa: ANN001
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    host_path = write_private_key(workdir / "relay_host_ed25519", host_key)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_bare_relay.py")), str(port), str(sshd.port), sshd.account,
         str(sshd.client_key_path), sshd.host_key_line, str(host_path), "tuned" if tuned else "plain"],
        stdout=subprocess.PIPE, stderr=open(workdir / "relay.log", "wb"))
    if proc.stdout is None or proc.stdout.readline().strip() != b"ready":
        raise RuntimeError(f"bare relay did not start: {(workdir / 'relay.log').read_text()}")
    public = host_key.convert_to_public()
    known = _known_hosts(workdir / "known_hosts_relay", port, public)
    label = "bare tuned" if tuned else "bare relay"
    return proc, Endpoint(label, "127.0.0.1", port, "anyone", sshd.client_key_path, known, public)


async def exec_rtt(endpoints: list[Endpoint], pids: dict[str, int], total: int) -> dict[str, tuple]:
    conns = {ep.label: await ep.connect(encoding=None) for ep in endpoints}
    samples: dict[str, list[float]] = {ep.label: [] for ep in endpoints}
    cpu: dict[str, float] = {ep.label: 0.0 for ep in endpoints}

    async def run(label: str, n: int) -> None:
        pid = pids.get(label)
        c0 = cpu_seconds(pid) if pid else 0.0
        for _ in range(n):
            t0 = time.perf_counter()
            done = await asyncio.wait_for(conns[label].run("true"), 30)
            samples[label].append(time.perf_counter() - t0)
            if done.exit_status != 0:
                raise RuntimeError(f"{label}: exit {done.exit_status}")
        if pid:
            cpu[label] += cpu_seconds(pid) - c0

    try:
        for ep in endpoints:
            await run(ep.label, 20)
            samples[ep.label].clear()
            cpu[ep.label] = 0.0
        chunk = max(1, total // 10)
        while len(samples[endpoints[0].label]) < total:  # alternate, so drift hits all alike
            for ep in endpoints:
                await run(ep.label, chunk)
    finally:
        await close_all(list(conns.values()))
    return {label: (pct(s, 50), pct(s, 99), cpu[label] / len(s) * 1000) for label, s in samples.items()}


async def run(args: argparse.Namespace) -> None:
    rig = start_rig(max_sessions=10)
    relays: list[subprocess.Popen] = []
    try:
        relay, bare = start_bare_relay(rig.workdir, rig.sshd, tuned=False)
        relays.append(relay)
        relay2, tuned = start_bare_relay(rig.workdir, rig.sshd, tuned=True)
        relays.append(relay2)
        endpoints = [rig.direct, bare, tuned, rig.gateway.endpoint]
        pids = {"bare relay": relay.pid, "bare tuned": relay2.pid, "gateway": rig.gateway.pid}
        print(f"exec round trip over one open connection: {args.execs} each, alternating", flush=True)
        rtt = await exec_rtt(endpoints, pids, args.execs)
        d50, d99, _ = rtt["direct"]
        print(f"{'path':<12}{'p50':>10}{'p99':>10}{'p50 ratio':>11}{'p99 ratio':>11}{'CPU/exec':>10}")
        for label, (p50, p99, cpu) in rtt.items():
            print(f"{label:<12}{p50 * 1000:>8.2f}ms{p99 * 1000:>8.2f}ms{p50 / d50:>10.2f}x{p99 / d99:>10.2f}x"
                  f"{cpu:>8.2f}ms")
        print("goal: p50 <= 1.5x, p99 <= 2x\n", flush=True)
        print(f"closed loop: {args.sessions} sessions running `true`, {args.loop_seconds:g} s each path", flush=True)
        rates = {}
        for ep in endpoints:
            pid = pids.get(ep.label)
            rate, _errors, cpu = await closed_loop(ep, args.sessions, args.loop_seconds,
                                                   (lambda p=pid: cpu_seconds(p)) if pid else None)
            rates[ep.label] = rate, cpu
        base = rates["direct"][0]
        for label, (rate, cpu) in rates.items():
            print(f"{label:<12}{rate:>8.0f} exec/s{rate / base:>8.2f}x" + (f"  CPU {cpu:.2f} ms/exec" if cpu else ""))
        print("goal: >= 0.85x", flush=True)
    finally:
        for relay in relays:
            relay.terminate()
        rig.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--execs", type=int, default=600)
    ap.add_argument("--loop-seconds", type=float, default=15.0)
    ap.add_argument("--sessions", type=int, default=100)
    _raise_fd_limit()
    asyncio.run(run(ap.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
