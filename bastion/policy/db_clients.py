"""Database clients' own commands that reach the shell or the file system: psql backslash commands and `COPY …
PROGRAM`, mysql client commands, sqlite3/duckdb dot commands.

`db_client(program, args)` returns, like the handlers in `wrappers.py`, the shell text these commands run
(`\\! CMD`, `\\o |CMD`, `pager CMD`, `.shell CMD`, `.output |CMD`, `COPY t TO PROGRAM 'CMD'`), files they write
as `: > FILE`, and an opaque reason for a shared library they load (`.load FILE`, `load_extension()`). The
commands are found by small scanners over every argument (the SQL of `-c`/`-e` and sqlite3's operands), at the
start of a line or after `;`. Pure: no I/O.
"""

from __future__ import annotations

import re
import shlex

from bastion.policy.words import Word
from bastion.policy.wrapper_base import Unwrapped, _option_values

_START = r"(?:^|[;\n])[ \t]*"
# Shell escapes of every client: the rest of the line is shell text.
_SHELL = re.compile(_START + r"(?:\\!|system[ \t]|\.shell[ \t]|\.system[ \t])[ \t]*([^\n]*)")
# Output sent to a command, or to a file: psql `\o|\out|\g|\gx|\w`, sqlite `.output|.once|.read` (read: runs it too),
# mysql `pager|\P` (always a command) and `tee|\T` (a file).
# psql reads a backslash command anywhere on a line (`select 1 \g |CMD`).
_PSQL_TARGET = re.compile(r"(?:^|[;\s])\\(?:o|out|g|gx|w|write)[ \t]+([^\n]*)")
_SQLITE_TARGET = re.compile(_START + r"\.(output|once|read)[ \t]+(?:-[a-z]+[ \t]+)*([^\n]*)")
_SQLITE_WRITE = re.compile(_START + r"\.(?:save|backup)[ \t]+(?:-\S+[ \t]+)*(?:\w+[ \t]+)?(\S[^\n]*)")
_MYSQL_PAGER = re.compile(_START + r"(?:(?i:pager)[ \t]|\\P[ \t]?)[ \t]*([^\n;]*)")
_MYSQL_TEE = re.compile(_START + r"(?:(?i:tee)[ \t]|\\T[ \t]?)[ \t]*([^\n;]*)")
# psql `\setenv PAGER CMD`: the next result is shown through CMD.
_PSQL_SETENV = re.compile(r"(?:^|[;\s])\\setenv[ \t]+(?:PSQL_)?(?:PAGER|EDITOR|VISUAL)[ \t]+([^\n]*)")
# `COPY t TO PROGRAM 'CMD'` (the server runs it through its shell), `\copy … to program 'CMD'` (psql does, here).
_COPY_PROGRAM = re.compile(r"\bcopy\b[^;]*?\b(?:to|from)\s+program\s+(?:E?'((?:[^']|'')*)'|\"([^\"]*)\"|(\S+))",
                           re.I | re.S)
_SQLITE_LOAD = re.compile(_START + r"\.load[ \t]+(\S+)|\bload_extension\s*\(", re.I)
_SQLITE_EDIT = re.compile(r"\bedit\s*\([^,()]*,\s*'((?:[^']|'')*)'\s*\)", re.I)

_DIALECT = {"psql": "psql", "mysql": "mysql", "mariadb": "mysql", "sqlite3": "sqlite", "duckdb": "sqlite"}


def _target(text: str, dynamic: bool, out: Unwrapped, runs_file: bool = False) -> None:
    """`|CMD` runs CMD; anything else is a file written (or, with `runs_file`, read as more commands)."""
    value = text.strip()
    if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0]:
        value = value[1:-1]
    if value.startswith("|"):
        if value[1:].strip():
            out.scripts.append(Word(value[1:].strip(), dynamic))
    elif value and not runs_file and value not in ("stdout", "/dev/stdout", "/dev/stderr", "-e", "-x"):
        out.scripts.append(Word(": > " + shlex.quote(value), dynamic))


def _texts(args: list[Word]) -> list[Word]:
    out: list[Word] = []
    for a in args:
        v = a.value
        for prefix in ("--execute=", "--command=", "-e", "-c"):
            if v.startswith(prefix) and len(v) > len(prefix) and not v.startswith("-cmd"):
                out.append(Word(v[len(prefix):], a.dynamic))
                break
        else:
            out.append(a)
    return out


def db_client(program: str, args: list[Word]) -> Unwrapped:
    """What a database client's arguments make it run, write or load (see the module docstring)."""
    dialect = _DIALECT.get(program, "sqlite")
    out = Unwrapped()
    if dialect == "psql":  # `psql -o '|CMD'`, `--output=FILE`
        for value in _option_values(args, "-o", ("--output",)):
            _target(value.value, value.dynamic, out)
    elif dialect == "mysql":  # `mysql --pager=CMD`, `--tee=FILE`
        out.scripts.extend(w for w in _option_values(args, "", ("--pager",)) if w.value.strip())
        for value in _option_values(args, "", ("--tee",)):
            _target(value.value, value.dynamic, out)
    for word in _texts(args):
        text, dyn = word.value, word.dynamic
        for m in _SHELL.finditer(text):
            if m.group(1).strip():
                out.scripts.append(Word(m.group(1).strip(), dyn))
        for m in _COPY_PROGRAM.finditer(text):
            command = m.group(1).replace("''", "'") if m.group(1) is not None else m.group(2) or m.group(3)
            out.scripts.append(Word(command, dyn))
        if dialect == "psql":
            for m in _PSQL_TARGET.finditer(text):
                _target(m.group(1), dyn, out)
            for m in _PSQL_SETENV.finditer(text):
                value = m.group(1).strip()
                if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0]:
                    value = value[1:-1]
                out.scripts.append(Word(value, dyn))
        elif dialect == "mysql":
            for m in _MYSQL_PAGER.finditer(text):
                if m.group(1).strip():
                    out.scripts.append(Word(m.group(1).strip(), dyn))
            for m in _MYSQL_TEE.finditer(text):
                _target(m.group(1), dyn, out)
        else:
            for m in _SQLITE_TARGET.finditer(text):
                _target(m.group(2), dyn, out, runs_file=m.group(1) == "read")
            for m in _SQLITE_WRITE.finditer(text):
                _target(m.group(1), dyn, out)
            for m in _SQLITE_EDIT.finditer(text):
                out.scripts.append(Word(m.group(1).replace("''", "'") + " /tmp/edit", dyn))
            m = _SQLITE_LOAD.search(text)
            if m is not None and not out.opaque:
                out.opaque = (f"{program} loads the extension {m.group(1) or '(named at run time)'}, a library the "
                              "gateway cannot read")
    return out
