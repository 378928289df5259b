"""Detector kinds: how a trigger hit found by the scanner becomes masked spans.

Every detector reads the escape-free view `v` (bytes) and is called with a trigger hit `[ts, te)` and
`avail`, the end of what has arrived. It answers one of:

- `None` or `[]`: no secret here (decided; more input cannot change it);
- a list of `Span` tuples `(start, end, detector_id, keep)`: decided secrets (view indices);
- `Pending(hold)`: the window it needs has not fully arrived; no secret can start before `hold`
  (`None`: none can start in what has arrived, e.g. a key name still being typed);
- `PemOpen`: a private-key block starts at `ts` and runs to its END line.

INVARIANT (what makes the masker chunk-exact): a decided answer depends only on `v[ts - 1024 : W]`
where `W` is a window end fixed by the text itself (the end of the line, the end of the token, or a
byte cap), never on where the input happened to be cut. With `final=True` the end of the stream
closes every window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

Span = tuple[int, int, str, int]
Validator = Callable[[bytes], bool]

ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NOT_IDENT_REV = re.compile(rb"[^A-Za-z0-9_.\-]")
_STOP = frozenset(b" \t\r\n\"'=:;,{}[]()<>")
_IDENT_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
# Bytes no text secret holds: C0 controls other than tab, line breaks and ESC (escape sequences are out of
# the view already; a stray ESC is left to the terminal), and DEL.
_NOT_TEXT = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")


def is_text(b: bytes) -> bool:
    """True if `b` could be text: no control bytes but tab, line breaks and ESC, and valid UTF-8.

    Why: binary streams (`tar c | gzip`, images, `cat` of a random file) hold `pwd=` or `psk:` by chance
    every few hundred MiB, and masking them there corrupts the transfer. A secret is text; a value made
    of binary bytes is not one."""
    if _NOT_TEXT.search(b) is not None:
        return False
    if b.isascii():
        return True
    try:
        b.decode()
    except UnicodeDecodeError:
        return False
    return True


def text_before(v: bytes, ks: int) -> bool:
    """True if what precedes a key on its line (up to 32 bytes; a NUL separates records as a newline
    does, as in `/proc/PID/environ`) is text, so the key is not a chance run of letters in binary data."""
    lo = ks - 32 if ks > 32 else 0
    start = max(v.rfind(b"\n", lo, ks), v.rfind(b"\x00", lo, ks), v.rfind(b"\r", lo, ks)) + 1
    if start == 0:
        start = lo
        while start < ks and 0x80 <= v[start] < 0xC0 and start < lo + 3:
            start += 1  # the look-back began inside a UTF-8 character
    return start >= ks or is_text(v[start:ks])


class Pending:
    """`rest`: for an idle release, what to swallow of the value still arriving (else the detector's
    `value_class`). `show`: how many letters of that value an idle release may show while it is letters only
    (a word being typed, not yet a secret; else the detector's `idle_min_body`)."""

    __slots__ = ("hold", "rest", "show")

    def __init__(self, hold: int | None, rest: re.Pattern[bytes] | None = None, show: int = 0) -> None:
        self.hold = hold
        self.rest = rest
        self.show = show


class PemOpen:
    __slots__ = ("det_id", "header_end", "marker")

    def __init__(self, det_id: str, header_end: int, marker: bytes) -> None:
        self.det_id = det_id
        self.header_end = header_end
        self.marker = marker


class Overflow(list):
    """Spans whose last one ran into the end of the input while its token goes on past the detector's
    longest window (a 9 KiB bearer token, a 10 KiB password): the stream masks the rest of the token, the
    bytes of `cls`, as they arrive, so a secret longer than any window never leaks its tail."""

    __slots__ = ("cls",)

    def __init__(self, spans: list, cls: re.Pattern[bytes]) -> None:
        super().__init__(spans)
        self.cls = cls


def run_on(spans: list, v: bytes, avail: int, final: bool, cls: re.Pattern[bytes]) -> list:
    """`spans` with the last one stretched over the rest of its token (`cls`, a `[…]*` pattern) when a
    window cap cut it: to the token's end if it has arrived, else to the end of the input, as an `Overflow`."""
    s, t, det_id, keep = spans[-1]
    e = cls.match(v, t, avail).end()
    spans[-1] = (s, e, det_id, keep)
    if e == avail and not final:
        return Overflow(spans, cls)
    return spans


@dataclass(frozen=True)
class Info:
    """What a detector is, for docs, profiles and tests: samples are (text, secret) / benign text."""

    id: str
    description: str
    positives: tuple[tuple[str, str], ...]
    negatives: tuple[str, ...]


PLACEHOLDER_RE = re.compile(
    rb"(?i)\A(?:\**|x{3,}|\.{2,}|\xe2\x80\xa6|-+|~|\?+|<[^>]*>|\$\$?\{[^}]*\}?|\$\([^)]*\)?|\$\$?(?-i:[A-Z_][A-Z0-9_]*|[a-z_][a-z0-9_]*|[A-Za-z][a-z0-9]+(?:[A-Z][a-z0-9]+)*)(?:\.[A-Za-z_]\w*)*"
    # a documented head and an ellipsis (`sk-...`, `ghp_…`), or a value shown already masked (`gho_*****`)
    rb"|[A-Za-z0-9]{1,8}(?:[_\-.][A-Za-z0-9]{1,8}){0,3}[_\-.]?(?:\.\.\.|\xe2\x80\xa6|\*{3,}(?:\.\.\.|\xe2\x80\xa6)?)"
    rb"[A-Za-z0-9]{0,6}|\*{8,}[A-Za-z0-9]{1,6}|(?:\xe2\x80\xa2){3,}[A-Za-z0-9]{0,6}|\**\[?redacted\]?\**"
    # `-p[password]`, `user:password` in usage text: the field's name where its value goes
    rb"|\[[A-Za-z_ \-]{2,24}\]|password|passwd|secret|token|apikey|api_key|\$env:\w+|%env\([^)]*\)%"
    rb"|\((?:sensitive(?: value)?|known after apply)\)"
    # (a variable is named like one: `$DB_PASSWORD`, `$dbPassword`; `$Jq8UAnNvXY11PL7` is a password)
    rb"|%(?:\([A-Za-z_]\w*\)[sdr]?|[0-9]+\$[sd]|[-+ #0-9.]*[sdifrxq])|\{\{.*\}\}|\{[A-Za-z_]\w*\}|\[MASKED[^\]]*\]?|\[?redacted\]?|<redacted>|\(?none\)?|null|nil"
    rb"|true|false|undefined|hidden|n/a|empty|unset|not[ _-]?set|required|optional|string|your[_-]?\S*"
    rb"|\[?hidden\]?|\[?filtered\]?|\[?secure\]?|sensitive|%\w+%"
    # states and permissions, not values (`id-token: write`, `secrets: inherit`, `password: disabled`)
    rb"|read|write|inherit|enabled|disabled|expired|revoked|invalid|missing|on|off|yes|no|auto)\Z"
)


_ELLIPSIS_ENDS = frozenset(b".\xa6*")  # `...`, the last byte of `…`, a masked tail `*****`
_PLACEHOLDER_HEADS = frozenset(b"*<$%{[-~?.(xXnNtTfFuUhHeEuUoOrRsSyYwWiIdDmMaApP\xe2")


def line_window(v: bytes, ts: int, max_len: int, avail: int, final: bool) -> int | None:
    """Where a single-line candidate starting at `ts` must end: the newline, `max_len` bytes on, or the end
    of a finished stream. None while more input could still change it (the caller holds)."""
    lim = ts + max_len
    nl = v.find(b"\n", ts, min(avail, lim))
    if nl >= 0:
        return nl
    if lim <= avail:
        return lim
    if final:
        return avail
    return None


# Letters that start only bounded placeholder words (at most 9 bytes: `undefined`, `[filtered]` less
# its bracket…); `x` (`xxxx…`) and `y` (`your…`) start unbounded ones.
_BOUNDED_HEADS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWZabcdefghijklmnopqrstuvwz")


_ELIDED = re.compile(rb"\.\.\.|\*\*|\xe2\x80").search  # part of a value left out: `...`, `***`, `…`, `•••`


def not_placeholder(value: bytes) -> bool:
    if value:
        c = value[0]
        n = len(value)
        if (n > 3 and c not in _PLACEHOLDER_HEADS and value[-1] not in _ELLIPSIS_ENDS) or (n > 9 and c in _BOUNDED_HEADS):
            # fast path: no placeholder starts this way (nor is a head and an ellipsis), or none starting with this
            # letter is this long; unless part of it is elided (`sk-ant-...`, `sk-...Ab3f`, `****a1b2`, `••••3f2a`)
            if _ELIDED(value) is None:
                return True
    return PLACEHOLDER_RE.match(value) is None



def key_start(v: bytes, ts: int) -> int:
    """Start of the identifier (letters, digits, `_ . -`) that contains position `ts`."""
    if ts == 0 or v[ts - 1] in _STOP:
        return ts
    lo = max(0, ts - 64)
    m = _NOT_IDENT_REV.search(v[lo:ts][::-1])
    return ts - (m.start() if m else ts - lo)


def line_start_ok(v: bytes, ks: int) -> bool:
    """True if only indentation, a list dash or `export` precede position `ks` on its line."""
    if ks == 0 or v[ks - 1] == 10 or v[ks - 1] == 0:
        return True
    lo = max(0, ks - 256)
    nl = max(v.rfind(b"\n", lo, ks), v.rfind(b"\x00", lo, ks))
    if nl < 0 and lo > 0:
        return False
    prefix = v[nl + 1 : ks].strip(b" \t\r")
    if prefix[:1] in (b"+", b"-") and len(prefix) > 1:  # a line added or removed in a diff
        prefix = prefix[1:].strip(b" \t")
    return prefix in (b"", b"-", b"+", b"export", b"set", b"declare -x", b"setenv", b"$env:")


# A token right after an escape in JSON, C or a URL (`{"log":"…\nghp_…"}`, `token\u003dAKIA…`, `%20sk-…`): the escape
# ends in a letter or digit, but in the text it encodes the token starts a word. (Literal-triggered tokens only:
# a regex trigger's zone, which holds a token's head at the end of a chunk, keeps the plain boundary.)
ESCAPE_BEFORE = rb"(?:\\[nrtbfv0]|\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|%[0-9a-fA-F]{2})"
TOKEN_START = rb"(?:(?<![A-Za-z0-9])|(?<=\\[nrtbfv0])|(?<=\\u[0-9a-fA-F]{4})|(?<=\\x[0-9a-fA-F]{2})|(?<=%[0-9a-fA-F]{2}))"
_ESCAPE_ENDS = re.compile(ESCAPE_BEFORE + rb"\Z")


def after_escape(v: bytes, ts: int) -> bool:
    """True if an escape sequence ends right before `ts`."""
    return _ESCAPE_ENDS.search(v, max(0, ts - 6), ts) is not None


class Detector:
    """Base: the trigger literals (lower case) or re2 trigger regex, and the evaluation."""

    ids: tuple[str, ...] = ()
    literals: tuple[bytes, ...] = ()
    trigger_re: bytes | None = None
    trigger_width = 0
    prefix_type = True  # a span may start at the trigger start: partial triggers are held
    boundary = True  # the trigger must start a token
    zone_re: re.Pattern[bytes] | None = None  # candidate starts of a regex trigger near the end
    # What must have arrived after a zone candidate's start for an idle release to mask it (default: the
    # trigger). A zone starts on a weak head (`M`, `s`, `S`): typed words (`Mount`, `secret`) are not secrets.
    idle_head: re.Pattern[bytes] | None = None
    # An idle release shows up to this many letters after a head that ordinary text has too (`://`, `pat.`,
    # `code=`): a word being typed (`https://exa…`), not yet a secret. The hit stays pending, so a secret
    # they begin is masked from there on; at most that many of its letters show.
    idle_min_body = 0
    # ...and this many bytes of any kind (a detector whose secrets are long and whose head is common)
    idle_show_below = 0
    # ...and up to this many digits alone (`http://10.0.0.5:8080` typed: a port, not yet a password)
    idle_show_digits = 0
    value_class: re.Pattern[bytes] = re.compile(rb"[A-Za-z0-9_\-.+/=]*")
    opens_blocks = False  # may answer `PemOpen` (a block masked to its END line, even at an idle release)
    max_window = 256
    # How far before the unstable zone a candidate start may lie (a trigger found after the start, Discord's)
    zone_lookback = 0
    # lower-case literal -> the one case it matches in (a token head with a fixed case: `eyJ`, `fnA`); the
    # others match in any ASCII case
    exact_literals: dict[bytes, bytes] = {}
    # True if a hit inside the key of a `KEY=value` line (`_ENV_LINE`: an identifier run, `=`, a value with no
    # whitespace, then a newline) can never give this detector a span: the masker then skips it there.
    none_in_env_key = False

    def infos(self) -> list[Info]:
        """The detector's id, description and samples (subclasses that cover several kinds override)."""
        return [Info(self.id, self.description, self.positives, self.negatives)]  # type: ignore[attr-defined]

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):  # pragma: no cover
        raise NotImplementedError

    def enabled(self, ids: frozenset[str]) -> "Detector | None":
        return self if self.ids[0] in ids else None


def _exact_in(pattern: bytes, literals: tuple[bytes, ...]) -> dict[bytes, bytes]:
    """The case each literal is spelled in by a case-sensitive pattern, for literals it spells in one case only
    (`eyj` -> `eyJ`, `akia` -> `AKIA`). Only plain words are looked for; anything else stays caseless."""
    if b"(?i" in pattern:
        return {}
    out = {}
    for lit in literals:
        if not lit.replace(b"_", b"").isalnum():
            continue
        found = {m.group(0) for m in re.finditer(re.escape(lit), pattern, re.IGNORECASE)}
        if len(found) == 1:
            out[lit] = found.pop()
    return out


class TokenDetector(Detector):
    """A secret that is one token with a recognisable head (`ghp_…`, `AKIA…`, `eyJ…`)."""

    def __init__(
        self,
        id: str,
        description: str,
        literals: list[str],
        pattern: bytes,
        *,
        cont: bytes = rb"[A-Za-z0-9_\-]",
        max_len: int = 256,
        validate: Validator | None = None,
        keep: int = 0,
        boundary: bool = True,
        viable: bytes | None = None,
        trigger_re: bytes | None = None,
        trigger_width: int = 0,
        zone_re: bytes | None = None,
        idle_head: bytes | None = None,
        flags: int = 0,
        exact: tuple[str, ...] = (),
        idle_min_body: int = 0,
        idle_show_below: int = 0,
        positives: list[tuple[str, str]] = (),  # type: ignore[assignment]
        negatives: list[str] = (),  # type: ignore[assignment]
    ) -> None:
        self.ids = (id,)
        self.id = id
        self.description = description
        self.literals = tuple(x.lower().encode() for x in literals)
        self.idle_min_body = idle_min_body
        self.idle_show_below = idle_show_below
        # `exact`: the literals as the (case-sensitive) pattern spells them; found in the pattern when not given
        self.exact_literals = {} if flags & re.IGNORECASE else (
            {x.lower().encode(): x.encode() for x in exact} if exact else _exact_in(pattern, self.literals))
        self.boundary = boundary
        lb = (TOKEN_START if trigger_re is None else rb"(?<![A-Za-z0-9])") if boundary else b""
        self.regex = re.compile(lb + pattern, flags)
        self.group = "s" if "s" in self.regex.groupindex else 0
        # A `(?P<s>…)` group marks the secret after the trigger (`atlasv1.`, `:AA`, `$6$`, `hooks.slack.com/…`):
        # no span starts at the trigger, so a partial trigger at the end of a chunk need not be held back.
        self.prefix_type = self.group == 0
        self.cont = re.compile(cont + b"*")
        self.value_class = self.cont
        self.max_len = max_len
        self.max_window = max_len + 1
        self.validate = validate
        self.keep = keep
        self.viable = re.compile(viable) if viable else None
        self.trigger_re = trigger_re
        self.trigger_width = trigger_width
        self.zone_re = re.compile(zone_re) if zone_re else None
        if zone_re:
            self.idle_head = re.compile(idle_head or trigger_re)  # type: ignore[arg-type]
        self.positives = tuple(positives)
        self.negatives = tuple(negatives)

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        if self.boundary and ts > 0 and v[ts - 1] in ALNUM and (self.trigger_re is not None or not after_escape(v, ts)):
            return None
        lim = ts + self.max_len
        e = self.cont.match(v, ts, min(avail, lim)).end()
        over = False
        if e < avail and e < lim:
            w = e + 1  # the byte that stopped the token is visible to lookaheads
        elif e >= lim and lim < avail:
            w = lim + 1
            over = True  # the token goes on past the longest window
        elif final:
            w = avail
        else:
            # The token may still grow. Not a secret only if no continuation can match: the partial
            # token is no prefix of a match (`viable`) and holds no match already (a pattern without
            # an end guard, `dop_v1_` + 64 hex, also matches a longer token, as a whole-text pass sees).
            if (
                self.viable is not None
                and not self.viable.fullmatch(v, ts, avail)
                and self.regex.match(v, ts, avail) is None
            ):
                return None
            return Pending(ts)
        m = self.regex.match(v, ts, w)
        if m is None:
            if over and self.group == 0 and self.viable is not None and self.viable.fullmatch(v, ts, lim):
                s, t = ts, lim  # a token of this shape longer than any window (a 9 KiB JWT): still a secret
            else:
                return None
        else:
            s, t = m.span(self.group)
            if t <= s or (self.validate is not None and not self.validate(v[s:t])):
                return None
            if e > t and self.group == 0 and v[t] in ALNUM:
                t = e  # the token goes on past the pattern's length (`AGE-SECRET-KEY-1` + 61): mask all of it, no tail
        if (v.find(b"xxxx", s, t) >= 0 or v.find(b"XXXX", s, t) >= 0 or v.find(b"****", s, t) >= 0) and (
                _FILLER_RUN.search(v, s, t) is not None):
            return None  # a documented stand-in: `sk-xxxxxxxx…`, `AKIAXXXXXXXXXXXXXXXX`, `ghp_************`
        if over and t >= lim:
            return run_on([(s, t, self.id, self.keep)], v, avail, final, self.cont)
        return [(s, t, self.id, self.keep)]


_FILLER_RUN = re.compile(rb"[xX]{12,}|\*{4,}|0{16,}")


class ContextDetector(Detector):
    """A secret found after a context word on the same line (`Bearer`, `://user:`, `AccountKey=`).

    `pattern` is matched at the trigger (case-insensitive unless `flags` says otherwise); every named
    group starting with `s` is a secret. `hold` tells where a secret could start while the line is
    still arriving (default: right after the trigger).
    """

    prefix_type = False

    def __init__(
        self,
        id: str,
        description: str,
        literals: list[str],
        pattern: bytes,
        *,
        max_len: int = 1024,
        validate: Validator | None = None,
        boundary: bool = False,
        hold: Callable[[bytes, int, int, int], int | None] | None = None,
        value_class: bytes = rb"[^\s\"'`,;&]",
        flags: int = re.IGNORECASE,
        idle_min_body: int = 0,
        idle_show_below: int = 0,
        idle_show_digits: int = 0,
        positives: list[tuple[str, str]] = (),  # type: ignore[assignment]
        negatives: list[str] = (),  # type: ignore[assignment]
    ) -> None:
        self.ids = (id,)
        self.id = id
        self.description = description
        self.literals = tuple(x.lower().encode() for x in literals)
        self.idle_min_body = idle_min_body
        self.idle_show_below = idle_show_below
        self.idle_show_digits = idle_show_digits
        self.boundary = boundary
        self.regex = re.compile(pattern, flags)
        self.groups = [g for g in self.regex.groupindex if g.startswith("s")]
        self.max_len = max_len
        self.max_window = max_len
        self.validate = validate or not_placeholder
        self.hold_fn = hold
        self.value_class = re.compile(value_class + b"*")
        self.positives = tuple(positives)
        self.negatives = tuple(negatives)

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        if self.boundary and ts > 0 and v[ts - 1] in ALNUM:
            return None
        w = line_window(v, ts, self.max_len, avail, final)
        if w is None:
            return Pending(self.hold_fn(v, ts, te, avail) if self.hold_fn else te)
        m = self.regex.match(v, ts, w)
        if m is None:
            return None
        out: list[Span] = []
        for g in self.groups:
            s, t = m.span(g)
            if s >= 0 and t > s and self.validate(v[s:t]) and is_text(v[s:t]):
                out.append((s, t, self.id, 0))
        if out and out[-1][1] == w == ts + self.max_len:
            return run_on(out, v, avail, final, self.value_class)  # the line went on past the window
        return out


@dataclass
class KeyRule:
    """One `key = value` detector of the key-value family: which keys it takes and which values."""

    id: str
    description: str
    accepts: Callable[[bytes, list[bytes]], bool]
    value_ok: Callable[[bytes, bool], bool] = lambda value, quoted: True
    positives: tuple[tuple[str, str], ...] = ()
    negatives: tuple[str, ...] = ()


# group 2: the key's closing quote, and the `]` of a subscript (`os.environ['API_KEY'] = '…'`, php-fpm
# `env[DB_PASSWORD] = …`)
# (`?=` and `+=`: Makefile assignments; `||=`: Ruby's; `$ENV{DB_PASSWORD} =`: Perl's hash element)
_KEY_TAIL = re.compile(rb"([A-Za-z0-9_.\-]{0,64})(\\?[\"']?|[\"']?[\]}])[ \t]*(=>|:=|\?=|\+=|\|\|=|=|:)[ \t]*(\\?[\"']?)")
# A Python/pydantic type annotation after `name:` (optionally `| None` and a default).
_ANNOTATION = re.compile(
    rb"(?:str|bytes|int|bool|float|Any|SecretStr|SecretBytes|&(?:'static[ \t]+)?str|String"  # (Rust `&str`)
    rb"|(?:typing\.)?(?:Optional|Union|List|Dict|Annotated)"
    rb"\[[^\]]*\])(?:[ \t]*\|[ \t]*None)?(?:[ \t]*=[ \t]*(?:[\"'](?P<lit>[^\"']*)[\"']|[^\"'].*))?\Z")
_BLOCK_SCALAR = re.compile(rb"[|>][-+]?[1-9]?[-+]?")
# `password: !!binary |`: base64 of the value itself (an `!vault |` block is encrypted, and is not masked)
_TAGGED_BLOCK_SCALAR = re.compile(rb"!!(?:binary|str)[ \t]+[|>][-+]?[1-9]?[-+]?")
_KEY_WS = re.compile(rb"[A-Za-z0-9_.\-]{0,64}?(?=[ \t])()[ \t]+")
# A label of words ending in a secret noun: `API key: …`, `Private key: 0x…`, `Secret Access Key = …`
# (`AWS Secret Access Key [None]: …`, `[****************kzf0]: …`: `aws configure` shows the current value first)
_SPACED_KEY_TAIL = re.compile(rb"([A-Za-z0-9_.\-]{0,64}(?: [A-Za-z]{2,16})? (?i:key|token|secret|password|passphrase))"
                              rb"()(?:[ \t]*\[[^\]\r\n]{0,40}\])?[ \t]*(=|:)[ \t]*(\"?)")
# `echo $DB_PASSWORD`, `echo "${API_TOKEN}"`, `printf '%s\n' "$X"`, `printenv NPM_TOKEN` typed at a prompt: the text
# on the line before the variable's name (the name then ends the line, and its value is the next line)
_ECHO_BEFORE = re.compile(
    rb"(?:[^\n]*[\s;&|(])?(?:(?:echo(?:[ \t]+-[neE]{1,3})*|printf[ \t]+(?:'[^'\n]*'|\"[^\"\n]*\"))[ \t]+[\"']?\$\{?"
    rb"|printenv[ \t]+)")
_ECHO_AFTER = re.compile(rb"\}?[\"']?[ \t\r]*\n")
_IDENT_RUN = re.compile(rb"[A-Za-z0-9_]*")
_ENV_NAME = re.compile(rb"[A-Z][A-Z0-9_]*\Z")
_ANNOUNCE = re.compile(rb"(?i:password|passphrase|token|secret|api[ _-]?key)[ \t]+(?i:is|was|for|to)\b")
_ANNOUNCE_PARTIAL = re.compile(rb"(?i:password|passphrase|token|secret|api[ _-]?key)[ \t]+[A-Za-z]{0,2}")
# After `password is|was|for|to`: up to a separator (`is`, `is :`, `: ` with a blank, ` = `) and one word
# ending the line (a final `.` is punctuation).
_ANNOUNCE_WORD = re.compile(rb"(?i:password|passphrase|token|secret|api[ _-]?key)")
_ANNOUNCED_VALUE = re.compile(
    rb"[^\n]{0,160}?(?:\b(?i:is)[ \t]*:?|:[ \t]|[ \t]=)[ \t]*([\"']?)(?P<s>[^\s\"']{6,256}?)\1[ \t]*\.?[ \t\r]*\Z")
_ANNOUNCED_DIRECT = re.compile(rb"[ \t]*:?[ \t]*([\"']?)(?P<s>[^\s\"']{6,256}?)\1[ \t]*\.?[ \t\r]*\Z")
_NEXT_LINE_PASSWORD = re.compile(rb"[ \t]*(?:(?i:new value):[ \t]*)?(?P<s>[^\s\"']{8,256})[ \t\r]*")


# `aws configure set`, `yarn config set`, `git config --global`, `ngrok config`: a setting's name, then its value
_CONFIG_SET = re.compile(rb"(?:^|[ \t>])(?i:config|configure)(?:[ \t]+(?i:set|--global|--local|--system|--add))?[ \t]+\Z")


def _line_head(v: bytes, ks: int) -> int:
    """Start of the line holding `ks`, or -1 if it starts more than 256 bytes before it."""
    ls = v.rfind(b"\n", max(0, ks - 256), ks) + 1
    return ls if ls > 0 or ks <= 256 else -1


def _after_config_set(v: bytes, ks: int) -> bool:
    ls = _line_head(v, ks)
    return ls >= 0 and _CONFIG_SET.search(v, ls, ks) is not None


_REDIS_ITEM = re.compile(rb"[ \t]*[0-9]{1,4}\) \"")
_REDIS_KEY_END = re.compile(rb"[A-Za-z0-9_.\-]{0,64}(\")[ \t\r]*\n")
_REDIS_VALUE = re.compile(rb"[ \t]*[0-9]{1,4}\) \"(?P<s>(?:[^\"\\\n]|\\.)*)\"[ \t\r]*")


_COLUMN_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
_CSV_HEADER = re.compile(rb"[A-Za-z_][A-Za-z0-9_ .\-]{0,63}")
_TABLE_BORDER = re.compile(rb"[ \t]*[-+=|]*-[-+=|]*[ \t\r]*")
_TABLE_REST = re.compile(rb"[^\n]*")
_CSV_FIELD = re.compile(rb'[ \t]*(?:"(?:[^"\n]|"")*"|[^,\n]*)')


def _table_sep(v: bytes, ls: int, ks: int) -> bytes | None:
    """The cell separator of a header line whose cell at `ks` is a name: `|`, a tab or `,`."""
    j = ks - 1
    while j >= ls and v[j] in b" \"":
        j -= 1
    if j >= ls:
        c = v[j]
        return b"|" if c == 124 else b"\t" if c == 9 else b"," if c == 44 else None
    line_end = v.find(b"\n", ks, ks + 1024)  # the first cell: the separator is the first one after it
    rest = v[ks : line_end if line_end >= 0 else ks + 1024]
    return next((sep for sep in (b"|", b"\t", b",") if sep in rest), None)


def _table_cells(v: bytes, s: int, e: int, sep: bytes) -> list[tuple[int, int]] | None:
    """The cells of one table line as (start, end), blanks and a CSV field's quotes left out."""
    while e > s and v[e - 1] in b"\r":
        e -= 1
    out: list[tuple[int, int]] = []
    if sep == b",":
        p = s
        while True:
            m = _CSV_FIELD.match(v, p, e)
            a, b = m.span()  # type: ignore[union-attr]
            while a < b and v[a] in b" \t":
                a += 1
            if b - a >= 2 and v[a] == 34 and v[b - 1] == 34:
                a, b = a + 1, b - 1
            out.append((a, b))
            p = m.end()  # type: ignore[union-attr]
            if p >= e:
                return out
            if v[p] != 44:
                return None  # text after a quoted field: not CSV
            p += 1
    line = v[s:e]
    lead = len(line) - len(line.lstrip(b" \t"))
    if sep == b"|" and line[lead : lead + 1] == b"|":  # MySQL: `| a | b |`
        stripped_end = s + len(line.rstrip(b" \t"))
        if v[stripped_end - 1] != 124 or stripped_end - s <= lead + 1:
            return None
        s, e = s + lead + 1, stripped_end - 1
    p = s
    while True:
        q = v.find(sep, p, e)
        end = e if q < 0 else q
        a, b = p, end
        while a < b and v[a] in b" \t":
            a += 1
        while b > a and v[b - 1] in b" \t":
            b -= 1
        out.append((a, b))
        if q < 0:
            return out
        p = q + 1


# ipsec.secrets: `[selectors] : PSK "…"`
_IPSEC_SELECTOR = re.compile(rb"[^\n:]{0,200}?(?:^|[ \t]):[ \t]+\Z|:[ \t]+\Z")


def _after_ipsec_selector(v: bytes, ks: int) -> bool:
    if v[ks : ks + 3].upper() != b"PSK" or v[ks - 1 : ks] not in (b" ", b"\t"):
        return False
    ls = _line_head(v, ks)
    return ls >= 0 and _IPSEC_SELECTOR.fullmatch(v, ls, ks) is not None


def _generated_word(value: bytes) -> bool:
    """Letters and digits or symbols, not a placeholder: `k#9Lq2;pW_aZ`, not `incorrect` or `********`."""
    return (any(c in ALNUM and not 48 <= c <= 57 for c in value) and _has_digit_or_symbol(value)
            and not_placeholder(value) and not value.startswith(b"[MASKED"))


_NEXT_KEY = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*=\Z")


def _value_ended(v: bytes, vs: int, avail: int, quote: bytes) -> bool:
    """A value inside a line has ended before `avail`: its closing quote, or a byte no bare value holds (not `&`,
    which may join the next query parameter, nor `[`, `(`, `{` that make it code), has arrived."""
    if quote:
        return closing_quote(v, quote, vs, avail) >= 0
    t = _UNQUOTED.match(v, vs, avail)
    if t is None:
        return False  # not a bare value (`&str = "…"`, a bracket): decided at the line's end
    e = t.end()
    while e < avail and v[e] == 38:  # `&`: the next query parameter (a `=` in it) ends the value, else it goes on
        nxt = _UNQUOTED.match(v, e + 1, avail)
        if nxt is None or b"=" in v[e + 1 : nxt.end()]:
            return True
        if nxt.end() >= avail:
            return False
        e = nxt.end()
    return e < avail and v[e] not in b"([{"


def _looks_base64_padded(value: bytes) -> bool:
    """`swZQEmgc7rrD…ywA=` is base64 with its padding, not the next `key=`: long, or digits among both cases."""
    return len(value) > 24 or (any(48 <= c <= 57 for c in value) and value.lower() != value and value.upper() != value)
# a YAML tag (`!vault |`, `!Ref`), a TypeScript or GraphQL type (`string | undefined;`, `String!`)
_TYPE_OR_TAG = re.compile(rb"!!?[A-Za-z][a-z]*(?:[A-Z][a-z]*)*[0-9]*(?:[ \t]|\Z)|(?:string|number|boolean|any|unknown|String|ID|Int|Boolean)[!?]?"
                          rb"(?:[ \t]*\|[ \t]*(?:undefined|null|string))*[;,]?\Z")
_LONG_OPTION = re.compile(rb"--([A-Za-z0-9][A-Za-z0-9_.\-]{1,62})[ \t]+(?:'([^'\r\n]+)'|\"([^\"\r\n]+)\"|([^\s'\"]+))"
                          rb"(?=[\s;|&)]|\Z)")
# a table row's first cell up to the key (words before it: `| API Secret |`), then the key, `|`, the value, `|`
_PHP_DUMPED = re.compile(rb"[ \t]*string\([0-9]{1,6}\)[ \t]*\"([^\"\r\n]*)\"")
_PHP_DUMPED_PARTIAL = re.compile(rb"[ \t]*(?:s(?:t(?:r(?:i(?:n(?:g(?:\([0-9]{0,6}(?:\)[ \t]*(?:\"[^\"\r\n]*)?)?)?)?)?)?)?)?)?")
_SOURCE_NAME = re.compile(rb"\.(?:go|rs|py|pyi|ts|tsx|js|jsx|mjs|java|kt|rb|c|h|cc|cpp|hpp|cs|swift|php|scala|ex|exs|"
                          rb"vue|sh|pl|lua|dart|zig)\Z")
_TABLE_RULE = re.compile(rb"[ \t]*[+|]?[ \t]*:?-{3,}")
# (the bar: `|`, or the box-drawing `│ ┃ ║` of `rich`, `tabulate` and other pretty tables)
_BAR = rb"(?:\||\xe2\x94[\x82\x83]|\xe2\x95\x91)"
_PIPE_ROW_HEAD = re.compile(rb"[ \t]*" + _BAR + rb"[ \t]*(?:[A-Za-z][A-Za-z0-9_.\-]{0,30}[ \t]){0,3}")
_PIPE_ROW = re.compile(rb"([A-Za-z0-9_.\-]{0,64}(?:[ \t][A-Za-z0-9_.\-]{1,30}){0,2})[ \t]*" + _BAR
                       + rb"[ \t]*([^\s|][^|\r\n]*?)[ \t]*" + _BAR + rb"[ \t\r]*\Z")
_PIPE_ROW_PARTIAL = re.compile(rb"[A-Za-z0-9_.\-]{0,64}(?:[ \t][A-Za-z0-9_.\-]{0,30}){0,2}[ \t]*"
                               rb"(?:(?:" + _BAR + rb"|\xe2(?:[\x94\x95])?)[ \t]*(?:([^\s|][^|\r\n]*)(?:" + _BAR
                               + rb"|\xe2(?:[\x94\x95])?)?[ \t\r]*)?)?")
_BAR_BYTES = b" \t|\xe2\x94\x95\x82\x83\x91"
_BOX_BARS = (b"\xe2\x94\x82", b"\xe2\x94\x83", b"\xe2\x95\x91")
_KEYWORD_PAIR = re.compile(rb"([A-Za-z][A-Za-z0-9_.\-]{1,62})[ \t]+(?:'([^'\r\n]+)'|\"([^\"\r\n]+)\"|([^\s'\"]+))"
                           rb"(?=[\s,;})\]]|\Z)")
_KEYWORD_PARTIAL = re.compile(rb"[A-Za-z0-9_.\-]{0,63}(?:[ \t]+(?:(['\"][^\r\n'\"]*['\"]?|[^\s'\"]+))?)?")
_LONG_OPTION_PARTIAL = re.compile(rb"--[A-Za-z0-9_.\-]{0,63}(?:[ \t]+(?:(['\"][^\r\n'\"]*['\"]?|[^\s'\"]+))?)?")
_OPTION_VALUE_MARKS = frozenset(b"0123456789_+/=.~:!@#$%^&*")  # what a generated value has that a word has not
_INNER_BLANK = re.compile(rb"[ \t]+[^ \t\r\n]")
_LABEL_PATH = re.compile(rb"(?:~|\.{1,2})?/[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]*)*")
_SPACED_KEY_PARTIAL = re.compile(rb"[A-Za-z0-9_.\-]{0,64}(?: [A-Za-z]{0,16}){1,2}(?:[ \t]*\[[^\]\r\n]{0,40}\]?)?[ \t]*[=:]?")
_KEY_TAIL_PARTIAL = re.compile(rb"[A-Za-z0-9_.\-]{0,64}\\?[\"']?[\]}]?[ \t]*(?:[?+]|\|\|?)?[=:]?")
_CAMEL = re.compile(rb"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_UNQUOTED = re.compile(rb"[^\s\"'`,;&<>()\[\]{}]+")
# `settings.TOKEN`, `os.environ.get`: a reference in code, not a value (but a legacy Vault token, `s.` and 24
# mixed-case letters and digits, has that shape too, and so do generated `id.secret` tokens: a part with
# digits on both sides of letters, `patuj3z9hX….abbaec52…`, `t1.v7jnIer3…`, is generated, not a name)
_CODE_REF = re.compile(rb"(?![sbr]\.(?=[A-Za-z]*[0-9])(?=[0-9a-z]*[A-Z])[A-Za-z0-9]{24}\Z)"
                       rb"(?![^\n]*?[0-9][A-Za-z]+[0-9])"
                       rb"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+\Z")
_IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*\Z")
_CODE_CALL = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]*(?:\(.*?\)|\[.*?\])+(?:[ \t]*\{.*\})?[;,]?\Z"  # (Ruby `{ "" }`)
                        # `api_key or settings.API_KEY`, `a || b`, `x ?? y`: an expression of names
                        rb"|[A-Za-z_$][\w.$]*[ \t]+(?:or|and|\|\||&&|\?\?)[ \t]+[A-Za-z_$][\w.$\[\]\"'()]*[;,]?\Z"
                        # PHP `$request->input("password");`
                        rb"|\$[A-Za-z_]\w*->[A-Za-z_]\w*.*\Z")


_LINE_VALUE_REJECT = (b"{", b"[", b"|", b">", b"&", b"*", b"!")  # a line value starting so may be structure
# YAML's: an anchor, an alias or a tag (`key: &anchor`, `*alias`, `!Ref x`), not `*e9dWLOQ…!` (a password)
# (named as words are: `&defaults`, `*db-config`, `!GetAtt`, `!!binary`; `!yCxBDTTmf6FgI7C` is a password)
_YAML_NODE = re.compile(rb"(?:[&*](?:[a-z][a-z0-9_\-]*|[A-Za-z][a-z]*(?:[A-Z][a-z]*)*[0-9]*)"
                        rb"|!!?[A-Za-z][a-z]*(?:[A-Z][a-z]*)*[0-9]*)(?:[ \t]|\Z)")
_FLOW_START = frozenset((b"", b'"', b"'", b" ", b"\t", b"}", b"]", b"{", b"["))


def _structure(line: bytes, sep: bytes) -> bool:
    """A line value starting with `{ [ | > & * !` is structure, not a value: a flow mapping or list (`{"a": 1}`,
    `[a, b]`), and after `:` a YAML anchor, alias or tag. Generated passwords start so too (`DB_PASSWORD={bt5…`,
    `!xK9…`, `*e9d…!`); after `=` (env files, INI) YAML's signs are none."""
    c = line[:1]
    if c in (b"{", b"["):
        return line[1:2] in _FLOW_START or sep != b"="
    return sep != b"=" and c in b"&*!" and _YAML_NODE.match(line) is not None
# `KEY=value` alone on a complete line (the key-value fast path). What it pins down, so that the general
# path would answer the same: the key is one identifier run of at most 64 bytes from the line start (so
# `key_start` finds the line start and `_KEY_TAIL` takes the whole run), the separator is a bare `=` (no
# quote, backslash, space or `>` after it: not `=>`, not quoted), and the value, 3-8000 bytes, runs to a
# newline with no whitespace or control byte (no ` #` comment, nothing to strip, the newline ends the
# window, no binary byte for `is_text` to reject), does not start with a structural byte
# (`_LINE_VALUE_REJECT`) and has no `(` or `[` (so it is neither a code call nor `[MASKED…]`).
_ENV_LINE = re.compile(rb"([A-Za-z0-9_.\-]{1,64})=(?![\"'\\>{|&*!])([^\s(\[\x00-\x1f\x7f]{3,8000})(?=\n)")


_QUOTES = frozenset(b"\"'")
_LIST_ENDS = frozenset(b",;")
_LIST_GAP = re.compile(rb"[\s,]*")
# What an idle release swallows of a list still arriving: the rest of its line, and of the following
# lines that continue it with another quoted element (or that have only their indentation so far).
_LIST_REST = re.compile(rb"[^\]\n]*(?:\n[ \t]*(?:(?=[\"'])[^\]\n]*|\Z))*")

_SEQ_ITEM = re.compile(rb"([ \t]*)-[ \t]+(.*?)[ \t\r]*\Z")
_SEQ_MAPPING = re.compile(rb"[A-Za-z0-9_.\-\"']+[ \t]*:(?:[ \t]|\Z)")  # `- name: x`
_IDENT_WORD = re.compile(rb"[A-Za-z_]+\Z")  # a name, no digit (`- upper`)
_SEQ_REST = re.compile(rb"[^\n]*(?:\n[ \t]*(?:-[ \t][^\n]*|-?\Z))*")


def _has_digit_or_symbol(value: bytes) -> bool:
    """What tells a generated value from a word (`s3cr3t!` from `expired`)."""
    return any(c in b"0123456789+/=_-!@#$%^&*" for c in value)


def _element_span(value: bytes, s: int, quoted: bool, rules: list, key: bytes, weak: bool) -> "Span | None":
    """The span of one element of a list under a secret key (at `s`), or None: not a placeholder, nor (bare)
    a name or a code reference (`[min_length, upper]`, `- true`), and accepted by the first rule that takes it."""
    if len(value) < 3 or not not_placeholder(value) or value.startswith(b"[MASKED") or value == key:
        return None
    if not quoted and (_IDENT_WORD.match(value) or (b"." in value and _CODE_REF.match(value))):
        return None
    if weak and not (len(value) >= 6 and _has_digit_or_symbol(value)):
        return None
    for r in rules:
        if r.value_ok(value, quoted):
            return (s, s + len(value), r.id, 0)
    return None


def _scalar(text: bytes, s: int) -> tuple[bytes, int, bool]:
    """(value, its offset, quoted) of a YAML scalar written at `s`: the inside of its quotes (to the line end
    if unterminated), or the bare text less a trailing ` # comment`."""
    if text[:1] in (b'"', b"'"):
        close = closing_quote(text, text[:1], 1, len(text))
        return text[1 : close if close >= 0 else len(text)], s + 1, True
    cut = text.find(b" #")
    return (text[:cut] if cut >= 0 else text).rstrip(b" \t"), s, False


def _last_part(key: bytes) -> bytes:
    """`self.secret` -> `secret`: an attribute assigned the variable of its own name is code."""
    return key.rsplit(b".", 1)[-1].lower()


def closing_quote(v: bytes, quote: bytes, p: int, w: int) -> int:
    """Where the string opened by `quote` (`"`, `'`, or `\\"` inside an escaped JSON string) just before
    `p` ends, before `w`; -1 if it does not. A quote after an odd run of backslashes is escaped (`\\"`);
    one level down (`\\"…\\"`) the closing quote follows 4k+1 backslashes. Returns the offset of the
    closing sequence (its backslash, for `\\"`)."""
    q = quote[-1:]
    nested = len(quote) > 1
    i = v.find(q, p, w)
    while i >= 0:
        b = i
        while b > p and v[b - 1] == 92:
            b -= 1
        n = i - b
        if (n % 4 == 1) if nested else (n % 2 == 0):
            return i - 1 if nested else i
        i = v.find(q, i + 1, w)
    return -1


def key_parts(key: bytes) -> list[bytes]:
    parts: list[bytes] = []
    for chunk in re.split(rb"[_.\-]+", key):
        parts.extend(p.lower() for p in _CAMEL.findall(chunk))
    return parts


class KeyValueFamily(Detector):
    """Values of secret-named keys: `KEY=value`, `export KEY=…`, JSON, YAML, INI, `key => value`.

    One parse per hit; the first enabled rule that accepts the key (and value) names the span.
    The key name itself is never masked, so nothing is held back while a key is being typed.
    """

    prefix_type = False
    boundary = False
    max_window = 8192
    value_class = re.compile(rb"[^\s\"'`,;&<>()\[\]{}]*")

    def __init__(self, literals: list[str], rules: list[KeyRule]) -> None:
        self.literals = tuple(x.lower().encode() for x in literals)
        self.rules = rules
        self.ids = tuple(r.id for r in rules)
        self._cache: dict[bytes, tuple[list[KeyRule], bool]] = {}  # key name -> accepting rules
        # key name -> (rules, lower-cased name, its last dotted part)
        self._fast: dict[bytes, tuple[list[KeyRule], bytes, bytes]] = {}

    def enabled(self, ids: frozenset[str]) -> "Detector | None":
        rules = [r for r in self.rules if r.id in ids]
        if not rules:
            return None
        return KeyValueFamily([x.decode() for x in self.literals], rules)

    def with_extra(self, literals: list[str], rule: KeyRule) -> "KeyValueFamily":
        lits = list(dict.fromkeys([x.decode() for x in self.literals] + [x.lower() for x in literals]))
        return KeyValueFamily(lits, self.rules + [rule])

    def infos(self) -> list[Info]:
        return [Info(r.id, r.description, r.positives, r.negatives) for r in self.rules]

    def rule_for(self, v: bytes, ts: int) -> str:
        """The rule that would name a value of the key at `ts` (for masks made before the value ends)."""
        ks = key_start(v, ts)
        m = _KEY_TAIL.match(v, ts, ts + 160)
        end = ts + len(m.group(1)) if m else ts
        parts = key_parts(v[ks:end])
        norm = b"".join(parts)
        for r in self.rules:
            if r.accepts(norm, parts):
                return r.id
        return self.rules[-1].id

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        return self.evaluate_key(v, ts, avail, final)[0]

    def evaluate_key(self, v: bytes, ts: int, avail: int, final: bool) -> tuple[object, int, int]:
        """`evaluate`, plus `skip_to`: any later hit of this family at `ts < t < skip_to` lies in the same
        key and would decide exactly the same (same key start, same key tail, same window), so the
        caller need not evaluate it. `skip_to` is -1 unless the answer is decided. Third, `env_to`: when
        the hit lies in the key of a `KEY=value` line (`_ENV_LINE`), `skip_to` again, else -1: a hit of
        any detector inside `[ts, env_to)` is inside that key, which detectors marked
        `none_in_env_key` never find anything in.

        Why it is the same: a hit inside the key sees the same identifier run to its end (`_KEY_TAIL`
        either takes the whole run, at most 64 bytes, or fails), the same separator and value start
        (the 160-byte window was not what stopped the first match), and `key_start` finds the same
        boundary byte as long as it lies within its 64-byte look-back.
        """
        # Fast path, the commonest shape: `KEY=value` alone on a complete line, the hit inside KEY.
        # Every test of `_evaluate` below is then known (see `_ENV_LINE`) except the ones kept here,
        # so the answer is the same; anything else takes the general path.
        nl = v.rfind(b"\n", ts - 64 if ts > 64 else 0, ts)
        if nl >= 0 or ts <= 64:
            ls = nl + 1  # key_start(ts) is ls: the newline (or the stream start) is within its look-back
            m = _ENV_LINE.match(v, ls, avail)
            if m is not None:
                key, value = m.groups()
                eq = ls + len(key)
                if eq > ts:
                    lim = ls + 64 if ls else 65  # as in `_evaluate`: where key_start stops finding ls
                    skip = eq if eq < lim else lim
                    cached = self._fast.get(key)
                    if cached is None:
                        cached = self._fast_for(key)
                    rules, key_lower, key_last = cached
                    if not rules:
                        return None, skip, skip
                    if value[-1] in _LIST_ENDS:
                        return self._evaluate_key_general(v, ts, avail, final)  # (a trailing `,` or `;`)
                    if not value.isascii() and not is_text(value):
                        return None, skip, skip  # binary bytes, not a value (as `_evaluate` decides)
                    n = len(value)
                    c = value[0]
                    if not ((c not in _PLACEHOLDER_HEADS and value[-1] not in _ELLIPSIS_ENDS)
                            or (n > 9 and c in _BOUNDED_HEADS)) or _ELIDED(value) is not None:
                        if PLACEHOLDER_RE.match(value) is not None:  # `not_placeholder`, inlined
                            return None, skip, skip
                    if (b"." in value and _CODE_REF.match(value)) or (
                        (n == len(key) and value.lower() == key_lower)  # `PASSWORD=password`
                        or (n == len(key_last) and value.lower() == key_last)  # `self.secret=secret`
                    ):
                        return None, skip, skip
                    for r in rules:
                        if r.value_ok(value, False):
                            return [(eq + 1, eq + 1 + n, r.id, 0)], skip, skip
                    return None, skip, skip
        return self._evaluate_key_general(v, ts, avail, final)

    def _evaluate_key_general(self, v: bytes, ts: int, avail: int, final: bool) -> tuple[object, int, int]:
        r = self._evaluate(v, ts, avail, final)
        if type(r) is tuple:
            r, skip = r
            if r and type(r) is list:
                if not all(is_text(v[s:t]) for s, t, _i, _k in r):
                    r = [x for x in r if is_text(v[x[0] : x[1]])] or None
                elif r[-1][1] - r[-1][0] >= self.max_window - 16 and (
                        r[-1][1] == avail or self.value_class.match(v, r[-1][1], r[-1][1] + 1).end() > r[-1][1]):
                    r = run_on(r, v, avail, final, self.value_class)  # a value longer than the window
            return r, skip, -1
        return r, -1, -1

    def _triple_quoted(self, v: bytes, p: int, close: bytes, avail: int, final: bool, rules: list[KeyRule]):
        """The value of a triple-quoted string opened just before `p` (it may span lines; at most
        `max_window` bytes): masked whole when a rule accepts its text without the blank lines around it."""
        lim = min(avail, p + self.max_window)
        end = v.find(close, p, lim)
        if end < 0:
            if not final and avail < p + self.max_window:
                return Pending(p)
            end = lim  # unterminated: as far as a value may go
        raw = v[p:end]
        value = raw.strip(b" \t\r\n")
        if len(value) < 3 or not not_placeholder(value):
            return None
        for r in rules:
            if r.value_ok(value, True):
                s = p + raw.index(value[:1])
                return [(s, s + len(value), r.id, 0)]
        return None

    def _fast_for(self, key: bytes) -> tuple[list[KeyRule], bytes, bytes]:
        cached = self._rules_for(key)
        if len(self._fast) > 4096:
            self._fast.clear()
        lower = key.lower()
        out = self._fast[key] = (cached[0], lower, lower.rsplit(b".", 1)[-1])
        return out

    def _rules_for(self, key: bytes) -> tuple[list[KeyRule], bool]:
        """The rules that accept a key name, and whether the name is one word (cached per name)."""
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        parts = key_parts(key)
        norm = b"".join(parts)
        cached = ([r for r in self.rules if r.accepts(norm, parts)], len(parts) < 2)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = cached
        return cached

    def _evaluate(self, v: bytes, ts: int, avail: int, final: bool):
        """The answer, or `(answer, skip_to)` once the key tail matched and the answer is decided."""
        ks = key_start(v, ts)
        m = _KEY_TAIL.match(v, ts, min(avail, ts + 160))
        spaced = False
        if m is None:
            if not final and avail - ts < 160 and _KEY_TAIL_PARTIAL.fullmatch(v, ts, avail):
                return Pending(None)
            m = _SPACED_KEY_TAIL.match(v, ts, min(avail, ts + 160))
            if m is None:
                # no separator after the key: the shapes that need none, in turn
                for shape in (self._echoed, self._long_option, self._pipe_row, self._two_fields, self._announced,
                              self._redis_reply, self._table_column):
                    two = shape(v, ks, ts, avail, final)
                    if two is not None:
                        break
                if not final and avail - ts < 160 and _SPACED_KEY_PARTIAL.fullmatch(v, ts, avail):
                    # a label still arriving; what `_two_fields` holds (its value may start at the second
                    # word) stays held, as it would be if the label does not form
                    return two if type(two) is Pending else Pending(None)
                return two
            spaced = True
        vs = m.end()
        if vs >= avail and not final:
            return Pending(None)  # more spaces or an opening quote may follow
        if (m.group(4) == b"\\" and v[vs : vs + 1] in (b"n", b"r")) or (
                not m.group(4) and v[vs : vs + 1] == b"\\" and v[vs + 1 : vs + 2] in (b"n", b"r")):
            return None  # `{"log":"Password: \n",…}`: an escaped line end, the value is empty
        key = v[ks : ts + len(m.group(1))]
        sep = m.group(3)
        quoted_key = ks > 0 and v[ks - 1] in b"\"'"
        # `API key: …`, `Secret Access Key: …`: a label in prose or a console, so only one generated word
        at_line_start = line_start_ok(v, ks - 1 if quoted_key else ks) and not spaced
        cap = ts + 160
        if spaced:
            skip = -1  # a hit on a later word of the label reads a different key
        elif avail <= cap or vs + 2 < cap:
            kend = ts + len(m.group(1))
            if ks == 0:
                skip = min(kend, 65)
            elif v[ks - 1] not in _IDENT_BYTES:
                skip = min(kend, ks + 64)
            else:
                skip = -1
        else:
            skip = -1
        if sep == b":" and (key.startswith(b"http") or v[ks - 1 : ks] == b"=" or v.startswith(b"//", vs)
                            or (b"." in key and _SOURCE_NAME.search(key))):
            # (`token.go:31:2: declared and not used`: a file name and a line number)
            # (`component=auth: token=expired`: the "key" is another key's value; `credential.https://…`: a URL)
            return None, skip
        rules, simple_key = self._rules_for(key)
        if not rules or not text_before(v, ks) or v[ks - 2 : ks] == b"${":
            return None, skip  # (`${DB_PASSWORD:?missing}`: a reference with a default or a message)
        # `key: value` in the middle of a line is prose unless the key is compound (access_token) or
        # the value looks generated ("invalid password: too short" must stay)
        weak = (sep == b":" and simple_key and not (quoted_key or at_line_start)) or spaced
        lim = vs + self.max_window
        if v[vs : vs + 1] == b"[" and not m.group(4) and not v.startswith(b"[MASKED", vs):  # `[`: a list of values
            return self._list_value(v, vs, lim, avail, final, rules, key, weak), skip
        nl = v.find(b"\n", vs, min(avail, lim))
        nul = v.find(b"\x00", vs, nl if nl >= 0 else min(avail, lim))
        if nul >= 0:
            nl = nul  # NUL-separated records (`/proc/PID/environ`, `find -print0`) end a value too
        if nl >= 0:
            w = nl
        elif lim <= avail:
            w = lim
        elif final or (not at_line_start and _value_ended(v, vs, avail, m.group(4))):
            w = avail  # a value inside a line is decided where it ends, not at the line's end
        else:
            return Pending(vs)
        if sep == b"=>" and nl >= 0 and not v[vs:w].strip():
            # PHP `var_dump`: `["password"]=>` then `  string(14) "…"` on the next line
            pm = _PHP_DUMPED.match(v, w + 1, min(avail, w + 1 + 1024))
            if pm is not None:
                value = pm.group(1)
                for r in rules:
                    if len(value) >= 3 and not_placeholder(value) and r.value_ok(value, True):
                        return [(pm.start(1), pm.end(1), r.id, 0)], skip
                return None, skip
            if not final and avail < w + 1 + 1024 and _PHP_DUMPED_PARTIAL.fullmatch(v, w + 1, avail):
                return Pending(w + 1)
        quote = m.group(4)
        if quote in (b'"', b"'") and v[vs : vs + 2] == quote * 2:
            # a triple-quoted string (TOML, Python): `password = '''…'''`, or `"""` and the value on the lines after
            return self._triple_quoted(v, vs + 2, quote * 3, avail, final, rules), skip
        if quote and quoted_key and not m.group(2) and quote == v[ks - 1 : ks] and (sep == b":" or vs == w or
                                                                                    v[vs : vs + 1] in b" \t"):
            # `read -p "Password: " PW`, `grep 'api_key=' app.log`: the quote closes the text the key is in
            return None, skip
        if quote:
            end = closing_quote(v, quote, vs, w)
            if end < 0:
                end = w
            s, t = vs, end
            quoted = True
        else:
            quoted = False
            if at_line_start and not quoted_key:
                # env / YAML / INI: the value is the rest of the line (less a trailing comment)
                line = v[vs:w]
                cut = line.find(b" #")
                if cut >= 0:
                    line = line[:cut]
                line = line.rstrip(b" \t\r")
                if line[-1:] in (b",", b";") and len(line) > 9:
                    line = line[:-1]  # `DB_PASSWORD=…,` `token = …;`: the separator of a list or statement
                if b" " in line or b"\t" in line:
                    # `SECRET_KEY=q7Zx… note: rotated`, `API_KEY=sk-… python agent.py`: a generated first word is
                    # the value (an unquoted shell value ends at a blank; after it comes a remark or a command)
                    first = line.split(None, 1)[0]
                    rest = line[len(first):]
                    if first[-1:] in (b",", b";") and len(first) > 9:
                        first = first[:-1]  # `secret_key=q7Zx…, region=…`: the comma separates fields
                    if len(first) >= 8 and _UNQUOTED.fullmatch(first) and _generated_word(first) and (
                            sep != b":" or b":" in rest or b"(" in rest or b"=" in rest):
                        line = first
                    elif sep == b"=" and vs == m.start(3) + 1 and v[m.start(3) - 1] not in b" \t" and _ENV_NAME.match(key):
                        # `GPG_PASSPHRASE=correct horse battery staple` in `env` output: an environment
                        # variable's value is the whole line, spaces and all (`env` quotes nothing)
                        quoted = True
                s, t = vs, vs + len(line)
                if sep == b":" and (_BLOCK_SCALAR.fullmatch(line) or (
                        line[:2] == b"!!" and _TAGGED_BLOCK_SCALAR.fullmatch(line))):
                    return self._block_value(v, ks, w, avail, final, rules), skip
                if sep == b":" and not line and not quoted_key:
                    return self._block_list(v, ks, w, avail, final, rules, key), skip
                if line.startswith((b"!!str ", b"!!binary ")):  # a YAML tag before the value
                    cut = line.index(b" ") + 1
                    line, s = line[cut:], s + cut
                if line[:1] in _LINE_VALUE_REJECT and _structure(line, sep):
                    return None, skip
                if line[:1] == b"(" and line[-1:] == b")" and b" " in line:
                    return None, skip  # `Private-Key: (2048 bit, 2 primes)`: a remark in brackets
                if _CODE_CALL.match(line) or (v[vs - 1] in b" \t" and b"." in line and _CODE_REF.match(line)):
                    return None, skip  # `password = get_password()`, `token = settings.TOKEN`
                if sep == b":":
                    ann = _ANNOTATION.match(line)
                    if ann is not None:  # `password: str`, `token: Optional[str] = None`: a type, not a value
                        if ann.group("lit") is None:
                            return None, skip
                        s, t = vs + ann.start("lit"), vs + ann.end("lit")  # ...but `= "hunter2"` is one
            else:
                mm = _UNQUOTED.match(v, vs, w)
                typed = None  # Rust `const API_TOKEN: &str = "…";`: a type, then the literal
                if mm is None and sep == b":" and v[vs : vs + 1] == b"&":
                    typed = _ANNOTATION.match(v[vs:w].rstrip(b" \t\r;"))
                if mm is not None:
                    s, t = mm.span()
                elif typed is not None and typed.group("lit") is not None:
                    s, t = vs + typed.start("lit"), vs + typed.end("lit")
                    quoted = True
                else:
                    return None, skip
                while v[t : t + 1] == b"&":
                    # `&` ends a value before the next query parameter (`?token=abc&user=bob`), not inside
                    # one (`PWD=Tr0ub&3x;` in a connection string)
                    mm = _UNQUOTED.match(v, t + 1, w)
                    if mm is None or b"=" in v[t + 1 : mm.end()]:
                        break
                    t = mm.end()
                nxt = v[t : t + 1]
                if nxt in (b"(", b"[", b"{") or (nxt == b">" and v[t - 1 : t] == b"-"):
                    return None, skip  # a call, an index or a member (`$request->input`) in source code
                if (sep == b":" and nxt in (b",", b")", b";") and _IDENT.match(v, s, t)
                        and not any(48 <= c <= 57 for c in v[s:t])):
                    return None, skip  # `"refresh_token": new_refresh,`: a variable in an object literal
        while t - s > 2 and v[t - 2] == 92 and v[t - 1] in b"nrt" and v[t - 3] != 92:
            t -= 2  # `{"log": "API_KEY=…\n"}`: in an escaped string the value ends at its newline
        value = v[s:t]
        if len(value) < 3 or not not_placeholder(value) or value.startswith(b"[MASKED"):
            return None, skip
        if not quoted and ((value[-1] == 61 and _NEXT_KEY.match(value) and not _looks_base64_padded(value))
                           or (sep == b":" and _TYPE_OR_TAG.match(value))):
            return None, skip  # `auth: token=<nil>` (the next key), `password: !vault |`, `token: String!`
        if weak and not (len(value) >= 6 and _has_digit_or_symbol(value)):
            return None, skip
        if spaced and _LABEL_PATH.fullmatch(value):
            return None, skip  # `Error reading private key: /etc/ssl/private/key.pem`
        if not quoted:
            if (b"." in value and _CODE_REF.match(value)) or value.lower() in (key.lower(), _last_part(key)):
                return None, skip
            if (not at_line_start and _IDENT.match(value) and v[vs - 1] in b" \t"
                    and not any(c in b"0123456789" for c in value)):
                return None, skip  # `password = get_password`, `password: str` style code
        for r in rules:
            if r.value_ok(value, quoted):
                return [(s, t, r.id, 0)], skip
        return None, skip


    def _list_value(self, v: bytes, vs: int, lim: int, avail: int, final: bool, rules: list, key: bytes,
                    weak: bool):
        """`"api_keys": ["…", "…"]`, `tokens = ['…', '…']`, `passwords: [a1, b2]`: each element is a value of
        the key. The list may span lines (pretty-printed JSON); it ends at its `]`, at something that is not
        a scalar (a nested object or list: its own keys are judged by their own hits), or at 8 KiB."""
        cap = lim if lim < avail else avail
        spans: list[Span] = []
        p = vs + 1
        while True:
            if p < cap:
                p = _LIST_GAP.match(v, p, cap).end()  # type: ignore[union-attr]
            if p >= cap:
                if p < lim and not final:
                    return Pending(vs, _LIST_REST)
                break
            c = v[p]
            if c == 93:  # `]`
                break
            if c in _QUOTES:
                eol = v.find(b"\n", p + 1, cap)  # a string does not span lines (JSON, Python, YAML flow)
                end = closing_quote(v, v[p : p + 1], p + 1, eol if eol >= 0 else cap)
                if end < 0:
                    if eol < 0 and cap < lim and not final:
                        return Pending(vs, _LIST_REST)
                    end = eol if eol >= 0 else cap  # unterminated: masked to the end of its line,
                    cap = lim = end - 1  # and the list ends there
                value, quoted, s = v[p + 1 : end], True, p + 1
                p = end + 1
            else:
                mm = _UNQUOTED.match(v, p, cap)
                if mm is None:
                    break  # `{`, a nested `[`: not a scalar
                if mm.end() >= cap and cap < lim and not final:
                    return Pending(vs, _LIST_REST)
                if mm.end() < cap and v[mm.end()] in b"([{":
                    return None  # a call or an index: code, not data
                value, quoted, s = mm.group(), False, p
                p = mm.end()
            span = _element_span(value, s, quoted, rules, key, weak)
            if span is not None:
                spans.append(span)
        return spans or None

    def _block_list(self, v: bytes, ks: int, w: int, avail: int, final: bool, rules: list, key: bytes):
        """A YAML block sequence under the key (`api_keys:` then `  - …` lines): each item is a value. It
        ends at the first non-blank line that is not an item indented at least as deep as the key, at an
        item that is a mapping (`- name: x`: its keys are judged by their own hits), or at 8 KiB."""
        key_indent = ks - (v.rfind(b"\n", 0, ks) + 1)
        p = w + 1
        cap = p + self.max_window
        spans: list[Span] = []
        first = True
        while True:
            if p >= avail:
                if final or avail >= cap:
                    break
                return Pending(w + 1, _SEQ_REST)
            nl = v.find(b"\n", p, min(avail, cap))
            if nl < 0 and not final and avail < cap:
                return Pending(w + 1, _SEQ_REST)  # the line is still arriving
            end = nl if nl >= 0 else min(avail, cap)
            m = _SEQ_ITEM.match(v, p, end)
            if m is None:
                if v[p:end].strip(b" \t\r"):
                    if first:
                        return self._next_line_scalar(v, p, end, key_indent, rules, key)
                    break  # not an item: the sequence ended on the line before
            elif len(m.group(1)) < key_indent:
                break
            else:
                first = False
                value, s, quoted = _scalar(m.group(2), m.start(2))
                if not quoted and (_SEQ_MAPPING.match(value) or value[:1] in _LINE_VALUE_REJECT):
                    break
                span = _element_span(value, s, quoted, rules, key, False)
                if span is not None:
                    spans.append(span)
            if nl < 0:
                break
            p = nl + 1
        return spans or None

    def _next_line_scalar(self, v: bytes, p: int, end: int, key_indent: int, rules: list, key: bytes):
        """`password:` with its value alone on the next, deeper-indented line (a YAML plain or quoted scalar).
        A mapping (`password:` then `  value: x`), structure, a comment or words with spaces (prose under a
        `Password:` prompt) is not a value."""
        line = v[p:end].rstrip(b" \t\r")
        body = line.lstrip(b" \t")
        if len(line) - len(body) <= key_indent or _SEQ_MAPPING.match(body):
            return None
        value, s, quoted = _scalar(body, p + len(line) - len(body))
        if not quoted:
            if value[:1] in _LINE_VALUE_REJECT or value[:1] == b"#" or b" " in value or b"\t" in value:
                return None
            if (b"." in value and _CODE_REF.match(value)) or value.lower() == key.lower():
                return None
        if len(value) < 3 or not not_placeholder(value) or value.startswith(b"[MASKED"):
            return None
        for r in rules:
            if r.value_ok(value, quoted):
                return [(s, s + len(value), r.id, 0)]
        return None

    def _block_value(self, v: bytes, ks: int, w: int, avail: int, final: bool, rules: list):
        """A YAML block scalar (`password: |` then more-indented lines): the value is those lines. It ends at
        the first non-blank line indented no deeper than the key, at 8 KiB, or at the end of the stream."""
        key_indent = ks - (v.rfind(b"\n", 0, ks) + 1)
        start = last = -1
        p = w + 1
        cap = p + self.max_window
        while True:
            if p >= avail:
                if final or avail >= cap:
                    break
                return Pending(start if start >= 0 else p)
            nl = v.find(b"\n", p, min(avail, cap))
            end = nl if nl >= 0 else min(avail, cap)
            text = v[p:end]
            body = text.lstrip(b" ")
            if body.rstrip(b"\r"):
                if len(text) - len(body) <= key_indent:
                    break  # dedented: the block ended on the line before
                if start < 0:
                    start = p + len(text) - len(body)
                last = p + len(text.rstrip(b" \r"))
            elif nl < 0 and not final and end == avail and avail < cap:
                return Pending(start if start >= 0 else p)  # a line of spaces so far: depth unknown
            if nl < 0:
                if end >= cap or final:
                    break
                return Pending(start if start >= 0 else p)
            p = nl + 1
        if start < 0 or last - start < 3 or not not_placeholder(v[start:last].strip()):
            return None
        return [(start, last, rules[0].id, 0)]

    def _announced(self, v: bytes, ks: int, ts: int, avail: int, final: bool):
        """A generated password announced in a log: `A temporary password is generated for root@localhost: X`
        (MySQL), `The generated password for the elastic built-in superuser is : X`, `Your new password is: X`;
        or on the next line: Jenkins' `…use the following password to proceed to installation:` then the
        password alone on its line, Elasticsearch's `Password for the [elastic] user successfully reset.`
        then `New value: X`. Only a last word that looks generated, so prose (`password is incorrect.`,
        `password was changed at 10:00:00Z`) stays."""
        h = _ANNOUNCE.match(v, ks, min(avail, ks + 32))
        if h is None:
            if not final and avail - ks < 32 and _ANNOUNCE_PARTIAL.fullmatch(v, ks, avail):
                return Pending(None)
            return None
        w = line_window(v, ks, 512, avail, final)
        if w is None:
            return Pending(h.end())  # the value, if any, comes after `is`/`for`
        m = None
        if v[h.end() - 1] in b"sS":  # `is`, `was`: the value may follow at once
            m = _ANNOUNCED_DIRECT.match(v, h.end(), w)
        if m is None:
            m = _ANNOUNCED_VALUE.match(v, h.end(), w)
        if m is not None:
            value = m.group("s")
            if _generated_word(value):
                return [(m.start("s"), m.end("s"), self._announced_rule(v, ks), 0)]
            return None
        line = v[ks:w].rstrip(b" \t\r")
        if not (line.endswith(b":") or b"reset" in line.lower()):
            return None
        # the next non-blank line (one blank line may come between)
        p = w + 1
        for _ in range(2):
            nl = v.find(b"\n", p, min(avail, p + 512))
            if nl < 0:
                if avail < p + 512 and not final:
                    return Pending(w + 1)
                nl = min(avail, p + 512)
            if v[p:nl].strip(b" \t\r"):
                break
            p = nl + 1
        else:
            return None
        m = _NEXT_LINE_PASSWORD.fullmatch(v, p, nl)
        if m is None or not _generated_word(m.group("s")):
            return None
        return [(m.start("s"), m.end("s"), self._announced_rule(v, ks), 0)]

    def _echoed(self, v: bytes, ks: int, ts: int, avail: int, final: bool):
        """A secret-named variable printed at a shell prompt (`$ echo $AWS_SECRET_ACCESS_KEY`, `printenv
        GITHUB_TOKEN`): the name ends the line, and the next line, the value, is masked whole. (An exec
        session's `echo "$X"` is `secret-command-output`; this is the same in a pty's stream.)"""
        if ks < 1 or v[ks - 1] not in b"${ \t":
            return None
        ls = v.rfind(b"\n", max(0, ks - 256), ks) + 1
        if (v.find(b"echo", ls, ks) < 0 and v.find(b"print", ls, ks) < 0) or _ECHO_BEFORE.fullmatch(v, ls, ks) is None:
            return None  # (the byte search first: this runs for every key with no separator after it)
        ke = _IDENT_RUN.match(v, ks, min(avail, ks + 128)).end()
        if ke >= avail:
            return None if final else Pending(None)
        a = _ECHO_AFTER.match(v, ke, min(avail, ke + 16))
        if a is None:
            if not final and avail - ke < 16 and b"\n" not in v[ke:avail]:
                return Pending(None)  # the line may still end here
            return None
        name = v[ks:ke]
        rules = self._rules_for(name)[0]
        if not rules or name == b"PWD":
            return None
        p = a.end()
        nl = v.find(b"\n", p, min(avail, p + self.max_window))
        if nl < 0:
            if not final and avail < p + self.max_window:
                return Pending(p)
            nl = min(avail, p + self.max_window)
        value = v[p:nl].rstrip(b" \t\r")
        if not value:
            return None
        for r in rules:
            if r.value_ok(value, True):
                return [(p, p + len(value), r.id, 0)]
        return None

    def _announced_rule(self, v: bytes, ks: int) -> str:
        """The rule naming an announced value: of the word that announced it (`token is …` -> a token's)."""
        word = _ANNOUNCE_WORD.match(v, ks)
        rules = self._rules_for(word.group(0).replace(b" ", b"_"))[0] if word else []
        return rules[0].id if rules else self._password_rule()

    def _redis_reply(self, v: bytes, ks: int, ts: int, avail: int, final: bool):
        """`CONFIG GET requirepass` in redis-cli: `1) "requirepass"`, then the value as the next item,
        `2) "s3cr3t"`."""
        if ks < 4 or v[ks - 1] != 34:
            return None
        ls = v.rfind(b"\n", max(0, ks - 16), ks) + 1
        if _REDIS_ITEM.fullmatch(v, ls, ks) is None:
            return None
        k = _REDIS_KEY_END.match(v, ts, min(avail, ts + 160))
        if k is None:
            return None
        nl = v.find(b"\n", k.end(), min(avail, k.end() + 1024))
        if nl < 0:
            if avail < k.end() + 1024 and not final:
                return Pending(k.end())
            nl = min(avail, k.end() + 1024)
        m = _REDIS_VALUE.fullmatch(v, k.end(), nl)
        if m is None or not m.group("s") or not not_placeholder(m.group("s")):
            return None
        rules, _simple = self._rules_for(v[ks : k.start(1)])
        for r in rules:
            if r.value_ok(m.group("s"), True):
                return [(m.start("s"), m.end("s"), r.id, 0)]
        return None

    def _table_column(self, v: bytes, ks: int, ts: int, avail: int, final: bool):
        """A secret-named column of a table: psql (`user | password` over `-----+-----`), MySQL (`| user |
        password |` in `+---+` borders), CSV and TSV (`id,user,password`). Each row's cell in that column is
        a value. The table ends at a line with another number of cells (`(2 rows)`, a blank line) or at 8 KiB;
        until then it is held."""
        ls = v.rfind(b"\n", max(0, ks - 1024), ks) + 1
        sep = _table_sep(v, ls, ks)
        if sep is None:
            return None
        le = v.find(b"\n", ks, min(avail, ks + 1024))
        if le < 0:
            if not final and avail < ks + 1024:
                return Pending(None)  # the header line is still arriving: nothing after it yet
            return None
        if sep == b"|":
            # a header row has a rule under it (psql `---+---`, Markdown `|---|`) or a border over it (MySQL
            # `+---+`): `| secret_name | db-credentials |` in a field / value table is a row, not a header
            pe, lo = ls - 1, max(0, ks - 1000)  # (within what the masker keeps before a live hit)
            pb = v.rfind(b"\n", lo, pe) if pe > lo else -1
            prev = v[pb + 1 : pe] if pb >= 0 or (lo == 0 and pe > 0) else b""
            ne = v.find(b"\n", le + 1, min(avail, le + 1025))
            nxt = v[le + 1 : ne if ne >= 0 else min(avail, le + 1025)]
            if _TABLE_RULE.match(prev) is None and _TABLE_RULE.match(nxt) is None:
                if ne < 0 and not final and len(nxt) < 4:
                    return Pending(None)  # the line under it is still arriving
                return None
        cells = _table_cells(v, ls, le, sep)
        if cells is None or len(cells) < 2:
            return None
        if sep == b"," and not all(_CSV_HEADER.fullmatch(v, a, b) and v[a - 1] in b',"\n' for a, b in cells if a > 0):
            return None  # `Password, if any, is …`: prose; a CSV header is names with no blank after a comma
        if sep == b"\t" and not all(_CSV_HEADER.fullmatch(v, a, b) for a, b in cells):
            return None  # `NPM_TOKEN<TAB>2024-05-01`: a row of values, not a header of names
        col = next((i for i, (s, t) in enumerate(cells) if s <= ks < t), -1)
        if col < 0 or not _COLUMN_NAME.fullmatch(v, *cells[col]):
            return None
        rules, _simple = self._rules_for(v[cells[col][0] : cells[col][1]])
        if not rules:
            return None
        p = le + 1
        cap = p + self.max_window
        spans: list[Span] = []
        while True:
            nl = v.find(b"\n", p, min(avail, cap))
            if nl < 0:
                if avail < cap and not final:
                    return Pending(le + 1, _TABLE_REST)
                nl = min(avail, cap)
                if nl <= p:
                    break
            if sep == b"|" and _TABLE_BORDER.fullmatch(v, p, nl):
                p = nl + 1
                continue
            row = _table_cells(v, p, nl, sep)
            if row is None or len(row) != len(cells):
                break
            s, t = row[col]
            value = v[s:t]
            if len(value) >= 3 and not_placeholder(value) and not value.startswith(b"[MASKED"):  # (not `t`, `f`)
                for r in rules:
                    if r.value_ok(value, True):
                        spans.append((s, t, r.id, 0))
                        break
            if nl >= avail or nl >= cap:
                break
            p = nl + 1
        return spans or None

    def _password_rule(self) -> str:
        rules, _simple = self._rules_for(b"password")
        return rules[0].id if rules else self.rules[-1].id

    def _long_option(self, v: bytes, ks: int, ts: int, avail: int, final: bool):
        """`--registration-token VALUE`, `--account-key VALUE`, `--src-creds user:VALUE`: a long option named for a
        secret, its value after a blank (`--token=…` is an assignment, seen above), decided once the value is
        followed by a blank. A value that is a variable, another option, a path or a plain word is not one."""
        keyword = v[ks - 1 : ks] == b":" and ks > 1 and v[ks - 2] in b" \t{[("  # EDN / Clojure `{:password "…"}`
        if not keyword and (v[ks : ks + 2] != b"--" or (ks > 0 and v[ks - 1] not in b" \t\"'")):
            return None
        lim = min(avail, ks + 400)
        m = (_KEYWORD_PAIR if keyword else _LONG_OPTION).match(v, ks, lim)
        if m is None or (m.end() == avail and not final):
            if final or avail >= ks + 400:
                return None
            p = (_KEYWORD_PARTIAL if keyword else _LONG_OPTION_PARTIAL).fullmatch(v, ks, avail)
            if p is None:
                return None
            return Pending(p.start(1) if p.start(1) >= 0 else None, show=8)
        rules, _simple = self._rules_for(m.group(1))
        if not rules:
            return None
        g = 2 if m.start(2) >= 0 else 3 if m.start(3) >= 0 else 4
        if keyword and g == 4:
            return None  # a keyword's bare value is another keyword or a symbol
        value = m.group(g)
        if (len(value) < 6 or value[:1] in b"$-/~.@<(" or not not_placeholder(value)
                or not any(c in _OPTION_VALUE_MARKS for c in value)):
            return None
        for r in rules:
            if r.value_ok(value, g != 4):
                return [(m.start(g), m.end(g), r.id, 0)]
        return None

    def _pipe_row(self, v: bytes, ks: int, ts: int, avail: int, final: bool):
        """`| Password | FRoQ… |`, `| API Secret | w3Vo… |`: a row of a two-column field / value table (OpenStack,
        Confluent and other CLIs print credentials so). The field is the first cell; the value, the second."""
        if v[ks - 1 : ks] not in (b" ", b"\t", b"|") and v[ks - 3 : ks] not in _BOX_BARS:
            return None
        ls = _line_head(v, ks)
        if ls < 0 or _PIPE_ROW_HEAD.fullmatch(v, ls, ks) is None:
            return None
        lim = min(avail, ks + 1024)
        nl = v.find(b"\n", ks, lim)
        if nl < 0:
            if not final and lim == avail:
                p = _PIPE_ROW_PARTIAL.fullmatch(v, ks, avail)
                return None if p is None else Pending(p.start(1) if p.start(1) >= 0 else None)
            nl = lim if final else -1
            if nl < 0:
                return None
        m = _PIPE_ROW.match(v, ks, nl)
        if m is None:
            return None
        rules, _simple = self._rules_for(v[ls:m.end(1)].strip(_BAR_BYTES))
        value = m.group(2)
        if not rules or len(value) < 6 or not not_placeholder(value) or not _has_digit_or_symbol(value):
            return None
        for r in rules:
            if r.value_ok(value, True):
                return [(m.start(2), m.end(2), r.id, 0)]
        return None

    def _two_fields(self, v: bytes, ks: int, ts: int, avail: int, final: bool):
        """`password    s3cr3t!` alone on a line: tables (`vault kv get`), `requirepass …` (redis.conf).
        Only two fields, and only a value that looks generated, so prose (`Password expired`) stays."""
        mw = _KEY_WS.match(v, ts, min(avail, ts + 160))
        if mw is None or not (line_start_ok(v, ks) or _after_config_set(v, ks) or _after_ipsec_selector(v, ks)):
            return None
        vs = mw.end()
        if vs >= avail:
            return Pending(None) if not final else None
        nl = v.find(b"\n", vs, min(avail, vs + 256))
        if nl >= 0:
            w = nl
        elif avail >= vs + 256:
            return None
        elif final:
            w = avail
        elif _INNER_BLANK.search(v, vs, avail):
            return None  # a second word has arrived (`sshpass -p …`): not a two-field line, decided now
        elif v[vs : vs + 1] == b"-":
            return None  # an option (`passwd -l bob`, `sshpass -p …`): not a value
        else:
            # an idle release shows a word of letters being typed (`passwd alice`): a value needs a digit or symbol
            return Pending(vs, show=8)
        value = v[vs:w].rstrip(b" \t\r")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in _QUOTES and value.count(value[:1]) == 2:
            vs += 1  # `: PSK "…"` (ipsec.secrets), `requirepass "…"`
            value = value[1:-1]
        if len(value) < 6 or b" " in value or b"\t" in value or value.startswith(b"[MASKED"):
            return None
        if not _has_digit_or_symbol(value) or not not_placeholder(value):
            return None
        rules, _simple = self._rules_for(v[ks:mw.start(1)])
        for r in rules:
            if r.value_ok(value, False):
                return [(vs, vs + len(value), r.id, 0)]
        return None


@dataclass
class PemDetector(Detector):
    """PEM, OpenSSH, PGP and SSH2 (RFC 4716) private-key blocks: masked from BEGIN to the matching END line."""

    ids: tuple[str, ...] = ("private-key-pem", "private-key-openssh", "private-key-pgp", "private-key-ssh2")
    literals: tuple[bytes, ...] = (b"-----begin", b"---- begin ssh2")
    opens_blocks = True
    boundary: bool = False
    infos_: list[Info] = field(default_factory=list)
    on: frozenset[str] = frozenset(("private-key-pem", "private-key-openssh", "private-key-pgp", "private-key-ssh2"))
    max_window = 100

    HEAD = re.compile(rb"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----")
    PARTIAL = re.compile(rb"-----BEGIN[A-Z0-9 \-]{0,80}")
    # the ssh.com / Tectia format (`ssh-keygen -e` writes public keys so; private ones come from Tectia, PuTTYgen)
    SSH2_HEAD = re.compile(rb"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----")
    SSH2_PARTIAL = re.compile(rb"---- BEGIN SSH2[A-Z \-]{0,30}")

    def infos(self) -> list[Info]:
        return self.infos_

    def enabled(self, ids: frozenset[str]) -> "Detector | None":
        on = frozenset(i for i in self.ids if i in ids)
        return PemDetector(infos_=self.infos_, on=on) if on else None

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        if v[ts + 4 : ts + 5] == b" ":  # `---- BEGIN SSH2 …`
            m = self.SSH2_HEAD.match(v, ts, min(avail, ts + 100))
            if m is None:
                if not final and avail - ts < 50 and self.SSH2_PARTIAL.fullmatch(v, ts, avail):
                    return Pending(ts)
                return None
            if "private-key-ssh2" not in self.on:
                return None
            return PemOpen("private-key-ssh2", m.end(), b"---- END SSH2 ENCRYPTED PRIVATE KEY ----")
        m = self.HEAD.match(v, ts, min(avail, ts + 100))
        if m is None:
            if not final and avail - ts < 100 and self.PARTIAL.fullmatch(v, ts, avail):
                return Pending(ts)
            return None
        kind = m.group(1)
        det = "private-key-openssh" if kind == b"OPENSSH " else "private-key-pgp" if kind == b"PGP " else "private-key-pem"
        if det not in self.on:
            return None
        marker = b"-----END " + kind + b"PRIVATE KEY" + (m.group(2) or b"") + b"-----"
        return PemOpen(det, m.end(), marker)
