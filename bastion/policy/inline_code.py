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
               "bun": "e", "deno": "", "irb": ""}
# Option letters that take a value (attached, or the next word): no code flag is looked for after them.
_VALUE_FLAGS = {"python": "WXmQ", "perl": "MmIdDxil0CV", "ruby": "IrECF0iKTWx", "node": "r", "nodejs": "r",
                "php": "dcnz", "lua": "l", "bun": "r"}
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
    valued = _VALUE_FLAGS.get(base, "")
    i = 0
    while i < len(args):
        v = args[i].value
        if v == "--" or v == "-" or not v.startswith("-"):
            return None  # a script file or stdin: the text is not on the line
        i += 1
        if v.startswith("--"):
            continue
        for k, ch in enumerate(v[1:], 1):
            if ch in flags:
                if k + 1 < len(v):
                    return Word(v[k + 1:], args[i - 1].dynamic)
                return args[i] if i < len(args) else None
            if ch in valued:
                if k + 1 == len(v):
                    i += 1  # `-W ignore`, `-M strict`: the value is the next word
                break
    return None


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
        if program.rstrip("0123456789.") in ("perl", "ruby", "php"):
            texts += [next(g for g in m.groups() if g is not None) for m in _BACKTICKS.finditer(text)]
        for rx, command in _FILE_OPS:
            for m in rx.finditer(text):
                path = _unescape(next(g for g in reversed(m.groups()) if g is not None))
                texts.append(f"{command} {shlex.quote(path)}")
    return texts
