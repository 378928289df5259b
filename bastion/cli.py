"""The `bastion` command: thin click wrappers over the gateway, the store and the policy engine."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sys
from pathlib import Path

import click

from bastion.config import EXAMPLE_CONFIG, DEFAULT_CONFIG_NAME, Settings, load_settings
from bastion.errors import BastionError


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj.get("config_path"))
    except BastionError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False),
              help="bastion.yaml to use (default: $BASTION_CONFIG, else ./bastion.yaml, else embedded defaults).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """bastion: an SSH gateway that decides on, masks and records every command an agent runs."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    # Subcommands from the policy and masking packages read their default paths from here.
    try:
        settings = load_settings(config_path)
    except BastionError:
        return  # reported by the subcommand that needs the settings
    ctx.obj["policy_dir"] = settings.policy_dir
    ctx.obj["store_path"] = settings.store_path


@main.command()
@click.option("--host", help="Override listen.host.")
@click.option("--port", type=int, help="Override listen.port (0 picks a free port).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]), help="Gateway log level.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, log_level: str) -> None:
    """Run the gateway until SIGTERM or SIGINT (SIGHUP reloads the policy)."""
    from dataclasses import replace

    from bastion.service import run_until_stopped

    settings = _settings(ctx)
    if host is not None or port is not None:
        settings = replace(settings, listen=replace(settings.listen, host=host or settings.listen.host,
                                                     port=settings.listen.port if port is None else port))
    logging.basicConfig(level=getattr(logging, log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # asyncssh logs every channel at INFO; that costs CPU on the hot path and floods on-call logs.
    logging.getLogger("asyncssh").setLevel(logging.WARNING if log_level != "debug" else logging.DEBUG)
    try:
        asyncio.run(run_until_stopped(settings, announce=lambda text: click.echo(text, err=True)))
    except BastionError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--path", default=DEFAULT_CONFIG_NAME, show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the example configuration.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a commented example bastion.yaml."""
    target = Path(path)
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; use --force to overwrite it")
    target.write_text(EXAMPLE_CONFIG)
    click.echo(f"wrote {target}: add your users and targets, then run `bastion serve`")


@main.group(invoke_without_command=True)
@click.option("--user", help="Only this user's sessions.")
@click.option("--target", help="Only sessions to this target.")
@click.option("--status", type=click.Choice(["open", "closed", "terminated", "interrupted", "failed"]), help="Only this status.")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def sessions(ctx: click.Context, user: str | None, target: str | None, status: str | None, limit: int,
             as_json: bool) -> None:
    """List sessions: who connected to which target, when, and how it ended."""
    if ctx.invoked_subcommand is not None:
        return
    from bastion.store.sessions import list_sessions

    with _open_store(ctx) as store:
        rows = list_sessions(store, user=user, target=target, status=status, limit=limit)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True))
        return
    if not rows:
        click.echo("no sessions")
        return
    click.echo(f"{'ID':<20} {'STARTED (UTC)':<19} {'USER':<12} {'TARGET':<12} {'KIND':<6} {'STATUS':<11} "
               f"{'EXIT':>4}  COMMAND")
    for row in rows:
        exit_text = row.get("exit_signal") or ("" if row.get("exit_status") is None else str(row["exit_status"]))
        click.echo(f"{row['id']:<20} {_when(row.get('started_at')):<19} {row.get('user') or '':<12} "
                   f"{row.get('target') or '':<12} {row.get('kind') or '':<6} {row.get('status') or '':<11} "
                   f"{exit_text:>4}  {(row.get('command') or '')[:60]}")


@sessions.command("show")
@click.argument("session_id")
@click.pass_context
def sessions_show(ctx: click.Context, session_id: str) -> None:
    """Show one session: its row, its commands and decisions, and its recording."""
    from bastion.store.commands import commands_for_session
    from bastion.store.sessions import get_session

    with _open_store(ctx) as store:
        row = get_session(store, session_id)
        if row is None:
            raise click.ClickException(f"no session {session_id}")
        cmds = commands_for_session(store, session_id)
    for key in ("id", "user", "auth_method", "client_addr", "target", "account", "kind", "command", "status",
                "exit_status", "exit_signal", "bytes_in", "bytes_out", "recording_path", "recording_sha256",
                "policy_version", "error"):
        value = row.get(key)
        if value is not None:
            click.echo(f"{key + ':':<18}{value}")
    click.echo(f"{'started:':<18}{_when(row.get('started_at'))}")
    click.echo(f"{'ended:':<18}{_when(row.get('ended_at'))}")
    if cmds:
        click.echo("commands:")
        for cmd in cmds:
            rules = ",".join(cmd.get("rules") or []) or "default"
            exit_text = "" if cmd.get("exit_status") is None else f" exit {cmd['exit_status']}"
            click.echo(f"  {_when(cmd.get('at'))}  {cmd.get('action'):<6} ({rules}){exit_text}  {cmd.get('text')}")
    if row.get("recording_path"):
        click.echo(f"replay with:      asciinema play {row['recording_path']}")


@main.group()
def audit() -> None:
    """The tamper-evident audit trail."""


@audit.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Check the audit hash chain and every closed session's recording hash (exit 1 on a problem)."""
    from bastion.audit import verify

    settings = _settings(ctx)
    with _open_store(ctx) as store:
        report = verify(store, settings.recording.directory)
    if report.ok:
        click.echo("audit verify: ok")
        return
    for problem in report.problems:
        click.echo(f"audit verify: {problem}", err=True)
    sys.exit(1)


def _open_store(ctx: click.Context):
    from bastion.clock import SystemClock
    from bastion.store.db import Store

    settings = _settings(ctx)
    if not settings.store_path.exists():
        raise click.ClickException(f"no audit store at {settings.store_path} (has `bastion serve` run here?)")
    try:
        return Store.open(settings.store_path, clock=SystemClock())
    except BastionError as exc:
        raise click.ClickException(str(exc)) from exc


def _when(value: float | None) -> str:
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(value, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _register_subcommands() -> None:
    # Each package owns its own click commands; the root only gathers them.
    from bastion.identity.cli import reviewer, users
    from bastion.identity.login import login_command
    from bastion.masking.cli import mask
    from bastion.policy.cli import policy

    for command in (policy, mask, reviewer, users, login_command):
        main.add_command(command)


_register_subcommands()


if __name__ == "__main__":
    main()
