"""Shell words: turn a tree-sitter word node into the strings the shell would pass to a program.

Responsible for quote removal (`r''m`, `"r"m`, `\\rm`), ANSI-C decoding (`$'\\x72m'`), `$IFS` word
splitting, `$HOME` → `~`, inline-assigned variables, and literal brace expansion (`{rm,-rf,/}`).
Anything whose value depends on run time (an unknown variable, a command substitution, arithmetic) makes
the word *dynamic*: its value then keeps the source text of that part so rules and people can still read it.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

# A word value is built as (char, quoted) pieces so brace expansion and IFS splitting only act on the
# unquoted parts, as in bash.
_IFS_SPLIT = "\x00IFS\x00"  # sentinel piece: unquoted $IFS, splits the word; NUL never occurs in input
_MAX_BRACE_WORDS = 256
_MAX_BRACES = 32  # unquoted `{` per word beyond which brace expansion is not attempted  # brace expansion beyond this is treated as dynamic (a bomb, not a command)

_ANSI_SIMPLE = {
    "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
    "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?",
}
_ANSI_RE = re.compile(
    r"\\(?:(?P<simple>[abeEfnrtv\\'\"?])|(?P<oct>[0-7]{1,3})|x(?P<hex>[0-9a-fA-F]{1,2})"
    r"|u(?P<u4>[0-9a-fA-F]{1,4})|U(?P<u8>[0-9a-fA-F]{1,8})|c(?P<ctl>.))",
    re.S,
)


@dataclass(frozen=True)
class Word:
    """One shell word after expansion: its value and whether any part is only known at run time."""

    value: str
    dynamic: bool = False
    # True when the dynamic part comes first (`$dir/x`, `$(cmd)`): the path's root is unknown.
    dynamic_prefix: bool = False
    # Set when the word came from a process substitution `<(...)`/`>(...)` (a /dev/fd path at run time).
    procsub: bool = False
    # Set when a variable or `$(echo ...)` was resolved statically to build this word: the value is our
    # best guess, so a program name built this way stays opaque (it may only make a decision stricter).
    resolved: bool = False


def decode_ansi_c(body: str) -> str:
    """Decode the inside of `$'...'` the way bash does."""

    def repl(m: re.Match[str]) -> str:
        if m.group("simple"):
            return _ANSI_SIMPLE[m.group("simple")]
        if m.group("oct"):
            return chr(int(m.group("oct"), 8) & 0xFF)
        for key in ("hex", "u4", "u8"):
            if m.group(key):
                code = int(m.group(key), 16)
                return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        ctl = m.group("ctl")
        return chr(ord(ctl.upper()) ^ 0x40) if ctl else ""

    return _ANSI_RE.sub(repl, body)


def unescape_unquoted(text: str) -> str:
    """Remove backslash escapes from an unquoted word (`\\rm` → `rm`, `a\\ b` → `a b`)."""
    if "\\" not in text:
        return text
    return re.sub(r"\\(.)", r"\1", text, flags=re.S)


def unescape_double_quoted(text: str) -> str:
    """Inside double quotes a backslash only escapes `$`, backtick, `"`, `\\` and newline."""
    if "\\" not in text:
        return text
    return re.sub(r'\\([$`"\\\n])', lambda m: "" if m.group(1) == "\n" else m.group(1), text)


class WordBuilder:
    """Builds `Word`s from tree-sitter nodes; `variables` holds values assigned earlier on the line."""

    def __init__(self, source: bytes, variables: Mapping[str, str] | None = None,
                 on_substitution: Callable[[object, bytes], str | None] | None = None) -> None:
        self._src = source
        self._vars = variables if variables is not None else {}
        # Called with a command_substitution node; may return its statically known output (`$(echo rm)`).
        self._on_subst = on_substitution

    def text(self, node) -> str:  # noqa: ANN001 - tree-sitter Node
        return self._src[node.start_byte:node.end_byte].decode("utf-8", "replace")

    # --- public ----------------------------------------------------------------------------------
    def words(self, node) -> list[Word]:  # noqa: ANN001
        """The words one argument node expands to (brace expansion and $IFS may give several)."""
        kind = node.type
        if kind == "word" or kind == "number":
            # Fast path: a plain word with nothing to unquote or expand is its own value.
            raw = self._src[node.start_byte:node.end_byte].decode("utf-8", "replace")
            if "\\" not in raw and "{" not in raw:
                return [Word(raw)]
        elif kind == "raw_string":
            return [Word(self._src[node.start_byte + 1:node.end_byte - 1].decode("utf-8", "replace"))]
        pieces: list[tuple[str, bool]] = []
        state = {"dynamic": False, "dynamic_prefix": False, "procsub": False, "resolved": False}
        self._collect(node, pieces, quoted=False, state=state)
        return self._finish(pieces, state)

    # --- internals -------------------------------------------------------------------------------
    def _mark_dynamic(self, pieces: list[tuple[str, bool]], state: dict) -> None:
        if not pieces:
            state["dynamic_prefix"] = True
        state["dynamic"] = True

    def _collect(self, node, pieces: list[tuple[str, bool]], *, quoted: bool, state: dict) -> None:  # noqa: ANN001,C901
        kind = node.type
        if kind in ("word", "number", "variable_name", "file_descriptor", "test_operator", "special_variable_name"):
            raw = self.text(node)
            if quoted:
                pieces.extend((c, True) for c in unescape_double_quoted(raw))
            else:
                self._add_unquoted(raw, pieces)
        elif kind == "raw_string":
            pieces.extend((c, True) for c in self.text(node)[1:-1])
        elif kind == "ansi_c_string":
            pieces.extend((c, True) for c in decode_ansi_c(self.text(node)[2:-1]))
        elif kind in ("string", "translated_string", "heredoc_body"):
            self._collect_gapped(node, pieces, state, quoted=True)
        elif kind == "concatenation":
            self._collect_gapped(node, pieces, state, quoted=quoted)
        elif kind == "string_content" or kind == "heredoc_content":
            pieces.extend((c, True) for c in unescape_double_quoted(self.text(node)))
        elif kind in ("simple_expansion", "expansion"):
            self._collect_expansion(node, pieces, quoted=quoted, state=state)
        elif kind == "command_substitution":
            known = self._on_subst(node, self._src) if self._on_subst else None
            if known is not None:
                # The output of `$(echo rm)` is known statically; the caller marks the command opaque.
                state["resolved"] = True
                if quoted:
                    pieces.extend((c, True) for c in known)
                else:
                    self._add_unquoted_literal(known.rstrip("\n"), pieces)
            else:
                self._mark_dynamic(pieces, state)
                pieces.extend((c, True) for c in self.text(node))
        elif kind == "process_substitution":
            state["procsub"] = True
            self._mark_dynamic(pieces, state)
            pieces.extend((c, True) for c in "/dev/fd/63")
        elif kind == "brace_expression":
            # `{1..3}`: keep it unquoted so the brace expander below handles it.
            self._add_unquoted(self.text(node), pieces)
        else:
            # arithmetic expansion, `$` oddities, anything else: value known only at run time.
            self._mark_dynamic(pieces, state)
            pieces.extend((c, True) for c in self.text(node))

    def _collect_gapped(self, node, pieces, state, *, quoted: bool) -> None:  # noqa: ANN001
        """Walk children, treating the bytes between them as literal text of this node."""
        start, end = node.start_byte, node.end_byte
        if node.type in ("string", "translated_string"):
            start += 2 if node.type == "translated_string" else 1
            end -= 1
        pos = start
        for child in node.children:
            if child.type == '"' or child.type == "$" and node.type == "translated_string":
                continue
            if child.start_byte > pos:
                gap = self._src[pos:child.start_byte].decode("utf-8", "replace")
                if quoted:
                    pieces.extend((c, True) for c in unescape_double_quoted(gap))
                else:
                    self._add_unquoted(gap, pieces)
            self._collect(child, pieces, quoted=quoted, state=state)
            pos = max(pos, child.end_byte)
        if end > pos:
            gap = self._src[pos:end].decode("utf-8", "replace")
            if quoted:
                pieces.extend((c, True) for c in unescape_double_quoted(gap))
            else:
                self._add_unquoted(gap, pieces)

    def _collect_expansion(self, node, pieces, *, quoted: bool, state: dict) -> None:  # noqa: ANN001
        names = [c for c in node.named_children if c.type in ("variable_name", "special_variable_name")]
        plain = len(node.named_children) == 1 and len(names) == 1  # `$x` or `${x}`, no operators
        name = self.text(names[0]) if names else ""
        if plain and node.type == "expansion" and self.text(node) != "${" + name + "}":
            plain = False  # `${x@P}`, `${x@E}`: an operator tree-sitter-bash shows no node for
        if plain and name == "IFS" and not quoted:
            pieces.append((_IFS_SPLIT, False))
            return
        if plain and name == "HOME":
            pieces.extend((c, True) for c in "~")
            return
        if not plain and names and name not in self._vars:
            default = self._default_value(node)
            if default is not None:
                # `${x:-rm}`: x is unknown, the default is our (opaque) guess.
                state["resolved"] = True
                if quoted:
                    pieces.extend((c, True) for c in default)
                else:
                    self._add_unquoted_literal(default, pieces)
                return
        if plain and name in self._vars:
            value = self._vars[name]
            if quoted:
                pieces.extend((c, True) for c in value)
            else:
                self._add_unquoted_literal(value, pieces)
            state["resolved"] = True
            return
        self._mark_dynamic(pieces, state)
        pieces.extend((c, True) for c in self.text(node))

    def _default_value(self, node) -> str | None:  # noqa: ANN001
        """The literal default of `${x:-word}` / `${x-word}` / `${x:=word}`, else None."""
        ops = [c for c in node.children if c.type in (":-", "-", ":=", "=")]
        if len(ops) != 1:
            return None
        after = [c for c in node.children if c.start_byte >= ops[0].end_byte and c.type != "}"]
        if not after:
            return ""
        parts: list[str] = []
        for child in after:
            words = self.words(child)
            if len(words) != 1 or words[0].dynamic:
                return None
            parts.append(words[0].value)
        return "".join(parts)

    @staticmethod
    def _add_unquoted(raw: str, pieces: list[tuple[str, bool]]) -> None:
        i = 0
        while i < len(raw):
            c = raw[i]
            if c == "\\" and i + 1 < len(raw):
                if raw[i + 1] != "\n":  # line continuation disappears
                    pieces.append((raw[i + 1], True))
                i += 2
                continue
            pieces.append((c, False))
            i += 1

    @staticmethod
    def _add_unquoted_literal(value: str, pieces: list[tuple[str, bool]]) -> None:
        # An unquoted expansion is word-split on whitespace, but its characters are not re-parsed.
        for c in value:
            pieces.append((_IFS_SPLIT, False) if c in " \t\n" else (c, True))

    def _finish(self, pieces: list[tuple[str, bool]], state: dict) -> list[Word]:
        # Split on unquoted $IFS first, then brace-expand each part.
        groups: list[list[tuple[str, bool]]] = [[]]
        for piece in pieces:
            if piece[0] == _IFS_SPLIT:
                if groups[-1]:
                    groups.append([])
            else:
                groups[-1].append(piece)
        if not groups[-1] and len(groups) > 1:
            groups.pop()
        out: list[Word] = []
        for group in groups:
            for value, dyn in expand_braces(group):
                out.append(Word(value, state["dynamic"] or dyn, state["dynamic_prefix"], state["procsub"],
                                state["resolved"]))
        return out or [Word("", state["dynamic"], state["dynamic_prefix"], state["procsub"], state["resolved"])]


def expand_braces(pieces: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Bash brace expansion over unquoted `{a,b}` and `{1..3}`; returns (value, dynamic) pairs."""
    text = "".join(c for c, _ in pieces)
    if "{" not in text or not any(c == "{" and not q for c, q in pieces):
        return [(text, False)]
    if sum(1 for c, q in pieces if c == "{" and not q) > _MAX_BRACES:
        return [(text, True)]  # pathological nesting: treat as unknown rather than expand
    results = _expand(pieces)
    if results is None or len(results) > _MAX_BRACE_WORDS:
        return [(text, True)]
    return [(r, False) for r in results]


def _expand(pieces: list[tuple[str, bool]], budget: list[int] | None = None) -> list[str] | None:
    budget = budget if budget is not None else [_MAX_BRACE_WORDS * 4]
    budget[0] -= 1
    if budget[0] < 0:
        return None
    # Find the first unquoted `{` with a matching unquoted `}` that contains a top-level `,` or `..`.
    n = len(pieces)
    for i in range(n):
        if pieces[i] != ("{", False):
            continue
        depth, commas, j = 0, [], i + 1
        while j < n:
            c, q = pieces[j]
            if not q:
                if c == "{":
                    depth += 1
                elif c == "}":
                    if depth == 0:
                        break
                    depth -= 1
                elif c == "," and depth == 0:
                    commas.append(j)
            j += 1
        if j >= n:
            continue
        prefix, body, suffix = pieces[:i], pieces[i + 1:j], pieces[j + 1:]
        alternatives: list[list[tuple[str, bool]]]
        if commas:
            bounds = [i] + commas + [j]
            alternatives = [pieces[a + 1:b] for a, b in zip(bounds, bounds[1:])]
        else:
            seq = _sequence("".join(c for c, _ in body)) if all(not q for _, q in body) else None
            if seq is None:
                continue
            alternatives = [[(c, True) for c in item] for item in seq]
        if len(alternatives) > _MAX_BRACE_WORDS:
            return None
        out: list[str] = []
        for alt in alternatives:
            sub = _expand(prefix + alt + suffix, budget)
            if sub is None:
                return None
            out.extend(sub)
            if len(out) > _MAX_BRACE_WORDS:
                return None
        return out
    return ["".join(c for c, _ in pieces)]


def _sequence(body: str) -> list[str] | None:
    m = re.fullmatch(r"(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?", body)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        step = abs(int(m.group(3) or 1)) or 1
        if abs(b - a) // step > _MAX_BRACE_WORDS:
            return None
        rng = range(a, b + 1, step) if a <= b else range(a, b - 1, -step)
        return [str(x) for x in rng]
    m = re.fullmatch(r"([a-zA-Z])\.\.([a-zA-Z])", body)
    if m:
        a, b = ord(m.group(1)), ord(m.group(2))
        rng = range(a, b + 1) if a <= b else range(a, b - 1, -1)
        return [chr(x) for x in rng]
    return None
