"""TOTP verifier: enrolment, ±1 step, replay refusal, lockout, persistence across restarts, CLI, QR code."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.audit import ListAuditLog, SqliteAuditLog
from bastion.clock import FakeClock
from bastion.errors import IdentityError
from bastion.identity.cli import reviewer, users
from bastion.identity.secret import Secret
from bastion.identity.totp import (
    BadTotpCode,
    ReplayedTotpCode,
    TotpLockedOut,
    TotpNotEnrolled,
    TotpVerifier,
    qr_text,
)
from bastion.store.db import Store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    s = Store.open(tmp_path / "bastion.sqlite3", clock=clock)
    yield s
    s.close()


@pytest.fixture
def audit() -> ListAuditLog:
    return ListAuditLog()


@pytest.fixture
def verifier(store, clock, audit) -> TotpVerifier:
    return TotpVerifier(store, clock, audit)


def code_at(secret: str, clock: FakeClock, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now() + 30 * steps)


def test_enroll_returns_a_wrapped_secret_and_an_otpauth_uri(verifier, audit):
    enrollment = verifier.enroll("carol")
    raw = enrollment.secret.expose()
    assert len(raw) == 32 and pyotp.TOTP(raw).now().isdigit()
    assert enrollment.uri.startswith("otpauth://totp/bastion:carol?")
    assert f"secret={raw}" in enrollment.uri and "issuer=bastion" in enrollment.uri
    assert raw not in repr(enrollment) and repr(enrollment.secret) == "<secret>"
    assert verifier.is_enrolled("carol") and not verifier.is_enrolled("dave")
    assert audit.names() == ["totp.enrolled"]
    assert raw not in json.dumps([e.data() for e in audit.events])


def test_a_current_code_and_one_step_either_side_are_accepted(verifier, clock):
    secret = verifier.enroll("carol").secret.expose()
    verifier.verify("carol", code_at(secret, clock, -1))
    verifier.verify("carol", code_at(secret, clock, 0))
    verifier.verify("carol", code_at(secret, clock, +1))


@pytest.mark.parametrize("steps", [-2, 2, 10])
def test_codes_outside_the_window_are_bad(verifier, clock, steps):
    secret = verifier.enroll("carol").secret.expose()
    with pytest.raises(BadTotpCode):
        verifier.verify("carol", code_at(secret, clock, steps))


@pytest.mark.parametrize("junk", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_are_bad(verifier, junk):
    verifier.enroll("carol")
    with pytest.raises(BadTotpCode):
        verifier.verify("carol", junk)


def test_spaces_in_a_code_are_ignored(verifier, clock):
    secret = verifier.enroll("carol").secret.expose()
    code = code_at(secret, clock)
    verifier.verify("carol", f" {code[:3]} {code[3:]} ")


def test_each_code_is_accepted_once_and_never_an_older_one(verifier, clock, audit):
    secret = verifier.enroll("carol").secret.expose()
    verifier.verify("carol", code_at(secret, clock, +1))
    with pytest.raises(ReplayedTotpCode):
        verifier.verify("carol", code_at(secret, clock, +1))
    # The current step is older than the one already used: refused too.
    with pytest.raises(ReplayedTotpCode):
        verifier.verify("carol", code_at(secret, clock, 0))
    clock.advance(60)
    verifier.verify("carol", code_at(secret, clock))
    failed = [e for e in audit.events if e.name == "totp.failed"]
    assert [e.reason for e in failed] == ["replayed", "replayed"]


def test_replays_do_not_count_toward_lockout(verifier, clock):
    secret = verifier.enroll("carol").secret.expose()
    code = code_at(secret, clock)
    verifier.verify("carol", code)
    for _ in range(10):
        with pytest.raises(ReplayedTotpCode):
            verifier.verify("carol", code)
    clock.advance(30)
    verifier.verify("carol", code_at(secret, clock))


def test_five_bad_codes_in_five_minutes_lock_out_then_the_lock_ends(verifier, clock, audit):
    secret = verifier.enroll("carol").secret.expose()
    for i in range(4):
        with pytest.raises(BadTotpCode, match=f"{i + 1} of 5"):
            verifier.verify("carol", "000000")
        clock.advance(10)
    with pytest.raises(TotpLockedOut) as info:
        verifier.verify("carol", "000000")
    assert info.value.until == clock.now() + 900
    assert verifier.locked_until("carol") == clock.now() + 900
    with pytest.raises(TotpLockedOut):
        verifier.verify("carol", code_at(secret, clock))
    clock.advance(900)
    assert verifier.locked_until("carol") is None
    verifier.verify("carol", code_at(secret, clock))
    # The count starts afresh after a lockout.
    with pytest.raises(BadTotpCode, match="1 of 5"):
        verifier.verify("carol", "000000")
    locked = [e for e in audit.events if e.name == "totp.locked_out"]
    assert len(locked) == 1 and locked[0].failures == 5 and locked[0].user == "carol"
    reasons = [e.reason for e in audit.events if e.name == "totp.failed"]
    assert reasons == ["bad_code"] * 5 + ["locked_out"] + ["bad_code"]


def test_bad_codes_spread_beyond_the_window_do_not_lock_out(verifier, clock):
    secret = verifier.enroll("carol").secret.expose()
    for _ in range(8):
        with pytest.raises(BadTotpCode):
            verifier.verify("carol", "000000")
        clock.advance(100)  # at most 3 failures inside any 300 s window
    verifier.verify("carol", code_at(secret, clock))


def test_lockout_and_replay_state_survive_a_restart(tmp_path, clock):
    path = tmp_path / "bastion.sqlite3"
    with Store.open(path, clock=clock) as s1:
        v1 = TotpVerifier(s1, clock, ListAuditLog())
        secret = v1.enroll("carol").secret.expose()
        used = code_at(secret, clock)
        v1.verify("carol", used)
        v1.enroll("dave")
        for _ in range(5):
            with pytest.raises((BadTotpCode, TotpLockedOut)):
                v1.verify("dave", "000000")
    with Store.open(path, clock=clock) as s2:
        v2 = TotpVerifier(s2, clock, ListAuditLog())
        with pytest.raises(ReplayedTotpCode):
            v2.verify("carol", used)
        assert v2.locked_until("dave") is not None


def test_re_enrolling_replaces_the_secret_and_clears_the_lockout(verifier, clock, audit):
    old = verifier.enroll("carol").secret.expose()
    for _ in range(5):
        with pytest.raises((BadTotpCode, TotpLockedOut)):
            verifier.verify("carol", "000000")
    new = verifier.enroll("carol").secret.expose()
    assert new != old
    with pytest.raises(BadTotpCode):
        verifier.verify("carol", code_at(old, clock))
    verifier.verify("carol", code_at(new, clock))
    assert [e.replaced for e in audit.events if e.name == "totp.enrolled"] == [False, True]


def test_unknown_names_are_refused_and_audited(verifier, audit):
    with pytest.raises(TotpNotEnrolled, match="bastion reviewer enroll zed"):
        verifier.verify("zed", "123456")
    assert audit.events[-1].name == "totp.failed" and audit.events[-1].reason == "not_enrolled"
    with pytest.raises(IdentityError):
        verifier.enroll("bad:name")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(guess=st.text(alphabet="0123456789", min_size=6, max_size=6), skew=st.integers(0, 10**6))
def test_property_only_the_windowed_codes_are_accepted(store, clock, guess, skew):
    # One store for every example; a fresh name each time keeps replay and failure state apart.
    v = TotpVerifier(store, clock, ListAuditLog(), max_failures=10**6)
    clock.advance(skew)
    name = f"u{len(store.query('SELECT name FROM totp_credentials'))}"
    secret = v.enroll(name).secret.expose()
    valid = {code_at(secret, clock, s) for s in (-1, 0, 1)}
    if guess in valid:
        v.verify(name, guess)
    else:
        with pytest.raises(BadTotpCode):
            v.verify(name, guess)
        v.verify(name, code_at(secret, clock))  # a bad guess does not spoil the real code


def test_audit_events_go_into_the_hash_chain(store, clock):
    audit = SqliteAuditLog(store, clock)
    v = TotpVerifier(store, clock, audit)
    secret = v.enroll("carol").secret.expose()
    v.verify("carol", code_at(secret, clock), purpose="approval 7")
    rows = store.query("SELECT name, user, data FROM audit_events ORDER BY seq")
    assert [(r["name"], r["user"]) for r in rows] == [("totp.enrolled", "carol"), ("totp.verified", "carol")]
    assert json.loads(rows[1]["data"])["purpose"] == "approval 7"
    assert all(secret not in r["data"] for r in rows)


def test_secret_wrapper_hides_its_value():
    s = Secret("JBSWY3DPEHPK3PXP")
    assert repr(s) == str(s) == f"{s}" == "<secret>"
    assert s == Secret("JBSWY3DPEHPK3PXP") and s != Secret("other")
    assert "JBSWY3DPEHPK3PXP" not in repr({"k": s})
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_qr_text_draws_a_square_code_with_a_quiet_zone():
    uri = "otpauth://totp/bastion:carol?secret=JBSWY3DPEHPK3PXP&issuer=bastion"
    lines = qr_text(uri).splitlines()
    width = len(lines[0])
    assert all(len(line) == width for line in lines)
    assert abs(width - 2 * len(lines)) <= 2  # two module rows per line
    assert set("".join(lines)) <= set("█▀▄ ")
    assert lines[0] == "█" * width  # quiet zone drawn lit by default
    inverted = qr_text(uri, invert=True).splitlines()
    assert inverted[0] == " " * width


def test_cli_reviewer_enroll_prints_uri_and_qr_and_stores_the_secret(tmp_path):
    db = tmp_path / "state" / "bastion.sqlite3"
    result = CliRunner().invoke(reviewer, ["enroll", "carol"], obj={"store_path": db})
    assert result.exit_code == 0, result.output
    uri = next(line for line in result.output.splitlines() if line.startswith("otpauth://"))
    assert "bastion:carol" in uri
    assert "█" in result.output
    secret = uri.split("secret=")[1].split("&")[0]
    clock = FakeClock()
    with Store.open(db, clock=clock) as store:
        TotpVerifier(store, clock, ListAuditLog()).verify("carol", code_at(secret, clock))
        names = [r["name"] for r in store.query("SELECT name FROM audit_events")]
    assert names == ["totp.enrolled"]


def test_cli_users_enroll_totp_without_qr(tmp_path):
    db = tmp_path / "x.sqlite3"
    result = CliRunner().invoke(users, ["enroll-totp", "erin", "--db", str(db), "--no-qr"])
    assert result.exit_code == 0, result.output
    assert "otpauth://totp/bastion:erin?" in result.output and "█" not in result.output
    again = CliRunner().invoke(users, ["enroll-totp", "erin", "--db", str(db), "--no-qr"])
    assert "previous TOTP secret is replaced" in again.output
