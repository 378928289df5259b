"""TOTP second factor (RFC 6238, pyotp): enrolment, and checking a code once per time step with lockout.

Generic over names: reviewers sign verdicts with it now, people will log in with it later. Secrets live
server side in the store (`totp_credentials`); the caller only ever sees a code. Every outcome is audited.

Rules a code must pass, in order:
1. the name is enrolled;
2. the name is not locked out (a correct code is refused too while it is);
3. the code matches the current time step or one step either side (`window`);
4. its step is newer than the newest step already accepted for that name, so a code works once and an
   older code cannot follow a newer one (replay refused; a replay is not counted as a bad code, because
   it proves knowledge of a recent code rather than guessing).
A bad code is recorded; `max_failures` bad codes within `failure_window` seconds lock the name out for
`lockout` seconds. Time comes only from the injected clock's wall time (TOTP is defined on Unix time).
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

import pyotp

from bastion import audit as events
from bastion.audit import AuditLog
from bastion.clock import Clock
from bastion.errors import IdentityError
from bastion.identity.secret import Secret
from bastion.store import totp as totp_store
from bastion.store.db import Store

DIGITS = 6
INTERVAL = 30


class TotpError(IdentityError):
    """A TOTP code was refused. `reason_code` is the stable, machine-readable reason."""

    reason_code = "totp_error"


class TotpNotEnrolled(TotpError):
    """The name has no TOTP secret (run `bastion reviewer enroll NAME`)."""

    reason_code = "totp_not_enrolled"


class BadTotpCode(TotpError):
    """The code does not match the name's secret within the accepted window."""

    reason_code = "bad_totp"


class ReplayedTotpCode(TotpError):
    """The code's time step was already used (or a newer one was): each code is accepted once."""

    reason_code = "replayed_totp"


class TotpLockedOut(TotpError):
    """Too many bad codes in the failure window; every code is refused until `until` (epoch seconds)."""

    reason_code = "locked_out"

    def __init__(self, message: str, *, until: float) -> None:
        super().__init__(message)
        self.until = until


@dataclass(frozen=True)
class Enrollment:
    """A fresh TOTP secret and its `otpauth://` URI (which contains the secret: show it once, to its owner)."""

    name: str
    secret: Secret[str]
    uri: str

    def __repr__(self) -> str:  # the URI carries the secret too
        return f"Enrollment(name={self.name!r}, secret=<secret>, uri=<secret>)"


class TotpVerifier:
    """Enrols names and verifies their codes against the store, auditing every outcome."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        audit: AuditLog,
        *,
        issuer: str = "bastion",
        window: int = 1,
        max_failures: int = 5,
        failure_window: float = 300.0,
        lockout: float = 900.0,
    ) -> None:
        if window < 0 or max_failures < 1 or failure_window <= 0 or lockout < 0:
            raise ValueError("TOTP window >= 0, max_failures >= 1, failure_window > 0 and lockout >= 0")
        self._store = store
        self._clock = clock
        self._audit = audit
        self.issuer = issuer
        self.window = window
        self.max_failures = max_failures
        self.failure_window = failure_window
        self.lockout = lockout

    # --- enrolment ---------------------------------------------------------------------------------
    def enroll(self, name: str) -> Enrollment:
        """Create a new random secret for `name`, replacing any older one (and its lockout)."""
        if not name or ":" in name:
            raise IdentityError(f"cannot enrol {name!r} for TOTP: a name must be non-empty and contain no ':'")
        raw = pyotp.random_base32()  # 32 base32 characters: 160 bits, as RFC 4226 recommends
        replaced = totp_store.put_credential(self._store, name=name, secret=raw, enrolled_at=self._clock.now())
        self._audit.emit(events.TotpEnrolled(user=name, issuer=self.issuer, replaced=replaced))
        uri = pyotp.TOTP(raw, digits=DIGITS, interval=INTERVAL).provisioning_uri(name=name, issuer_name=self.issuer)
        return Enrollment(name=name, secret=Secret(raw), uri=uri)

    def is_enrolled(self, name: str) -> bool:
        return totp_store.get_credential(self._store, name) is not None

    # --- verification ------------------------------------------------------------------------------
    def locked_until(self, name: str) -> float | None:
        """When `name`'s lockout ends, or None when it is not locked out now."""
        cred = totp_store.get_credential(self._store, name)
        if cred is None or cred["locked_until"] is None or self._clock.now() >= cred["locked_until"]:
            return None
        return float(cred["locked_until"])

    def verify(self, name: str, code: str, *, purpose: str = "", session_id: str | None = None) -> None:
        """Accept `code` for `name` once, or raise a `TotpError` subclass. `purpose` (e.g. "approval 42")
        goes into the audit events."""
        now = self._clock.now()
        cred = totp_store.get_credential(self._store, name)
        if cred is None:
            self._fail(name, "not_enrolled", 0, purpose, session_id)
            raise TotpNotEnrolled(f"{name} has no TOTP secret (enrol with `bastion reviewer enroll {name}`)")

        locked_until = cred["locked_until"]
        if locked_until is not None:
            if now < locked_until:
                self._fail(name, "locked_out", 0, purpose, session_id)
                raise TotpLockedOut(f"{name} is locked out of TOTP until {_utc(locked_until)} after repeated "
                                    "bad codes", until=float(locked_until))
            # The lockout served its time: start counting afresh.
            totp_store.set_locked_until(self._store, name, None)
            totp_store.clear_failures(self._store, name)

        step = self._matching_step(cred["secret"], code, now)
        if step is None:
            self._bad_code(name, now, purpose, session_id)  # raises
        assert step is not None
        last = cred["last_step"]
        if last is not None and step <= last:
            self._fail(name, "replayed", 0, purpose, session_id)
            raise ReplayedTotpCode(f"TOTP code for {name} was already used; wait for the next code")
        totp_store.set_last_step(self._store, name, step)
        self._audit.emit(events.TotpVerified(user=name, session_id=session_id, purpose=purpose))

    def _matching_step(self, secret: str, code: str, now: float) -> int | None:
        """The time step within the window whose code equals `code`, else None. Every candidate is
        compared in constant time, so timing does not tell which step (if any) came close."""
        code = (code or "").replace(" ", "").strip()
        if len(code) != DIGITS or not code.isdigit():
            return None
        otp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
        current = int(now // INTERVAL)
        found = None
        for step in range(current - self.window, current + self.window + 1):
            if hmac.compare_digest(otp.generate_otp(step), code) and found is None:
                found = step
        return found

    def _bad_code(self, name: str, now: float, purpose: str, session_id: str | None) -> None:
        totp_store.add_failure(self._store, name, now)
        totp_store.prune_failures(self._store, now - max(self.failure_window, 86_400.0))
        failures = totp_store.count_failures(self._store, name, now - self.failure_window)
        self._fail(name, "bad_code", failures, purpose, session_id)
        if failures >= self.max_failures:
            until = now + self.lockout
            totp_store.set_locked_until(self._store, name, until)
            self._audit.emit(events.TotpLockedOut(user=name, session_id=session_id, failures=failures,
                                                  until=until))
            raise TotpLockedOut(f"bad TOTP code for {name}; {failures} bad codes in "
                                f"{_span(self.failure_window)}: locked out until {_utc(until)}", until=until)
        raise BadTotpCode(f"bad TOTP code for {name} ({failures} of {self.max_failures} allowed failures "
                          f"in {_span(self.failure_window)})")

    def _fail(self, name: str, reason: str, failures: int, purpose: str, session_id: str | None) -> None:
        self._audit.emit(events.TotpFailed(user=name, session_id=session_id, reason=reason, failures=failures,
                                    purpose=purpose))

    @staticmethod
    def qr_text(uri: str, *, invert: bool = False) -> str:
        return qr_text(uri, invert=invert)


def qr_text(uri: str, *, invert: bool = False) -> str:
    """A QR code of `uri` drawn with Unicode half blocks, two module rows per text line.

    By default light modules are drawn lit (as `qrencode -t UTF8` does), which scans on the usual dark
    terminal background; `invert=True` draws dark modules lit, for light backgrounds. Needs the `qrcode`
    package; without it, returns a one-line hint instead of failing the enrolment.
    """
    try:
        import qrcode  # optional: only the CLI draws codes
    except ImportError:
        return "(install the `qrcode` package to draw a QR code here; the URI above works too)"
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(uri)
    qr.make(fit=True)
    matrix = qr.get_matrix()  # True = dark module; includes the quiet-zone border
    if len(matrix) % 2:
        matrix.append([False] * len(matrix[0]))
    lines = []
    for top, bottom in zip(matrix[0::2], matrix[1::2]):
        chars = []
        for t, b in zip(top, bottom):
            lit_t, lit_b = (t, b) if invert else (not t, not b)
            chars.append("█" if lit_t and lit_b else "▀" if lit_t else "▄" if lit_b else " ")
        lines.append("".join(chars))
    return "\n".join(lines)


def _utc(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: float) -> str:
    return f"{int(seconds // 60)}m" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g}s"
