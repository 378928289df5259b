"""The SSH server side: authentication callbacks and channel requests, translated for the session.

Nothing here decides on commands, masks or records: `GatewayServer` authenticates and refuses side
channels; `ClientChannel` turns channel callbacks into calls on a `Session`.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

import asyncssh

from bastion import audit
from bastion.clock import Clock
from bastion.config import Settings, TargetSettings, UserSettings
from bastion.masking.profiles import ProfileSet, build_profiles
from bastion.errors import BastionError
from bastion.identity.ca import process_cert_request
from bastion.identity.keys import certificate_trust, key_matches
from bastion.identity.principal import LoginName, Principal
from bastion.recording.fanout import Fanout
from bastion.review_api import ReviewSession
from bastion.session import EXIT_DENIED, EXIT_GATEWAY_ERROR, PtyRequest, Session
from bastion.store.db import Store
from bastion.upstream import UpstreamPool

log = logging.getLogger(__name__)

# Offered to clients, fastest first. chacha20-poly1305 is left out on purpose: OpenSSH clients prefer it
# and the client's order wins, and it costs the relay ~1.9x the CPU of AES-GCM (FIELD-NOTES).
SERVER_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr")


@functools.cache
def _builtin_profiles() -> ProfileSet:
    return build_profiles(())


_TOTP_TRIES_PER_CONNECTION = 3  # clients retry keyboard-interactive as long as it is offered


def new_session_id(clock: Clock) -> str:
    """Time-ordered, unguessable: 8 hex digits of epoch seconds + 12 random hex digits."""
    return f"{int(clock.now()):08x}{secrets.token_hex(6)}"


@dataclass
class GatewayContext:
    """What every connection and session of one gateway process shares."""

    settings: Settings
    clock: Clock
    store: Store
    audit: audit.AuditLog
    pool: UpstreamPool
    sessions: dict[str, Session] = field(default_factory=dict)
    fanout: Fanout = field(default_factory=Fanout)
    # decide(session) -> bool | Awaitable[bool]: the policy hook; returns False after telling the client.
    decide: Callable[[Session], Any] | None = None
    # choose_account(session) -> TargetSettings | None: the target with the account policy maps the caller to.
    choose_account: Callable[[Session], Any] | None = None
    # check_line(session, text) -> bool | Awaitable[bool]: a shell line's decision (text None: unreadable).
    check_line: Callable[[Session, str | None], Any] | None = None
    policy_version: Callable[[], str | None] = lambda: None
    # masking_profiles() -> ProfileSet for the policy in force; mask_key: the HMAC key for hit digests.
    masking_profiles: Callable[[], ProfileSet] = lambda: _builtin_profiles()
    mask_key: bytes | None = None
    oidc: Any = None               # OidcValidator, when issuers are configured
    user_ca: Any = None            # UserCertificateAuthority for `bastion login` certificates
    approvals: Any = None          # ApprovalBroker
    totp: Any = None               # TotpVerifier
    # approval id → (the matched part of the command, its span), for reviewers' highlighting
    held_matches: dict[int, tuple[str, tuple[int, int] | None]] = field(default_factory=dict)
    id_factory: Callable[[Clock], str] = new_session_id
    accepting: bool = True

    def new_id(self) -> str:
        return self.id_factory(self.clock)


class GatewayServer(asyncssh.SSHServer):
    """One client connection: who it is, which target it asked for, and which requests are refused."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        self.conn: asyncssh.SSHServerConnection | None = None
        self.client_addr = "?"
        self.login: LoginName | None = None
        self.user: UserSettings | None = None
        self.principal: Principal | None = None
        self._key_auth = False
        self._attempts: list[str] = []
        self._token: Any = None               # OidcIdentity after a token login
        self._first_factor: str | None = None  # for TOTP users: what they proved before the code
        self._totp_ok = False
        self._totp_failures = 0
        self._auth_failure_reason = "no accepted key, certificate or token"

    # --- connection -------------------------------------------------------------------------------
    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername") or ("?", 0)
        self.client_addr = f"{peer[0]}:{peer[1]}"
        # asyncssh answers agent and X11 requests inside the connection with no server callback;
        # replacing its hooks on this connection lets the refusal be audited and explained.
        conn.create_agent_listener = self._refuse_agent  # type: ignore[method-assign]
        conn.attach_x11_listener = self._refuse_x11  # type: ignore[method-assign]
        # asyncssh has no partial-success auth. For users who must also give a TOTP code, a verified
        # key signature is noted as the first factor and reported as a failure, so the client goes on
        # to keyboard-interactive. The wrapper sees whether a signature was checked (`msg`); the
        # server callback does not, and a mere "would you accept this key?" query proves nothing.
        verify_key = conn.validate_public_key

        async def validate_public_key(username: str, key_data: bytes, msg: bytes, signature: bytes) -> bool:
            ok = await verify_key(username, key_data, msg, signature)
            if ok and msg and self.user is not None and self.user.totp_required and not self._totp_ok:
                self._first_factor = "publickey" if self._key_auth else "certificate"
                return False
            return ok

        conn.validate_public_key = validate_public_key  # type: ignore[method-assign]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.principal is None and self._attempts and self.login is not None:
            self._audit(audit.AuthFailure(user=self.login.user, client_addr=self.client_addr,
                                          method=",".join(sorted(set(self._attempts))),
                                          reason=self._auth_failure_reason))

    # --- authentication ---------------------------------------------------------------------------
    def begin_auth(self, username: str) -> bool:
        self.login = LoginName.parse(username)
        self.user = self.ctx.settings.users.get(self.login.user)
        ca_keys = self.ctx.settings.user_ca_keys + ((self.ctx.user_ca.public_key,) if self.ctx.user_ca else ())
        trust = certificate_trust(self.login.user, ca_keys) if self.user else None
        if trust is not None and self.conn is not None:
            self.conn.set_authorized_keys(trust)
        return True  # always ask for credentials: never hint that a user does not exist

    def password_auth_supported(self) -> bool:
        return self.ctx.oidc is not None  # the password is an OIDC access token

    async def validate_password(self, username: str, password: str) -> bool:
        self._attempts.append("token")
        if self.ctx.oidc is None or self.user is None or self.login is None:
            return False
        try:
            identity = await self.ctx.oidc.validate(password)
        except BastionError as exc:
            self._auth_failure_reason = str(exc)
            return False
        if identity.user != self.login.user:
            self._auth_failure_reason = "the token names another user"
            return False
        self._token = identity
        if self.user.totp_required and not self._totp_ok:
            self._first_factor = "oidc"
            return False
        return True

    def kbdint_auth_supported(self) -> bool:
        return (self.user is not None and self.user.totp_required and self.ctx.totp is not None
                and self._totp_failures < _TOTP_TRIES_PER_CONNECTION)

    def get_kbdint_challenge(self, username: str, lang: str, submethods: str) -> Any:
        if self._first_factor is None:
            return False  # the code is a second factor only
        return ("bastion", "A TOTP code is required for this account.", "", [("TOTP code: ", False)])

    def validate_kbdint_response(self, username: str, responses: Any) -> bool:
        self._attempts.append("totp")
        if self._first_factor is None or self.user is None or len(responses) != 1:
            return False
        try:
            self.ctx.totp.verify(self.user.name, str(responses[0]).strip(), purpose="login")
        except BastionError as exc:
            self._auth_failure_reason = str(exc)
            self._totp_failures += 1
            return False
        self._totp_ok = True
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self._attempts.append("publickey")
        ok = self.user is not None and key_matches(key, self.user.keys)
        if ok:
            self._key_auth = True
        return ok

    def validate_ca_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Certificates are trusted only through the principal-restricted lines set in begin_auth.
        self._attempts.append("certificate")
        return False

    def auth_completed(self) -> None:
        assert self.user is not None and self.login is not None
        if self._totp_ok:
            source = f"{self._first_factor}+totp"
        elif self._token is not None:
            source = "oidc"
        else:
            source = "publickey" if self._key_auth else "certificate"
        token = self._token
        groups = tuple(dict.fromkeys((*self.user.groups, *(token.groups if token is not None else ()))))
        self.principal = Principal(name=self.user.name, groups=groups, source=source,
                                   expires_at=token.expires_at if token is not None else None,
                                   token_id=token.token_id if token is not None else None)
        self._audit(audit.AuthSuccess(user=self.user.name, client_addr=self.client_addr, method=source))

    # --- side channels: refused, audited, explained -----------------------------------------------
    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        self._refused("port-forward", f"{dest_host}:{dest_port}")
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                                        "bastion: port forwarding is disabled")

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        self._refused("remote-forward", f"{listen_host}:{listen_port}")
        return False

    def unix_connection_requested(self, dest_path: str) -> bool:
        self._refused("unix-forward", dest_path)
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                                        "bastion: socket forwarding is disabled")

    def unix_server_requested(self, listen_path: str) -> bool:
        self._refused("unix-remote-forward", listen_path)
        return False

    async def _refuse_agent(self) -> bool:
        self._refused("agent-forward", "")
        return False

    async def _refuse_x11(self, *args: Any) -> None:
        self._refused("x11", "")
        return None

    def _refused(self, kind: str, detail: str) -> None:
        self._audit(audit.ChannelRefused(session_id=None, user=self.principal.name if self.principal else None,
                                         kind=kind, detail=detail))

    # --- sessions ---------------------------------------------------------------------------------
    def session_requested(self) -> "ClientChannel":
        return ClientChannel(self)

    def resolve_target(self) -> TargetSettings | None:
        """The target this connection may reach, or None (unknown and forbidden look the same)."""
        assert self.user is not None and self.login is not None
        name = self.login.target or self.user.default_target
        if name is None:
            return None
        target = self.ctx.settings.targets.get(name)
        if target is None or not any(fnmatch.fnmatchcase(name, g) for g in self.user.targets):
            return None
        return target

    def _audit(self, event: audit.AuditEvent) -> None:
        try:
            self.ctx.audit.emit(event)
        except Exception:
            log.exception("audit write failed for %s", type(event).__name__)


class ClientChannel(asyncssh.SSHServerSession):
    """Translates one client session channel's callbacks into calls on its `Session`."""

    def __init__(self, server: GatewayServer) -> None:
        self.server = server
        self.chan: asyncssh.SSHServerChannel | None = None
        self.session: Session | None = None
        self._pty: PtyRequest | None = None
        self._refusal: tuple[str, int] | None = None
        self.review: ReviewSession | None = None
        self.cert_request: bytearray | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self.chan = chan

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Any) -> bool:
        width, height, pixwidth, pixheight = term_size
        self._pty = PtyRequest(term_type, width, height, pixwidth, pixheight, dict(term_modes))
        return True

    def shell_requested(self) -> bool:
        return self._begin(None)

    def exec_requested(self, command: str) -> bool:
        return self._begin(command)

    def subsystem_requested(self, subsystem: str) -> bool:
        server = self.server
        if subsystem == "bastion-cert" and server.principal is not None:
            if server.principal.expires_at is None or server.ctx.user_ca is None:
                server._refused("subsystem:bastion-cert", "not a token login")
                self._refusal = ("bastion-cert needs a login with an OIDC token", EXIT_DENIED)
                return True
            self.cert_request = bytearray()
            return True
        if subsystem == "bastion-review" and server.principal is not None:
            if server.ctx.settings.approvals.reviewer_group in server.principal.groups:
                assert self.chan is not None
                self.review = ReviewSession(server.ctx, server.principal, self.chan)
                return True
            server._refused("subsystem:bastion-review", "not a reviewer")
            self._refusal = ("bastion-review is for reviewers only", EXIT_DENIED)
            return True
        # Accept, then explain and exit: a bare refusal leaves `sftp` users with no reason.
        self.server._refused(f"subsystem:{subsystem}", subsystem)
        self._refusal = (f"subsystem {subsystem!r} is disabled on this gateway", EXIT_DENIED)
        return True

    def _begin(self, command: str | None) -> bool:
        server = self.server
        if not server.ctx.accepting:
            self._refusal = ("gateway is shutting down", EXIT_GATEWAY_ERROR)
            return True
        target = server.resolve_target()
        if target is None or server.principal is None:
            asked = server.login.target if server.login and server.login.target else "(none given)"
            server._audit(audit.TargetRefused(user=server.principal.name if server.principal else None,
                                              target=asked, reason="unknown or not allowed",
                                              client_addr=server.client_addr))
            self._refusal = (f"unknown or unauthorised target {asked}; connect as USER:TARGET",
                             EXIT_GATEWAY_ERROR)
            return True
        assert self.chan is not None
        self.session = Session(server.ctx, server.principal, target, server.client_addr, self.chan)
        if self._pty is not None:
            self.session.request_pty(self._pty)
        if command is None:
            return self.session.request_shell()
        return self.session.request_exec(command)

    def _issue_certificate(self, line: bytes) -> None:
        server = self.server
        principal = server.principal
        assert principal is not None and self.chan is not None and principal.expires_at is not None
        outcome = process_cert_request(
            line.split(b"\n", 1)[0], principal=principal.name, token_id=principal.token_id,
            token_expires_at=principal.expires_at, ca=server.ctx.user_ca,
            max_validity=server.ctx.settings.certificate_max_validity, clock=server.ctx.clock)
        issued = outcome.issued
        server._audit(audit.CertificateIssued(
            user=principal.name, key_id=issued.key_id if issued else None, serial=issued.serial if issued else None,
            valid_before=issued.valid_before if issued else None,
            key_fingerprint=issued.public_key_fingerprint if issued else None, error=outcome.error))
        self.chan.write(outcome.response)
        self.chan.exit(0 if issued else 1)

    def session_started(self) -> None:
        assert self.chan is not None
        if self._refusal is not None:
            message, status = self._refusal
            eol = "\r\n" if self._pty else "\n"
            self.chan.write_stderr(f"bastion: {message}{eol}".encode())
            self.chan.exit(status)
            return
        if self.session is not None:
            self.session.start()

    def data_received(self, data: bytes, datatype: Any) -> None:
        if self.session is not None:
            self.session.client_data(data)
        elif self.review is not None:
            self.review.data_received(data)
        elif self.cert_request is not None:
            self.cert_request += data
            if b"\n" in self.cert_request or len(self.cert_request) > 64 * 1024:
                self._issue_certificate(bytes(self.cert_request))
                self.cert_request = None

    def eof_received(self) -> bool:
        if self.session is not None:
            self.session.client_eof()
        elif self.review is not None:
            return False  # the reviewer is done: close the channel
        return True  # keep our side open: output may still be flowing

    def signal_received(self, signal: str) -> None:
        if self.session is not None:
            self.session.client_signal(signal)

    def break_received(self, msec: int) -> bool:
        return self.session.client_break(msec) if self.session is not None else False

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if self.session is not None:
            self.session.client_resized(width, height, pixwidth, pixheight)

    def pause_writing(self) -> None:
        if self.session is not None:
            self.session.client_paused(True)
        elif self.review is not None:
            self.review.paused(True)

    def resume_writing(self) -> None:
        if self.session is not None:
            self.session.client_paused(False)
        elif self.review is not None:
            self.review.paused(False)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.session.client_closed()
        elif self.review is not None:
            self.review.close()


async def start_server(ctx: GatewayContext, host_keys: list[asyncssh.SSHKey]) -> asyncssh.SSHAcceptor:
    """Listen on the configured address with every side channel off by default."""
    listen = ctx.settings.listen
    return await asyncssh.create_server(
        lambda: GatewayServer(ctx), listen.host, listen.port,
        server_host_keys=host_keys,
        encoding=None,              # bytes end to end: the relay is binary-exact
        line_editor=False,          # the target's pty does line editing, not us
        agent_forwarding=False, x11_forwarding=False, allow_scp=False,
        # Offered only when the callbacks say so: passwords are OIDC tokens (when issuers are configured),
        # keyboard-interactive is the TOTP second factor (for users who need one).
        password_auth=True, kbdint_auth=True, gss_host=None,
        encryption_algs=SERVER_CIPHERS,
        login_timeout=30, keepalive_interval=60, keepalive_count_max=3,
        reuse_address=True,
    )
