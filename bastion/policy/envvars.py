"""Environment variables whose value is a command that programs run: `LESSOPEN='|CMD %s' less f`,
`GIT_SSH_COMMAND=CMD git fetch`, `PAGER=CMD man ls`, `MAKEFLAGS='--eval=…' make`, `GIT_CONFIG_PARAMETERS`.

`assignment_commands(name, value)` says what setting NAME=value makes some program run later: shell text
and/or argv lists. It does not ask which program reads the variable: an assignment on the line (a prefix,
`env X=v`, `export X=v`, a bare `X=v`) is taken to be used, which can only make a decision stricter.
Pure: no I/O.
"""

from __future__ import annotations

import re

from bastion.policy.words import Word
from bastion.policy.wrapper_base import _split_words

# Run through a shell (or as a program with arguments, which parses the same way).
SHELL_TEXT = frozenset({
    "PAGER", "GIT_PAGER", "MANPAGER", "SYSTEMD_PAGER", "PSQL_PAGER", "BAT_PAGER",
    "DELTA_PAGER", "AWS_PAGER", "GH_PAGER", "EDITOR", "VISUAL", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR",
    "SUDO_EDITOR", "KUBE_EDITOR", "SVN_EDITOR", "FCEDIT", "GIT_SSH_COMMAND", "GIT_SSH", "GIT_PROXY_COMMAND",
    "GIT_EXTERNAL_DIFF", "GIT_ASKPASS", "SSH_ASKPASS", "SUDO_ASKPASS", "RSYNC_RSH", "CVS_RSH", "RSYNC_CONNECT_PROG",
    "LESSOPEN", "LESSCLOSE", "BROWSER", "PROMPT_COMMAND", "TAR_RSH", "DIFF_PAGER",
})
_MAKEFLAGS = frozenset({"MAKEFLAGS", "GNUMAKEFLAGS"})
_GIT_PARAMETER = re.compile(r"'((?:[^']|'\\'')*)'(?:='((?:[^']|'\\'')*)')?")


def assignment_commands(name: str, value: Word) -> tuple[list[list[Word]], list[Word]]:
    """(argv lists, shell texts) that the assignment `name=value` makes a program run."""
    if name in SHELL_TEXT:
        text = value.value
        if name in ("LESSOPEN", "LESSCLOSE"):
            text = text.lstrip("|-")  # `|CMD %s` (pipe), `||CMD`, `-CMD`: less runs CMD through the shell
        if name == "BROWSER":
            return [], [Word(part, value.dynamic) for part in text.split(":") if part]
        return [], [Word(text, value.dynamic)] if text.strip() else []
    if name in _MAKEFLAGS:
        words = _split_words(value)
        if words and not words[0].value.startswith("-") and "=" not in words[0].value:
            words[0] = Word("-" + words[0].value, words[0].dynamic)  # `MAKEFLAGS=ks`: single-letter flags
        return ([[Word("make"), *words]] if words else []), []
    if name == "GIT_CONFIG_PARAMETERS":
        argv = [Word("git")]
        for m in _GIT_PARAMETER.finditer(value.value):
            key = m.group(1).replace("'\\''", "'")
            setting = key if m.group(2) is None else key + "=" + m.group(2).replace("'\\''", "'")
            argv += [Word("-c"), Word(setting, value.dynamic)]
        return ([argv] if len(argv) > 1 else []), []
    return [], []


COMMAND_VARIABLES = SHELL_TEXT | _MAKEFLAGS | {"GIT_CONFIG_PARAMETERS"}
