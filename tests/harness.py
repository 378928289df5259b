"""A real gateway in a background thread, driven by the real `ssh` client from the test thread.

The gateway runs the same `GatewayService.start()` as `bastion serve`, on 127.0.0.1 and port 0, with
keys generated for the test. Helpers here build its config as YAML, exactly as an operator would.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import asyncssh
import yaml

from bastion.config import Settings, settings_from_mapping
from bastion.service import GatewayService

from tests.sshd import Sshd, write_private_key

SSH = shutil.which("ssh") or "/usr/bin/ssh"

ALLOW_ALL_POLICY = """\
default: allow
opaque: allow
rules: []
"""


class GatewayHarness:
    """Owns a gateway thread, its config directory and the callers' keys."""

    def __init__(self, workdir: Path, sshd: Sshd | None, *, policy: str = ALLOW_ALL_POLICY,
                 extra_config: dict[str, Any] | None = None, users: dict[str, dict] | None = None,
                 clock: Any = None) -> None:
        self.clock = clock
        self.workdir = workdir
        self.sshd = sshd
        self.keys: dict[str, Path] = {}
        self.policy_dir = workdir / "policies"
        self.policy_dir.mkdir(parents=True, exist_ok=True)
        (self.policy_dir / "test.yaml").write_text(policy)
        users = users if users is not None else {"alice": {"groups": ["devs"]}}
        config: dict[str, Any] = {
            "listen": {"host": "127.0.0.1", "port": 0},
            "state_dir": str(workdir / "state"),
            "policies": {"dir": str(self.policy_dir)},
            "recording": {"dir": str(workdir / "recordings")},
            "users": {},
            "targets": {},
            "shutdown_grace": 2,
        }
        for name, extra in users.items():
            key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{name}@test")
            self.keys[name] = write_private_key(workdir / f"{name}_ed25519", key)
            entry = {"keys": [key.export_public_key().decode().strip()], **extra}
            config["users"][name] = entry
        if sshd is not None:
            config["targets"]["web-1"] = {
                "host": sshd.host, "port": sshd.port, "account": sshd.account,
                "key": str(sshd.client_key_path), "host_keys": [sshd.host_key_line], "connect_timeout": 5,
            }
        for key, value in (extra_config or {}).items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key].update(value)
            else:
                config[key] = value
        self.config_path = workdir / "bastion.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.settings: Settings = settings_from_mapping(config, source=self.config_path)
        self.service: GatewayService | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.known_hosts = workdir / "known_hosts"

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> "GatewayHarness":
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            self.service = GatewayService(self.settings, clock=self.clock)
            try:
                loop.run_until_complete(self.service.start())
            except BaseException as exc:  # noqa: BLE001 - reported to the test thread
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_until_complete(self.service.wait_stopped())
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="gateway", daemon=True)
        self._thread.start()
        started.wait(30)
        if failure:
            raise failure[0]
        assert self.service is not None
        host_key = self.service.host_keys[0].export_public_key().decode().strip()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_key}\n")
        return self

    @property
    def port(self) -> int:
        assert self.service is not None
        return self.service.port

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the gateway's loop and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.service is not None and self.loop is not None and self._thread and self._thread.is_alive():
            self.call(self.service.stop())
            self._thread.join(10)

    # --- the real ssh client ----------------------------------------------------------------------
    def ssh_args(self, login: str = "alice:web-1", *extra: str, key_user: str | None = None,
                 identity: Path | None = None, port: int | None = None) -> list[str]:
        user = login.split(":", 1)[0]
        key = identity or self.keys[key_user or user]
        return [
            SSH, "-p", str(port or self.port), "-i", str(key),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-F", "/dev/null",
            *extra, f"{login}@127.0.0.1",
        ]

    def ssh(self, command: str | None, login: str = "alice:web-1", *extra: str, input: bytes | None = None,
            timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        args = self.ssh_args(login, *extra, **kwargs)
        if command is not None:
            args.append(command)
        result = subprocess.run(args, input=input if input is not None else b"", capture_output=True,
                                timeout=timeout, env={**os.environ, "LC_ALL": "C"})
        self.settle()
        return result

    def settle(self) -> None:
        """Wait for the gateway's loop to take a turn: a session closes its rows right after it sends the
        exit status, without yielding, so a read of the store after this sees them."""
        if self.loop is not None and self.service is not None and self._thread and self._thread.is_alive():
            self.call(asyncio.sleep(0))

    def recordings(self) -> list[Path]:
        return sorted((self.workdir / "recordings").rglob("*.cast"))
