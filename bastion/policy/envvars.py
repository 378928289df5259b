"""Environment variables whose value is a command that programs run: `LESSOPEN='|CMD %s' less f`,
`GIT_SSH_COMMAND=CMD git fetch`, `PAGER=CMD man ls`, `MAKEFLAGS='--eval=…' make`, `GIT_CONFIG_PARAMETERS`,
`GIT_CONFIG_KEY_0`/`GIT_CONFIG_VALUE_0` pairs; and variables that make a program load code from a file the
gateway cannot read (`LD_PRELOAD=./x.so ls`, `BASH_ENV=./x bash -c …`, `NODE_OPTIONS='--require ./x.js'`).

`assignment_commands(name, value, others)` says what setting NAME=value makes some program run later: shell
text and/or argv lists (`others`: the other variables set with it, for pairs). `assignment_opaque(name, value)`
says why the assignment hides code, or None. Neither asks which program reads the variable: an assignment on
the line (a prefix, `env X=v`, `export X=v`, a bare `X=v`) is taken to be used, which can only make a decision
stricter. Pure: no I/O.
"""

from __future__ import annotations

import posixpath
import re
from typing import Mapping

from bastion.policy.words import Word
from bastion.policy.wrapper_base import _split_words

# Run through a shell (or as a program with arguments, which parses the same way).
SHELL_TEXT = frozenset({
    "PAGER", "GIT_PAGER", "MANPAGER", "SYSTEMD_PAGER", "PSQL_PAGER", "BAT_PAGER",
    "DELTA_PAGER", "AWS_PAGER", "GH_PAGER", "EDITOR", "VISUAL", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR",
    "SUDO_EDITOR", "KUBE_EDITOR", "SVN_EDITOR", "FCEDIT", "GIT_SSH_COMMAND", "GIT_SSH", "GIT_PROXY_COMMAND",
    "GIT_EXTERNAL_DIFF", "GIT_ASKPASS", "SSH_ASKPASS", "SUDO_ASKPASS", "WGET_ASKPASS", "RSYNC_RSH", "CVS_RSH",
    "RSYNC_CONNECT_PROG", "LESSOPEN", "LESSCLOSE", "BROWSER", "PROMPT_COMMAND", "TAR_RSH", "DIFF_PAGER",
    "HGEDITOR", "HGMERGE", "SVN_SSH", "CC", "CXX", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "RUSTC", "RUSTDOC",
    "CARGO_BUILD_RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_RUSTC", "CARGO_BUILD_RUSTDOC",
    "CARGO_HOST_LINKER",
})
# `CARGO_TARGET_<triple>_RUNNER`, `_LINKER`: the program cargo runs the built binary with, or links it with.
_CARGO_TARGET_PROGRAMS = ("_RUNNER", "_LINKER")
_MAKEFLAGS = frozenset({"MAKEFLAGS", "GNUMAKEFLAGS"})
_GIT_PARAMETER = re.compile(r"'((?:[^']|'\\'')*)'(?:='((?:[^']|'\\'')*)')?")
# Prompts are expanded (`$(CMD)`, backticks) each time they are shown; PS4 by `set -x` in scripts too.
_PROMPTS = frozenset({"PS0", "PS1", "PS2", "PS4"})
# Code given in another language's own variable: NAME → (program, flag) it amounts to.
_CODE = {"PERL5DB": ("perl", "-e"), "VIMINIT": ("vim", "-c"), "EXINIT": ("vim", "-c"), "LUA_INIT": ("lua", "-e"),
         "LUA_INIT_5_4": ("lua", "-e"), "LUA_INIT_5_3": ("lua", "-e")}
# A program's options in a variable: NAME → the program (`MANOPT='-P CMD'` is `man -P CMD`).
_OPTIONS = {"MANOPT": "man", "TAR_OPTIONS": "tar", "GOFLAGS": "go", "LESS": "less", "MORE": "more"}

# Variables naming a file or directory of code (or of configuration that can run commands) that a program
# loads: the gateway cannot read it, so the command is opaque. An empty value or /dev/null loads nothing.
_LOADS_FILE = frozenset({
    "LD_PRELOAD", "LD_AUDIT", "DYLD_INSERT_LIBRARIES", "BASH_ENV", "ZDOTDIR", "GCONV_PATH", "PYTHONHOME",
    "GIT_EXEC_PATH", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG", "HGRCPATH", "APT_CONFIG", "WGETRC",
    "R_PROFILE", "R_PROFILE_USER", "DOTNET_STARTUP_HOOKS",
})
# Library search paths: loading libc from an unknown directory runs its code in any program, so they count
# only when a directory is outside the root-owned system locations.
_LIBRARY_PATHS = frozenset({"LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "DYLD_FRAMEWORK_PATH"})
_SYSTEM_LIBRARY_DIRS = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/nix/store", "/snap")
_JAVA_AGENT = re.compile(r"-javaagent:|-agentpath:|-agentlib:|-XX:\+?On(?:OutOfMemory)?Error")
# Option variables: only the options that load code count (`NODE_OPTIONS=--max-old-space-size=4096` does not).
_LOADING_OPTIONS = {
    "NODE_OPTIONS": re.compile(r"(?:^|\s)(?:-r|--require|--import|--loader|--experimental-loader|"
                               r"--experimental-preload-module)(?:[\s=]|$)"),
    "PERL5OPT": re.compile(r"(?:^|\s)-[A-Za-z]*[MmdI]"),
    "RUBYOPT": re.compile(r"(?:^|\s)-[A-Za-z]*[rI]"),
    "JAVA_TOOL_OPTIONS": _JAVA_AGENT,
    "_JAVA_OPTIONS": _JAVA_AGENT,
    "JDK_JAVA_OPTIONS": _JAVA_AGENT,
}

COMMAND_VARIABLES = (SHELL_TEXT | _MAKEFLAGS | _PROMPTS | set(_CODE) | set(_OPTIONS) | _LOADS_FILE
                     | _LIBRARY_PATHS | set(_LOADING_OPTIONS) | {"GIT_CONFIG_PARAMETERS", "ENV"})


def command_variable(name: str) -> bool:
    """Does setting `name` make some program run a command or load code (so the assignment is looked at)?"""
    return (name in COMMAND_VARIABLES or name.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_", "BASH_FUNC_"))
            or name.startswith("CARGO_TARGET_") and name.endswith(_CARGO_TARGET_PROGRAMS))


def _git_pair(name: str, value: Word, others: Mapping[str, str]) -> list[list[Word]]:
    """`GIT_CONFIG_KEY_0=core.pager GIT_CONFIG_VALUE_0=CMD`: the pair is `git -c core.pager=CMD` (git refuses a
    key without its value and the reverse, so only a pair seen on the line counts)."""
    if name.startswith("GIT_CONFIG_KEY_"):
        other = others.get("GIT_CONFIG_VALUE_" + name[len("GIT_CONFIG_KEY_"):])
        if other is None:
            return []
        setting = Word(value.value + "=" + other, value.dynamic)
    else:
        key = others.get("GIT_CONFIG_KEY_" + name[len("GIT_CONFIG_VALUE_"):])
        if key is None:
            return []
        setting = Word(key + "=" + value.value, value.dynamic)
    return [[Word("git"), Word("-c"), setting]]


def assignment_commands(name: str, value: Word,
                        others: Mapping[str, str] | None = None) -> tuple[list[list[Word]], list[Word]]:
    """(argv lists, shell texts) that the assignment `name=value` makes a program run. `others`: the literal
    values of the variables set with it or earlier on the line (for `GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`)."""
    if name in SHELL_TEXT or name.startswith("CARGO_TARGET_") and name.endswith(_CARGO_TARGET_PROGRAMS):
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
    if name.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")):
        return _git_pair(name, value, others or {}), []
    if name in _PROMPTS:
        if "$(" not in value.value and "`" not in value.value:
            return [], []
        return [], [Word(': "' + value.value.replace('"', '\\"') + '"', value.dynamic)]
    if name in _CODE:
        program, flag = _CODE[name]
        if not value.value.strip() or value.value.startswith("@"):
            return [], []  # LUA_INIT=@FILE names a file (see assignment_opaque)
        return [[Word(program), Word(flag), value]], []
    if name in _OPTIONS:
        words = _split_words(value)
        return ([[Word(_OPTIONS[name]), *words]] if words else []), []
    if name.startswith("BASH_FUNC_") and value.value.startswith("()"):
        # `env 'BASH_FUNC_ls%%=() { rm -rf /; }' bash -c ls`: bash imports the function and runs its body
        return [], [Word(value.value[2:], value.dynamic)]
    return [], []


def _outside_system_dirs(value: Word, name: str) -> bool:
    for part in value.value.split(":"):
        if not part or part in ("$" + name, "${" + name + "}"):
            continue  # empty (no entry) or the inherited value
        if "$" in part or not part.startswith("/") or "/.." in part:
            return True
        clean = posixpath.normpath(part)
        if not any(clean == d or clean.startswith(d + "/") for d in _SYSTEM_LIBRARY_DIRS):
            return True
    return False


def assignment_opaque(name: str, value: Word) -> str | None:
    """Why `name=value` makes a program run code the gateway cannot see (a library, start-up file, module or
    configuration file it loads), or None."""
    text = value.value.strip()
    if not text or text == "/dev/null":
        return None
    shown = text if len(text) <= 60 else text[:57] + "..."
    if name in _LOADS_FILE or name in _LIBRARY_PATHS and _outside_system_dirs(value, name):
        return f"{name}={shown} makes the program load code or configuration from a file the gateway cannot read"
    if name == "ENV" and ("/" in text or "~" in text or "$" in text or text.endswith(".sh")):
        return f"ENV={shown} makes sh run a start-up file the gateway cannot read"
    if name in _LOADING_OPTIONS and _LOADING_OPTIONS[name].search(text):
        return f"{name}={shown} makes the program load a module or agent the gateway cannot read"
    if name.startswith("LUA_INIT") and text.startswith("@"):
        return f"{name}={shown} makes lua run a file the gateway cannot read"
    return None
