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

from bastion.masking.matchers import ALNUM, Detector, KeyValueFamily, Pending, PemOpen
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
    first2: dict[bytes, list[bytes]]
    max_literal: int
    kv: Detector | None = None  # the key-value family (its hits within one key are decided once)

    def __post_init__(self) -> None:
        # A trigger anchored at a line start (`.pgpass` lines) can be any length: its chain goes back to the
        # start of the line still arriving (see `open_line`), not only `t_max` bytes.
        self.line_anchored = frozenset(id(d) for d, _ in self.regex_dets if d.trigger_re.startswith(b"(?m:^)"))  # type: ignore[union-attr]
        self.rx_line_anchored = bool(self.line_anchored)
        # the detectors of each literal, by the index the scanner's hits carry
        self.lit_dets = [self.lit_map[x] for x in self.scanner.literals]
        # first bytes (lower case) of every trigger literal and of every partial one
        self.heads = frozenset(x[0] for x in list(self.lit_map) + list(self.partials) if x)

    def iter_hits(self, v: bytes, pos: int, end: int) -> list:
        """Trigger hits `(start, end, detectors)` in `v[pos:end]`: both chains, in start order."""
        return self.hits(v, pos, pos, end, end)[0]

    def hits(self, v: bytes, lit_pos: int, rx_pos: int, end: int, stop: int,
             rx_seen: frozenset[int] | set[int] = frozenset()) -> tuple[list, int, int, list[int]]:
        """The literal chain from `lit_pos` and the regex chain from `rx_pos` in `v[:end]`, hits starting
        at most at `stop`, merged in start order (a literal hit first where both start at one place),
        each as `(start, end, detectors)` with the detectors in priority order; and where each chain's
        last hit ended (its start position if it had none); and the starts of the regex hits. Regex hits
        starting in `rx_seen` were taken in an earlier round (the chain went back to a line start) and
        are left out."""
        scanner = self.scanner
        lit_dets = self.lit_dets
        out = scanner.literal_hits(v, lit_pos, end, stop, lit_dets)
        lit_end = out[-1][1] if out else lit_pos
        rx = scanner.regex_hits(v, rx_pos, end, stop)
        if not rx:
            return out, lit_end, rx_pos, []
        rx_end = rx[-1][1]
        if rx_seen:
            rx = [h for h in rx if h[0] not in rx_seen]
            if not rx:
                return out, lit_end, rx_end, []
        out.extend((s, e, self.regex_dispatch(v, s)) for s, e in rx)
        out.sort(key=_start)  # stable: literal hits stay first at a shared start
        return out, lit_end, rx_end, [s for s, _e in rx]

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
        line = self.open_line(v, avail)
        for det, _rx in self.regex_dets:
            if det.zone_re is None:
                continue
            lo = max(0, zs - det.zone_lookback)
            if line is not None and line < lo and id(det) in self.line_anchored:
                lo = line  # a long line-anchored candidate (`host:port:db:user:pass…`) began before the zone
            for m in det.zone_re.finditer(v, lo, hold):
                h = _hold_of(det.evaluate(v, m.start(), m.start(), avail, False), m.start())
                if h is not None and h < hold:
                    hold = h
                    break
        return hold


LINE_LOOKBACK = 1024  # how long a line a line-anchored trigger is looked for across chunk ends


def _start(hit: tuple) -> int:
    return hit[0]


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
    # The literal chain takes the longest literal at a place, so `sshpass` hides the `pass` in `SSHPASS=…`:
    # a literal that is one word holding a key-value literal (or any literal starting with one: `password '`)
    # also triggers the key-value family, which finds its key from any position inside it.
    kv = next((d for d in detectors if type(d) is KeyValueFamily), None)
    prio = {id(d): i for i, d in enumerate(detectors)}
    if kv is not None:
        for lit, dets in lit_map.items():
            if kv not in dets and any((k in lit) if lit.isalnum() else lit.startswith(k) for k in kv.literals
                                      if k != lit):
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
    first2: dict[bytes, list[bytes]] = {}
    for lit in literals:
        first2.setdefault(lit[:2], []).append(lit)
    return Engine(
        detectors=detectors,
        scanner=scanner,
        lit_map=lit_map,
        regex_dets=regex_dets,
        prio=prio,
        t_max=t_max,
        partials=partials,
        first2=first2,
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
