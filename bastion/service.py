"""One gateway process from start to stop: store, host keys, policy, listener, signals, shutdown.

`GatewayService.start()` is what `bastion serve` and the tests both run, so the tests exercise the
real startup path (interrupted-session repair, generated host key, policy load) on port 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import resource
import signal
from pathlib import Path

import asyncssh

from bastion import __version__, asyncssh_tuning, audit
from bastion.clock import Clock, SystemClock
from bastion.config import Settings
from bastion.errors import BastionError, ConfigError
from bastion.gateway import GatewayContext, start_server
from bastion.approvals import ApprovalBroker, ApprovalSettings
from bastion.identity.ca import UserCertificateAuthority
from bastion.identity.oidc import OidcValidator
from bastion.identity.totp import TotpVerifier
from bastion.masking.profiles import build_profiles
from bastion.masking.stream import StreamMasker
from bastion.notify import WebhookNotifier
from bastion.store.db import Store
from bastion.store.sessions import get_session, mark_interrupted
from bastion.upstream import UpstreamPool

log = logging.getLogger(__name__)


def load_or_generate_host_keys(settings: Settings) -> list[asyncssh.SSHKey]:
    """The configured host keys, or the generated one in the state directory (created on first start)."""
    if settings.host_key_paths:
        keys = []
        for path in settings.host_key_paths:
            try:
                keys.append(asyncssh.read_private_key(path))
            except (OSError, asyncssh.KeyImportError) as exc:
                raise ConfigError(f"host_keys: cannot read {path}: {exc}") from exc
        return keys
    path = settings.generated_host_key_path
    if path.exists():
        try:
            return [asyncssh.read_private_key(path)]
        except (OSError, asyncssh.KeyImportError) as exc:
            raise ConfigError(f"cannot read the generated host key {path}: {exc}") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="bastion host key")
    # Written with 0600 from the first byte: never world-readable, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.export_private_key())
    path.with_name(path.name + ".pub").write_bytes(key.export_public_key())
    return [key]


def load_or_generate_secret(path: Path, size: int = 32) -> bytes:
    """A server-side random key, created 0600 on first use (the HMAC key for masked-secret digests)."""
    try:
        data = path.read_bytes()
        if len(data) >= 16:
            return data
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    data = os.urandom(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return data


class GatewayService:
    """Owns every long-lived part of a running gateway."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.ctx: GatewayContext | None = None
        self.acceptor: asyncssh.SSHAcceptor | None = None
        self.host_keys: list[asyncssh.SSHKey] = []
        self.interrupted: list[str] = []
        self._stopped = asyncio.Event()
        self._policy = None
        self._watch_task: asyncio.Task[None] | None = None
        self._expiry_task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self.acceptor is not None
        return self.acceptor.get_port()

    async def start(self) -> None:
        settings = self.settings
        asyncssh_tuning.install()
        self.host_keys = load_or_generate_host_keys(settings)
        store = Store.open(settings.store_path, clock=self.clock)
        store.checkpoint_in_background()
        audit_log = audit.SqliteAuditLog(store, self.clock)
        self.interrupted = mark_interrupted(store, at=self.clock.now(),
                                            recordings_root=settings.recording.directory)
        for session_id in self.interrupted:
            row = get_session(store, session_id) or {}
            audit_log.emit(audit.SessionInterrupted(session_id=session_id, user=row.get("user"),
                                                    recording_sha256=row.get("recording_sha256"),
                                                    error="gateway stopped uncleanly"))
        settings.recording.directory.mkdir(parents=True, exist_ok=True)
        self.ctx = GatewayContext(settings=settings, clock=self.clock, store=store, audit=audit_log,
                                  pool=UpstreamPool(settings.upstream))
        from bastion.enforcement import install_policy  # policy wiring lives with enforcement

        self.ctx.mask_key = load_or_generate_secret(settings.state_dir / "mask_hmac.key")
        self._policy = install_policy(self.ctx)
        self.ctx.totp = TotpVerifier(store, self.clock, audit_log)
        if settings.oidc_issuers:
            self.ctx.oidc = OidcValidator(settings.oidc_issuers, clock=self.clock)
            self.ctx.user_ca = UserCertificateAuthority.load_or_create(settings.user_ca_key_path)
        self.ctx.approvals = ApprovalBroker(
            store, audit_log, self.clock,
            ApprovalSettings(default_timeout=settings.approvals.default_timeout,
                             max_grant=settings.approvals.max_grant,
                             reviewer_group=settings.approvals.reviewer_group),
            self.ctx.totp, notifier=self._notifier(audit_log))
        self.ctx.approvals.recover()
        try:
            self.acceptor = await start_server(self.ctx, self.host_keys)
        except OSError as exc:
            store.close()
            raise BastionError(f"cannot listen on {settings.listen.host}:{settings.listen.port}: "
                               f"{exc.strerror or exc}") from exc
        loop = asyncio.get_running_loop()
        self._watch_task = loop.create_task(self._policy.watch())
        self._expiry_task = loop.create_task(self.ctx.approvals.run_expiry())
        audit_log.emit(audit.GatewayStart(version=__version__, listen=f"{settings.listen.host}:{self.port}",
                                          policy_version=self.ctx.policy_version(),
                                          interrupted_sessions=tuple(self.interrupted)))

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.stop()))
        loop.add_signal_handler(signal.SIGHUP, self.reload_policy)

    def _notifier(self, audit_log: audit.AuditLog) -> WebhookNotifier | None:
        config = self.settings.approvals
        if not config.webhook_url:
            return None
        profile = build_profiles(()).default()

        def mask(text: str) -> str:
            # Commands can carry secrets (`mysql -pSECRET`): the page gets them masked.
            masker = StreamMasker(profile)
            return (masker.feed(text.encode()) + masker.finish()).decode("utf-8", "replace")

        return WebhookNotifier(config.webhook_url, style=config.webhook_style, audit=audit_log, mask=mask)

    def policy_set(self):
        return self._policy.holder.current if self._policy is not None else None

    def reload_policy(self) -> None:
        if self._policy is not None:
            self._policy.reload()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def stop(self, message: str = "gateway shutting down") -> None:
        """Stop accepting, tell live clients, close recordings and rows, close connections."""
        if self.ctx is None or self._stopped.is_set():
            return
        ctx = self.ctx
        ctx.accepting = False
        if self.acceptor is not None:
            self.acceptor.close()
        if self._watch_task is not None:
            self._watch_task.cancel()
        if self._expiry_task is not None:
            self._expiry_task.cancel()
        sessions = list(ctx.sessions.values())
        for session in sessions:
            session.terminate(message)
        tasks = [s._task for s in sessions if s._task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=max(self.settings.shutdown_grace, 0.1))
        await ctx.pool.close()
        if self.acceptor is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.acceptor.wait_closed(), 2)
        with contextlib.suppress(Exception):
            ctx.audit.emit(audit.GatewayStop(reason=message))
        ctx.store.close()
        self._stopped.set()


def raise_open_file_limit() -> tuple[int, int]:
    """Each session holds about two descriptors (its client socket and its recording); the usual soft
    limit of 1,024 would stop a gateway near 500 sessions. Raise the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            log.warning("cannot raise the open-file limit above %d", soft)
    return soft, hard


async def run_until_stopped(settings: Settings, *, announce=print) -> None:
    """`bastion serve`: start, say how to connect, run until SIGTERM/SIGINT, stop cleanly."""
    raise_open_file_limit()
    service = GatewayService(settings)
    await service.start()
    # Everything loaded at start (policy, parsers, detectors, libraries) lives as long as the process: move
    # it out of the collector's reach, so a full collection does not pause every session for tens of ms.
    gc.collect()
    gc.freeze()
    service.install_signal_handlers()
    announce(connect_hint(service))
    await service.wait_stopped()


def connect_hint(service: GatewayService) -> str:
    settings = service.settings
    host, port = settings.listen.host, service.port
    fingerprint = service.host_keys[0].get_fingerprint() if service.host_keys else "?"
    lines = [
        f"bastion listening on {host}:{port} (host key {fingerprint})",
        f"  store:      {settings.store_path}",
        f"  recordings: {settings.recording.directory}",
        f"  policies:   {settings.policy_dir} (version {str(service.ctx.policy_version() if service.ctx else '')[:12]})",
    ]
    empty_reason = getattr(service.policy_set(), "empty_reason", None)
    if empty_reason:
        lines.append(f"  WARNING: {empty_reason}")
    if service.interrupted:
        lines.append(f"  marked {len(service.interrupted)} session(s) left open by a previous run as interrupted")
    if not settings.users or not settings.targets:
        lines.append("  no users or targets configured yet: add them to bastion.yaml (`bastion init` writes an example)")
    lines.append(f"connect with:  ssh -p {port} USER:TARGET@{host} 'uname -a'")
    return "\n".join(lines)


def default_state_paths(settings: Settings) -> dict[str, Path]:
    return {"policy_dir": settings.policy_dir, "store_path": settings.store_path}
