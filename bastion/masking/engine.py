"""A compiled masking profile: the enabled detectors and one trigger scanner over all of them.

The scanner (`scanner.py`: Hyperscan where it is installed, RE2 otherwise) only proposes *trigger hits*:
short literals such as `ghp_`, `akia`, `password`, `-----begin`, and a few trigger patterns (card
numbers). Python `re` then confirms each hit on a small window, so its cost is paid per hit, not per
byte. Why not one regex over everything: Python's `re` over one big alternation is ~2 MiB/s; RE2 or
Hyperscan find the triggers at hundreds of MiB/s to GiB/s, and cannot backtrack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Callable

from bastion.masking.matchers import ESCAPE_BEFORE, Detector, KeyValueFamily, Pending, PemOpen
from bastion.masking.scanner import TriggerScanner, make_scanner

if TYPE_CHECKING:
    from bastion.masking.profiles import MaskingProfile


@dataclass
class Engine:
    detectors: list[Detector]
    scanner: TriggerScanner
    lit_map: dict[bytes, list[Detector]]
    regex_dets: list[tuple[Detector, re.Pattern[bytes]]]
    prio: dict[int, int]
    t_max: int
    partials: dict[bytes, bool]  # proper prefix of a prefix-type literal -> needs a token boundary
    max_literal: int
    kv: Detector | None = None  # the key-value family (its hits within one key are decided once)

    def __post_init__(self) -> None:
        # A trigger anchored at a line start (`.pgpass` lines) can be any length: its chain goes back to the
        # start of the line still arriving (see `open_line`), not only `t_max` bytes.
        self.line_anchored = frozenset(id(d) for d, _ in self.regex_dets if d.trigger_re.startswith(b"(?m:^)"))  # type: ignore[union-attr]
        self.rx_line_anchored = bool(self.line_anchored)
        # the detectors of each literal, by the index the scanner's hits carry
        self.lit_dets = [self.lit_map[x] for x in self.scanner.literals]
        # The regex detectors whose zone is looked at, each with how far back from the end of the input
        # its candidates can still be undecided: a trigger at most `w` bytes long that starts `w + 1`
        # bytes or more before the end is complete (the byte after it is there for `\b`), and the chain
        # has found it if it matched (see `hits`). Line-anchored and unbounded triggers: the whole zone.
        # Partial literals (a proper prefix of a literal) that end the input, as two RE2 patterns: those that
        # may start anywhere, and those that must start a token (`_partial_at_end`).
        free = [p for p, need in self.partials.items() if not need]
        bound = [p for p, need in self.partials.items() if need]
        self.partial_free = _partial_re(free, b"")
        self.partial_bound = _partial_re(bound, b"(?:\\A|[^A-Za-z0-9]|" + ESCAPE_BEFORE + b")")
        # `first`: the bytes a candidate can start with, looked for before the (slower) zone regex runs.
        self.zone_dets = [(det, _max_width(det) if id(det) not in self.line_anchored else None,
                           _first_bytes(det.zone_re))
                          for det, _ in self.regex_dets if det.zone_re is not None]

    def iter_hits(self, v: bytes, pos: int, end: int) -> list:
        """Trigger hits `(start, end, detectors)` in `v[pos:end]`: both chains, in start order."""
        return self.hits(v, pos, pos, end, end)[0]

    def hits(self, v: bytes, lit_pos: int, rx_pos: int, end: int, stop: int,
             rx_seen: frozenset[int] | set[int] = frozenset()) -> tuple[list, int, int, list[int], list]:
        """The literal chain from `lit_pos` and the regex chain from `rx_pos` in `v[:end]`, hits starting
        at most at `stop`, merged in start order (a literal hit first where both start at one place),
        each as `(start, end, detectors)` with the detectors in priority order; and where each chain's
        last hit ended (its start position if it had none); and the starts of the regex hits; and the
        regex chain's hits past `stop`, `(start, end)`, for `zone_hold`. Regex hits starting in `rx_seen`
        were taken in an earlier round (the chain went back to a line start) and are left out."""
        scanner = self.scanner
        lit_dets = self.lit_dets
        out = scanner.literal_hits(v, lit_pos, end, stop, lit_dets)
        lit_end = out[-1][1] if out else lit_pos
        rx = scanner.regex_hits(v, rx_pos, end, end)
        if not rx:
            return out, lit_end, rx_pos, [], []
        later: list[tuple[int, int]] = []
        if rx[-1][0] > stop:
            k = len(rx)
            while k and rx[k - 1][0] > stop:
                k -= 1
            later = rx[k:]
            rx = rx[:k]
            if not rx:
                return out, lit_end, rx_pos, [], later
        rx_end = rx[-1][1]
        if rx_seen:
            rx = [h for h in rx if h[0] not in rx_seen]
            if not rx:
                return out, lit_end, rx_end, [], later
        out.extend((s, e, self.regex_dispatch(v, s)) for s, e in rx)
        out.sort(key=_start)  # stable: literal hits stay first at a shared start
        return out, lit_end, rx_end, [s for s, _e in rx], later

    def open_line(self, v: bytes, avail: int) -> int | None:
        """Start of the last, still incomplete line if a line-anchored trigger could still match there
        (within `LINE_LOOKBACK` bytes), else None. No regex trigger spans a newline, so the chain from
        there is the whole text's chain."""
        if not self.rx_line_anchored:
            return None
        lo = avail - LINE_LOOKBACK if avail > LINE_LOOKBACK else 0
        nl = v.rfind(b"\n", lo, avail)
        if nl >= 0:
            return nl + 1
        return 0 if lo == 0 else None

    def dispatch(self, v: bytes, ts: int, te: int) -> list[Detector]:
        """The detectors of a trigger hit, in priority order."""
        found = self.lit_map.get(v[ts:te].lower())
        if found is not None:
            return found
        return self.regex_dispatch(v, ts)

    def regex_dispatch(self, v: bytes, ts: int) -> list[Detector]:
        return [d for d, rx in self.regex_dets if rx.match(v, ts)]

    def _partial_at_end(self, v: bytes, lo: int, avail: int) -> int:
        """The earliest position in `[lo, avail)` where a literal cut off by the end of the input starts
        (`gh` of `ghp_…`; one that must start a token only after a non-alphanumeric byte), else `avail`."""
        q = avail
        if lo >= avail:
            return q
        if self.partial_free is not None:
            m = self.partial_free.search(v, lo, avail)
            if m is not None:
                q = m.start()
        if self.partial_bound is not None:
            pos = max(0, lo - 6)  # the bytes before `lo` tell whether a token starts there (`\\u003d` is six)
            while pos < q:
                m = self.partial_bound.search(v, pos, avail)
                if m is None:
                    break
                s = m.start(1)
                if s >= lo:
                    q = min(q, s)
                    break
                pos = s + 1  # only a partial starting at the very beginning, before `lo`: look on
        return q

    def zone_hold(self, v: bytes, zs: int, avail: int, rx_later: list[tuple[int, int]] = ()) -> int:  # type: ignore[assignment]
        """Earliest position in `[zs, avail)` where a secret could start, from triggers too close to the
        end to be scanned for good (they may still grow or be re-read when more input arrives).
        `rx_later`: the regex chain's complete hits past the last one taken (`hits`)."""
        hold = avail
        if zs >= avail:
            return hold
        lit_map = self.lit_map
        for q, lit in self.scanner.zone_literals(v, zs, avail):
            if q >= hold:
                break
            for det in lit_map[lit]:
                h = _hold_of(det.evaluate(v, q, q + len(lit), avail, False), q)
                if h is not None and h < hold:
                    hold = h
        q = self._partial_at_end(v, max(zs, avail - self.max_literal + 1), avail)
        if q < hold:
            hold = q
        for s, e in rx_later:
            if s >= hold:
                break
            for det in self.regex_dispatch(v, s):
                h = _hold_of(det.evaluate(v, s, e, avail, False), s)
                if h is not None and h < hold:
                    hold = h
        line = self.open_line(v, avail)
        for det, width, first in self.zone_dets:
            if width is None:
                lo = zs - det.zone_lookback
                if line is not None and line < lo and id(det) in self.line_anchored:
                    lo = line  # a long line-anchored candidate (`host:port:db:user:pass…`) began before the zone
            else:
                lo = max(zs, avail - width - 1) - det.zone_lookback
            lo = max(lo, 0)
            if first is not None:
                f = first.search(v, lo, hold)
                if f is None:
                    continue
                lo = f.start()
            for m in det.zone_re.finditer(v, lo, hold):  # type: ignore[union-attr]
                h = _hold_of(det.evaluate(v, m.start(), m.start(), avail, False), m.start())
                if h is not None and h < hold:
                    hold = h
                    break
        return hold


LINE_LOOKBACK = 1024  # how long a line a line-anchored trigger is looked for across chunk ends


def _max_width(det: Detector) -> int | None:
    """The longest text `det`'s trigger regex can match, or None if it has no bound (or cannot be read)."""
    try:
        width = re._parser.parse(det.trigger_re.decode("latin-1")).getwidth()[1]  # type: ignore[attr-defined,union-attr]
    except Exception:  # pragma: no cover - another Python's parser
        return None
    return width if width < re._constants.MAXREPEAT else None  # type: ignore[attr-defined]


def _partial_re(partials: list[bytes], before: bytes) -> object | None:
    if not partials:
        return None
    from bastion.masking.scanner import _ascii_caseless, _re2

    alternation = b"|".join(_ascii_caseless(p) for p in sorted(partials, key=lambda x: (-len(x), x)))
    return _re2(before + b"(" + alternation + b")\\z", latin1=True)


def _first_bytes(zone_re: re.Pattern[bytes] | None) -> re.Pattern[bytes] | None:
    """A character class of the bytes a match of `zone_re` can start with, when its parse says so plainly
    (lookbehinds, then one literal or class); else None. `(?<![A-Za-z0-9])S(?=K|\\Z)` gives `[S]`."""
    if zone_re is None:
        return None
    try:
        items = list(re._parser.parse(zone_re.pattern.decode("latin-1"), zone_re.flags))  # type: ignore[attr-defined]
    except Exception:  # pragma: no cover - another Python's parser
        return None
    c = re._constants  # type: ignore[attr-defined]
    while items and items[0][0] in (c.ASSERT, c.ASSERT_NOT) and items[0][1][0] < 0:
        items.pop(0)  # a lookbehind reads bytes before the start
    if items and items[0][0] in (c.MAX_REPEAT, c.MIN_REPEAT) and items[0][1][0] >= 1 and len(items[0][1][2]) == 1:
        items = list(items[0][1][2])  # `[a-z0-9]{6}`: its first byte is one of the class
    if not items or items[0][0] not in (c.LITERAL, c.IN) or zone_re.flags & re.IGNORECASE:
        return None
    try:
        probe = re.compile(_unparse_class(*items[0]))
    except (ValueError, re.error):  # pragma: no cover - a class item this does not know
        return None
    allowed = bytes(b for b in range(256) if probe.fullmatch(bytes([b])))
    if not allowed or len(allowed) > 128:
        return None  # most bytes can start one: looking first saves nothing
    return re.compile(b"[" + b"".join(b"\\x%02x" % b for b in allowed) + b"]")


def _unparse_class(op: object, av: object) -> bytes:
    """A regex for one `LITERAL` or `IN` item of a parsed pattern (used only to list the bytes it takes)."""
    c = re._constants  # type: ignore[attr-defined]
    if op is c.LITERAL:
        return b"\\x%02x" % av  # type: ignore[str-format]
    parts, negate = [], b""
    categories = {c.CATEGORY_DIGIT: rb"\d", c.CATEGORY_NOT_DIGIT: rb"\D", c.CATEGORY_SPACE: rb"\s",
                  c.CATEGORY_NOT_SPACE: rb"\S", c.CATEGORY_WORD: rb"\w", c.CATEGORY_NOT_WORD: rb"\W"}
    for kind, val in av:  # type: ignore[union-attr]
        if kind is c.NEGATE:
            negate = b"^"
        elif kind is c.LITERAL:
            parts.append(b"\\x%02x" % val)
        elif kind is c.RANGE:
            parts.append(b"\\x%02x-\\x%02x" % val)
        elif kind is c.CATEGORY and val in categories:
            parts.append(categories[val])
        else:
            raise ValueError(f"unexpected class item {kind}")
    return b"[" + negate + b"".join(parts) + b"]"


def _start(hit: tuple) -> int:
    return hit[0]


def _hold_of(result: object, q: int) -> int | None:
    if result is None:
        return None
    if isinstance(result, list):  # (an `Overflow` too)
        return min((s for s, _e, _i, _k in result), default=None)
    if type(result) is Pending:
        return result.hold  # type: ignore[attr-defined]
    if type(result) is PemOpen:
        return q
    return None


def build_engine(
    detectors: list[Detector], scanner_factory: Callable[..., TriggerScanner] = make_scanner
) -> Engine:
    lit_map: dict[bytes, list[Detector]] = {}
    regex_dets: list[tuple[Detector, re.Pattern[bytes]]] = []
    partials: dict[bytes, bool] = {}
    t_max = 1
    for det in detectors:
        for lit in det.literals:
            lit_map.setdefault(lit, []).append(det)
            t_max = max(t_max, len(lit))
            if det.prefix_type:
                for k in range(1, len(lit)):
                    p = lit[:k]
                    partials[p] = partials.get(p, True) and det.boundary
        if det.trigger_re is not None:
            regex_dets.append((det, re.compile(det.trigger_re)))
            t_max = max(t_max, det.trigger_width)
    # The literal chain takes the longest literal at a place, so a longer literal hides a shorter one there.
    # A literal that starts with another (`password "` with `pass`) triggers the shorter one's detectors too,
    # which see their own literal at the hit's start; and a literal that is one word (letters, digits, `_`)
    # holding a key-value literal anywhere (`SSHPASS=…`, `wpa_passphrase`, `chpasswd:`) also triggers the
    # key-value family, which finds its key from any position inside it.
    kv = next((d for d in detectors if type(d) is KeyValueFamily), None)
    prio = {id(d): i for i, d in enumerate(detectors)}
    by_len = sorted(lit_map, key=len)
    for lit in by_len:
        dets = lit_map[lit]
        for k in by_len:
            if len(k) >= len(lit):
                break
            if lit.startswith(k):
                dets.extend(d for d in lit_map[k] if d not in dets)
        if (kv is not None and kv not in dets and lit.rstrip(b":").replace(b"_", b"").isalnum()
                and any(k in lit for k in kv.literals if k != lit)):
            dets.append(kv)
        dets.sort(key=lambda d: prio[id(d)])
    literals = sorted(lit_map, key=lambda x: (-len(x), x))
    # A literal matches in one case only when every detector it triggers says so (`eyJ`, `fnA`): a base64 or hex
    # stream holds each three-letter head in some case every few KiB, and each hit costs a Python call.
    exact: dict[bytes, bytes] = {}
    for lit, dets in lit_map.items():
        cases = {getattr(d, "exact_literals", {}).get(lit) for d in dets}
        if len(cases) == 1 and None not in cases:
            exact[lit] = cases.pop()  # type: ignore[assignment]
    scanner = scanner_factory(literals, [det.trigger_re for det, _ in regex_dets], exact)  # type: ignore[misc]
    return Engine(
        detectors=detectors,
        scanner=scanner,
        lit_map=lit_map,
        regex_dets=regex_dets,
        prio=prio,
        t_max=t_max,
        partials=partials,
        max_literal=max((len(x) for x in literals), default=1),
        kv=kv,
    )


@lru_cache(maxsize=64)
def compile_engine(profile: "MaskingProfile") -> Engine:
    """The engine for a profile (cached: profiles are frozen and hashable)."""
    from bastion.masking.detectors import BUILTIN, KEY_FAMILY
    from bastion.masking.matchers import KeyRule, KeyValueFamily, key_parts

    enabled = frozenset(profile.detectors)
    dets: list[Detector] = []
    for det in BUILTIN:
        d = det.enabled(enabled)
        if det is KEY_FAMILY and profile.extra_keys:
            words = tuple(b"".join(key_parts(k.encode())) for k in profile.extra_keys)
            extra = KeyRule(
                "extra-key-assignment",
                "Values of the profile's extra secret key names",
                lambda n, p, words=words: any(w in n for w in words),
            )
            base = d if isinstance(d, KeyValueFamily) else KeyValueFamily([], [])
            d = base.with_extra(list(profile.extra_keys), extra)
        if d is not None:
            dets.append(d)
    dets.extend(c.detector() for c in profile.custom)
    return build_engine(dets)
