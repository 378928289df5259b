"""Where an agent's commands go: the gateway's address, the agent's identity and target, one SSH connection.

`GatewaySettings.resolve(...)` takes each setting from its argument, else from the environment
(`BASTION_HOST`, `BASTION_PORT`, `BASTION_USER`, `BASTION_TARGET`, `BASTION_KEY`, `BASTION_TOKEN_FILE`,
`BASTION_KNOWN_HOSTS`), so an agent script can switch to bastion by changing one line.
`GatewayConnection` keeps one asyncssh connection per event loop and opens a fresh one when the old one
has gone; every command is its own channel (exec request) on it.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import asyncssh

from bastion.errors import ConfigError, UpstreamError

DEFAULT_PORT = 2222


class IntegrationConfigError(ConfigError):
    """The agent-side connection settings are missing or invalid (the message names the setting)."""


class GatewayUnavailable(UpstreamError):
    """The agent could not connect or authenticate to the gateway itself (not the target)."""


@dataclass(frozen=True)
class GatewaySettings:
    """How to reach the gateway and who to be there. `known_hosts` None means ~/.ssh/known_hosts."""

    user: str
    target: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    key_path: Path | None = None
    token_file: Path | None = None
    known_hosts: Path | None = None
    connect_timeout: float = 15.0

    def __post_init__(self) -> None:
        if not self.user or not self.target:
            raise IntegrationConfigError("bastion connection settings need both user and target")
        if self.key_path is None and self.token_file is None:
            raise IntegrationConfigError("no credentials: set key_path (BASTION_KEY) or token_file "
                                         "(BASTION_TOKEN_FILE)")

    @property
    def login(self) -> str:
        """The SSH username the gateway expects: identity and target."""
        return f"{self.user}:{self.target}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def resolve(cls, *, host: str | None = None, port: int | str | None = None, user: str | None = None,
                target: str | None = None, key_path: str | Path | None = None,
                token_file: str | Path | None = None, known_hosts: str | Path | None = None,
                connect_timeout: float | None = None, env: Mapping[str, str] | None = None) -> "GatewaySettings":
        """Arguments first, then the environment, then defaults; raises `IntegrationConfigError`."""
        env = os.environ if env is None else env

        def pick(value: Any, name: str) -> Any:
            if value is not None and value != "":
                return value
            return env.get(name) or None

        user = pick(user, "BASTION_USER")
        target = pick(target, "BASTION_TARGET")
        missing = [name for name, value in (("user (BASTION_USER)", user), ("target (BASTION_TARGET)", target))
                   if not value]
        if missing:
            raise IntegrationConfigError(f"bastion connection settings missing: {', '.join(missing)}")
        if ":" in str(user):
            raise IntegrationConfigError("user must be the identity alone; the target goes in target")
        raw_port = pick(port, "BASTION_PORT") or DEFAULT_PORT
        try:
            port_number = int(raw_port)
        except (TypeError, ValueError):
            raise IntegrationConfigError(f"port (BASTION_PORT) is not a number: {raw_port!r}") from None
        if not 0 < port_number < 65536:
            raise IntegrationConfigError(f"port (BASTION_PORT) out of range: {port_number}")
        key = pick(key_path, "BASTION_KEY")
        token = pick(token_file, "BASTION_TOKEN_FILE")
        hosts = pick(known_hosts, "BASTION_KNOWN_HOSTS")
        return cls(user=str(user), target=str(target), host=str(pick(host, "BASTION_HOST") or "127.0.0.1"),
                   port=port_number, key_path=Path(key).expanduser() if key else None,
                   token_file=Path(token).expanduser() if token else None,
                   known_hosts=Path(hosts).expanduser() if hosts else None,
                   connect_timeout=float(connect_timeout) if connect_timeout else cls.connect_timeout)


class GatewayConnection:
    """One persistent SSH connection to the gateway, opened on first use and reopened after it drops.

    Bound to the event loop it was opened on: AutoGen may run tools on another loop (a new
    `asyncio.run`), and an asyncssh connection cannot be used across loops, so a different loop
    gets its own connection.
    """

    def __init__(self, settings: GatewaySettings,
                 connect: Callable[..., Any] = asyncssh.connect) -> None:
        self.settings = settings
        self._connect = connect
        self._conn: asyncssh.SSHClientConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self.connects = 0  # how many connections were opened (tests and diagnostics)

    def _options(self) -> dict[str, Any]:
        s = self.settings
        options: dict[str, Any] = {
            "host": s.host, "port": s.port, "username": s.login,
            "connect_timeout": s.connect_timeout, "keepalive_interval": 30,
            # The agent's own ssh config, agent and default keys must not leak in: only what is configured.
            "config": None, "agent_path": None, "agent_forwarding": False, "x11_forwarding": False,
        }
        if s.known_hosts is not None:
            # INVARIANT: host keys are always checked; asyncssh disables checking for known_hosts=None.
            options["known_hosts"] = str(s.known_hosts)
        if s.key_path is not None:
            try:
                options["client_keys"] = [asyncssh.read_private_key(str(s.key_path))]
            except (OSError, asyncssh.KeyImportError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise GatewayUnavailable(f"cannot use the key file {s.key_path}: {reason}") from exc
        else:
            options["client_keys"] = None
        if s.token_file is not None:
            # Read at each connect (tokens are short-lived and rotated on disk); sent as the SSH
            # password, never logged or kept on this object.
            try:
                options["password"] = s.token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise GatewayUnavailable(f"cannot read the token file {s.token_file}: {exc.strerror}") from exc
        return options

    def _usable(self) -> bool:
        return (self._conn is not None and not self._conn.is_closed()
                and self._loop is asyncio.get_running_loop())

    async def get(self) -> asyncssh.SSHClientConnection:
        """The open connection, connecting first if needed; raises `GatewayUnavailable`."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._usable():
                assert self._conn is not None
                return self._conn
            if self._conn is not None and self._loop is loop:
                self._conn.close()
            self._conn = None
            try:
                conn = await self._connect(**self._options())
            except asyncssh.PermissionDenied as exc:
                raise GatewayUnavailable(f"the gateway refused authentication as {self.settings.login}") from exc
            except asyncssh.HostKeyNotVerifiable as exc:
                raise GatewayUnavailable(f"the gateway's host key is not the trusted one ({exc.reason})") from exc
            except (OSError, asyncssh.Error, asyncio.TimeoutError) as exc:
                reason = getattr(exc, "reason", "") or getattr(exc, "strerror", "") or type(exc).__name__
                raise GatewayUnavailable(f"cannot connect to the gateway at {self.settings.address}: {reason}") \
                    from exc
            self._conn, self._loop = conn, loop
            self.connects += 1
            return conn

    def discard(self, conn: asyncssh.SSHClientConnection) -> None:
        """Forget a connection that failed under us, so the next call opens a fresh one."""
        if self._conn is conn:
            self._conn = None
        conn.close()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.close()
        if self._loop is asyncio.get_running_loop():
            await conn.wait_closed()
