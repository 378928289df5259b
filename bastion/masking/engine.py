"""A compiled masking profile: the enabled detectors and one re2 trigger scanner over all of them.

Why re2 for the scan: it is a DFA, so one pass over a chunk costs the same whatever the number of
triggers (measured here ~300-400 MiB/s for ~90 case-insensitive literals plus the card and Twilio
triggers), it can never backtrack, and it ships as a manylinux/macOS wheel (google-re2). Python's `re`
over one big alternation is ~2 MiB/s; pyahocorasick over a decoded copy measured ~35 MiB/s; hyperscan
would be faster but is x86-only. The scan only proposes *trigger hits* (short literals such as `ghp_`,
`akia`, `password`, `-----begin`); Python `re` then confirms each hit on a small window, so its cost is
paid per hit, not per byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import re2

_UNANCHORED = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)

from bastion.masking.matchers import ALNUM, Detector, KeyValueFamily, Pending, PemOpen

if TYPE_CHECKING:
    from bastion.masking.profiles import MaskingProfile


@dataclass
class Engine:
    detectors: list[Detector]
    scanner: object
    lit_map: dict[bytes, list[Detector]]
    regex_dets: list[tuple[Detector, re.Pattern[bytes]]]
    prio: dict[int, int]
    t_max: int
    partials: dict[bytes, bool]  # proper prefix of a prefix-type literal -> needs a token boundary
    first2: dict[bytes, list[bytes]]
    max_literal: int
    kv: Detector | None = None  # the key-value family (its hits within one key are decided once)
    low: object = None  # the scanner's C-level regexp, when `iter_hits` can call it directly

    def __post_init__(self) -> None:
        if self.low is None and _UNANCHORED is not None:
            self.low = getattr(self.scanner, "_regexp", None)
        # first bytes (lower case) of every trigger literal and of every partial one
        self.heads = frozenset(x[0] for x in list(self.lit_map) + list(self.partials) if x)

    def iter_hits(self, v: bytes, pos: int, end: int):
        """Trigger hits `(start, end)` in `v[pos:end]`, leftmost-first and non-overlapping."""
        low = self.low
        if low is None:  # pragma: no cover - other re2 wrappers
            for m in self.scanner.finditer(v, pos, end):  # type: ignore[attr-defined]
                yield m.span()
            return
        match = low.Match  # one C call per hit: the wrapper's Match objects cost more than the scan
        while pos < end:
            ts, te = match(_UNANCHORED, v, pos, end)[0]
            if ts < 0:
                return
            yield ts, te
            pos = te if te > ts else ts + 1

    def dispatch(self, v: bytes, ts: int, te: int) -> list[Detector]:
        """The detectors of a trigger hit, in priority order."""
        found = self.lit_map.get(v[ts:te].lower())
        if found is not None:
            return found
        return self.regex_dispatch(v, ts)

    def regex_dispatch(self, v: bytes, ts: int) -> list[Detector]:
        return [d for d, rx in self.regex_dets if rx.match(v, ts)]

    def zone_hold(self, v: bytes, zs: int, avail: int) -> int:
        """Earliest position in `[zs, avail)` where a secret could start, from triggers too close to the
        end to be scanned for good (they may still grow or be re-read when more input arrives)."""
        hold = avail
        if zs >= avail:
            return hold
        tail = v[zs:avail].lower()
        n = len(tail)
        first2, lit_map, partials = self.first2, self.lit_map, self.partials
        heads = self.heads
        max_literal = self.max_literal
        for i in range(n):
            if tail[i] not in heads:
                continue  # no trigger literal (nor a prefix of one) starts with this byte
            q = zs + i
            if q >= hold:
                break
            lits = first2.get(tail[i : i + 2])
            if lits is not None:
                for lit in lits:
                    if tail.startswith(lit, i):
                        for det in lit_map[lit]:
                            h = _hold_of(det.evaluate(v, q, q + len(lit), avail, False), q)
                            if h is not None and h < hold:
                                hold = h
            if n - i < max_literal:
                need_boundary = partials.get(tail[i:])
                if need_boundary is not None and not (need_boundary and q > 0 and v[q - 1] in ALNUM):
                    hold = min(hold, q)
        for det, _rx in self.regex_dets:
            if det.zone_re is None:
                continue
            for m in det.zone_re.finditer(v, max(0, zs - det.zone_lookback), hold):
                h = _hold_of(det.evaluate(v, m.start(), m.start(), avail, False), m.start())
                if h is not None and h < hold:
                    hold = h
                    break
        return hold


def _hold_of(result: object, q: int) -> int | None:
    if result is None:
        return None
    if type(result) is list:
        return min((s for s, _e, _i, _k in result), default=None)
    if type(result) is Pending:
        return result.hold  # type: ignore[attr-defined]
    if type(result) is PemOpen:
        return q
    return None


def build_engine(detectors: list[Detector]) -> Engine:
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
    literals = sorted(lit_map, key=lambda x: (-len(x), x))
    alts = []
    if literals:
        alts.append(b"(?i:" + b"|".join(re.escape(x) for x in literals) + b")")
    alts.extend(b"(?:" + det.trigger_re + b")" for det, _ in regex_dets)  # type: ignore[operator]
    opts = re2.Options()
    opts.max_mem = 64 << 20
    # With every detector off nothing may ever match: `\b\B` (RE2 has no lookahead for the usual `(?!x)x`).
    scanner = re2.compile(b"|".join(alts) if alts else rb"\b\B", opts)
    first2: dict[bytes, list[bytes]] = {}
    for lit in literals:
        first2.setdefault(lit[:2], []).append(lit)
    return Engine(
        detectors=detectors,
        scanner=scanner,
        lit_map=lit_map,
        regex_dets=regex_dets,
        prio={id(d): i for i, d in enumerate(detectors)},
        t_max=t_max,
        partials=partials,
        first2=first2,
        max_literal=max((len(x) for x in literals), default=1),
        kv=next((d for d in detectors if type(d) is KeyValueFamily), None),
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
