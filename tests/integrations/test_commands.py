"""How agent code becomes an exec command: exact quoting, and the policy sees through the wrapping."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.integrations.commands import (MAX_ARGV_CODE, UnsupportedLanguage, block_command, python_command,
                                           shell_command)
from bastion.policy.evaluate import load_policy_set
from bastion.policy.testing import load_cases

ROOT = Path(__file__).resolve().parents[2]
RANK = {"allow": 0, "review": 1, "deny": 2}


def test_shapes():
    assert shell_command("ls -la").text == "sh -c 'ls -la'"
    assert shell_command("ls", limit=60).text == "exec timeout -k 5 62 sh -c ls"
    assert shell_command("ls", shell="bash", limit=0.2).text == "exec timeout -k 5 3 bash -c ls"
    assert shell_command("echo 'x'").display == "echo 'x'"
    assert python_command("print(1)").text == "python3 -c 'print(1)'"
    assert python_command("print(1)", mode="stdin").text == "python3 - <<'BASTION_PY'\nprint(1)\nBASTION_PY"
    assert block_command("Python", "print(1)", limit=5).text == "exec timeout -k 5 7 python3 -c 'print(1)'"
    assert block_command("bash", "echo").text == "bash -c echo"
    with pytest.raises(UnsupportedLanguage, match="unknown language ruby"):
        block_command("ruby", "puts 1")


def test_heredoc_delimiter_never_collides_and_large_code_uses_stdin():
    code = "x = '''\nBASTION_PY\nBASTION_PY_1\n'''\n"
    text = python_command(code, mode="stdin").text
    assert text.startswith("python3 - <<'BASTION_PY_2'\n") and text.endswith("\nBASTION_PY_2")
    big = "#" + "x" * MAX_ARGV_CODE + "\nprint(1)\n"
    assert python_command(big).text.startswith("python3 - <<'BASTION_PY'")


def _run_locally(command: str) -> str:
    # sshd runs the exec string as `<login shell> -c <string>`; /bin/sh stands in for the target here.
    result = subprocess.run(["/bin/sh", "-c", command], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode("utf-8", "surrogateescape")


text_for_shell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)


@pytest.mark.skipif(shutil.which("python3") is None or shutil.which("timeout") is None,
                    reason="needs python3 and coreutils timeout")
@settings(max_examples=12, deadline=None)
@given(payload=text_for_shell, limit=st.sampled_from([None, 30]))
def test_quoting_is_exact_through_a_real_shell(payload, limit):
    import shlex
    assert _run_locally(shell_command(f"printf '%s' {shlex.quote(payload)}", limit=limit).text) == payload
    code = f"import sys\nsys.stdout.write({payload!r})\n"
    for mode in ("argv", "stdin"):
        assert _run_locally(python_command(code, limit=limit, mode=mode).text) == payload


def test_the_shipped_policy_decides_wrapped_commands_at_least_as_strictly():
    """Every shipped policy case: `exec timeout ... sh -c '<case>'` gets the same or a stricter action, and a
    denial keeps its rule, so wrapping never lets the agent past a rule."""
    policy = load_policy_set(ROOT / "policies")
    cases, errors = load_cases(ROOT / "policies")
    assert not errors and len(cases) > 100
    same = 0
    for case in cases:
        bare = policy.evaluate(case.command, user=case.user, groups=case.groups, target=case.target)
        wrapped = policy.evaluate(shell_command(case.command, limit=60).text, user=case.user, groups=case.groups,
                                  target=case.target)
        assert RANK[wrapped.action] >= RANK[bare.action], case.command
        if bare.action == "deny":
            assert set(bare.rules) <= set(wrapped.rules), case.command
        same += wrapped.action == bare.action
    assert same >= len(cases) * 0.98
