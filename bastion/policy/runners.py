"""Programs that run code given in their own language on the command line: `make --eval`/`SHELL=`, `rpm --eval
'%(CMD)'`, `emacs --eval '(shell-command …)'`, `vim -c '!CMD'`, GNU `parallel 'CMD {}' ::: ARGS`.

Each handler returns what the program would hand to a shell (or run as argv), like the handlers in
`wrappers.py`. The languages are matched by small scanners, not full parsers: what they find is listed beside
the program's own command, so a miss costs nothing the rules do not already hold, and a find can only make a
decision stricter. Text the language expands before running (`$(VAR)` in make, `%{macro}` in rpm) is marked
as only known at run time. Pure: no I/O.
"""

from __future__ import annotations

import base64
import re
import shlex
from itertools import islice

from bastion.policy.words import Word
from bastion.policy.wrapper_base import (Unwrapped, WrapperSpec, _join_script, _option_values, _skip_options,
                                         _split_words)

STDIN_MARK = "\x00stdin\x00"  # where a word read from stdin goes in a `stdin_scripts` template
_MAX_FINDS = 64  # code pieces taken from one text (the walker parses at most 64 nested scripts per line)


def _balanced(text: str, start: int, open_ch: str, close_ch: str) -> int:
    """Index just past the bracket that closes the one opened before `start` (len(text) if unclosed)."""
    depth = 1
    for i in range(start, len(text)):
        if text[i] == open_ch:
            depth += 1
        elif text[i] == close_ch:
            depth -= 1
            if depth == 0:
                return i
    return len(text)


# --- make ----------------------------------------------------------------------------------------------
_MAKE_SHELL = re.compile(r"\$[({]shell\s")
_MAKE_RULE_RECIPE = re.compile(r"^[^\t#=\n][^#=\n]*?(?<![:!?+])::?(?![=:])[^;=\n]*;([^\n]*)$", re.M)
_MAKE_TAB_RECIPE = re.compile(r"^\t([^\n]*)$", re.M)
_MAKE_BANG_ASSIGN = re.compile(r"^\s*[\w.-]+\s*!=([^\n]*)$", re.M)
_MAKE_VALUE = "CfIjloW"
_MAKE_LONG = frozenset({"--directory", "--file", "--makefile", "--include-dir", "--old-file", "--assume-old",
                        "--what-if", "--new-file", "--assume-new", "--eval"})
MAKES = frozenset({"make", "gmake", "remake"})


def _make_to_shell(text: str, dynamic: bool) -> Word:
    """Make text as the shell gets it: `$$` is `$`; any other `$` is a make reference expanded first."""
    expands = re.search(r"\$(?!\$)", text.replace("$$", "")) is not None
    return Word(text.replace("$$", "$").lstrip("@+- \t"), dynamic or expands)


def make_code_commands(code: Word) -> list[Word]:
    """Shell text that make code runs: `$(shell CMD)`, `X != CMD`, recipes after `target: ;` or a tab."""
    text, out = code.value, []
    for m in _MAKE_SHELL.finditer(text):
        close = ")" if text[m.start() + 1] == "(" else "}"
        end = _balanced(text, m.end(), text[m.start() + 1], close)
        out.append(_make_to_shell(text[m.end():end], code.dynamic))
    for rx in (_MAKE_RULE_RECIPE, _MAKE_TAB_RECIPE, _MAKE_BANG_ASSIGN):
        out.extend(_make_to_shell(m.group(1), code.dynamic) for m in rx.finditer(text) if m.group(1).strip())
    return out


def _make(args: list[Word]) -> Unwrapped:
    """`make --eval CODE` / `-E CODE` (make code: its `$(shell …)` and recipes run), `make SHELL=PROG` and
    `.SHELLFLAGS=FLAGS` (every recipe runs as `PROG FLAGS recipe`), `X!=CMD` on the command line."""
    out = Unwrapped()
    shell: Word | None = None
    flags: Word | None = None
    for code in _option_values(args, "-E", ("--eval",)):
        out.scripts.extend(make_code_commands(code))
    for a in args:
        name, eq, value = a.value.partition("=")
        if not eq or a.value.startswith("-"):
            continue
        name = name.rstrip(":!?+ ")
        if name == "SHELL":
            shell = Word(value, a.dynamic)
        elif name == ".SHELLFLAGS":
            flags = Word(value, a.dynamic)
        elif a.value.partition("=")[0].endswith("!"):
            out.scripts.append(_make_to_shell(value, a.dynamic))
    if shell is not None or flags is not None:
        argv = _split_words(shell) if shell is not None else [Word("sh")]
        argv += _split_words(flags) if flags is not None else [Word("-c")]
        out.inners.append(argv)
        for k, w in enumerate(argv[1:], 1):
            # `.SHELLFLAGS='-c rm -rf /'`: the shell's script is what follows its -c
            if w.value.startswith("-") and "c" in w.value[1:] and k + 1 < len(argv):
                out.scripts.append(_join_script(argv[k + 1:]))
                break
    return out


def make_reads_stdin(args: list[Word]) -> bool:
    """`make -f -`, `make -f /dev/stdin`: the makefile itself comes from stdin."""
    files = _option_values(args, "-f", ("--file", "--makefile"))
    return any(f.value in ("-", "/dev/stdin", "/proc/self/fd/0", "/dev/fd/0") for f in files)


# --- rpm -----------------------------------------------------------------------------------------------
_RPM_SHELL = re.compile(r"%\(")
_RPM_LUA = re.compile(r"%\{[?!]*lua[:\s]")
_RPM_EXPAND = re.compile(r"%\{[?!]*expand[:\s]")
_RPM_LOAD = re.compile(r"%\{[?!]*load[:\s]")
_RPM_MACRO_FILES = ("--load", "--macros", "--rcfile")
_RPM_REFERENCE = re.compile(r"%\{?[?!]*(\w+)")


def _rpm_to_shell(text: str, dynamic: bool) -> Word:
    expands = "%" in text.replace("%%", "")
    return Word(text.replace("%%", "%"), dynamic or expands)


def _rpm(args: list[Word]) -> Unwrapped:
    """`rpm --eval '%(CMD)'`, `%{lua: CODE}` (also in `--define` bodies), `rpm --pipe CMD`: what rpm runs.
    `%{expand:BODY}` expands BODY twice, so `%%` after it, or a macro defined on the line (`-D 'a %%'`), can
    build `%(…)` from pieces: opaque, like `%{load:FILE}` and `--load|--macros|--rcfile FILE` (macros from a file)."""
    out = Unwrapped(scripts=list(_option_values(args, "", ("--pipe",))))
    defines = _option_values(args, "-D", ("--define",))
    texts = _option_values(args, "-E", ("--eval",)) + defines
    defined = {d.value.split(None, 1)[0].lstrip("%") for d in defines if d.value.split()}
    for word in texts:
        text = word.value
        if "%" not in text:
            continue
        # each find scans for its closing bracket: a bounded number (more than nested scripts are parsed anyway)
        for m in islice(_RPM_SHELL.finditer(text), _MAX_FINDS):
            out.scripts.append(_rpm_to_shell(text[m.end():_balanced(text, m.end(), "(", ")")], word.dynamic))
        for m in islice(_RPM_LUA.finditer(text), _MAX_FINDS):
            code = text[m.end():_balanced(text, m.end(), "{", "}")]
            out.inners.append([Word("lua"), Word("-e"), Word(code, word.dynamic)])
        m = _RPM_EXPAND.search(text)
        if m is not None and ("%%" in text[m.end():] or defined & set(_RPM_REFERENCE.findall(text, m.end()))):
            out.opaque = out.opaque or "rpm expands macro text twice (%{expand:…}): what it runs is known only then"
        if _RPM_LOAD.search(text):
            out.opaque = out.opaque or "rpm loads macros from a file (%{load:…}), which the gateway cannot read"
    for f in _option_values(args, "", _RPM_MACRO_FILES):
        out.opaque = out.opaque or f"rpm loads macros from {f.value}, which the gateway cannot read"
    return out


# --- emacs ---------------------------------------------------------------------------------------------
_ELISP_STRING = r'"((?:[^"\\]|\\.)*)"'
_ELISP_SHELL = re.compile(r"\((?:shell-command|async-shell-command|shell-command-to-string|call-process-shell-command|"
                          r"start-process-shell-command\s+" + _ELISP_STRING + r"\s+\S+|"
                          r"start-file-process-shell-command\s+" + _ELISP_STRING + r"\s+\S+)\s+" + _ELISP_STRING)
_ELISP_ARGV = re.compile(r"\((?:call-process|process-lines|start-process\s+" + _ELISP_STRING + r"\s+\S+)\s+"
                         + _ELISP_STRING + r"((?:\s+(?:nil|t|" + _ELISP_STRING + r"))*)")
_ELISP_DELETE = re.compile(r"\((delete-directory|delete-file)\s+" + _ELISP_STRING + r"(\s+(?!nil\b)\S+)?")
_ELISP_ESCAPE = re.compile(r"\\(.)", re.S)


def _elisp_string(text: str) -> str:
    return _ELISP_ESCAPE.sub(lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


def elisp_commands(code: Word) -> Unwrapped:
    """Commands elisp runs: `(shell-command "CMD")` and friends, `(call-process "PROG" nil nil nil "ARG"…)`,
    `(process-lines …)`, `(start-process NAME BUF "PROG" …)`; `(delete-directory "D" t)` is `rm -rf -- D`."""
    out = Unwrapped()
    text = code.value
    for m in _ELISP_SHELL.finditer(text):
        out.scripts.append(Word(_elisp_string(m.groups()[-1]), code.dynamic))
    for m in _ELISP_ARGV.finditer(text):
        program = _elisp_string(m.group(2))
        rest = [_elisp_string(s) for s in re.findall(_ELISP_STRING, m.group(3) or "")]
        out.inners.append([Word(program, code.dynamic), *(Word(r, code.dynamic) for r in rest)])
    for m in _ELISP_DELETE.finditer(text):
        recursive = m.group(1) == "delete-directory" and m.group(3)
        argv = ["rm", "-rf" if recursive else "-f", "--", _elisp_string(m.group(2))]
        out.inners.append([Word(a, code.dynamic) for a in argv])
    return out


def _emacs(args: list[Word]) -> Unwrapped:
    """`emacs --batch --eval '(shell-command "CMD")'`, `emacsclient -e …`: the processes the elisp starts."""
    out = Unwrapped()
    codes = _option_values(args, "", ("--eval", "-eval", "--execute", "-execute"))
    if any(a.value in ("-e",) for a in args):
        codes += _option_values(args, "-e", ())  # emacsclient's `-e EXPR`
    for code in codes:
        found = elisp_commands(code)
        out.inners.extend(found.inners)
        out.scripts.extend(found.scripts)
    return out


# --- vi / vim / nvim / ex ------------------------------------------------------------------------------
_EX_SHELL = re.compile(r"^[:\s]*(?:sil(?:ent)?!?\s*)?(?:[.$%,\d']*\s*)?(?:r(?:ead)?\s*|w(?:rite)?\s*)?!(.*)$", re.S)
_EX_TERMINAL = re.compile(r"^[:\s]*(?:(?:vert(?:ical)?|tab|bo(?:tright)?|to(?:pleft)?)\s+)*"
                          r"ter(?:m|mi|min|mina|minal)?(?:\s+(?:\+\+\S+\s+)*)?\s*(\S.*)$", re.S)
_EX_INTERPRETERS = (("py3 ", "python3"), ("python3 ", "python3"), ("py ", "python3"), ("python ", "python3"),
                    ("pyx ", "python3"), ("lua ", "lua"), ("perl ", "perl"), ("ruby ", "ruby"), ("rub ", "ruby"))
_VIM_STRING = re.compile(r"""\bsystem(?:list)?\s*\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)')""")


def ex_commands(command: Word) -> Unwrapped:
    """What one Ex command runs: `!CMD`, `silent !CMD`, `r !CMD`, `w !CMD`, `terminal CMD`, `call system("CMD")`,
    `py3 CODE` / `lua CODE` / `perl CODE` / `ruby CODE` (as that interpreter's inline code)."""
    out = Unwrapped()
    text = command.value.lstrip(": \t")
    m = _EX_SHELL.match(text)
    if m is not None:
        out.scripts.append(Word(m.group(1), command.dynamic))
        return out
    m = _EX_TERMINAL.match(text)
    if m is not None:
        out.scripts.append(Word(m.group(1), command.dynamic))
        return out
    for prefix, interpreter in _EX_INTERPRETERS:
        if text.startswith(prefix):
            flag = "-e" if interpreter in ("lua", "perl", "ruby") else "-c"
            out.inners.append([Word(interpreter), Word(flag), Word(text[len(prefix):], command.dynamic)])
            return out
    for s in _VIM_STRING.finditer(text):
        body = s.group(1) if s.group(1) is not None else s.group(2).replace("''", "'")
        out.scripts.append(Word(body, command.dynamic))
    return out


def _vim(args: list[Word]) -> Unwrapped:
    """`vim -c CMD`, `vim +CMD`, `vim --cmd CMD`: Ex commands run at start-up (see `ex_commands`)."""
    out = Unwrapped()
    commands = _option_values(args, "", ("--cmd",))
    for i, a in enumerate(args):
        v = a.value
        if v == "--":
            break
        if v == "-c" and i + 1 < len(args):
            commands.append(args[i + 1])
        elif v.startswith("+") and len(v) > 1 and not v[1:].isdigit() and v[1] not in "/?":
            commands.append(Word(v[1:], a.dynamic))
    for command in commands:
        found = ex_commands(command)
        out.inners.extend(found.inners)
        out.scripts.extend(found.scripts)
    return out


def _less(args: list[Word]) -> Unwrapped:
    """`less '+!CMD' file`, `less '++:!CMD'`, `more '+|$CMD'`: start-up commands that run shell text (less's `!`
    runs CMD, `|` pipes to it after a mark); a search (`+/pattern`) or a line number runs nothing."""
    out = Unwrapped()
    for a in args:
        v = a.value
        if v == "--":
            break
        if not v.startswith("+"):
            continue
        keys = v.lstrip("+")
        if keys[:1] in ("/", "?") or not keys:
            continue
        m = re.search(r"!|\|.", keys)
        if m is not None:
            text = keys[m.end():].split("\n", 1)[0]
            if text.strip():
                out.scripts.append(Word(text, a.dynamic))
    return out


# --- GNU parallel --------------------------------------------------------------------------------------
_PARALLEL_VALUE = "jPSadEInNLlsCJeWX"
_PARALLEL_LONG = frozenset({"--jobs", "--sshlogin", "--slf", "--sshloginfile", "--arg-file", "--delimiter",
                            "--eof", "--replace", "--max-args", "--max-lines", "--max-chars", "--colsep",
                            "--joblog", "--results", "--res", "--tmpdir", "--workdir", "--wd", "--env",
                            "--basefile", "--bf", "--transfer", "--return", "--timeout", "--delay",
                            "--retries", "--memfree", "--load", "--halt", "--tagstring", "--nice", "--block",
                            "--recstart", "--recend", "--header", "--sshdelay", "--termseq", "--profile",
                            "--limit", "--ssh", "--shebang", "--sqlmaster", "--sqlworker", "--sqlandworker",
                            "--id", "--rpl", "--plus", "--cleanup", "--trc", "--transferfile", "--tf",
                            "--sshlogin-file", "--semaphorename", "--fifo", "--cat", "--retry-failed"})
_PARALLEL_SEPARATORS = (":::", "::::", ":::+", "::::+")
_REPLACEMENT = re.compile(r"\{(?:\d+)?(?:\.|/|//|/\.|#|%)?\}")
_MAX_ARGS = 16


def _parallel(args: list[Word], semaphore: bool = False) -> Unwrapped:
    """`parallel [opts] CMD… ::: ARGS…`: CMD (its words joined) runs through a shell once per argument, which
    replaces `{}` (or is appended); without CMD each argument is the command; without `:::` the arguments
    come from stdin (`stdin_scripts`). `--pipe` feeds stdin instead and `sem` runs CMD once; `--ssh CMD`/`--limit CMD` run too."""
    out = Unwrapped(scripts=_option_values(args, "", ("--ssh", "--limit")))
    start, _ = _skip_options(args, WrapperSpec(_PARALLEL_VALUE, _PARALLEL_LONG))
    options = args[:start]
    rest = args[start:]
    if start > 0 and args[start - 1].value in _PARALLEL_SEPARATORS:  # `parallel ::: …` (skip_options stops past)
        rest, options = args[start - 1:], args[:start - 1]
    split = next((k for k, w in enumerate(rest) if w.value in _PARALLEL_SEPARATORS), len(rest))
    command, groups = rest[:split], rest[split:]
    pipe = any(o.value in ("--pipe", "--pipepart", "--spreadstdin", "--semaphore") for o in options) or semaphore
    literal: list[Word] = []
    from_files = False
    mode = ""
    for w in groups:
        if w.value in _PARALLEL_SEPARATORS:
            mode = w.value
            from_files = from_files or mode.startswith("::::")
        elif mode.startswith("::::"):
            continue
        else:
            literal.append(w)
    if pipe or not command and not groups:
        if command:
            out.scripts.append(_join_script(command))
        return out
    if not command:
        out.scripts.extend(literal[:_MAX_ARGS])  # `parallel ::: 'rm -rf /'`: each argument is a command
        return out
    template = _join_script(command)
    arguments: list[Word] = literal[:_MAX_ARGS]
    if from_files or not groups or any(o.value.startswith(("-a", "--arg-file", "--a")) for o in options):
        arguments.append(Word(STDIN_MARK, True))
    for arg in arguments:
        if arg.value == STDIN_MARK:
            value = STDIN_MARK
        else:
            value = shlex.quote(arg.value)
        if _REPLACEMENT.search(template.value):
            text = _REPLACEMENT.sub(lambda _m: value, template.value)
        else:
            text = template.value + " " + value
        word = Word(text, template.dynamic or arg.dynamic and arg.value != STDIN_MARK)
        (out.stdin_scripts if value == STDIN_MARK else out.scripts).append(word)
    return out


# --- small runners -------------------------------------------------------------------------------------
def _pee(args: list[Word]) -> Unwrapped:
    """`pee 'CMD' 'CMD'…` (moreutils): each argument is shell text fed the same stdin."""
    return Unwrapped(scripts=[a for a in args if not a.value.startswith("-")])


def _dtach(args: list[Word]) -> Unwrapped:
    """`dtach -n|-c|-A|-N SOCKET [-e C] [-r M] [-Ez] CMD…`, `abduco [-e C] -c|-n|-A NAME CMD…`."""
    for i, a in enumerate(args):
        if a.value in ("-n", "-c", "-A", "-N") and i + 1 < len(args):
            start, _ = _skip_options(args[i + 2:], WrapperSpec("er"))
            rest = args[i + 2 + start:]
            return Unwrapped(inners=[rest]) if rest else Unwrapped()
    return Unwrapped()


def _script(args: list[Word]) -> Unwrapped:
    """`script -c CMD`, `-qc CMD`, `-qcCMD`, `--command=CMD` (also abbreviated): CMD is shell text."""
    found = _option_values(args, "", ("--command",))
    for i, a in enumerate(args):
        v = a.value
        if v == "--":
            break
        if v.startswith("-") and not v.startswith("--") and "c" in v:
            k = v.index("c")
            if k + 1 < len(v):
                found.append(Word(v[k + 1:], a.dynamic))
            elif i + 1 < len(args):
                found.append(args[i + 1])
    if not found:  # no command: script runs the user's interactive shell (`sudo script` is a root shell)
        return Unwrapped(inners=[[Word("sh")]])
    return Unwrapped(scripts=found)


_FD_VALUE = "edtEScjo"
_FD_LONG = frozenset({"--extension", "--max-depth", "--min-depth", "--exact-depth", "--type", "--exclude",
                      "--size", "--changed-within", "--changed-before", "--color", "--threads", "--owner",
                      "--max-results", "--base-directory", "--path-separator", "--search-path", "--ignore-file",
                      "--max-buffer-time", "--batch-size", "--format", "--and"})
_FD_PLACEHOLDER = re.compile(r"\{(?:|//|\.)\}")


def _fd(args: list[Word]) -> Unwrapped:
    """`fd [PATTERN] [PATH…] -x|-X CMD…`: CMD runs on what fd finds under PATH (`{}`, `{.}`, `{//}` stand for
    the paths; `{/}`, `{/.}` for a name only known at run time); without a placeholder the path is appended."""
    out = Unwrapped()
    for i, a in enumerate(args):
        if a.value not in ("-x", "--exec", "-X", "--exec-batch"):
            continue
        j = i + 1
        while j < len(args) and args[j].value != ";":
            j += 1
        command = args[i + 1:j]
        if not command:
            continue
        start, _ = 0, None
        positional: list[Word] = []
        k = 0
        before = args[:i]
        while k < len(before):
            start, _ = _skip_options(before[k:], WrapperSpec(_FD_VALUE, _FD_LONG))
            k += start
            if k < len(before):
                positional.append(before[k])
                k += 1
        roots = positional[1:] + _option_values(before, "", ("--search-path",)) or [Word(".")]
        inner: list[Word] = []
        placed = False
        for w in command:
            if _FD_PLACEHOLDER.search(w.value):
                placed = True
                inner.extend(Word(_FD_PLACEHOLDER.sub(r.value.replace("\\", "\\\\"), w.value), r.dynamic)
                             for r in roots)
            elif "{/}" in w.value or "{/.}" in w.value:
                placed = True
                inner.append(Word(w.value, True))
            else:
                inner.append(w)
        out.inners.append(inner if placed else inner + roots)
    return out


HANDLERS = {
    **{name: _make for name in MAKES},
    "rpm": _rpm, "rpmbuild": _rpm, "rpmspec": _rpm,
    "emacs": _emacs, "emacsclient": _emacs, "less": _less, "more": _less,
    **{name: _vim for name in ("vi", "vim", "nvim", "view", "ex", "gvim", "vimdiff", "gview", "evim", "vimx")},
    "parallel": _parallel, "sem": lambda args: _parallel(args, semaphore=True),
    "pee": _pee, "dtach": _dtach, "abduco": _dtach, "script": _script,
    "fd": _fd, "fdfind": _fd,
}


# --- PowerShell ----------------------------------------------------------------------------------------
# `pwsh -Command TEXT…`, `-c`, `-EncodedCommand B64`, `-File F`: parameter names are case-insensitive, take one
# or two dashes and may be abbreviated (`-com`, `-enc`, `-ec`).
_PS_VALUE = ("executionpolicy", "ep", "workingdirectory", "wd", "configurationname", "configurationfile",
             "outputformat", "of", "inputformat", "if", "windowstyle", "custompipename", "settingsfile",
             "encodedarguments", "ea")


def _ps_parameter(word: str) -> str:
    """What a pwsh command-line word is: "command", "encoded", "file", "value" (takes the next word), "flag",
    or "" (not a parameter)."""
    if not word.startswith("-") or word in ("-", "--"):
        return ""
    name = word.lstrip("-").lower()
    if name in ("c", "command") or len(name) >= 3 and "command".startswith(name):
        return "command"
    if name in ("e", "ec") or len(name) >= 2 and "encodedcommand".startswith(name):
        return "encoded"
    if name in ("f", "file") or len(name) >= 2 and "file".startswith(name):
        return "file"
    if name in _PS_VALUE or len(name) >= 3 and any(v.startswith(name) for v in _PS_VALUE if len(v) > 3):
        return "value"
    return "flag"


def powershell_code(args: list[Word], positional_command: bool) -> tuple[str, Word | None]:
    """("command" | "encoded" | "file" | "", the code, file or text) of a pwsh/powershell command line. A bare
    operand is a script file for pwsh and command text for Windows PowerShell (`positional_command`)."""
    i = 0
    while i < len(args):
        v = args[i].value
        kind = _ps_parameter(v)
        if kind == "":
            if v == "--":
                i += 1
                continue
            rest = args[i:]
            return ("command", _join_script(rest)) if positional_command else ("file", args[i])
        if kind in ("command", "encoded", "file"):
            rest = args[i + 1:]
            if not rest:
                return kind, None
            return (kind, _join_script(rest)) if kind == "command" else (kind, rest[0])
        i += 2 if kind == "value" else 1
    return "", None


# PowerShell cmdlets (and their aliases on Linux) as the POSIX command that does the same
_PS_REMOVE = frozenset({"remove-item", "ri", "del", "erase", "rd"})
_PS_READ = frozenset({"get-content", "gc", "type"})
_PS_WRITE = frozenset({"set-content", "add-content", "ac", "out-file", "tee-object"})
_PS_EVAL = frozenset({"invoke-expression", "iex"})
_PS_START = frozenset({"start-process", "saps"})
_PS_DOWNLOAD = frozenset({"invoke-webrequest", "iwr", "invoke-restmethod", "irm"})
_PS_KEYWORDS = frozenset({"if", "elseif", "else", "foreach", "for", "while", "do", "until", "switch", "function",
                          "filter", "param", "try", "catch", "finally", "return", "throw", "begin", "process", "end",
                          "trap", "break", "continue", "exit", "class", "enum", "using"})
_PS_DYNAMIC = '"${__bastion_ps_value}"'  # a value only known when PowerShell runs
_PS_MAX_TEXT = 16 * 1024        # longer PowerShell text (or decoded -EncodedCommand) is opaque, not scanned
_PS_MAX_SUBEXPRESSIONS = 64     # `$(…)` per text: each is scanned for its end


def _ps_statements(text: str) -> list[tuple[list[tuple[str, bool]], str]]:
    """Split PowerShell text into statements of (word, dynamic) and the separator after each (`;`, `|`, `&&`,
    `||`). Quotes: '…' literal ('' is a quote), "…" expands `$x` and `$(…)`; a backtick escapes one character.
    Blocks `{…}` and subexpressions `$(…)` are statements of their own; `#` starts a comment."""
    out: list[tuple[list[tuple[str, bool]], str]] = []
    words: list[tuple[str, bool]] = []
    word: list[str] = []
    dynamic = False
    started = False
    i, n = 0, len(text)

    def end_word() -> None:
        nonlocal word, dynamic, started
        if started:
            words.append(("".join(word), dynamic))
        word, dynamic, started = [], False, False

    def end_statement(sep: str) -> None:
        nonlocal words
        end_word()
        if words:
            out.append((words, sep))
        words = []

    while i < n:
        c = text[i]
        if c == "'":
            j = i + 1
            while j < n:
                if text[j] == "'" and j + 1 < n and text[j + 1] == "'":
                    word.append("'")
                    j += 2
                    continue
                if text[j] == "'":
                    break
                word.append(text[j])
                j += 1
            started, i = True, j + 1
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "`" and j + 1 < n:
                    word.append(text[j + 1])
                    j += 2
                    continue
                if text[j] == "$" and j + 1 < n and text[j + 1] == "(":
                    close = _balanced(text, j + 2, "(", ")")
                    out.extend(_ps_statements(text[j + 2:close]))  # `"$(CMD)"` runs CMD
                    dynamic = True
                    j = close + 1
                    continue
                if text[j] == "$" and j + 1 < n and (text[j + 1].isalnum() or text[j + 1] in "_{:"):
                    dynamic = True
                word.append(text[j])
                j += 1
            started, i = True, j + 1
            continue
        if c == "`" and i + 1 < n:
            word.append(text[i + 1])
            started, i = True, i + 2
            continue
        if c == "$" and i + 1 < n and text[i + 1] == "(":
            close = _balanced(text, i + 2, "(", ")")
            out.extend(_ps_statements(text[i + 2:close]))
            word.append("$()")
            started, dynamic, i = True, True, close + 1
            continue
        if c == "#" and not started:
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "<" and text.startswith("<#", i):
            end = text.find("#>", i)
            i = n if end < 0 else end + 2
            continue
        if text.startswith("&&", i) or text.startswith("||", i):
            end_statement(text[i:i + 2])
            i += 2
            continue
        if c in ";\n{}":
            end_statement(";")
            i += 1
            continue
        if c == "|":
            end_statement("|")
            i += 1
            continue
        if c in " \t\r,":
            end_word()
            i += 1
            continue
        if c == "$":
            dynamic = True
        word.append(c)
        started = True
        i += 1
    end_statement(";")
    return out


def _ps_arg(word: tuple[str, bool]) -> str:
    value, dynamic = word
    if not dynamic:
        return shlex.quote(value)
    k = value.find("$")
    return (shlex.quote(value[:k]) if k > 0 else "") + _PS_DYNAMIC


def _ps_named(words: list[tuple[str, bool]], names: tuple[str, ...]) -> tuple[list[tuple[str, bool]], set[str]]:
    """Positional words and the (abbreviated) switch names present, for a cmdlet call."""
    positional: list[tuple[str, bool]] = []
    switches: set[str] = set()
    k = 0
    while k < len(words):
        w = words[k][0]
        if w.startswith("-") and len(w) > 1 and not words[k][1]:
            name = w[1:].lower().rstrip(":")
            full = next((x for x in names if x.startswith(name)), name)
            switches.add(full)
            if full in ("path", "literalpath", "filepath", "argumentlist", "uri", "value", "command"):
                positional.extend(words[k + 1:k + 2])  # the value of a named parameter
                k += 2
                continue
            k += 1
            continue
        positional.append(words[k])
        k += 1
    return positional, switches


def _ps_command(words: list[tuple[str, bool]], piped_into: bool) -> str | None:
    """One PowerShell statement as the shell command that does the same (None: an expression, not a call)."""
    if words and words[0][0] in ("&", ".") and not words[0][1]:
        words = words[1:]  # the call operators: `& 'prog' args`, `. ./x.ps1`
        if not words:
            return None
        if words[0][1]:
            return _PS_DYNAMIC + " " + " ".join(_ps_arg(w) for w in words[1:])
    head, dynamic = words[0]
    if dynamic or head[:1] in ("$", "(", "[", "@", "'", '"') or head.lower() in _PS_KEYWORDS or head[:1].isdigit():
        return None
    name = head.lower()
    rest = words[1:]
    names = ("recurse", "force", "path", "literalpath", "filepath", "argumentlist", "uri", "value", "command")
    if name in _PS_REMOVE:
        positional, switches = _ps_named(rest, names)
        flags = ("r" if "recurse" in switches else "") + ("f" if "force" in switches else "")
        return " ".join(["rm", *(["-" + flags] if flags else []), "--", *map(_ps_arg, positional)])
    if name in _PS_READ:
        positional, _ = _ps_named(rest, names)
        return " ".join(["cat", "--", *map(_ps_arg, positional)])
    if name in _PS_WRITE:
        positional, _ = _ps_named(rest, names)
        return f": > {_ps_arg(positional[0])}" if positional else None
    if name in _PS_EVAL:
        if not rest:
            return "sh" if piped_into else None  # `irm URL | iex`: runs what it is fed
        value, dyn = rest[0]
        return "eval " + (shlex.quote(powershell_to_shell(value)) if not dyn else _PS_DYNAMIC)
    if name in _PS_START:
        positional, _ = _ps_named(rest, names)
        return " ".join(_ps_arg(w) for w in positional) if positional else None
    if name in _PS_DOWNLOAD:
        positional, _ = _ps_named(rest, names)
        return " ".join(["curl", *map(_ps_arg, positional)])
    return " ".join(_ps_arg(w) for w in words)


def powershell_to_shell(text: str) -> str:
    """PowerShell text as shell text with the same commands: native programs as they are called, cmdlets that
    delete, read, write, download or evaluate as the POSIX command that does the same."""
    parts: list[str] = []
    piped = False
    for words, sep in _ps_statements(text):
        command = _ps_command(words, piped)
        piped = sep == "|"
        if command is None:
            command = ":"
        parts.append(command + " " + sep)
    return " ".join(parts).rstrip(";| ") if parts else ""


def _powershell(args: list[Word], positional_command: bool = False) -> Unwrapped:
    """`pwsh -Command 'TEXT'`, `pwsh -c …`, `powershell TEXT`: the commands the text runs (see
    `powershell_to_shell`); `-EncodedCommand B64` is decoded (UTF-16LE) and opaque, since it is hidden text;
    `-File F` is a script file (like `bash F`)."""
    kind, code = powershell_code(args, positional_command)
    if code is None or kind in ("", "file"):
        return Unwrapped()
    if len(code.value) > _PS_MAX_TEXT or code.value.count("$(") > _PS_MAX_SUBEXPRESSIONS:
        return Unwrapped(opaque="PowerShell code too long or nested to analyse")
    if kind == "encoded":
        out = Unwrapped(opaque="pwsh runs base64-encoded code (-EncodedCommand)")
        try:
            text = base64.b64decode(code.value + "=" * (-len(code.value) % 4), validate=True).decode("utf-16-le")
        except (ValueError, UnicodeDecodeError):
            return out
        if len(text) > _PS_MAX_TEXT or text.count("$(") > _PS_MAX_SUBEXPRESSIONS:
            return out
        out.scripts.append(Word(powershell_to_shell(text), code.dynamic))
        return out
    if code.value == "-":
        return Unwrapped()  # `-Command -`: from stdin (reads_program_text)
    return Unwrapped(scripts=[Word(powershell_to_shell(code.value), code.dynamic)])


HANDLERS.update({"pwsh": _powershell, "pwsh-preview": _powershell,
                 "powershell": lambda args: _powershell(args, positional_command=True)})
