"""Build toolchains told on the line to run another program: `go test -exec PROG`, `go build -toolexec 'CMD'`,
`go vet -vettool=PROG`, `go env -w GOFLAGS=…`, `cargo --config 'target.X.runner="CMD"'`.

Each handler returns what the tool would start, like the handlers in `wrappers.py`: the program with the
arguments written in its value (the tool appends its own, which only add paths it built). Pure: no I/O.
"""

from __future__ import annotations

import re
import tomllib

from bastion.policy.words import Word
from bastion.policy.wrapper_base import Unwrapped, _split_words

# Go's flag package: `-name value`, `-name=value`, one or two dashes. Values are split into words by the go
# command (cmd/internal/quoted), which parses like the shell's quotes without expansion.
_GO_PROGRAM_FLAGS = ("exec", "toolexec", "vettool")
_GO_ENV_COMMANDS = frozenset({"CC", "CXX", "FC", "GOFLAGS", "PKG_CONFIG", "AR"})


def _go_flag_values(args: list[Word], names: tuple[str, ...]) -> list[Word]:
    out: list[Word] = []
    for i, a in enumerate(args):
        v = a.value
        if v == "--":
            break
        if not v.startswith("-"):
            continue
        name, eq, value = v.lstrip("-").partition("=")
        if name not in names:
            continue
        if eq:
            out.append(Word(value, a.dynamic))
        elif i + 1 < len(args):
            out.append(args[i + 1])
    return out


def go(args: list[Word]) -> Unwrapped:
    """`go test|run -exec PROG`, `go build -toolexec 'CMD ARGS'`, `go vet -vettool PROG`; `go env -w
    GOFLAGS=-toolexec=CMD` / `CC=CMD` stores a setting that runs it at the next build."""
    out = Unwrapped()
    for value in _go_flag_values(args, _GO_PROGRAM_FLAGS):
        words = _split_words(value)
        if words:
            out.inners.append(words)
    if len(args) > 2 and args[0].value == "env" and any(a.value in ("-w", "--w") for a in args[1:]):
        for a in args[1:]:
            name, eq, value = a.value.partition("=")
            if not eq or name not in _GO_ENV_COMMANDS:
                continue
            words = _split_words(Word(value, a.dynamic))
            if not words:
                continue
            out.inners.append([Word("go"), *words] if name == "GOFLAGS" else words)
    return out


# Cargo settings whose value is a program cargo starts (a string, split at spaces, or an array of words).
_CARGO_PROGRAM_KEYS = re.compile(r"(?:^|\.)(?:rustc-wrapper|rustc-workspace-wrapper|rustc|rustdoc|runner|linker|"
                                 r"browser|credential-provider|global-credential-providers|ar)$")
_CARGO_KEY = re.compile(r"""\s*((?:[\w.-]+|'[^']*'|"(?:[^"\\]|\\.)*")+)\s*=\s*(.*)""", re.S)


def _cargo_values(value: object) -> list[list[str]]:
    if isinstance(value, str):
        return [value.split()] if value.split() else []
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return [list(value)] if value else []
        return [words for v in value for words in _cargo_values(v)]
    if isinstance(value, dict):
        return [words for v in value.values() for words in _cargo_values(v)]
    return []


def cargo(args: list[Word]) -> Unwrapped:
    """`cargo --config 'target.X.runner="CMD"'`, `build.rustc-wrapper`, `*.linker`…: the program it runs; `cargo
    --config FILE` reads settings (programs among them) from a file the gateway cannot read."""
    out = Unwrapped()
    for i, a in enumerate(args):
        v = a.value
        if v == "--":
            break
        if v.startswith("--config="):
            setting = Word(v[len("--config="):], a.dynamic)
        elif v == "--config" and i + 1 < len(args):
            setting = args[i + 1]
        else:
            continue
        m = _CARGO_KEY.fullmatch(setting.value)
        if m is None:
            if setting.value not in ("", "/dev/null"):
                out.opaque = out.opaque or f"cargo reads configuration from {setting.value}, which the gateway cannot read"
            continue
        key = m.group(1).replace("'", "").replace('"', "")
        if not _CARGO_PROGRAM_KEYS.search(key):
            continue
        try:
            value = tomllib.loads("v = " + m.group(2))["v"]
        except tomllib.TOMLDecodeError:
            value = m.group(2).strip().strip("'\"")
        for words in _cargo_values(value):
            out.inners.append([Word(w, setting.dynamic) for w in words])
        if setting.dynamic:
            out.opaque = out.opaque or "cargo runs a program only known at run time"
    return out
