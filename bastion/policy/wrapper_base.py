"""What every wrapper handler shares: the option-table spec, the result type, and option scanning.

Kept apart from `wrappers.py` so that handler modules (`runners.py`) can use them without an import cycle.
Pure: no I/O.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from bastion.policy.words import Word


@dataclass(frozen=True)
class WrapperSpec:
    """How to find the wrapped command in one wrapper's arguments."""

    short_with_value: str = ""                   # option letters that take a value (`-u root`, `-uroot`)
    long_with_value: frozenset[str] = frozenset()  # `--user root` (also accepted: `--user=root`)
    operands: int = 0                            # operands before the command (`timeout 5 cmd`)
    assignments: bool = False                    # `VAR=value` may precede the command (env, sudo)
    no_command_flags: str = ""                   # short flags after which nothing is run (`command -v`)
    plus_options: bool = False                   # `+o` style options exist


@dataclass
class Unwrapped:
    """What one wrapper runs."""

    inners: list[list[Word]] = field(default_factory=list)   # argv lists of wrapped commands
    scripts: list[Word] = field(default_factory=list)         # shell text to parse again
    stdin_args: bool = False                                  # inner gets more args from stdin (xargs)
    root_shell: bool = False                                  # `sudo -i`, `su`, `doas -s`: an interactive shell
    script_args: list[Word] | None = None                     # `bash -c SCRIPT $0 $1 …`: the script's arguments
    chdir: Word | None = None                                 # `env -C DIR cmd`: where the inner command runs
    # shell text with STDIN_MARK where a word read from stdin goes (`ls | parallel 'rm -rf {}'`)
    stdin_scripts: list[Word] = field(default_factory=list)
    # Set when part of what it runs is not on the line (`vim -S FILE`, `pwsh -EncodedCommand …`, `env
    # LD_PRELOAD=x.so cmd`): the reason. The command and everything it is seen to run are then opaque.
    opaque: str = ""


def _skip_options(args: list[Word], spec: WrapperSpec) -> tuple[int, bool]:
    """Index of the first operand after the options, and whether a no-command flag was seen."""
    i, no_command = 0, False
    while i < len(args):
        a = args[i].value
        if a == "--":
            return i + 1, no_command
        if spec.assignments and "=" in a and not a.startswith(("-", "=")):  # env takes any NAME=VALUE
            i += 1
            continue
        if a.startswith("--"):
            name = a.split("=", 1)[0]
            i += 1
            if "=" not in a and name in spec.long_with_value:
                i += 1
            continue
        if (a.startswith("-") or (spec.plus_options and a.startswith("+"))) and len(a) > 1:
            i += 1
            for k, ch in enumerate(a[1:]):
                if ch in spec.no_command_flags:
                    no_command = True
                if ch in spec.short_with_value:
                    if k == len(a) - 2:
                        i += 1  # the value is the next argument
                    break
            continue
        return i, no_command
    return i, no_command


def _split_words(word: Word) -> list[Word]:
    try:
        parts = shlex.split(word.value)
    except ValueError:
        parts = word.value.split()
    return [Word(p, word.dynamic, word.dynamic_prefix) for p in parts]


def _join_script(args: list[Word]) -> Word:
    return Word(" ".join(a.value for a in args), any(a.dynamic for a in args),
                bool(args) and args[0].dynamic_prefix)


def long_option(name: str, longs: tuple[str, ...]) -> bool:
    """Is `name` one of `longs`, or an abbreviation of one (`--to-com` for `--to-command`)? getopt_long and
    git's parse-options accept any unambiguous prefix; an ambiguous one is refused by the program, so taking
    every prefix of two letters or more can only find more commands, never fewer."""
    if name in longs:
        return True
    return len(name) >= 4 and name.startswith("--") and any(full.startswith(name) for full in longs)


def _option_values(args: list[Word], short: str, longs: tuple[str, ...], abbreviated: bool = True) -> list[Word]:
    """Values of options that hold a command line a program runs (`-e CMD`, `--rsh=CMD`, `-eCMD`,
    abbreviated `--rs=CMD` unless `abbreviated` is False: a program whose parser wants full names and has
    other options that are prefixes of these, like dpkg's `--status` and `--status-logger`)."""
    out: list[Word] = []
    for i, a in enumerate(args):
        v = a.value
        if v == "--":
            break
        name, eq, value = v.partition("=")
        if longs and (name in longs or abbreviated and name.startswith("--") and long_option(name, longs)):
            if eq:
                out.append(Word(value, a.dynamic))
            elif i + 1 < len(args):
                out.append(args[i + 1])
        elif short and v == short:
            if i + 1 < len(args):
                out.append(args[i + 1])
        elif short and v.startswith(short) and not v.startswith("--") and len(v) > len(short):
            out.append(Word(v[len(short):], a.dynamic))
        elif len(short) == 2 and len(v) > 2 and v[0] == "-" and v[1] != "-" and short[1] in v[2:]:
            # getopt clusters: `rsync -ave CMD`, `git rebase -ix CMD`, `-avzeCMD`: flags, then the option
            k = v.index(short[1], 2)
            if v[1:k].isalnum():
                if k + 1 < len(v):
                    out.append(Word(v[k + 1:], a.dynamic))
                elif i + 1 < len(args):
                    out.append(args[i + 1])
    return out
