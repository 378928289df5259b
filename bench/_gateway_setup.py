"""Benchmark fixtures: a throw-away sshd, a gateway in its own process, and endpoints to reach both.

Only the gateway benchmarks use this. The gateway runs as `bastion -c CONFIG serve --port PORT` in a
separate process, so its RSS and CPU time (read from /proc) are its own and not the benchmark client's.
An `Endpoint` describes one way in (straight to the sshd, or through the gateway) for both clients the
benchmarks use: asyncssh in this process, and the real `ssh` binary.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness import ALLOW_ALL_POLICY  # noqa: E402
from tests.sshd import Sshd, free_port, start_sshd, write_private_key  # noqa: E402

SSH = shutil.which("ssh") or "/usr/bin/ssh"
# The bench's asyncssh client uses one cipher for both paths, so a latency ratio compares the relays and
# not two ciphers (the gateway does not offer chacha20-poly1305; sshd would pick it first).
CLIENT_CIPHERS = ("aes128-gcm@openssh.com",)
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Endpoint:
    """One way to reach the target account: its address, login, key and pinned host key."""

    label: str            # "direct" or "gateway"
    host: str
    port: int
    username: str
    key_path: Path
    known_hosts: Path     # an OpenSSH known_hosts file pinning the host key, for the `ssh` binary
    host_key: asyncssh.SSHKey

    async def connect(self, **kwargs: object) -> asyncssh.SSHClientConnection:
        """An asyncssh client connection (bytes, pinned host key, no agent, no config files)."""
        options: dict[str, object] = dict(
            username=self.username, client_keys=[str(self.key_path)],
            known_hosts=([self.host_key], [], []), agent_path=None, config=None,
            encryption_algs=CLIENT_CIPHERS, preferred_auth="publickey",
        )
        options.update(kwargs)
        return await asyncssh.connect(self.host, self.port, **options)  # type: ignore[arg-type]

    def ssh_argv(self, command: str | None = None, *extra: str) -> list[str]:
        """The real OpenSSH client, with default algorithms and nothing read from ~/.ssh."""
        argv = [
            SSH, "-F", "/dev/null", "-p", str(self.port), "-i", str(self.key_path),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-o", "ControlMaster=no",
            *extra, "-l", self.username, self.host,
        ]
        if command is not None:
            argv.append(command)
        return argv


def _known_hosts(path: Path, port: int, key: asyncssh.SSHKey) -> Path:
    path.write_text(f"[127.0.0.1]:{port} {key.export_public_key().decode().strip()}\n")
    return path


def direct_endpoint(sshd: Sshd, workdir: Path) -> Endpoint:
    known = _known_hosts(workdir / "known_hosts_direct", sshd.port, sshd.host_key)
    return Endpoint("direct", sshd.host, sshd.port, sshd.account, sshd.client_key_path, known, sshd.host_key)


class GatewayProcess:
    """A `bastion serve` child process, with its config, log and /proc readings."""

    def __init__(self, workdir: Path, config_path: Path, user_key: Path, port: int,
                 process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.workdir = workdir
        self.config_path = config_path
        self.user_key = user_key
        self.port = port
        self.process = process
        self.log_path = log_path
        self.recordings = workdir / "recordings"
        host_key = asyncssh.read_private_key(workdir / "state" / "ssh_host_ed25519_key").convert_to_public()
        self.host_key = host_key
        self.endpoint = Endpoint("gateway", "127.0.0.1", port, "alice:web-1", user_key,
                                 _known_hosts(workdir / "known_hosts_gateway", port, host_key), host_key)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _status(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} in /proc/{self.pid}/status")

    def wait_recording_closed(self, path: Path, timeout: float = 30) -> None:
        """Wait until the session that writes `path` has closed its row (recording flushed and hashed):
        `ssh` returns as soon as the exit status arrives, and the gateway finishes the file after that."""
        deadline = time.monotonic() + timeout
        db = sqlite3.connect(self.workdir / "state" / "bastion.sqlite3", timeout=5)
        try:
            while time.monotonic() < deadline:
                row = db.execute("SELECT status FROM sessions WHERE recording_path = ?", [str(path)]).fetchone()
                if row is not None and row[0] != "open":
                    return
                time.sleep(0.02)
        finally:
            db.close()
        raise RuntimeError(f"session recording {path} still open after {timeout:g}s")

    def rss_kib(self) -> int:
        """Resident set size (VmRSS) in KiB."""
        return self._status("VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time the gateway process has used so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime, stime

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


# A second policy file that turns every masking detector off: the masking-off baseline of benchmark 8.
MASKING_OFF_POLICY = "masking:\n  profiles:\n    passthrough: {detectors: []}\n  default: passthrough\n"


def write_gateway_config(workdir: Path, sshd: Sshd, *, extra: dict | None = None,
                         extra_policy: str | None = None) -> tuple[Path, Path]:
    """bastion.yaml for one user (alice, a generated key) and one target (the sshd, host key pinned),
    with an allow-everything policy. Returns (config path, alice's private key path)."""
    policy_dir = workdir / "policies"
    policy_dir.mkdir(parents=True, exist_ok=True)
    (policy_dir / "bench.yaml").write_text(ALLOW_ALL_POLICY)
    if extra_policy:
        (policy_dir / "bench-extra.yaml").write_text(extra_policy)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="alice@bench")
    key_path = write_private_key(workdir / "alice_ed25519", key)
    config: dict = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "state_dir": str(workdir / "state"),
        "policies": {"dir": str(policy_dir)},
        "recording": {"dir": str(workdir / "recordings")},
        "users": {"alice": {"groups": ["agents"], "keys": [key.export_public_key().decode().strip()]}},
        "targets": {"web-1": {
            "host": sshd.host, "port": sshd.port, "account": sshd.account, "key": str(sshd.client_key_path),
            "host_keys": [sshd.host_key_line], "connect_timeout": 10,
        }},
        "shutdown_grace": 2,
    }
    for name, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(config.get(name), dict):
            config[name].update(value)
        else:
            config[name] = value
    config_path = workdir / "bastion.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return config_path, key_path


def bastion_command() -> list[str]:
    """`bastion` from the same environment as this interpreter (the console script), else via -c."""
    script = Path(sys.executable).with_name("bastion")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bastion.cli import main; sys.exit(main())"]


def start_gateway(workdir: Path, config_path: Path, user_key: Path, *, timeout: float = 30) -> GatewayProcess:
    """Start `bastion -c CONFIG serve --port PORT` and wait until it accepts connections."""
    port = free_port()
    log_path = workdir / "gateway.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*bastion_command(), "-c", str(config_path), "serve", "--port", str(port), "--log-level", "warning"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env)
    deadline = time.monotonic() + timeout
    host_key = workdir / "state" / "ssh_host_ed25519_key"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bastion serve exited with {process.returncode}:\n"
                               f"{log_path.read_text(errors='replace')[-3000:]}")
        if host_key.exists():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return GatewayProcess(workdir, config_path, user_key, port, process, log_path)
            except OSError:
                pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"bastion serve did not listen within {timeout:g}s:\n{log_path.read_text()[-3000:]}")


@dataclass
class BenchRig:
    """Everything a benchmark run needs; `close()` stops both servers and removes the temp dir."""

    workdir: Path
    sshd: Sshd
    gateway: GatewayProcess
    direct: Endpoint

    @property
    def via_gateway(self) -> Endpoint:
        return self.gateway.endpoint

    def close(self) -> None:
        self.gateway.stop()
        self.sshd.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_rig(*, max_sessions: int = 10, gateway_extra: dict | None = None,
              extra_policy: str | None = None) -> BenchRig:
    """A fresh sshd and a gateway in front of it, in a new temp dir."""
    workdir = Path(tempfile.mkdtemp(prefix="bastion-bench-"))
    sshd = start_sshd(max_sessions=max_sessions)
    try:
        config_path, user_key = write_gateway_config(workdir, sshd, extra=gateway_extra,
                                                     extra_policy=extra_policy)
        gateway = start_gateway(workdir, config_path, user_key)
    except BaseException:
        sshd.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return BenchRig(workdir, sshd, gateway, direct_endpoint(sshd, workdir))
