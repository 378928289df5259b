"""Command line → every simple command that could run, normalised and unwrapped.

`parse_command_line(text)` is the one entry point. It parses with **tree-sitter-bash**, walks the tree and
returns a `ParsedLine` holding one `SimpleCommand` per command that could run: pipeline members, list
members (`;` `&&` `||` `&` newline), subshells, `$(...)`, backticks, `<(...)`/`>(...)`, `if`/`for`/
`while`/`case` bodies, inline function bodies, and the commands that wrappers run (`sudo`, `env`,
`xargs`, `find -exec`, `bash -c '...'`, `eval`, `su -c`, `watch`, `ssh host cmd` ...). Wrappers are
listed too, so rules can speak about `sudo` itself.

Why tree-sitter-bash and not bashlex (both evaluated here):
- speed: ~0.011 ms to parse a short command against bashlex's ~0.7 ms; the decision budget is 0.15 ms.
- robustness: tree-sitter never raises; broken input yields `ERROR`/`MISSING` nodes, which we turn into
  an opaque marker while still seeing the commands around them (`rm -rf / "unterminated` is still denied).
  bashlex raises on much valid Bash (`case` fall-throughs, `[[ ]]` with regexes, arithmetic `(( ))`,
  `coproc`, many here-doc forms) and on every partial line, so it would make ordinary commands opaque.
- coverage: tree-sitter-bash models here-docs, here-strings, process substitution, ANSI-C strings,
  `${...}` operators and brace sequences as distinct nodes, which normalisation needs.
Known tree-sitter-bash quirks handled here: `\\<newline>` continuations split words (we remove them
before parsing), nested escaped backticks are not parsed (we re-parse backtick bodies ourselves), and
`cmd 2>/dev/null arg` attaches `arg` to the redirect (we move it back to argv).

Opaque (program text that cannot be known statically) is marked per command with a reason: a program name
from a variable or substitution, `eval`/`bash -c` of non-literal text, a shell or interpreter reading its
program from stdin, a here-doc/here-string, a pipe or a file descriptor (`curl ... | sh`, `source <(...)`),
parse errors, and inputs over the size or complexity budget. When such text *is* visible (a literal
here-doc, `echo '...' | base64 -d | sh`, `a=rm; $a ...`) it is parsed too, and its commands keep the opaque
mark: the guess can only make a decision stricter, never allow it.

Pure: no I/O, no global state besides a per-thread parser.
"""

from __future__ import annotations

import base64
import fnmatch
import binascii
import posixpath
import re
import shlex
import threading
from dataclasses import dataclass, replace

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from bastion.policy.words import Word, WordBuilder, decode_ansi_c
from bastion.policy.downloads import DOWNLOADERS, written_files
from bastion.policy.inline_code import inline_code
from bastion.policy.envvars import assignment_commands, assignment_opaque, command_variable
from bastion.policy.runners import STDIN_MARK
from bastion.policy.wrappers import (INTERPRETERS, SHELLS, WRAPPER_NAMES, canonical_program, find_roots_start,
                                     reads_program_text, unwrap)

MAX_LINE_BYTES = 64 * 1024   # larger command lines are opaque without parsing
MAX_NODES = 10_000           # tree nodes visited per line (including re-parsed scripts)
MAX_COMMANDS = 1_000         # simple commands per line
MAX_DEPTH = 120              # nesting depth of the walk (1,000 nested `$(` stop here)
MAX_LOOP_VALUES = 16         # a `for` body is walked once per literal value, up to this many
MAX_SCRIPTS = 64             # nested scripts re-parsed per line (`bash -c "bash -c ..."`)

_STDIN_VARIABLE = "__bastion_stdin_word"  # stands for a word only read from stdin at run time
_PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "~/bin", "~/.local/bin")
_BRACKET_PATTERN = re.compile(r"\[[^\]]+\]")
_BRACE_WORD = re.compile(r"(^|[;&|(\s])\{(?=[^\s}])")
_LANGUAGE = Language(tree_sitter_bash.language())
_local = threading.local()

_SETTING_BUILTINS = frozenset({"read", "printf", "mapfile", "readarray"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROC_ALIAS = re.compile(r"/proc/(?:self|thread-self|\d+)(?:/task/(?:\d+|self))?/(?:root|cwd)(?=/|$)")
_SAVING_DOWNLOADERS = DOWNLOADERS - {"scp", "rsync", "nc", "ncat", "netcat", "socat", "tftp", "ftp"}
_DD_PROGRAMS = frozenset({"dd", "dcfldd", "dc3dd", "sdd", "sg_dd", "ddrescue"})
_WRITE_OPS = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})
_STATEMENT_NODES = frozenset({"command", "pipeline", "list", "redirected_statement", "subshell",
                              "compound_statement", "if_statement", "for_statement", "while_statement",
                              "case_statement", "function_definition", "negated_command",
                              "declaration_command", "unset_command", "variable_assignment",
                              "c_style_for_statement", "test_command", "variable_assignments"})


@dataclass(frozen=True)
class Redirect:
    """One redirection: operator (`>`, `>>`, `<`, `<<`, `<<<`, `&>` ...), its target and fd."""

    op: str
    target: str
    fd: int | None = None
    dynamic: bool = False

    @property
    def writes(self) -> bool:
        return self.op in _WRITE_OPS and not self.target.isdigit() and self.target != "-"

    @property
    def reads(self) -> bool:
        return self.op in ("<", "<>")


@dataclass(frozen=True)
class _Written:
    """What is known of a file a command on the line wrote."""

    downloader: str = ""     # the program that downloaded it
    text: str | None = None  # the literal text written to it


@dataclass(frozen=True)
class SimpleCommand:
    """One command that could run, after quote removal, expansion of what is static, and unwrapping."""

    program: str                        # normalised basename (`rm`); "" when unknown
    path: str                           # the program as written, unquoted (`/usr/bin/rm`, `$a`)
    args: tuple[str, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    wrappers: tuple[str, ...] = ()      # wrapper chain it came through, outermost first (`sudo`, `env`)
    opaque: bool = False
    opaque_reason: str = ""
    dynamic_args: bool = False          # an argument is only known at run time (`$x`, `$(...)`, xargs)
    dynamic_paths: tuple[str, ...] = () # arguments whose leading part is unknown (`$dir/x`)
    is_wrapper: bool = False            # it runs another command, listed separately
    starts_shell: bool = False          # an interactive shell as another user (`sudo -i`, `su`)
    fed_by: tuple[str, ...] = ()        # programs whose output reaches its stdin or arguments
    pipes_to: tuple[str, ...] = ()      # programs later in its pipeline (its output goes there)
    stdin_data: str | None = None       # literal data on its stdin, when known (here-doc, `echo ... |`)
    recursive: bool = False             # calls the inline function it is defined in (`:(){ :|:& };:`)
    span: tuple[int, int] = (0, 0)      # character offsets of the source on the submitted line
    cwd: str | None = None              # working directory an earlier `cd` on the line set, when literal

    @property
    def argv(self) -> tuple[str, ...]:
        return (self.path, *self.args)

    def display(self) -> str:
        """The normalised simple command, as rules with `command_regex` see it."""
        return " ".join(_quote(a) for a in (self.program or self.path, *self.args))


@dataclass(frozen=True)
class ParsedLine:
    """Every simple command of one submitted line."""

    text: str
    commands: tuple[SimpleCommand, ...]

    @property
    def opaque(self) -> bool:
        return any(c.opaque for c in self.commands)

    @property
    def opaque_reasons(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.opaque_reason for c in self.commands if c.opaque))


_SAFE_WORD = re.compile(r"[\w\-./=:,+@%^~*?\[\]{}]+")


def _quote(arg: str) -> str:
    if _SAFE_WORD.fullmatch(arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def _parser() -> Parser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = Parser(_LANGUAGE)
    return parser


_FOUR_BYTE_LEAD = re.compile(rb"[\xf0-\xf7]")


def _crashes_parser(source: bytes) -> bool:
    """tree-sitter-bash 0.25 can crash the process (SIGSEGV) on a `{` followed, anywhere later, by a 4-byte
    UTF-8 character (tree-sitter/tree-sitter-bash#337; our own property test found it). One agent's command
    must not take the gateway down, so such text is never handed to the parser: it is opaque instead."""
    brace = source.find(b"{")
    return brace >= 0 and _FOUR_BYTE_LEAD.search(source, brace + 1) is not None


def _opaque_line(text: str, reason: str) -> ParsedLine:
    return ParsedLine(text, (SimpleCommand("", "", opaque=True, opaque_reason=reason, span=(0, len(text))),))


def parse_command_line(text: str) -> ParsedLine:
    """Parse one submitted command line (newlines allowed). Never raises on any input."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        return _opaque_line(text, "invalid UTF-8 in the command line")
    if len(raw) > MAX_LINE_BYTES:
        return _opaque_line(text, f"command line longer than {MAX_LINE_BYTES} bytes")
    if "\x00" in text:
        return _opaque_line(text, "NUL byte in the command line")
    try:
        walker = _Walker()
        walker.script(text, _Context(span=None))
        commands = walker.commands
    except RecursionError:
        return _opaque_line(text, "command line nested too deeply")
    except Exception as exc:  # noqa: BLE001 - INVARIANT: a parser bug must yield opaque, never allow
        return _opaque_line(text, f"internal parser error: {type(exc).__name__}")
    return ParsedLine(text, tuple(commands))


def remove_line_continuations(text: str) -> str:
    """Drop `\\<newline>` outside single quotes (bash joins the lines; tree-sitter splits words there)."""
    if "\\\n" not in text:
        return text
    out: list[str] = []
    i, n, quote = 0, len(text), ""
    while i < n:
        c = text[i]
        if quote == "'":
            out.append(c)
            if c == "'":
                quote = ""
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            if text[i + 1] == "\n":
                i += 2
                continue
            out.append(text[i:i + 2])
            i += 2
            continue
        if c == "'" and quote == "":
            quote = "'"
        elif c == '"':
            quote = "" if quote == '"' else '"'
        out.append(c)
        i += 1
    return "".join(out)


class _Context:
    """What the walk knows about where it is: wrapper chain, stdin, inherited redirects, opaque cause.

    Immutable by convention: `child(...)` returns a changed copy (a plain slotted class, because this is
    copied on the hot path and dataclasses.replace is several times slower).
    """

    __slots__ = ("span", "wrappers", "stdin_text", "stdin_kind", "redirects", "force_opaque", "fed_by",
                 "function", "depth", "piped_paths")

    def __init__(self, span: tuple[int, int] | None) -> None:
        self.span = span                               # span on the top-level line, fixed once set
        self.wrappers: tuple[str, ...] = ()
        self.stdin_text: Word | None = None            # literal data fed to stdin (here-doc, echo | ...)
        self.stdin_kind = ""                           # "pipe", "heredoc", "herestring", "file" or ""
        self.redirects: tuple[Redirect, ...] = ()
        self.force_opaque = ""                         # every command found here is opaque for this reason
        self.fed_by: tuple[str, ...] = ()              # programs feeding stdin/arguments of commands here
        self.function = ""                             # name of the inline function whose body this is
        self.depth = 0                                 # wrapper / nested-script depth
        self.piped_paths: tuple[str, ...] = ()         # `find ROOTS … |`: the paths its output lists

    def child(self, **changes) -> "_Context":  # noqa: ANN003
        new = object.__new__(_Context)
        for name in _Context.__slots__:
            setattr(new, name, getattr(self, name))
        new.depth = self.depth + 1
        for name, value in changes.items():
            setattr(new, name, value)
        return new


class _Walker:
    """Walks tree-sitter trees (the line and any re-parsed scripts), collecting SimpleCommands."""

    def __init__(self) -> None:
        self.commands: list[SimpleCommand] = []
        self.variables: dict[str, str] = {}
        # Where an earlier literal `cd` on the line went (`cd / && rm -rf bin`). Tracked in order, like
        # variables, without subshell scoping: rules only use it to deny or review more, never to allow.
        self.cwd: str | None = None
        # Set once a `cd` went somewhere unknown that need not be below the starting directory (`cd $d`,
        # `cd ../..`): relative paths after it are then paths only known at run time.
        self.cwd_lost = False
        # Set once a relative `cd` may have been looked up through CDPATH (`CDPATH=/ cd etc`): the directory
        # can be anywhere, so a relative path after it makes the command opaque.
        self.cwd_opaque = False
        self.cdpath = False   # a CDPATH assignment was seen on the line
        # Files written earlier on the line (resolved path → what is known of them): a downloader's name, or
        # the literal text `echo`/`printf`/`cat <<EOF` put there. A later command that runs one is seen
        # running the download (`curl -o i.sh URL && sh i.sh`) or that text (`echo 'rm -rf /' > x; sh x`).
        self.written: dict[str, _Written] = {}
        self.written_names: dict[str, list[str]] = {}  # file name -> the written paths with that name
        self.nodes = 0
        self.depth = 0  # recursion depth of the tree walk (ctx.depth counts wrapper/script nesting)
        self.scripts = 0
        self._budget_hit = False

    # --- scripts ---------------------------------------------------------------------------------
    def script(self, text: str, ctx: _Context) -> None:
        self.scripts += 1
        if self.scripts > MAX_SCRIPTS:
            return self._opaque(ctx, "too many nested scripts", (0, len(text)))
        clean = remove_line_continuations(text)
        source = clean.encode("utf-8", "surrogatepass")
        if _crashes_parser(source):
            return self._opaque(ctx, "characters the shell parser cannot read safely", (0, len(text)))
        tree = _parser().parse(source)
        if tree.root_node.has_error and b"{" in source:
            # `{rm,-rf,/}` is a brace-expanded word in bash, but tree-sitter reads `{` as a group. Retry
            # with an empty quoted prefix (`""{rm,-rf,/}`), which bash expands the same way.
            retry = _BRACE_WORD.sub(r'\1""{', clean).encode("utf-8", "surrogatepass")
            retry_tree = _parser().parse(retry)
            if not retry_tree.root_node.has_error:
                source, tree, clean = retry, retry_tree, ""
        builder = WordBuilder(source, self.variables, self._substitution_output)
        # Offsets are only meaningful on the top-level line; nested scripts keep the outer span.
        self._walk(tree.root_node, ctx, builder, source, top=ctx.span is None and clean == text)

    def _opaque(self, ctx: _Context, reason: str, span: tuple[int, int]) -> None:
        self.commands.append(SimpleCommand("", "", wrappers=ctx.wrappers, opaque=True, opaque_reason=reason,
                                           span=ctx.span or span))

    def _span(self, node: Node, source: bytes, ctx: _Context, top: bool) -> tuple[int, int]:
        if ctx.span is not None:
            return ctx.span
        if not top:
            return (0, len(source.decode("utf-8", "replace")))
        start = len(source[:node.start_byte].decode("utf-8", "replace"))
        return (start, start + len(source[node.start_byte:node.end_byte].decode("utf-8", "replace")))

    # --- the tree walk ---------------------------------------------------------------------------
    def _walk(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes, top: bool) -> None:
        self.depth += 1
        try:
            self._walk_node(node, ctx, b, src, top)
        finally:
            self.depth -= 1

    def _walk_node(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes, top: bool) -> None:  # noqa: C901
        self.nodes += 1
        if self.nodes > MAX_NODES or ctx.depth + self.depth > MAX_DEPTH:
            if not self._budget_hit:
                self._budget_hit = True
                self._opaque(ctx, "command line too complex to analyse", self._span(node, src, ctx, top))
            return
        kind = node.type
        if kind == "ERROR" or node.is_missing:
            self._opaque(ctx, "shell syntax error", self._span(node, src, ctx, top))
        if kind == "comment":
            return
        if kind == "command":
            return self._command(node, ctx, b, src, top)
        if kind == "redirected_statement":
            return self._redirected(node, ctx, b, src, top)
        if kind == "pipeline":
            return self._pipeline(node, ctx, b, src, top)
        if kind == "for_statement":
            return self._for(node, ctx, b, src, top)
        if kind == "variable_assignment":
            self._assignment(node, b)
            # A bare `NAME=value` is listed as the pseudo-program `=` so rules can see it (HISTFILE=...).
            span = self._span(node, src, ctx, top)
            self._assignment_value_check(node, b, ctx, span)
            self.commands.append(self._finish(SimpleCommand("=", "=", (_assignment_text(node, b),)), ctx, span))
            self._assigned_command(node, b, ctx, span, "=")
        elif kind in ("declaration_command", "unset_command"):
            self._declaration(node, ctx, b, src, top)
        elif kind == "function_definition":
            name = node.child_by_field_name("name")
            ctx = ctx.child(function=b.text(name) if name is not None else "")
        elif kind == "command_substitution" and src[node.start_byte:node.start_byte + 1] == b"`":
            return self._backticks(node, ctx, b, src, top)
        elif kind == "process_substitution" or kind == "command_substitution":
            # Its output feeds the outer command; its own stdin is not the outer one.
            ctx = ctx.child(stdin_text=None, stdin_kind="", redirects=())
            if kind == "command_substitution" and node.named_children and all(
                    c.type == "file_redirect" for c in node.named_children):
                # `$(< /etc/shadow)`: bash reads the file itself, like `$(cat /etc/shadow)`
                span = self._span(node, src, ctx, top)
                for child in node.named_children:
                    r, _extra, _text = self._redirect(child, ctx, b, src, top)
                    if r.op == "<":
                        self._emit([Word("cat"), Word(r.target, r.dynamic, r.dynamic)], ctx, span)
                return
        self._walk_children(node, ctx, b, src, top)

    def _for(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes, top: bool) -> None:
        """`for f in / /etc; do rm -rf "$f"; done`: the body is walked once per literal value, with `$f` set."""
        var, body = node.child_by_field_name("variable"), node.child_by_field_name("body")
        value_nodes = node.children_by_field_name("value")
        for child in value_nodes:
            self._walk_embedded(child, ctx, b, src, top)
        if var is None or body is None:
            return self._walk_children(node, ctx, b, src, top)
        name = b.text(var)
        words = [w for child in value_nodes for w in b.words(child)]
        if not value_nodes or not words or len(words) > MAX_LOOP_VALUES or any(w.dynamic for w in words):
            self.variables.pop(name, None)  # `for f in $(ls)`, `for f; do` ("$@"): only known at run time
            return self._walk(body, ctx, b, src, top)
        for w in words:
            self.variables[name] = w.value
            self._walk(body, ctx, b, src, top)

    def _walk_children(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes, top: bool) -> None:
        for child in node.children:
            if child.child_count or child.type == "ERROR" or child.is_missing:
                self._walk(child, ctx, b, src, top)

    def _walk_embedded(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes, top: bool) -> None:
        """Find substitutions inside a word (`$(...)`, backticks, `<(...)`) and walk them."""
        if node.type in ("command_substitution", "process_substitution"):
            return self._walk(node, ctx, b, src, top)
        if node.type == "expansion" and src[node.end_byte - 3:node.end_byte] == b"@P}":
            self._prompt_expansion(node, ctx, b, src, top)
        if node.type == "ERROR" or node.is_missing:
            self._opaque(ctx, "shell syntax error", self._span(node, src, ctx, top))
        self.depth += 1
        try:
            for child in node.children:
                if child.child_count:
                    self.nodes += 1
                    if ctx.depth + self.depth > MAX_DEPTH or self.nodes > MAX_NODES:
                        return self._walk(child, ctx, b, src, top)  # reports the budget once
                    self._walk_embedded(child, ctx, b, src, top)
        finally:
            self.depth -= 1

    def _prompt_expansion(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes, top: bool) -> None:
        """`${x@P}` expands x like a prompt: command substitutions in its value run."""
        names = [c for c in node.named_children if c.type == "variable_name"]
        span = self._span(node, src, ctx, top)
        value = self.variables.get(b.text(names[0])) if names else None
        if value is None:
            return self._opaque(ctx, "${x@P} prompt-expands a value only known at run time", span)
        if "$(" in value or "`" in value:
            self._nested(Word(value), ctx, span, "${x@P}", "${x@P} runs the command substitutions in a value")

    def _evaluable_value(self, name: str, value: Word, ctx: _Context, span: tuple[int, int]) -> None:
        """`a='x[$(rm -rf /)]'`: an arithmetic context (`$((a))`, `(( a ))`, `let a`, `[[ a -eq 0 ]]`), a name
        context (`[[ -v $a ]]`, `printf -v "$a"`, `read "$a"`, `declare "$a"=`, `unset "$a"`) or `${!a}` evaluates
        the array subscript in such a value, which runs the command substitution. Seen as run, opaque."""
        text = value.value
        if value.dynamic or "[" not in text or ("$(" not in text and "`" not in text):
            return
        self._nested(Word(text[text.index("["):]), ctx, span, name,
                     f"the value of {name} holds a command substitution in an array subscript, which arithmetic "
                     "and name contexts run")

    def _heredoc_backticks(self, text: str, ctx: _Context, span: tuple[int, int]) -> None:
        """Backticks in an unquoted here-document run, like `$(...)` there (tree-sitter shows no node)."""
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == "`":
                j = i + 1
                while j < n and text[j] != "`":
                    j += 2 if text[j] == "\\" else 1
                inner = text[i + 1:j]
                inner = inner.replace("\\\\", "\x00b").replace("\\`", "`").replace("\\$", "$").replace("\x00b", "\\")
                self.script(inner, ctx.child(span=span, stdin_text=None, stdin_kind="", redirects=()))
                i = j + 1
                continue
            i += 1

    def _backticks(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes, top: bool) -> None:
        inner = src[node.start_byte + 1:node.end_byte - 1].decode("utf-8", "replace")
        # Inside backticks, `\\`, `\`` and `\$` lose their backslash before the body is parsed.
        inner = inner.replace("\\\\", "\x00b").replace("\\`", "`").replace("\\$", "$").replace("\x00b", "\\")
        self.script(inner, ctx.child(span=self._span(node, src, ctx, top), stdin_text=None, stdin_kind="",
                                     redirects=()))

    def _assignment(self, node: Node, b: WordBuilder) -> None:
        name = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        if name is None:
            return
        key = b.text(name)
        if key == "CDPATH":
            self.cdpath = True
        words = b.words(value) if value is not None else [Word("")]
        if len(words) == 1 and not words[0].dynamic:
            self.variables[key] = words[0].value
        else:
            self.variables.pop(key, None)

    def _declaration(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes, top: bool) -> None:
        keyword = node.children[0].type if node.children else "declare"
        args: list[str] = []
        quoted: list[Word] = []  # `export 'NAME=value'`, `export NA''ME=…`, `export {A,B}=…`, `export $x=…`
        children = node.children[1:]
        for k, child in enumerate(children):
            if k and child.start_byte == children[k - 1].end_byte or k + 1 < len(children) and \
                    children[k + 1].start_byte == child.end_byte:
                continue  # one word tree-sitter split in parts (`LD''_PRELOAD=x`): joined below
            if child.type == "variable_assignment":
                self._assignment(child, b)
                args.append(_assignment_text(child, b))
            else:
                self._walk_embedded(child, ctx, b, src, top)
                words = b.words(child)
                args.extend(w.value for w in words)
                if keyword != "unset":
                    quoted.extend(w for w in words if "=" in w.value or w.dynamic_prefix)
        for words in self._joined_words(children, ctx, src):
            args.extend(w.value for w in words)
            if keyword != "unset":
                quoted.extend(w for w in words if "=" in w.value or w.dynamic_prefix)
        span = self._span(node, src, ctx, top)
        self.commands.append(self._finish(SimpleCommand(keyword, keyword, tuple(args)), ctx, span))
        for child in node.children[1:]:
            if child.type == "variable_assignment":
                self._assignment_value_check(child, b, ctx, span)
                self._assigned_command(child, b, ctx, span, keyword)
        for word in quoted:
            self._word_assignment(word, ctx, span, keyword)

    def _joined_words(self, children: list[Node], ctx: _Context, src: bytes) -> list[list[Word]]:
        """Words of a declaration that tree-sitter-bash split into adjacent nodes (`export LD''_PRELOAD=x`,
        `export HIST{FILE,SIZE}=0` start with a bare name node): read again as one argument."""
        out: list[list[Word]] = []
        k = 0
        while k < len(children):
            j = k
            while j + 1 < len(children) and children[j + 1].start_byte == children[j].end_byte:
                j += 1
            if j > k:
                text = src[children[k].start_byte:children[j].end_byte]
                source = b": " + text
                tree = _parser().parse(source)
                builder = WordBuilder(source, self.variables, self._substitution_output)
                command = tree.root_node.named_children[0] if tree.root_node.named_children else None
                if tree.root_node.has_error or command is None or command.type != "command":
                    out.append([Word(text.decode("utf-8", "replace"), True, True)])
                else:
                    out.append([w for arg in command.children_by_field_name("argument") for w in builder.words(arg)])
            k = j + 1
        return out

    def _word_assignment(self, word: Word, ctx: _Context, span: tuple[int, int], via: str) -> None:
        """An assignment the shell only sees after quote removal or expansion (`export 'PAGER=CMD'`, `read
        NAME`, `printf -v NAME`): the same variable rules as a plain `NAME=value`."""
        name, eq, value = word.value.partition("=")
        base = name.split("[", 1)[0].rstrip("+")
        if word.dynamic_prefix or (word.dynamic and not _NAME.fullmatch(base)):
            return self._opaque(ctx, f"{via} sets a variable whose name is only known at run time", span)
        if not _NAME.fullmatch(base):
            return
        if not eq:
            return
        val = Word(value, word.dynamic, False, word.procsub, word.resolved)
        if val.dynamic:
            self.variables.pop(base, None)
        else:
            self.variables[base] = value
        if base == "CDPATH":
            self.cdpath = True
        self._evaluable_value(base, val, ctx, span)
        if command_variable(base):
            self._run_assignment(base, val, ctx, span, via)

    def _assignment_value_check(self, node: Node, b: WordBuilder, ctx: _Context, span: tuple[int, int]) -> None:
        named = _assigned_word(node, b)
        if named is not None:
            self._evaluable_value(named[0], named[1], ctx, span)

    def _builtin_assignments(self, cmd: SimpleCommand, args: list[Word], ctx: _Context,
                             span: tuple[int, int]) -> None:
        """`read NAME <<< VALUE`, `printf -v NAME FMT ARGS`, `mapfile NAME`: variables set by a builtin, listed
        as the pseudo-command `=` (so the history and environment rules see them)."""
        program = cmd.program
        names: list[Word] = []
        value: str | None = None
        if program == "printf":
            for i, a in enumerate(args[:-1]):
                if a.value == "-v":
                    names = [args[i + 1]]
                    rest = args[i + 2:]
                    if rest and not any(w.dynamic for w in rest):
                        value = _echo_output("printf", [w.value for w in rest])
                    break
                if not a.value.startswith("-") or a.value == "--":
                    break
            if not names:
                return
        else:
            letters = "adinNptu" if program == "read" else "dnOsuCc"
            i = 0
            while i < len(args):
                v = args[i].value
                if v == "--":
                    names.extend(args[i + 1:])
                    break
                if v.startswith("-") and len(v) > 1 and not args[i].dynamic:
                    for k, ch in enumerate(v[1:]):
                        if ch in letters:
                            if ch == "a" and program == "read":
                                names.append(args[i + 1] if k == len(v) - 2 and i + 1 < len(args)
                                             else Word(v[k + 2:]))
                            if k == len(v) - 2:
                                i += 1
                            break
                    i += 1
                    continue
                names.append(args[i])
                i += 1
            if not names and program == "read":
                names = [Word("REPLY")]
            if ctx.stdin_text is not None and not ctx.stdin_text.dynamic and ctx.stdin_kind in (
                    "herestring", "heredoc", "pipe"):
                value = ctx.stdin_text.value.split("\n", 1)[0].strip() if program == "read" else ctx.stdin_text.value
        for i, name in enumerate(names):
            part = value
            if value is not None and program == "read" and len(names) > 1:
                split = value.split(None, len(names) - 1)
                part = split[i] if i < len(split) else ""
            if name.dynamic:
                self._word_assignment(Word(name.value + "=", True, True), ctx, span, program)
                continue
            self.commands.append(self._finish(SimpleCommand("=", "=", (name.value + "=" + (part or ""),)), ctx, span))
            if part is None:
                self.variables.pop(name.value, None)
                if command_variable(name.value):
                    self._opaque(ctx, f"{program} sets {name.value} to a value only known at run time", span)
            else:
                self._word_assignment(Word(name.value + "=" + part), ctx, span, program)

    def _assigned_command(self, node: Node, b: WordBuilder, ctx: _Context, span: tuple[int, int], via: str,
                          others: dict[str, str] | None = None, loads: bool = True) -> None:
        """`LESSOPEN='|CMD %s'`, `GIT_SSH_COMMAND=CMD`, `export PAGER=CMD`: the command a program will run;
        `export LD_PRELOAD=./x.so`: code it will load (an opaque command, unless `loads` is False because the
        command it prefixes is already marked). `others`: variables set with it (`GIT_CONFIG_KEY_0` …)."""
        named = _assigned_word(node, b)
        if named is None or not command_variable(named[0]):
            return
        self._run_assignment(named[0], named[1], ctx, span, via, others, loads)

    def _run_assignment(self, name: str, value: Word, ctx: _Context, span: tuple[int, int], via: str,
                        others: dict[str, str] | None = None, loads: bool = True) -> None:
        inners, scripts = assignment_commands(name, value, self.variables if others is None
                                              else {**self.variables, **others})
        inner_ctx = ctx.child(wrappers=ctx.wrappers + (via,), stdin_text=None, stdin_kind="")
        why = assignment_opaque(name, value) if loads else None
        if why:
            self._opaque(inner_ctx, why, span)
        for inner in inners:
            self._emit(inner, inner_ctx, span)
        for script in scripts:
            self._nested(script, inner_ctx, span, name, "")

    def _pipeline(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes, top: bool) -> None:
        piped = ctx.stdin_kind == "pipe"  # a pipeline continuing a here-doc's statement starts piped
        carried: Word | None = ctx.stdin_text if piped else None
        listed: tuple[str, ...] = ctx.piped_paths if piped else ()
        fed: tuple[str, ...] = ctx.fed_by
        stages: list[tuple[int, int]] = []
        for child in node.children:
            if child.type in ("|", "|&"):
                piped = True
                continue
            if not child.is_named:
                continue
            sub = ctx.child(stdin_kind="pipe", stdin_text=carried, fed_by=fed, piped_paths=listed) if piped else ctx
            before = len(self.commands)
            self._walk(child, sub, b, src, top)
            listed = _listed_paths(self.commands[before:], listed)
            carried = _literal_output(self.commands[before:], carried)
            fed = fed + tuple(c.program for c in self.commands[before:] if c.program)
            stages.append((before, len(self.commands)))
        # Tell each stage where its output goes (`sh -i 2>&1 | nc host port` is a reverse shell).
        for k, (start, end) in enumerate(stages[:-1]):
            later = tuple(c.program for s, e in stages[k + 1:] for c in self.commands[s:e] if c.program)
            for i in range(start, end):
                self.commands[i] = replace(self.commands[i], pipes_to=self.commands[i].pipes_to + later)

    def _redirected(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes, top: bool) -> None:
        body = node.child_by_field_name("body")
        redirects = list(ctx.redirects)
        stdin_text, stdin_kind = ctx.stdin_text, ctx.stdin_kind
        extra_args: list[Word] = []
        continuations: list[Node] = []
        before = len(self.commands)
        for child in node.children:
            if child is body or child == body:
                continue
            if child.type == "heredoc_redirect":
                text_word, more = self._heredoc(child, ctx, b, src, top)
                stdin_text, stdin_kind = text_word, "heredoc"
                redirects.append(Redirect("<<", text_word.value, 0, text_word.dynamic))
                continuations.extend(more)
                # `cat <<EOF > /etc/x`: tree-sitter-bash nests the redirections after the marker inside it
                for nested in child.children:
                    if nested.type == "file_redirect":
                        r, extra, _text = self._redirect(nested, ctx, b, src, top)
                        redirects.append(r)
                        extra_args.extend(extra)
            elif child.type in ("file_redirect", "herestring_redirect"):
                r, extra, text_word = self._redirect(child, ctx, b, src, top)
                redirects.append(r)
                extra_args.extend(extra)
                if child.type == "herestring_redirect":
                    stdin_text, stdin_kind = text_word, "herestring"
                elif r.op == "<":
                    stdin_text, stdin_kind = None, "file"
            elif child.is_named:
                continuations.append(child)
        fed = ctx.fed_by + tuple(c.program for c in self.commands[before:] if c.program)
        if body is not None:
            sub = ctx.child(redirects=tuple(redirects), stdin_text=stdin_text, stdin_kind=stdin_kind, fed_by=fed)
            if body.type == "command":
                self._command(body, sub, b, src, top, extra_args)
            else:
                self._walk(body, sub, b, src, top)
        elif len(redirects) > len(ctx.redirects):
            # `> /etc/passwd` alone still opens (and truncates) the file: the shell's null command does it.
            span = self._span(node, src, ctx, top)
            self.commands.append(self._finish(SimpleCommand("", "", tuple(w.value for w in extra_args),
                                                            redirects=tuple(redirects), span=span, cwd=self.cwd), ctx, span))
        for cont in continuations:
            if cont.type == "pipeline":
                # `cat <<EOF | sh`: tree-sitter nests the rest of the pipeline inside the here-doc.
                lit = stdin_text if body is not None and body.type == "command" and _is_cat(body, b) else None
                self._walk(cont, ctx.child(stdin_kind="pipe", stdin_text=lit), b, src, top)
            else:
                self._walk(cont, ctx, b, src, top)

    def _heredoc(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes,
                 top: bool) -> tuple[Word, list[Node]]:
        body_node = next((c for c in node.children if c.type == "heredoc_body"), None)
        start = next((c for c in node.children if c.type == "heredoc_start"), None)
        quoted_delim = start is not None and any(q in b.text(start) for q in "'\"\\")
        more = [c for c in node.children if c.is_named and c.type in _STATEMENT_NODES]
        if body_node is None:
            return Word(""), more
        if quoted_delim:
            return Word(b.text(body_node)), more
        self._walk_embedded(body_node, ctx, b, src, top)
        body_text = b.text(body_node)
        if "`" in body_text:
            self._heredoc_backticks(body_text, ctx, self._span(node, src, ctx, top))
            return Word(body_text, True), more
        words = b.words(body_node)
        return (words[0] if len(words) == 1 else Word(body_text, True)), more

    def _redirect(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes,
                  top: bool) -> tuple[Redirect, list[Word], Word | None]:
        op, fd, targets = "", None, []
        for child in node.children:
            if child.type == "file_descriptor":
                fd = int(b.text(child)) if b.text(child).isdigit() else None
            elif not child.is_named:
                op = op or child.type
            elif child.type != "ERROR":
                targets.append(child)
        words: list[Word] = []
        for t in targets:
            self._walk_embedded(t, ctx, b, src, top)
            words.extend(b.words(t))
        if node.type == "herestring_redirect":
            text = Word(" ".join(w.value for w in words), any(w.dynamic for w in words))
            return Redirect("<<<", text.value, 0, text.dynamic), [], text
        first = words[0] if words else Word("")
        target = _normalise_path(first.value)
        return Redirect(op or ">", target, fd, first.dynamic), words[1:], None

    # --- one simple command ----------------------------------------------------------------------
    def _command(self, node: Node, ctx: _Context, b: WordBuilder, src: bytes, top: bool,
                 extra_args: list[Word] | None = None) -> None:
        redirects = list(ctx.redirects)
        stdin_text, stdin_kind = ctx.stdin_text, ctx.stdin_kind
        words: list[Word] = []
        prefixes: list[Node] = []  # `X=v cmd`: assignments for this command only
        before = len(self.commands)
        for child in node.children:
            kind = child.type
            if kind == "variable_assignment":
                value = child.child_by_field_name("value")
                if _assigned_name(child, b) == "CDPATH":
                    self.cdpath = True
                if value is not None:
                    self._walk_embedded(value, ctx, b, src, top)
                    prefixes.append(child)
                continue
            if kind in ("file_redirect", "herestring_redirect"):
                r, extra, text_word = self._redirect(child, ctx, b, src, top)
                redirects.append(r)
                words.extend(extra)
                if kind == "herestring_redirect":
                    stdin_text, stdin_kind = text_word, "herestring"
                continue
            if not child.is_named:
                continue
            if child.child_count:
                self._walk_embedded(child, ctx, b, src, top)
            if kind == "command_name":
                words[:0] = [w for c in child.children for w in b.words(c)] or b.words(child)
            else:
                words.extend(b.words(child))
        words.extend(extra_args or [])
        sub = ctx
        if len(self.commands) > before or len(redirects) != len(ctx.redirects) or stdin_kind != ctx.stdin_kind:
            fed = ctx.fed_by + tuple(c.program for c in self.commands[before:] if c.program)
            sub = ctx.child(redirects=tuple(redirects), stdin_text=stdin_text, stdin_kind=stdin_kind, fed_by=fed)
            sub.depth = ctx.depth
        span = self._span(node, src, ctx, top)
        # `LD_PRELOAD=./x.so ls`: the command loads code the gateway cannot read, so it is opaque itself
        assigned = [(p, a) for p in prefixes if command_variable(_assigned_name(p, b))
                    and (a := _assigned_word(p, b)) is not None]
        loads = next((why for _p, (name, value) in assigned if (why := assignment_opaque(name, value))), "")
        self._emit(words, sub, span, forced=loads)
        earlier: dict[str, str] = {}
        via = _basename(words[0].value) if words else "="
        for prefix in prefixes:
            self._assignment_value_check(prefix, b, ctx, span)
        for prefix, (name, value) in assigned:
            self._run_assignment(name, value, ctx, span, via, earlier, loads=not (loads and words))
            if not value.dynamic:
                earlier[name] = value.value

    def _emit(self, words: list[Word], ctx: _Context, span: tuple[int, int], stdin_args: bool = False,
              forced: str = "") -> None:
        if not words:
            return
        if ctx.depth + self.depth > MAX_DEPTH or len(self.commands) > MAX_COMMANDS:
            if self._budget_hit:
                return
            self._budget_hit = True
            return self._opaque(ctx, "command line too complex to analyse", span)
        first, args = words[0], words[1:]
        reason = forced
        pattern = False
        if self.cwd is not None or self.cwd_lost:
            args = self._dd_operands(first, args)
        if len(args) > 2 and _basename(first.value) in ("tar", "bsdtar", "gtar"):
            args = _tar_directory_operands(args)
        if self.cwd_opaque and not reason and (
                any(_relative_operand(w.value) for w in args)
                or any(not r.dynamic and r.target and not r.target.startswith(("/", "~")) and not r.target.isdigit()
                       and r.op not in ("<<", "<<<") for r in ctx.redirects)):
            reason = "a relative path after a `cd` looked up through CDPATH: the directory is only known at run time"
        if first.dynamic:
            program = ""
            reason = reason or "program name is only known at run time"
        else:
            program = canonical_program(_basename(first.value))
            if first.resolved:
                reason = reason or "program name built from a variable or substitution"
            if _is_name_pattern(program):
                # `/bin/r? -rf /`: the shell picks whichever file matches. The evaluator tries the pattern
                # against the programs its rules name; here, against the wrappers, so that what a matching
                # wrapper would run (`/usr/bin/su?o rm -rf /`) is still seen.
                pattern = True
                reason = reason or f"program name is a file-name pattern ({program}): the shell picks the file"
        cmd = SimpleCommand(
            program=program,
            path=first.value,
            args=tuple(w.value for w in args),
            redirects=ctx.redirects if program not in _SAVING_DOWNLOADERS else ctx.redirects + tuple(
                # `curl -o ~/.bashrc URL`, `wget -O ~/.ssh/authorized_keys URL`: the download writes that file
                Redirect(">", _normalise_path(f), 1, False) for f in written_files(program, [w.value for w in args], [])),
            wrappers=ctx.wrappers,
            dynamic_args=stdin_args or any(w.dynamic for w in args),
            dynamic_paths=tuple(w.value for w in args if w.dynamic_prefix or _unknown_base(w.value)
                                or (self.cwd_lost and _relative_operand(w.value)))
            + (tuple(r.target for r in ctx.redirects if r.writes and not r.target.startswith(("/", "~")))
               if self.cwd_lost and ctx.redirects else ()),
            span=span,
            cwd=self.cwd,
            fed_by=ctx.fed_by,
            stdin_data=ctx.stdin_text.value if ctx.stdin_text is not None and not ctx.stdin_text.dynamic else None,
            recursive=bool(ctx.function) and program == ctx.function,
        )
        ran = self._runs_written(first, program, args, ctx.redirects) if self.written and program else None
        if ran is not None and ran[1].downloader:
            cmd = replace(cmd, fed_by=cmd.fed_by + (ran[1].downloader,))
            reason = reason or f"runs {ran[0]}, which {ran[1].downloader} downloaded earlier on this line"
        if program in INTERPRETERS or program.rstrip("0123456789.") in INTERPRETERS:
            code = inline_code(program, args)
            if code is not None and code.dynamic:  # `python3 -c "$(curl URL)"`: the code is the download
                reason = reason or f"{program} runs code only known at run time"
        source = reads_program_text(program, args) if program else None
        if source is not None:
            where = {"stdin": _stdin_description(ctx), "fd": "a file descriptor or process substitution"}
            reason = reason or f"{program} reads its program from {where[source]}"
            if source == "stdin" and ctx.stdin_text is not None:
                self._nested(ctx.stdin_text, ctx, span, program, reason)
        if pattern:
            found = [(name, unwrap(name, args)) for name in WRAPPER_NAMES if fnmatch.fnmatchcase(name, program)]
            wrapped = [(name, u) for name, u in found if u is not None]
        else:
            wrapped = [(program, unwrap(program, args) if program else None)]
        unwrapped = wrapped[0][1] if len(wrapped) == 1 else None
        if unwrapped is not None and unwrapped.opaque:
            reason = reason or unwrapped.opaque  # `vim -S FILE`: what it runs is not on the line
        if unwrapped is not None and (unwrapped.inners or unwrapped.scripts or unwrapped.stdin_scripts
                                      or unwrapped.root_shell):
            cmd = replace(cmd, is_wrapper=bool(unwrapped.inners or unwrapped.scripts or unwrapped.stdin_scripts),
                          starts_shell=unwrapped.root_shell)
        self.commands.append(self._finish(cmd, ctx, span, reason))
        if program in ("cd", "pushd", "popd"):
            self._change_directory(program, args)
        elif program in _SETTING_BUILTINS:
            self._builtin_assignments(cmd, args, ctx, span)
        if ran is not None and ran[1].text is not None:
            self._nested(Word(ran[1].text), ctx.child(wrappers=ctx.wrappers + (program,)), span, program, reason)
        self._note_writes(cmd, ctx)
        for name, unwrapped in wrapped:
            if unwrapped is None or not (unwrapped.inners or unwrapped.scripts or unwrapped.stdin_scripts):
                continue
            inner_ctx = ctx.child(wrappers=ctx.wrappers + (name,))
            outer_cwd = self.cwd, self.cwd_lost, self.cwd_opaque
            if unwrapped.chdir is not None:  # `env -C / rm -rf .`: the inner command runs there
                self._change_directory("cd", [unwrapped.chdir])
            fed_words = self._stdin_words(ctx) if unwrapped.stdin_args else []
            for inner in unwrapped.inners:
                self._emit(inner + fed_words if fed_words else inner, inner_ctx, span,
                           stdin_args or unwrapped.stdin_args, forced=reason)
            if name not in ("builtin", "command"):  # `builtin cd /etc` changes this shell's directory
                self.cwd, self.cwd_lost, self.cwd_opaque = outer_cwd
            for script in unwrapped.scripts:
                self._nested(script, inner_ctx, span, name, reason, unwrapped.script_args)
            for template in unwrapped.stdin_scripts:
                # `ls | parallel 'rm -rf {}'`: the words stdin brings, when known; else text known at run time
                # (an unknown word becomes an unset variable, so `rm -rf /{}` is still `rm -rf /$x`)
                self.variables.pop(_STDIN_VARIABLE, None)
                for word in self._stdin_words(ctx)[:MAX_LOOP_VALUES] or [None]:
                    value = shlex.quote(word.value) if word else '"${' + _STDIN_VARIABLE + '}"'
                    self._nested(Word(template.value.replace(STDIN_MARK, value), template.dynamic), inner_ctx,
                                 span, name, reason)

    def _stdin_words(self, ctx: _Context) -> list[Word]:
        """What `xargs`/`parallel` reads as arguments, when known: the roots of a `find` piped into it (its
        output lists paths under them) or literal data (`echo /etc | xargs rm -rf`)."""
        words = [Word(self._resolve(p) if self.cwd else p) for p in ctx.piped_paths]
        if ctx.stdin_text is not None and not ctx.stdin_text.dynamic and ctx.stdin_kind in ("pipe", "herestring",
                                                                                          "heredoc"):
            words.extend(Word(w) for w in ctx.stdin_text.value.split()[:64])
        return words

    def _resolve(self, path: str) -> str:
        """A path as the shell would find it from here: against an earlier literal `cd`, when known."""
        if path.startswith(("/", "~")):
            return _normalise_path(path)
        if self.cwd is not None:
            return _normalise_path(self.cwd.rstrip("/") + "/" + path)
        return posixpath.normpath(path)

    def _note_writes(self, cmd: SimpleCommand, ctx: _Context) -> None:
        """Remember the files this command fills: what a downloader fetched, or literal text."""
        program = cmd.program
        if not cmd.redirects and program not in DOWNLOADERS and program not in ("tee", "dd"):
            return  # the common case: nothing written
        stdout = [r for r in cmd.redirects if r.writes and r.fd in (None, 1)]
        if program in DOWNLOADERS:
            for path in written_files(program, cmd.args, [r.target for r in stdout]):
                self._remember(self._resolve(path), _Written(downloader=program))
            return
        fetched = next((p for p in cmd.fed_by if p in DOWNLOADERS), None)
        if fetched is not None:
            # `curl URL | tee x.sh`, `curl URL | dd of=x`, `curl URL | base64 -d > x`: the file holds the download
            paths = [r.target for r in stdout if not r.dynamic]
            if program == "tee":
                paths += [a for a in cmd.args if not a.startswith("-")]
            elif program == "dd":
                paths += [a[3:] for a in cmd.args if a.startswith("of=")]
            for path in paths:
                self._remember(self._resolve(path), _Written(downloader=fetched))
            return
        text: str | None = None
        if program in ("echo", "printf") and not cmd.dynamic_args:
            text = _echo_output(program, list(cmd.args))
        elif program in ("cat", "tee") and cmd.stdin_data is not None:
            text = cmd.stdin_data
        targets = [(r.target, r.op == ">>") for r in stdout if not r.dynamic]
        if program == "tee":
            targets += [(a, "-a" in cmd.args or "--append" in cmd.args) for a in cmd.args if not a.startswith("-")]
        for target, appends in targets:
            key = self._resolve(target)
            known = self.written.get(key)
            if appends and known is not None and known.text is not None and text is not None:
                self._remember(key, _Written(text=known.text + "\n" + text))
            else:  # appended to unknown content, or written by something else: nothing is known of it
                self._remember(key, _Written(text=None if appends else text))

    def _remember(self, key: str, what: _Written) -> None:
        if key not in self.written:
            self.written_names.setdefault(_basename(key), []).append(key)
        self.written[key] = what

    def _runs_written(self, first: Word, program: str, args: list[Word],
                      redirects: tuple[Redirect, ...]) -> tuple[str, _Written] | None:
        """(path, what was written) when this command runs a file written earlier on the line: as the program
        (`./i.sh`, or a bare name saved into a PATH directory), or as what a shell or interpreter reads."""
        runs: list[str] = []
        if "/" in first.value:
            runs.append(first.value)
        else:
            runs.extend(d + "/" + first.value for d in _PATH_DIRS)
        if program in SHELLS or program in INTERPRETERS or program in ("source", "."):
            # the script is the first operand (`python3 x.py data.txt` runs x.py and only reads data.txt)
            script = next((w.value for w in args if not w.value.startswith(("-", "+"))), None)
            if script is not None:
                runs.append(script)
            runs.extend(r.target for r in redirects if r.reads)
        for path in runs:
            key = self._resolve(path)
            if key in self.written:
                return path, self.written[key]
            relative = not key.startswith(("/", "~"))
            for saved in self.written_names.get(_basename(key), ()):
                # from an unknown directory, the same file name may be the same file
                if relative or not saved.startswith(("/", "~")):
                    return path, self.written[saved]
        return None

    def _dd_operands(self, first: Word, args: list[Word]) -> list[Word]:
        """`cd /dev && dd of=sda`: dd's `if=`/`of=` operands are paths too, resolved like any other."""
        if _basename(first.value) not in _DD_PROGRAMS:
            return args
        out: list[Word] = []
        for w in args:
            key, eq, value = w.value.partition("=")
            if eq and key in ("if", "of") and value and not value.startswith(("/", "~")) and not w.dynamic:
                if self.cwd is not None:
                    w = Word(key + "=" + self._resolve(value), w.dynamic, w.dynamic_prefix)
                else:
                    w = Word(w.value, w.dynamic, True)  # after `cd "$d"`: a path only known at run time
            out.append(w)
        return out

    def _change_directory(self, program: str, args: list[Word]) -> None:
        operands = [w for w in args if not (w.value.startswith("-") and w.value != "-")]  # -L, -P, -e, -@
        if self.cdpath and program in ("cd", "pushd") and operands and not any(w.dynamic for w in args):
            target = operands[0].value
            if target and not target.startswith(("/", "~", "./", "../")) and target not in (".", "..", "-"):
                self.cwd, self.cwd_lost, self.cwd_opaque = None, True, True  # found through CDPATH: anywhere
                return
        if program == "popd" or len(operands) > 1 or any(w.dynamic for w in args):
            self.cwd, self.cwd_lost = None, True
            return
        if not operands:
            self.cwd = "~" if program == "cd" else None
            self.cwd_lost = program != "cd"
            return
        target = operands[0].value
        absolute = target.startswith("/") or (target.startswith("~") and not target.startswith(("~+", "~-")))
        if absolute or (target and target != "-" and not target.startswith("~") and self.cwd is not None):
            self.cwd = self._resolve(target)
            self.cwd_lost = self.cwd_lost and not absolute
            self.cwd_opaque = self.cwd_opaque and not absolute
        else:
            # From an unknown directory: still below it unless the path climbs out (`cd ../../..`, `cd -`).
            self.cwd = None
            if not target or target == "-" or target.startswith("~") or _unknown_base(target):
                self.cwd_lost = True

    def _nested(self, script: Word, ctx: _Context, span: tuple[int, int], program: str, reason: str,
                positional: list[Word] | None = None) -> None:
        """Parse shell text a command runs (`bash -c`, `eval`, a here-doc into `sh`). `positional`: the words
        after `bash -c SCRIPT`, which the script sees as `$0`, `$1`, … (`sh -c 'rm -rf "$1"' _ /`)."""
        sub = ctx.child(span=span, stdin_text=None, stdin_kind="", redirects=(), fed_by=(),
                        force_opaque=reason or ctx.force_opaque)
        if script.dynamic:
            return self._opaque(sub, f"{program} runs shell text only known at run time", span)
        if script.resolved and not sub.force_opaque:
            sub.force_opaque = f"{program} runs shell text built from a variable or substitution"
        if positional is None:
            return self.script(script.value, sub)
        names = [str(i) for i in range(10)] + ["@", "*", "#"]
        saved = {n: self.variables[n] for n in names if n in self.variables}
        for n in names:
            self.variables.pop(n, None)
        values = positional[:10]
        for i in range(1, 10):
            self.variables[str(i)] = ""  # unset positional parameters expand to nothing (`rm -rf $2/` is `/`)
        for i, w in enumerate(values):
            if w.dynamic:
                self.variables.pop(str(i), None)
            else:
                self.variables[str(i)] = w.value
        if values[1:] and not any(w.dynamic for w in positional[1:]):
            self.variables["@"] = self.variables["*"] = " ".join(w.value for w in positional[1:])
        self.variables["#"] = str(max(len(positional) - 1, 0))
        try:
            self.script(script.value, sub)
        finally:
            for n in names:
                self.variables.pop(n, None)
            self.variables.update(saved)

    def _finish(self, cmd: SimpleCommand, ctx: _Context, span: tuple[int, int], reason: str = "") -> SimpleCommand:
        reason = reason or ctx.force_opaque
        if reason:
            cmd = replace(cmd, opaque=True, opaque_reason=reason)
        if cmd.span != span or cmd.wrappers != ctx.wrappers:
            cmd = replace(cmd, span=span, wrappers=ctx.wrappers)
        return cmd

    def _substitution_output(self, node: Node, source: bytes) -> str | None:
        """The output of `$(echo rm)`, `$(printf ...)`, `$(echo ... | base64 -d)` when statically known."""
        body = node.named_children
        if len(body) != 1 or body[0].type not in ("command", "pipeline"):
            return None
        text = source[body[0].start_byte:body[0].end_byte]
        if len(text) > 4096 or b"$(" in text or b"`" in text or b"<(" in text:
            return None  # keep this a cheap, non-recursive guess
        walker = _Walker()
        walker.variables = dict(self.variables)
        walker.script(text.decode("utf-8", "replace"), _Context(span=None))
        carried: Word | None = None
        for index, cmd in enumerate(walker.commands):
            if cmd.opaque or len(cmd.fed_by) != index:
                return None  # not one straight pipeline of known commands
            carried = _literal_output([cmd], carried)
            if carried is None or carried.dynamic:
                return None
        return carried.value if carried is not None else None


def _assigned_name(node: Node, b: WordBuilder) -> str:
    name = node.child_by_field_name("name")
    return b.text(name) if name is not None else ""


def _assigned_word(node: Node, b: WordBuilder) -> tuple[str, Word] | None:
    """(name, value as one word) of an assignment node; None without a value."""
    name = node.child_by_field_name("name")
    value = node.child_by_field_name("value")
    if name is None or value is None:
        return None
    words = b.words(value)
    word = Word(" ".join(w.value for w in words), any(w.dynamic for w in words),
                any(w.resolved for w in words)) if words else Word("")
    return b.text(name), word


def _assignment_text(node: Node, b: WordBuilder) -> str:
    name = node.child_by_field_name("name")
    value = node.child_by_field_name("value")
    words = b.words(value) if value is not None else [Word("")]
    op = "+=" if any(c.type == "+=" for c in node.children) else "="
    return (b.text(name) if name is not None else "") + op + " ".join(w.value for w in words)


def _tar_directory_operands(args: list[Word]) -> list[Word]:
    """`tar czf k.tgz -C ~ .ssh` archives `~/.ssh`: operands after `-C DIR` are relative to DIR."""
    out: list[Word] = []
    directory: str | None = None
    i = 0
    while i < len(args):
        w = args[i]
        v = w.value
        if v == "--directory" or v == "-C":
            out.append(w)
            if i + 1 < len(args):
                out.append(args[i + 1])
                directory = args[i + 1].value if not args[i + 1].dynamic else None
            i += 2
            continue
        if v.startswith("--directory="):
            directory = v.split("=", 1)[1] if not w.dynamic else None
        elif v.startswith("-") and not v.startswith("--") and len(v) > 1:
            for k, ch in enumerate(v[1:], 1):
                if ch in "fCIFbgKLNTXVH":
                    if k + 1 < len(v):
                        if ch == "C":
                            directory = v[k + 1:] if not w.dynamic else None
                    elif i + 1 < len(args):
                        out.append(w)
                        i += 1
                        w = args[i]
                        if ch == "C":
                            directory = w.value if not w.dynamic else None
                    break
        elif directory and directory.startswith(("/", "~")) and not v.startswith(("/", "~", "-")) and not w.dynamic:
            w = Word(_normalise_path(directory.rstrip("/") + "/" + v), False, False, w.procsub, w.resolved)
        out.append(w)
        i += 1
    return out


def _echo_output(name: str, args: list[str]) -> str | None:
    if name == "echo":
        escapes = False
        while args and args[0] in ("-n", "-e", "-E", "-ne", "-en"):
            escapes = escapes or "e" in args[0]
            args = args[1:]
        joined = " ".join(args)
        return decode_ansi_c(joined) if escapes else joined
    if not args:
        return None
    fmt, rest = args[0], args[1:]
    if "%" not in fmt:
        return decode_ansi_c(fmt)
    if fmt in ("%s", "%s\\n", "%s\n") and rest:
        return "".join(rest)
    return None


def _literal_output(emitted: list[SimpleCommand], carried: Word | None) -> Word | None:
    """What a pipeline stage writes to stdout, when it is statically known (echo, printf, base64 -d)."""
    if len(emitted) != 1:
        return None
    cmd = emitted[0]
    if cmd.dynamic_args or cmd.redirects and any(r.op in ("<", "<<", "<<<") for r in cmd.redirects):
        return None
    if cmd.program in ("echo", "printf") and not cmd.fed_by:
        out = _echo_output(cmd.program, list(cmd.args))
        return Word(out) if out is not None else None
    if carried is None:
        return None
    if cmd.program in ("base64", "base32") and any(a in ("-d", "--decode", "-D", "-di") for a in cmd.args):
        try:
            data = carried.value.encode()
            raw = base64.b64decode(data + b"=" * (-len(data) % 4)) if cmd.program == "base64" \
                else base64.b32decode(data)
            return Word(raw.decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            return None
    if cmd.program == "xxd" and "-r" in cmd.args:
        try:
            return Word(bytes.fromhex("".join(carried.value.split())).decode("utf-8", "replace"))
        except ValueError:
            return None
    if cmd.program == "rev":
        return Word("\n".join(line[::-1] for line in carried.value.split("\n")))
    if cmd.program in ("cat", "tee") and not cmd.args:
        return carried
    return None


def _listed_paths(emitted: list[SimpleCommand], listed: tuple[str, ...]) -> tuple[str, ...]:
    """The search roots of a `find` stage (what its output lists lies under them); kept through filters
    (`grep`, `sort`, `head` …) that only pass some of those lines on."""
    if len(emitted) != 1:
        return ()
    cmd = emitted[0]
    if cmd.program == "find":
        roots: list[str] = []
        for a in cmd.args[find_roots_start(list(cmd.args)):]:
            if a.startswith("-") or a in ("(", "!", ")"):
                break
            roots.append(a)
        return tuple(roots or ["."])
    if cmd.program in ("grep", "egrep", "fgrep", "sort", "uniq", "head", "tail", "cat", "tee") and listed:
        return listed
    return ()


def _is_cat(node: Node, b: WordBuilder) -> bool:
    name = node.child_by_field_name("name")
    return name is not None and b.text(name) == "cat" and len(node.named_children) == 1


def _stdin_description(ctx: _Context) -> str:
    return {"pipe": "a pipe", "heredoc": "a here-document", "herestring": "a here-string",
            "file": "a redirected file"}.get(ctx.stdin_kind, "stdin")


def _is_name_pattern(name: str) -> bool:
    """Would the shell expand this program name as a glob? (`r?`, `*m`, `r[m]`; not the `[` command.)"""
    return "*" in name or "?" in name or ("[" in name and _BRACKET_PATTERN.search(name) is not None)


def _basename(path: str) -> str:
    if "/" not in path:
        return path
    base = path.rstrip("/").rsplit("/", 1)[-1]
    return base or path


def _normalise_path(value: str) -> str:
    """Lexical clean-up for path matching: `//etc/./x/../` → `/etc`; relative paths stay relative.

    A home directory is taken to sit two levels below the root (`/home/NAME`, `/root` for root), so `..` can
    never climb out of a `~` unnoticed: `~/..` → `/home`, `~/../..` → `/`, `~bob/x` → `/home/bob/x`.
    (`posixpath.normpath` alone turns `~/..` into `.`, which hid `rm -rf ~/../..`.)"""
    if not value or ("/" not in value and not value.startswith("~")):
        return value
    if value.startswith("~"):
        head, _sep, rest = value.partition("/")
        if head in ("~+", "~-"):  # $PWD / $OLDPWD: no better than relative
            return value
        home = "/home/~" if head == "~" else "/root" if head == "~root" else "/home/" + head[1:]
        cleaned = posixpath.normpath(home + "/" + rest) if rest else home
        if head == "~" and (cleaned == home or cleaned.startswith(home + "/")):
            return "~" + cleaned[len(home):]
        return "/" + cleaned.lstrip("/")
    if value.startswith("/"):
        cleaned = posixpath.normpath(value)
        if cleaned.startswith("//"):
            cleaned = "/" + cleaned.lstrip("/")
        if cleaned.startswith("/proc/"):
            # `/proc/self/root/etc/shadow` is `/etc/shadow`: a process's root (and init's working directory)
            # is `/`, so what lies under it is the same file
            m = _PROC_ALIAS.match(cleaned)
            while m is not None:
                cleaned = "/" + cleaned[m.end():].lstrip("/")
                m = _PROC_ALIAS.match(cleaned)
        return cleaned
    return value


def _relative_operand(value: str) -> bool:
    return bool(value) and not value.startswith(("-", "/", "~")) and "=" not in value


def _unknown_base(value: str) -> bool:
    """A path argument whose location the gateway cannot know: another user's home (`~name`: `~daemon` is
    `/usr/sbin`), `~+`/`~-`, or a relative path that climbs out of the working directory (`..`, `a/../..`)."""
    if value.startswith("~"):
        head = value.partition("/")[0]
        return head != "~"
    if ".." not in value or value.startswith("/") or value.startswith("-"):
        return False
    cleaned = posixpath.normpath(value)
    return cleaned == ".." or cleaned.startswith("../")


normalise_path = _normalise_path
is_name_pattern = _is_name_pattern
