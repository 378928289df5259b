"""`bastion reviewer enroll NAME` and `bastion users enroll-totp NAME`: create a TOTP secret server side
and show it once, as an `otpauth://` URI and a QR code drawn in the terminal.

Thin: opens the store (at `ctx.obj["store_path"]` when the root group provides it, else
`./state/bastion.sqlite3`), calls `TotpVerifier.enroll` and prints. The secret is shown only here.
"""

from __future__ import annotations

from pathlib import Path

import click

from bastion.audit import SqliteAuditLog
from bastion.clock import SystemClock
from bastion.errors import BastionError
from bastion.identity.totp import TotpVerifier, qr_text
from bastion.store.db import Store

DEFAULT_STORE = Path("state/bastion.sqlite3")


def _store_path(ctx: click.Context, override: str | None) -> Path:
    if override:
        return Path(override)
    obj = ctx.find_root().obj
    if isinstance(obj, dict) and obj.get("store_path"):
        return Path(obj["store_path"])
    return DEFAULT_STORE


def _enroll(ctx: click.Context, name: str, *, db_path: str | None, issuer: str, qr: bool, invert: bool,
            who: str) -> None:
    clock = SystemClock()
    path = _store_path(ctx, db_path)
    try:
        with Store.open(path, clock=clock) as store:
            verifier = TotpVerifier(store, clock, SqliteAuditLog(store, clock), issuer=issuer)
            replacing = verifier.is_enrolled(name)
            enrollment = verifier.enroll(name)
    except BastionError as exc:
        raise click.ClickException(str(exc)) from exc
    if replacing:
        click.echo(f"{name}'s previous TOTP secret is replaced; codes from it no longer work.", err=True)
    click.echo(f"TOTP secret for {who} {name} (stored in {path}); add it to an authenticator app now, it is "
               "not shown again:")
    click.echo(enrollment.uri)
    if qr:
        click.echo(qr_text(enrollment.uri, invert=invert))


def _options(fn):
    fn = click.option("--invert", is_flag=True, help="Draw dark modules lit (for light terminal backgrounds).")(fn)
    fn = click.option("--no-qr", "qr", flag_value=False, default=True, help="Print only the otpauth:// URI.")(fn)
    fn = click.option("--issuer", default="bastion", show_default=True,
                      help="Issuer shown in the authenticator app.")(fn)
    fn = click.option("--db", "db_path", type=click.Path(dir_okay=False),
                      help="Audit store to use (default: store.path from bastion.yaml).")(fn)
    return fn


@click.group("reviewer")
def reviewer() -> None:
    """Manage reviewers' TOTP secrets (a reviewer signs each verdict with a TOTP code)."""


@reviewer.command("enroll")
@click.argument("name")
@_options
@click.pass_context
def reviewer_enroll(ctx: click.Context, name: str, db_path: str | None, issuer: str, qr: bool,
                    invert: bool) -> None:
    """Create (or replace) NAME's TOTP secret; print its otpauth:// URI and a QR code."""
    _enroll(ctx, name, db_path=db_path, issuer=issuer, qr=qr, invert=invert, who="reviewer")


@click.group("users")
def users() -> None:
    """Manage people's login factors."""


@users.command("enroll-totp")
@click.argument("name")
@_options
@click.pass_context
def users_enroll_totp(ctx: click.Context, name: str, db_path: str | None, issuer: str, qr: bool,
                      invert: bool) -> None:
    """Create (or replace) NAME's TOTP secret for logging in; print its otpauth:// URI and a QR code."""
    _enroll(ctx, name, db_path=db_path, issuer=issuer, qr=qr, invert=invert, who="user")
