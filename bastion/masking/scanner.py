"""Trigger scanning: where in a buffer a detector must look, found in one native pass per chunk.

Two independent chains of hits, each leftmost-first and non-overlapping from a resume position:
- the **literal chain**: case-insensitive trigger literals (`ghp_`, `akia`, `password`, `-----begin`),
  the longest literal winning at a start (what an RE2 alternation of the literals sorted longest first
  gives);
- the **regex chain**: the few detectors whose trigger is a pattern (card numbers, Twilio keys, Discord
  tokens, `.pgpass` lines), found with RE2.

Keeping them apart means a regex trigger can never hide a literal one that overlaps it, or the reverse.

Engines. With `hyperscan` (Intel's multi-pattern matcher; a wheel with the library inside exists for
x86-64 Linux) the literal chain comes from one Hyperscan block scan per chunk: it runs at ~3 GiB/s on
ordinary text where RE2 runs at ~0.5, and reports every literal of a chunk in one call instead of one
RE2 call (~1 µs) per hit, which is what output dense with key names (`env`) pays. The regex chain stays
on RE2 (~650 MiB/s): Hyperscan was no faster on the card-number trigger in digit-heavy logs (~400-800
MiB/s), and that pattern is what either engine spends its time on. Without hyperscan (other platforms,
or `BASTION_SCANNER=re2`) both chains come from RE2 and give the same hits:
`tests/masking/test_scanner.py` checks the two engines against each other.

INVARIANT: hits depend only on the text from the resume position on (and on the bytes before it for
`^`), never on where the chunk ends, other than hits cut off by the end of the chunk; the caller only
takes hits that start far enough from the end (`t_max`) for their verdict to be final.
"""

from __future__ import annotations

import os
import re
from typing import Callable

import re2

try:  # pragma: no cover - depends on the platform
    import hyperscan as _hs
except ImportError:  # pragma: no cover
    _hs = None

_UNANCHORED = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)

Hit = tuple[int, int, int]  # (start, end, literal index) for literals; (start, end, -1) for regex hits


def _re2(pattern: bytes, latin1: bool = False) -> object:
    opts = re2.Options()
    opts.max_mem = 64 << 20
    if latin1:  # one byte is one character: `\xe4` is the byte, not part of a UTF-8 sequence
        opts.encoding = re2.Options.Encoding.LATIN1
    return re2.compile(pattern, opts)


class _Re2Chain:
    """Leftmost-first, non-overlapping hits of one RE2 alternation (one C call per hit)."""

    def __init__(self, pattern: bytes, latin1: bool = False) -> None:
        self.rx = _re2(pattern, latin1)
        low = getattr(self.rx, "_regexp", None)
        self.match = low.Match if (low is not None and _UNANCHORED is not None) else None

    def spans(self, v: bytes, pos: int, end: int, stop: int) -> list[tuple[int, int]]:
        """Hits starting in `[pos, stop]` (and inside `[pos, end)`), in order."""
        out: list[tuple[int, int]] = []
        match = self.match
        if match is None:  # pragma: no cover - other re2 wrappers
            for m in self.rx.finditer(v, pos, end):  # type: ignore[attr-defined]
                if m.start() > stop:
                    break
                out.append(m.span())
            return out
        while pos < end:
            ts, te = match(_UNANCHORED, v, pos, end)[0]
            if ts < 0 or ts > stop:
                break
            out.append((ts, te))
            pos = te if te > ts else ts + 1
        return out


class TriggerScanner:
    """The trigger hits of one engine's detectors (see the module docstring)."""

    engine_name = "re2"

    def __init__(self, literals: list[bytes], regexes: list[bytes], exact: dict[bytes, bytes] | None = None) -> None:
        # INVARIANT: longest first, then bytewise: the order the RE2 alternation tries them in, and the
        # index each hit carries. Literals are lower case; `exact` maps some to the one case they match in
        # (`eyJ`, `fnA`: a vendor's token head), the others match in any ASCII case.
        self.literals = sorted(set(literals), key=lambda x: (-len(x), x))
        self.lengths = [len(x) for x in self.literals]
        self.regexes = list(regexes)
        self.exact = {k: v for k, v in (exact or {}).items() if k in set(self.literals)}
        self._index = {x: i for i, x in enumerate(self.literals)}
        alternation = b"|".join(_hs_literal(self.exact[x]) if x in self.exact else _ascii_caseless(x)
                                for x in self.literals)
        self._lit_chain = _Re2Chain(alternation, latin1=True) if self.literals else None
        self._rx_chain = _Re2Chain(b"|".join(b"(?:" + r + b")" for r in self.regexes)) if self.regexes else None
        self._first2: dict[bytes, list[bytes]] = {}
        for lit in self.literals:
            self._first2.setdefault(lit[:2], []).append(lit)

    def literal_hits(self, v: bytes, pos: int, end: int, stop: int, table: list | None = None) -> list[Hit]:
        """The literal chain from `pos`: hits starting at most at `stop`, as (start, end, literal index), or
        as (start, end, table[literal index]) with a `table` (what the engine dispatches on)."""
        if self._lit_chain is None or pos >= end:
            return []
        index = self._index
        if table is not None:
            return [(s, e, table[index[v[s:e].lower()]]) for s, e in self._lit_chain.spans(v, pos, end, stop)]
        return [(s, e, index[v[s:e].lower()]) for s, e in self._lit_chain.spans(v, pos, end, stop)]

    def zone_literals(self, v: bytes, pos: int, end: int) -> list[tuple[int, bytes]]:
        """Every literal occurrence inside `v[pos:end]`, overlapping ones included, as (start, literal), in
        start order: the triggers near the end of the input, each of which may still begin a secret."""
        tail = v[pos:end].lower()
        first2, exact = self._first2, self.exact
        out = []
        for i in range(len(tail)):
            lits = first2.get(tail[i : i + 2])
            if lits is not None:
                for lit in lits:
                    if tail.startswith(lit, i) and (lit not in exact or v.startswith(exact[lit], pos + i)):
                        out.append((pos + i, lit))
        return out

    def regex_hits(self, v: bytes, pos: int, end: int, stop: int) -> list[tuple[int, int]]:
        """The regex chain from `pos`: hits starting at most at `stop`."""
        if self._rx_chain is None or pos >= end:
            return []
        return self._rx_chain.spans(v, pos, end, stop)


class HyperscanScanner(TriggerScanner):
    """The same hits, the literal chain from one Hyperscan scan per call. Like any Hyperscan database
    with its default scratch space, one scanner serves one thread at a time (the gateway's event loop);
    a second concurrent scan fails (and the masker with it: closed)."""

    engine_name = "hyperscan"

    def __init__(self, literals: list[bytes], regexes: list[bytes], exact: dict[bytes, bytes] | None = None) -> None:
        super().__init__(literals, regexes, exact)
        hs = _hs
        self._lit_db = None
        if self.literals:
            db = hs.Database(mode=hs.HS_MODE_BLOCK)
            db.compile(
                expressions=[_hs_literal(self.exact.get(x, x)) for x in self.literals],
                ids=list(range(len(self.literals))),
                elements=len(self.literals),
                flags=[0 if x in self.exact else hs.HS_FLAG_CASELESS for x in self.literals],
            )
            self._lit_db = db
        n = len(self.lengths)
        self._offsets = [i - length * n for i, length in enumerate(self.lengths)]

    def literal_hits(self, v: bytes, pos: int, end: int, stop: int, table: list | None = None) -> list[Hit]:
        db = self._lit_db
        if db is None or pos >= end:
            return []
        raw: list[int] = []
        add = raw.append
        lengths = self.lengths
        n = len(lengths)
        offsets = self._offsets

        # Every literal occurrence, as one sortable int: start, then the literal's index (longest first).
        # `to * n + offsets[i]` is `(to - lengths[i]) * n + i`, one operation less per match.
        def on_match(i: int, _frm: int, to: int, _flags: int, _ctx: object) -> None:
            add(to * n + offsets[i])

        db.scan(memoryview(v)[pos:end] if (pos or end != len(v)) else v, match_event_handler=on_match)  # no copy
        if not raw:
            return []
        raw.sort()
        out: list = []
        put = out.append
        last = 0
        limit = stop - pos
        tab = table if table is not None else range(n)
        for key in raw:
            s, i = divmod(key, n)
            if s < last:
                continue  # overlaps the hit before it (or is a shorter literal at the same start)
            if s > limit:
                break
            last = s + lengths[i]
            put((s + pos, last + pos, tab[i]))
        return out


    def zone_literals(self, v: bytes, pos: int, end: int) -> list[tuple[int, bytes]]:
        # One Hyperscan scan of the few bytes near the end: a Python loop over them cost more than the
        # chunk's whole literal scan.
        db = self._lit_db
        if db is None or pos >= end:
            return []
        raw: list[tuple[int, int]] = []
        add = raw.append
        lengths = self.lengths

        def on_match(i: int, _frm: int, to: int, _flags: int, _ctx: object) -> None:
            add((to - lengths[i], i))

        db.scan(v[pos:end], match_event_handler=on_match)
        raw.sort()
        literals = self.literals
        return [(s + pos, literals[i]) for s, i in raw]


def _ascii_caseless(lit: bytes) -> bytes:
    """An RE2 (Latin-1 mode) pattern for `lit` with ASCII letters in either case and every other byte as
    itself: the case folding Hyperscan's caseless flag does. `(?i)` would also fold Latin-1 letters (and,
    in UTF-8 mode, `k` to the Kelvin sign), so the engines would disagree on non-ASCII triggers."""
    out = []
    for c in lit:
        ch = bytes([c])
        if ch.isalpha():
            out.append(b"[" + ch.upper() + ch.lower() + b"]")
        else:
            out.append(b"\\x%02x" % c)
    return b"".join(out)


def _hs_literal(lit: bytes) -> bytes:
    return b"".join(b"\\x%02x" % c for c in lit)


def make_scanner(literals: list[bytes], regexes: list[bytes], exact: dict[bytes, bytes] | None = None) -> TriggerScanner:
    """The fastest scanner available here (`BASTION_SCANNER=re2` forces the portable one)."""
    choice = os.environ.get("BASTION_SCANNER", "").lower()
    factory: Callable[..., TriggerScanner] = TriggerScanner
    if _hs is not None and choice != "re2":
        factory = HyperscanScanner
    return factory(literals, regexes, exact)
