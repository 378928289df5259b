"""`bastion policy ...`: check, eval (one command or a JSON-lines batch), test, replay.

Thin: each command loads a set, calls the pure core and prints. Defaults come from `ctx.obj`
(`policy_dir`, `store_path`) when the root group provides them, else `./policies` and
`./state/bastion.sqlite3`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bastion.clock import SystemClock
from bastion.errors import PolicyLoadError, StoreError
from bastion.policy.evaluate import PolicyDecision, PolicySet, load_policy_set
from bastion.policy.explain import explain
from bastion.policy.parse import parse_duration, test_files
from bastion.policy.replay import changes, read_commands
from bastion.policy.testing import load_cases, run_case

DEFAULT_POLICY_DIR = Path("policies")
DEFAULT_STORE = Path("state/bastion.sqlite3")


def _obj(ctx: click.Context, key: str, default: Path) -> Path:
    obj = ctx.find_root().obj
    if isinstance(obj, dict) and obj.get(key):
        return Path(obj[key])
    return default


def _load(ctx: click.Context, directory: str | None) -> PolicySet:
    path = Path(directory) if directory else _obj(ctx, "policy_dir", DEFAULT_POLICY_DIR)
    try:
        return load_policy_set(path)
    except PolicyLoadError as exc:
        for err in exc.errors:
            click.echo(err, err=True)
        ctx.exit(1)
        raise  # unreachable; ctx.exit raises


@click.group("policy")
def policy() -> None:
    """Check, evaluate, test and replay command policies."""


@policy.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.pass_context
def check(ctx: click.Context, directory: str | None) -> None:
    """Validate a policy directory; print `file:line: reason` per error and exit 1 on any."""
    path = Path(directory) if directory else _obj(ctx, "policy_dir", DEFAULT_POLICY_DIR)
    policy_set = _load(ctx, str(path))
    if policy_set.empty_reason:
        click.echo(f"{path}: {policy_set.empty_reason}", err=True)
        ctx.exit(1)
    _, case_errors = load_cases(path)
    for err in case_errors:
        click.echo(err, err=True)
    if case_errors:
        ctx.exit(1)
    click.echo(f"ok: {len(policy_set.rules)} rules, {len(policy_set.session_rules)} session rules in "
               f"{len(policy_set.files)} file(s); version {policy_set.version}")


def _decision_json(decision: PolicyDecision) -> str:
    return json.dumps(decision.to_json(), ensure_ascii=False)


@policy.command("eval")
@click.option("--user", "-u", default="agent", show_default=True, help="User name to decide for.")
@click.option("--group", "-g", "groups", multiple=True, help="Group of the user (repeatable).")
@click.option("--target", "-t", default="*", show_default=True, help="Target name.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.option("--batch", is_flag=True, help="Read one JSON string per stdin line; print one JSON decision per line.")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Policy directory.")
@click.option("--color/--no-color", default=None, help="Highlight the matched part (default: when a terminal).")
@click.argument("command", nargs=-1)
@click.pass_context
def eval_command(ctx: click.Context, user: str, groups: tuple[str, ...], target: str, as_json: bool, batch: bool,
                 directory: str | None, color: bool | None, command: tuple[str, ...]) -> None:
    """Decide COMMAND (after `--`) for a user, groups and target, and explain why."""
    policy_set = _load(ctx, directory)
    if batch:
        _batch(policy_set, user, groups, target)
        return
    if not command:
        raise click.UsageError("give the command after `--`, e.g. bastion policy eval -- 'rm -rf /'")
    text = " ".join(command)
    decision = policy_set.evaluate(text, user=user, groups=groups, target=target)
    if as_json:
        click.echo(_decision_json(decision))
        return
    use_color = sys.stdout.isatty() if color is None else color
    click.echo(explain(text, decision, color=use_color), color=use_color)


def _batch(policy_set: PolicySet, user: str, groups: tuple[str, ...], target: str) -> None:
    out = sys.stdout
    for raw in sys.stdin:
        if not raw.strip():
            continue
        try:
            text: Any = json.loads(raw)
        except json.JSONDecodeError:
            text = None
        if not isinstance(text, str):
            # INVARIANT: a line we cannot read is still answered, and never with allow.
            bad = PolicyDecision("deny", (), "", "input line is not a JSON string", policy_set.version)
            out.write(_decision_json(bad) + "\n")
            continue
        decision = policy_set.evaluate(text, user=user, groups=groups, target=target)
        out.write(_decision_json(decision) + "\n")
    out.flush()


@policy.command("test")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--verbose", "-v", is_flag=True, help="List passing cases too.")
@click.pass_context
def test_command(ctx: click.Context, directory: str | None, verbose: bool) -> None:
    """Run the policy's own test cases (tests/*.yaml, *.test.yaml); exit 1 on any failure."""
    path = Path(directory) if directory else _obj(ctx, "policy_dir", DEFAULT_POLICY_DIR)
    policy_set = _load(ctx, str(path))
    cases, errors = load_cases(path)
    for err in errors:
        click.echo(f"ERROR {err}", err=True)
    if not cases and not errors:
        click.echo(f"no test cases found ({', '.join(map(str, test_files(path))) or 'no test files'})", err=True)
        ctx.exit(1)
    failed = 0
    for case in cases:
        result = run_case(policy_set, case)
        if not result.ok:
            failed += 1
            click.echo(f"FAIL {case.name}: {case.command!r}: {result.why}")
        elif verbose:
            click.echo(f"ok   {case.name}: {case.command!r} -> {result.decision.action}")
    passed = len(cases) - failed
    summary = f"{passed} passed, {failed} failed" + (f", {len(errors)} errors" if errors else "")
    click.echo(summary + f" (policy {policy_set.version[:16]})")
    if failed or errors:
        ctx.exit(1)


@policy.command("replay")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--since", default="7d", show_default=True, help="How far back: 90m, 12h, 7d, 2w.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), help="Audit store (SQLite file).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per changed command.")
@click.pass_context
def replay_command(ctx: click.Context, directory: str | None, since: str, db_path: str | None, as_json: bool) -> None:
    """Run a candidate policy over recorded commands; list every decision that would change."""
    policy_set = _load(ctx, directory)
    seconds = parse_duration(since)
    if seconds is None:
        raise click.BadParameter(f"not a duration: {since!r}", param_hint="--since")
    obj = ctx.find_root().obj
    clock = obj.get("clock") if isinstance(obj, dict) and obj.get("clock") else SystemClock()
    store = Path(db_path) if db_path else _obj(ctx, "store_path", DEFAULT_STORE)
    changed = 0
    try:
        recorded = list(read_commands(store, clock.now() - seconds))
        for change in changes(policy_set, iter(recorded)):
            changed += 1
            old, new = change.command, change.new
            if as_json:
                click.echo(json.dumps({"id": old.id, "command": old.text, "user": old.user, "target": old.target,
                                       "old": {"action": old.action, "rules": list(old.rules)},
                                       "new": new.to_json()}, ensure_ascii=False))
            else:
                click.echo(f"{old.action} -> {new.action}  [{','.join(old.rules) or '-'} -> "
                           f"{','.join(new.rules) or '-'}]  {old.user}@{old.target}  {old.text}")
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(1)
    if not as_json:
        click.echo(f"{changed} of {len(recorded)} recorded command(s) since {since} would change under "
                   f"policy {policy_set.version[:16]}")
