"""Inline interpreter code (`python3 -c`, `perl -e`, `ruby -e`, `node -e`, `php -r`, awk programs) → the shell
commands it amounts to.

`shell_texts(program, args)` finds, in code given on the command line, literal shell text handed to a shell
(`os.system("…")`, `subprocess.run([…])`, `system "rm", "-rf", "/"`, backticks, `qx{}`, `execSync("…")`, awk
`system("…")`) and file operations written as the shell command that does the same (`shutil.rmtree("/")` is
`rm -rf -- /`, `open("/etc/shadow")` is `cat`). Regexes over the code, not a parser for each language: what
they find is listed beside the interpreter's own command, so a miss costs nothing and a find can only make a
decision stricter. Pure: no I/O.
"""

from __future__ import annotations

import re
import shlex

from bastion.policy.words import Word

CODE_FLAGS = {"python": "c", "perl": "eE", "ruby": "e", "node": "ep", "nodejs": "ep", "php": "r", "lua": "e",
               "bun": "e", "deno": "", "irb": "", "Rscript": "e", "R": "e", "julia": "eE"}
# Option letters that take a value (attached, or the next word): no code flag is looked for after them.
_VALUE_FLAGS = {"python": "WXmQ", "perl": "MmIdDxil0CV", "ruby": "IrECF0iKTWx", "node": "r", "nodejs": "r",
                "php": "dcnz", "lua": "l", "bun": "r", "R": "dfg", "julia": "JHLptC"}
# Long options that hold code (`node --eval CODE`, `julia --eval=CODE`), and long options that take the next
# word as their value (`node --require ./x.js -e CODE`).
_NODE_VALUE = ("--require", "--import", "--loader", "--experimental-loader", "--input-type", "--title",
               "--env-file", "--conditions")
_LONG_CODE = {"node": ("--eval", "--print"), "nodejs": ("--eval", "--print"), "bun": ("--eval", "--print"),
              "julia": ("--eval", "--print")}
_LONG_VALUE = {"node": _NODE_VALUE, "nodejs": _NODE_VALUE, "bun": ("--require", "--preload", "--cwd"),
               "julia": ("--sysimage", "--home", "--load", "--procs", "--threads", "--cpu-target", "--machine-file")}
# Families whose first code option ends the options (the words after it are the program's arguments).
_ONE_CODE = frozenset({"python"})
AWKS = frozenset({"awk", "gawk", "mawk", "nawk"})
_STRING = r'(?:[rbuf]{0,2}"((?:[^"\\]|\\.)*)"|[rbuf]{0,2}\'((?:[^\'\\]|\\.)*)\')'
# A call that hands its string argument to a shell: os.system("…"), subprocess.run("…", shell=True), system "…",
# shell_exec('…'), execSync(`…`) …
_SHELL_CALL = re.compile(
    r"\b(?:os\.system|os\.popen|commands\.getoutput|subprocess\.(?:run|call|check_call|check_output|Popen|getoutput|"
    r"getstatusoutput)|os\.execute|io\.popen|system|shell_exec|passthru|popen|proc_open|execSync|exec|spawnSync|IO\.popen|Open3\.\w+)"
    r"\s*\(?\s*" + _STRING)
# The same with an argv list: subprocess.run(["rm", "-rf", "/"]), spawnSync("rm", ["-rf", "/"]), system("rm", "-rf")
_ARGV_CALL = re.compile(
    r"\b(?:subprocess\.(?:run|call|check_call|check_output|Popen)|os\.exec\w*|spawnSync|spawn|execFileSync|execFile|"
    r"system|exec)\s*\(\s*(?:" + _STRING + r"\s*,\s*)?\[([^\]]*)\]")
_BACKTICKS = re.compile(r"`([^`]*)`|\bqx\s*(?:\{([^}]*)\}|\(([^)]*)\)|/([^/]*)/)|%x\s*(?:\(([^)]*)\)|\{([^}]*)\})")
_AWK_SHELL = re.compile(r'\bsystem\s*\(\s*"((?:[^"\\]|\\.)*)"|"((?:[^"\\]|\\.)*)"\s*\|\s*getline|'
                        r'\|\s*"((?:[^"\\]|\\.)*)"')
# R: system2("rm", c("-rf", "/")) pastes its arguments after the command for a shell; shell()/pipe() run text
_R_SYSTEM2 = re.compile(r"\bsystem2\s*\(\s*" + _STRING + r"(?:\s*,\s*(?:args\s*=\s*)?(?:c\s*\(([^)]{0,2000})\)|"
                        + _STRING + r"))?")
_R_SHELL = re.compile(r"\b(?:shell|pipe)\s*\(\s*(?:cmd\s*=\s*|description\s*=\s*)?" + _STRING)
_R_ARGV = re.compile(r"\b(?:processx::run|sys::exec_wait|sys::exec_internal|sys::exec_background|exec_wait|"
                     r"exec_internal)\s*\(\s*" + _STRING + r"(?:\s*,\s*(?:args\s*=\s*)?c\s*\(([^)]{0,2000})\))?")
# Deno/Bun: new Deno.Command("rm", {args: [...]}), Deno.run({cmd: [...]})
_DENO_ARGV = re.compile(r"\bDeno\.Command\s*\(\s*" + _STRING + r"(?:\s*,\s*\{\s*args\s*:\s*\[([^\]]{0,2000})\])?|"
                        r"\bDeno\.run\s*\(\s*\{\s*cmd\s*:\s*\[([^\]]{0,2000})\]")
_LIST_ITEM = re.compile(_STRING)
_MORE_ITEMS = re.compile(r"\s*,\s*" + _STRING)
# File operations, as the shell command that does the same: shutil.rmtree("/") is `rm -rf -- /`.
_FILE_OPS = (
    (re.compile(r"\b(?:shutil\.rmtree|rmtree|remove_tree|FileUtils\.rm_rf|FileUtils\.rm_r|FileUtils\.remove_dir|"
                r"FileUtils\.remove_entry\w*|rmSync|rmdirSync|fs\.promises\.rm|rimraf(?:\.sync)?)\s*\(?\s*"
                + _STRING), "rm -rf --"),
    (re.compile(r"\b(?:os\.remove|os\.unlink|unlink|File\.delete|FileUtils\.rm|unlinkSync|Path\(" + _STRING
                + r"\)\.unlink)\s*\(?\s*" + _STRING), "rm -f --"),
    (re.compile(r"\b(?:open|File\.open|fopen|writeFileSync|file_put_contents)\s*\(\s*" + _STRING
                + r"\s*,\s*[rbuf]?[\"'](?:w|a|r\+|wb|ab)"), ": >"),
    (re.compile(r"\b(?:open|File\.read|File\.open|fopen|readFileSync|file_get_contents|Path)\s*\(\s*" + _STRING),
     "cat --"),
)
_R_FILE_OPS = (
    (re.compile(r"\bunlink\s*\(\s*(?:x\s*=\s*)?" + _STRING + r"[^)]{0,2000}\brecursive\s*=\s*(?:TRUE|T)\b"), "rm -rf --"),
    (re.compile(r"\bfile\.remove\s*\(\s*" + _STRING), "rm -f --"),
    (re.compile(r"\b(?:readLines|readRDS|readChar|read\.\w+|scan|file)\s*\(\s*(?:file\s*=\s*|con\s*=\s*)?"
                + _STRING), "cat --"),
    (re.compile(r"\bfile\s*\(\s*" + _STRING + r"\s*,\s*(?:open\s*=\s*)?[\"'][wa]"), ": >"),
)
_JULIA_FILE_OPS = (
    (re.compile(r"\brm\s*\(\s*" + _STRING + r"[^)]{0,2000}\brecursive\s*=\s*true\b"), "rm -rf --"),
    (re.compile(r"\brm\s*\(\s*" + _STRING), "rm -f --"),
    (re.compile(r"\b(?:read|readlines|readchomp|eachline)\s*\(\s*" + _STRING), "cat --"),
    (re.compile(r"\bwrite\s*\(\s*" + _STRING), ": >"),
)
# Perl's and Ruby's quote-like operators (`q(…)`, `qq{…}`, `q!…!`, `%q(…)`, `%Q{…}`, `%(…)`): read as the plain
# string they are, so `system q(rm -rf /)` is `system "rm -rf /"` to the patterns above.
_QUOTE_LIKE = re.compile(r"(?:(?<![\w$@%&])qq?|%[qQ]?)\s*(?:\(([^()]*)\)|\{([^{}]*)\}|\[([^\[\]]*)\]|<([^<>]*)>|"
                         r"!([^!]*)!|\|([^|]*)\||#([^#]*)#|/([^/]*)/)")


def _plain_strings(text: str) -> str:
    return _QUOTE_LIKE.sub(lambda m: '"' + next(g for g in m.groups() if g is not None).replace("\\", "\\\\")
                           .replace('"', '\\"') + '"', text)


_ESCAPE = re.compile(r"\\(.)", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def inline_code(program: str, args: list[Word]) -> Word | None:
    """The program text an interpreter runs from its command line (`python3 -c CODE`, `perl -e CODE`, awk's first
    operand), when it is given there."""
    base = program.rstrip("0123456789.")
    if program in AWKS:
        i = 0
        while i < len(args):
            a = args[i].value
            if a in ("-F", "-v", "-W") and i + 1 < len(args):
                i += 2
                continue
            if a == "-f" or a.startswith("--file"):
                return None
            if a.startswith("-") and len(a) > 1:
                i += 1
                continue
            return args[i]
        return None
    flags = CODE_FLAGS.get(base)
    if flags is None:
        return None
    if base == "deno":  # `deno eval [opts] CODE`
        if args and args[0].value == "eval":
            return next((a for a in args[1:] if not a.value.startswith("-")), None)
        return None
    valued = _VALUE_FLAGS.get(base, "")
    long_code, long_value = _LONG_CODE.get(base, ()), _LONG_VALUE.get(base, ())
    codes: list[Word] = []
    i = 0
    while i < len(args) and not (codes and base in _ONE_CODE):
        v = args[i].value
        if v == "--" or v == "-" or not v.startswith("-"):
            break  # a script file or stdin (or, after code, the code's own arguments)
        i += 1
        if v.startswith("--"):
            name, eq, value = v.partition("=")
            if name in long_code:
                if eq:
                    codes.append(Word(value, args[i - 1].dynamic))
                elif i < len(args):
                    codes.append(args[i])
                    i += 1
            elif name in long_value and not eq:
                i += 1
            continue
        for k, ch in enumerate(v[1:], 1):
            if ch in flags:
                if k + 1 < len(v):
                    codes.append(Word(v[k + 1:], args[i - 1].dynamic))
                elif i < len(args):
                    codes.append(args[i])
                    i += 1
                break
            if ch in valued:
                if k + 1 == len(v):
                    i += 1  # `-W ignore`, `-M strict`: the value is the next word
                break
    if len(codes) <= 1:
        return codes[0] if codes else None
    # `perl -e A -e B`, `Rscript -e A -e B`: the pieces run as one program
    return Word("\n".join(c.value for c in codes), any(c.dynamic for c in codes))


def shell_texts(program: str, args: list[Word]) -> list[str]:
    """Shell text that inline interpreter code hands to a shell, when it is a literal string there:
    `python3 -c 'import os; os.system("rm -rf /")'`, `perl -e 'system "rm -rf /"'`, `awk 'BEGIN{system("…")}'`.
    File operations count as the shell command that does the same (`shutil.rmtree("/")` is `rm -rf -- /`,
    `open("/etc/shadow")` is `cat`). The commands found are listed beside the interpreter's own: they can only
    add to the line's decision, never take from it."""
    code = inline_code(program, args)
    if code is None or code.dynamic:
        return []
    texts: list[str] = []
    text = code.value
    if program.rstrip("0123456789.") in ("perl", "ruby"):
        text = _plain_strings(text)
    if program in AWKS:
        texts += [_unescape(next(g for g in m.groups() if g is not None)) for m in _AWK_SHELL.finditer(text)]
    else:
        for m in _SHELL_CALL.finditer(text):
            first = _unescape(m.group(1) if m.group(1) is not None else m.group(2))
            more, pos = [], m.end()
            while (item := _MORE_ITEMS.match(text, pos)) is not None:  # perl's `system "rm", "-rf", "/"`
                more.append(_unescape(item.group(1) if item.group(1) is not None else item.group(2)))
                pos = item.end()
            texts.append(" ".join(shlex.quote(x) for x in [first, *more]) if more else first)
        for m in _ARGV_CALL.finditer(text):
            head = [g for g in m.groups()[:2] if g is not None]
            items = [_unescape(x.group(1) if x.group(1) is not None else x.group(2))
                     for x in _LIST_ITEM.finditer(m.group(3))]
            texts.append(" ".join(shlex.quote(x) for x in [*(_unescape(h) for h in head), *items]))
        family = program.rstrip("0123456789.")
        if family in ("perl", "ruby", "php", "julia"):  # julia's `cmd` literals are the commands `run` runs
            texts += [next(g for g in m.groups() if g is not None) for m in _BACKTICKS.finditer(text)]
        if family in ("R", "Rscript"):
            texts += _r_texts(text)
        if family in ("deno", "bun", "node", "nodejs"):
            for m in _DENO_ARGV.finditer(text):
                head = [_unescape(g) for g in m.groups()[:2] if g is not None]
                items = m.group(3) if m.group(3) is not None else (m.group(4) or "")
                argv = head + [_unescape(x.group(1) if x.group(1) is not None else x.group(2))
                               for x in _LIST_ITEM.finditer(items)]
                texts.append(" ".join(shlex.quote(x) for x in argv))
        extra = _R_FILE_OPS if family in ("R", "Rscript") else _JULIA_FILE_OPS if family == "julia" else ()
        for rx, command in (*_FILE_OPS, *extra):
            for m in rx.finditer(text):
                path = _unescape(next(g for g in reversed(m.groups()) if g is not None))
                texts.append(f"{command} {shlex.quote(path)}")
    return texts


def _r_texts(text: str) -> list[str]:
    """R: `system2("rm", c("-rf", "/"))` is the shell text `'rm' -rf /` (the arguments are pasted unquoted),
    `shell("…")`/`pipe("…")` run text, `processx::run("rm", c("-rf", "/"))` runs argv."""
    out: list[str] = []
    for m in _R_SYSTEM2.finditer(text):
        command = _unescape(m.group(1) if m.group(1) is not None else m.group(2))
        if m.group(3) is not None:
            rest = [_unescape(x.group(1) if x.group(1) is not None else x.group(2))
                    for x in _LIST_ITEM.finditer(m.group(3))]
        else:
            rest = [_unescape(g) for g in m.groups()[3:5] if g is not None]
        out.append(" ".join([shlex.quote(command), *rest]))
    for m in _R_SHELL.finditer(text):
        out.append(_unescape(m.group(1) if m.group(1) is not None else m.group(2)))
    for m in _R_ARGV.finditer(text):
        argv = [_unescape(m.group(1) if m.group(1) is not None else m.group(2))]
        argv += [_unescape(x.group(1) if x.group(1) is not None else x.group(2))
                 for x in _LIST_ITEM.finditer(m.group(3) or "")]
        out.append(" ".join(shlex.quote(x) for x in argv))
    return out
