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
    ("perl", ["-e", "a", "-e", "b"], "a\nb"),                 # several -e are one program
    ("python3", ["-c", "a", "-c", "b"], "a"),                # python: -c ends the options
    ("node", ["--eval=x"], "x"),
    ("node", ["--require", "./r.js", "-e", "x"], "x"),       # a long option's value is not the script
    ("julia", ["-t", "4", "--eval", "x"], "x"),
    ("Rscript", ["--default-packages=x", "-e", "x"], "x"),
    ("R", ["--no-save", "-e", "x"], "x"),
    ("R", ["-f", "x.R"], None),
    ("deno", ["eval", "x"], "x"),
    ("deno", ["run", "x.ts"], None),
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
    ("perl", "use POSIX; system q(rm -rf /)", ["rm -rf /"]),  # quote-like operators are strings too
    ("perl", 'system qq{rm -rf "/srv"}', ['rm -rf "/srv"']),
    ("perl", "my $q = 1; print q!hello!", []),
    ("ruby", "system %q(rm -rf /)", ["rm -rf /"]),
    ("ruby", "%x(uname -a)", ["uname -a"]),
    ("node", 'require("child_process").execSync("ls -la")', ["ls -la"]),
    ("node", "console.log(`not a command`)", []),
    ("awk", 'BEGIN{"date" | getline d; system("rm -rf /")}', ["rm -rf /", "date"]),
    ("Rscript", 'system2("rm", c("-rf", "/x y"))', ["rm -rf /x y"]),     # system2 pastes arguments unquoted
    ("Rscript", 'out <- pipe("ls -l")', ["ls -l"]),
    ("Rscript", 'file.remove("a")', ["rm -f -- a"]),
    ("Rscript", 'x <- readLines("/etc/hosts")', ["cat -- /etc/hosts"]),
    ("julia", 'run(`ls -l`); rm("d"; recursive=true)', ["ls -l", "rm -rf -- d", "rm -f -- d"]),
    ("julia", 'rm("f")', ["rm -f -- f"]),
    ("julia", 'rm("d", recursive=true)', ["rm -rf -- d", "rm -f -- d"]),
])
def test_shell_texts(program: str, code: str, expected: list[str]) -> None:
    flag = {"python3": "-c", "perl": "-e", "ruby": "-e", "node": "-e", "Rscript": "-e", "julia": "-e"}.get(program)
    args = words(flag, code) if flag else words(code)
    assert sorted(shell_texts(program, args)) == sorted(expected)


def test_code_only_known_at_run_time_gives_nothing() -> None:
    assert shell_texts("python3", [Word("-c"), Word("$CODE", True, True)]) == []


@pytest.mark.parametrize("text, expected", [
    ("rm -rf /", "rm -rf /"),
    ("& 'rm' '-rf' '/x y'", "rm -rf '/x y'"),
    ("Remove-Item -Recurse -Force C:/x; Get-Content a.txt", "rm -rf -- C:/x ; cat -- a.txt"),
    ("Get-Date | Out-File out.txt", "Get-Date | : > out.txt"),
    ("iex 'echo hi'", "eval 'echo hi'"),
    ("$PSVersionTable", ":"),
    ("# a comment\nls", "ls"),
])
def test_powershell_as_shell_text(text: str, expected: str) -> None:
    from bastion.policy.runners import powershell_to_shell

    assert powershell_to_shell(text) == expected
