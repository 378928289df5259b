"""`bastion policy ...` through click's CliRunner."""

from __future__ import annotations

import json
import sqlite3
import time

from click.testing import CliRunner

from bastion.policy.cli import policy

from .conftest import SHIPPED

POLICY = "rules:\n  - id: no-rm\n    action: deny\n    reason: no deleting\n    when: {program: rm, flags_any: ['-r']}\n"


def run(*args: str, input: str | None = None, obj: dict | None = None):
    return CliRunner().invoke(policy, list(args), input=input, obj=obj)


def test_check_ok_and_errors(write_policy) -> None:
    good = write_policy(**{"p.yaml": POLICY})
    result = run("check", str(good))
    assert result.exit_code == 0 and "1 rules" in result.output
    (good / "q.yaml").write_text("rules:\n  - id: x\n    action: deny\n")
    result = run("check", str(good))
    assert result.exit_code == 1
    assert f"{good / 'q.yaml'}:2: rule 'x': a non-empty `reason` is required" in result.output


def test_eval_text_and_json(write_policy) -> None:
    d = write_policy(**{"p.yaml": POLICY})
    result = run("eval", "--dir", str(d), "--no-color", "--", "ls; rm -r /tmp/x")
    assert result.exit_code == 0
    assert "DENY" in result.output and "no-rm" in result.output and "ls; [[rm -r /tmp/x]]" in result.output
    result = run("eval", "--dir", str(d), "--json", "--", "rm -r x")
    data = json.loads(result.output)
    assert data["action"] == "deny" and data["rules"] == ["no-rm"] and data["matched"] == "rm -r x"
    assert set(data) >= {"action", "rules", "matched", "reason", "opaque", "policy_version"}


def test_eval_uses_ctx_obj_policy_dir(write_policy) -> None:
    d = write_policy(**{"p.yaml": POLICY})
    result = run("eval", "--json", "--", "rm -r x", obj={"policy_dir": str(d)})
    assert json.loads(result.output)["action"] == "deny"


def test_eval_batch(write_policy) -> None:
    d = write_policy(**{"p.yaml": POLICY})
    lines = [json.dumps("ls"), json.dumps("cd /\nrm -r x"), "not json", json.dumps("$x")]
    result = run("eval", "--dir", str(d), "--batch", "--json", input="\n".join(lines) + "\n")
    out = [json.loads(line) for line in result.output.splitlines()]
    assert [o["action"] for o in out] == ["allow", "deny", "deny", "review"]
    assert out[3]["opaque"] is True


def test_test_command_passes_and_fails(write_policy) -> None:
    d = write_policy(**{"p.yaml": POLICY, "tests__t.yaml": """\
defaults: {user: bot, groups: [agents]}
cases:
  - {command: rm -r x, expect: deny, rule: no-rm}
  - expect: allow
    commands: [ls, rm x]
"""})
    result = run("test", str(d))
    assert result.exit_code == 0 and "3 passed, 0 failed" in result.output
    (d / "extra.test.yaml").write_text("cases:\n  - {command: ls, expect: deny}\n")
    result = run("test", str(d))
    assert result.exit_code == 1
    assert f"FAIL {d / 'extra.test.yaml'}:2: 'ls': expected deny, got allow" in result.output
    assert "3 passed, 1 failed" in result.output


def test_shipped_policy_tests_pass() -> None:
    result = run("test", str(SHIPPED))
    assert result.exit_code == 0, result.output[-2000:]
    passed = int(result.output.split(" passed")[0].split()[-1])
    assert passed >= 150


def _store(path, rows) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE commands (id INTEGER PRIMARY KEY, session_id TEXT, text TEXT, at REAL, user TEXT,"
                 " groups TEXT, target TEXT, action TEXT, rules TEXT, reason TEXT, policy_version TEXT,"
                 " opaque INTEGER, exit_status INTEGER)")
    conn.executemany("INSERT INTO commands (session_id, text, at, user, groups, target, action, rules, reason,"
                     " policy_version, opaque, exit_status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()


def test_replay_lists_changed_decisions(write_policy, tmp_path) -> None:
    d = write_policy(**{"p.yaml": POLICY})
    db = tmp_path / "audit.sqlite3"
    now = time.time()
    _store(db, [
        ("s1", "ls -la", now - 60, "bot", '["agents"]', "web-1", "allow", "[]", "", "v0", 0, 0),
        ("s1", "rm -r build", now - 50, "bot", '["agents"]', "web-1", "allow", "[]", "", "v0", 0, 0),
        ("s1", "rm -r old", now - 30 * 86400, "bot", '["agents"]', "web-1", "allow", "[]", "", "v0", 0, 0),
    ])
    result = run("replay", "--since", "7d", "--db", str(db), str(d))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "allow -> deny  [- -> no-rm]  bot@web-1  rm -r build"
    assert "1 of 2 recorded command(s)" in lines[-1]
    result = run("replay", "--since", "60d", "--db", str(db), "--json", str(d))
    rows = [json.loads(x) for x in result.output.splitlines()]
    assert [r["command"] for r in rows] == ["rm -r old", "rm -r build"]


def test_replay_missing_store(write_policy, tmp_path) -> None:
    d = write_policy(**{"p.yaml": POLICY})
    result = run("replay", "--db", str(tmp_path / "none.sqlite3"), str(d))
    assert result.exit_code == 1 and "audit store not found" in result.output


def test_every_command_has_help() -> None:
    for name, command in policy.commands.items():
        assert command.help, name
