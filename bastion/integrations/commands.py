"""The exec command line an agent's code or shell text becomes on the target.

Pure. The gateway decides on the exec command string, so everything that will run is written into that
string, where the policy, the audit trail and a reviewer can all read it:

- shell text runs as `sh -c '<text>'` (or `bash -c`), which the policy unwraps: its rules see the same
  simple commands as for the bare text;
- Python runs as `python3 -c '<code>'` (mode "argv", the default: the policy's interpreter rules read
  the code) or as `python3 -` fed by a quoted here-document holding the code (mode "stdin": the code is
  still part of the decided, recorded command, but policies treat a program read from stdin as opaque,
  so it is held for review or refused). Code too long for one argument always goes the stdin way;
- with a time limit, the whole thing runs as `exec timeout -k ...`, so the target itself ends the
  command and everything it started even when the agent's process has gone away (sshd does not end a
  command without a pty when its channel closes). `exec` matters: it keeps `timeout` in the process
  group sshd signals, so a TERM sent over the channel reaches every process the command started.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import Literal

PythonMode = Literal["argv", "stdin"]

SHELL_LANGUAGES = {"sh": "sh", "shell": "sh", "bash": "bash", "zsh": "zsh"}
PYTHON_LANGUAGES = {"python", "python3", "py"}
SUPPORTED_LANGUAGES = tuple(sorted({*SHELL_LANGUAGES, *PYTHON_LANGUAGES}))

# Seconds the target waits after its own limit before it sends KILL to what ignored TERM.
KILL_AFTER = 5
# The target's own limit trails the caller's by this much, so the caller normally stops the command
# first (and says so), and the target's limit is the backstop for a caller that vanished.
REMOTE_SLACK = 2
# Linux refuses a single argument longer than 128 KiB (MAX_ARG_STRLEN); stay well below it.
MAX_ARGV_CODE = 64 * 1024


class UnsupportedLanguage(ValueError):
    """A code block's language has no way to run on the target."""


@dataclass(frozen=True)
class RemoteCommand:
    """One exec request: the command string the gateway decides on, and what to write to its stdin."""

    text: str
    stdin: bytes = b""
    shown: str = ""          # what the model is told it ran (its own text, without our wrapping)

    @property
    def display(self) -> str:
        return self.shown or self.text


def _limit_prefix(limit: float | None) -> str:
    if limit is None:
        return ""
    seconds = max(1, math.ceil(limit)) + REMOTE_SLACK
    return f"exec timeout -k {KILL_AFTER} {seconds} "


def shell_command(text: str, *, shell: str = "sh", limit: float | None = None) -> RemoteCommand:
    """Shell text as an exec command: `[timeout ...] sh -c '<text>'`."""
    return RemoteCommand(f"{_limit_prefix(limit)}{shell} -c {shlex.quote(text)}", shown=text)


def _heredoc_delimiter(code: str) -> str:
    lines = set(code.splitlines())
    delimiter, n = "BASTION_PY", 0
    while delimiter in lines:
        n += 1
        delimiter = f"BASTION_PY_{n}"
    return delimiter


def python_command(code: str, *, limit: float | None = None, mode: PythonMode = "argv",
                   interpreter: str = "python3") -> RemoteCommand:
    """Python code as `python3 -c '<code>'`, or `python3 - <<'BASTION_PY' ... BASTION_PY` (quoted: no expansion)."""
    if mode == "argv" and len(code.encode()) <= MAX_ARGV_CODE:
        return RemoteCommand(f"{_limit_prefix(limit)}{interpreter} -c {shlex.quote(code)}", shown=code)
    delimiter = _heredoc_delimiter(code)
    body = code if code.endswith("\n") else code + "\n"
    return RemoteCommand(f"{_limit_prefix(limit)}{interpreter} - <<'{delimiter}'\n{body}{delimiter}", shown=code)


def block_command(language: str, code: str, *, limit: float | None = None,
                  python_mode: PythonMode = "argv") -> RemoteCommand:
    """The exec command for one AutoGen code block; `UnsupportedLanguage` for anything else."""
    lang = language.strip().lower()
    if lang in SHELL_LANGUAGES:
        return shell_command(code, shell=SHELL_LANGUAGES[lang], limit=limit)
    if lang in PYTHON_LANGUAGES:
        return python_command(code, limit=limit, mode=python_mode)
    raise UnsupportedLanguage(f"unknown language {language or '(none)'}; "
                              f"supported: {', '.join(SUPPORTED_LANGUAGES)}")
