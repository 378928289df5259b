"""Hypothesis properties from the issue's "Bad input" section."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.policy.model import SEVERITY
from bastion.policy.shell import parse_command_line

from .conftest import SHIPPED
from bastion.policy.evaluate import load_policy_set

POLICY = load_policy_set(SHIPPED)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PROGRAMS = ["rm", "ls", "cat", "chmod", "curl", "git", "kubectl", "mkfs.ext4", "psql", "docker", "find", "cp"]
ARGS = ["-rf", "-r", "-f", "/", "/etc", "/tmp/x", "~", "build/", "/etc/shadow", "--force", "delete", "push",
        "DROP TABLE t", "-R", "777", "*.log", "x", "-delete", "/dev/sda", "of=/dev/sda", "install"]


def decide(command: str) -> str:
    return POLICY.evaluate(command, user="bot", groups=["agents"], target="web-1").action


def shell_quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


@FAST
@given(st.text(max_size=300))
def test_parser_never_raises(text: str) -> None:
    parsed = parse_command_line(text)
    assert isinstance(parsed.commands, tuple)


@FAST
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decide_without_error(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")
    assert decide(text) in SEVERITY


@FAST
@given(st.sampled_from(PROGRAMS), st.lists(st.sampled_from(ARGS), max_size=4), st.integers(0, 6))
def test_quoting_the_program_never_changes_the_decision(program: str, args: list[str], style: int) -> None:
    rest = " ".join(shell_quote(a) for a in args)
    plain = f"{program} {rest}"
    quoted_program = [
        f"'{program}'", f'"{program}"', "\\" + program, program[0] + "''" + program[1:],
        f'"{program[0]}"{program[1:]}', "$'" + "".join(f"\\x{ord(c):02x}" for c in program) + "'",
        f"/usr/bin/{program}",
    ][style]
    assert decide(f"{quoted_program} {rest}") == decide(plain)


@FAST
@given(st.sampled_from(PROGRAMS), st.lists(st.sampled_from(ARGS), max_size=4),
       st.sampled_from(["sudo {}", "sudo -u root -- {}", "env {}", "env -i A=1 {}", "bash -c {q}", "sh -c {q}",
                        "nice -n 5 {}", "timeout 9 {}", "eval {q}", "command {}"]))
def test_wrapping_never_makes_a_command_less_severe(program: str, args: list[str], wrapper: str) -> None:
    command = " ".join([program, *(shell_quote(a) for a in args)])
    wrapped = wrapper.format(command, q=shell_quote(command))
    assert SEVERITY[decide(wrapped)] >= SEVERITY[decide(command)]


@FAST
@given(st.text(alphabet="$(){}`'\"\\;|&<> \nabcrm-/", max_size=120))
def test_shell_metacharacter_soup_is_never_allowed_by_accident(text: str) -> None:
    parsed = parse_command_line(text)
    if parsed.opaque:
        assert decide(text) != "allow"


def test_text_that_crashes_tree_sitter_bash_is_opaque_not_parsed() -> None:
    """tree-sitter-bash#337: `{` then a 4-byte UTF-8 character can SIGSEGV the parser. Run in a child
    process, so a regression fails this test instead of killing the test run (or the gateway)."""
    import subprocess
    import sys

    script = (
        "from bastion.policy.shell import parse_command_line\n"
        "import random\n"
        "rng = random.Random(7)\n"
        "for i in range(3000):\n"
        "    astral = ''.join(chr(rng.randrange(0x10000, 0x110000)) for _ in range(rng.randrange(1, 4)))\n"
        "    p = parse_command_line('echo {' + chr(rng.randrange(33, 127)) + astral + str(i))\n"
        "    assert p.opaque, p\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr[-2000:]
    assert decide("echo {\U00031860") in ("review", "deny")
    assert decide("echo \U0001F600 done") == "allow"  # astral text without a brace is still parsed
