"""What inline interpreter code amounts to as shell commands."""

from __future__ import annotations

import pytest

from bastion.policy.inline_code import inline_code, shell_texts
from bastion.policy.words import Word


def words(*values: str) -> list[Word]:
    return [Word(v) for v in values]


@pytest.mark.parametrize("program, args, code", [
    ("python3", ["-c", "print(1)"], "print(1)"),
    ("python3", ["-W", "ignore", "-c", "x"], "x"),
    ("python3", ["-cx"], "x"),
    ("python3", ["-m", "json.tool"], None),
    ("python3", ["script.py", "-c", "x"], None),
    ("perl", ["-MFile::Path", "-e", "rmtree 1"], "rmtree 1"),
    ("perl", ["-ne", "print"], "print"),
    ("ruby", ["-rfileutils", "-e", "x"], "x"),
    ("awk", ["-F", ":", "{print $1}", "file"], "{print $1}"),
    ("awk", ["-f", "prog.awk"], None),
])
def test_inline_code_is_found_after_the_options(program: str, args: list[str], code: str | None) -> None:
    found = inline_code(program, words(*args))
    assert (found.value if found else None) == code


@pytest.mark.parametrize("program, code, expected", [
    ("python3", 'import os; os.system("rm -rf /")', ["rm -rf /"]),
    ("python3", 'subprocess.run(["rm", "-rf", "/x y"])', ["rm -rf '/x y'"]),
    ("python3", 'shutil.rmtree("/srv")', ["rm -rf -- /srv"]),
    ("python3", 'open("/etc/passwd", "w")', [": > /etc/passwd", "cat -- /etc/passwd"]),
    ("perl", 'system "rm", "-rf", "/"', ["rm -rf /"]),
    ("perl", "print qx{id}", ["id"]),
    ("ruby", "%x(uname -a)", ["uname -a"]),
    ("node", 'require("child_process").execSync("ls -la")', ["ls -la"]),
    ("node", "console.log(`not a command`)", []),
    ("awk", 'BEGIN{"date" | getline d; system("rm -rf /")}', ["rm -rf /", "date"]),
])
def test_shell_texts(program: str, code: str, expected: list[str]) -> None:
    flag = {"python3": "-c", "perl": "-e", "ruby": "-e", "node": "-e"}.get(program)
    args = words(flag, code) if flag else words(code)
    assert sorted(shell_texts(program, args)) == sorted(expected)


def test_code_only_known_at_run_time_gives_nothing() -> None:
    assert shell_texts("python3", [Word("-c"), Word("$CODE", True, True)]) == []
