"""`StreamMasker`: masks secrets in one output stream as it flows, exactly across chunk boundaries.

Contract
- `feed(data)` returns what is safe to emit now; `finish()` flushes at EOF; the caller calls
  `release_idle()` after `idle_release` seconds without input (the masker reads no clock).
- Chunk-exact: for any split of the input, the concatenated output equals masking the whole input
  at once (`feed(all) + finish()`), as long as `release_idle()` is not called in between.
- It holds back only bytes that could be part of a secret: a trigger hit whose window has not fully
  arrived (held from where its secret could start), the start of a token that could still grow into
  a trigger (`gh`, `-----BEG`), or an incomplete escape sequence. Plain typing and prompts pass at once.
- Hold-back bound: `held <= HOLD_BOUND` bytes (the largest detector window: 32 KiB for a Kubernetes
  Secret `data:` block, 8 KiB for a key value or JWT, most tokens 256 bytes) plus one escape sequence.
- A private-key block is masked from BEGIN to the matching END, however long: its bytes are not held,
  they are swallowed as they arrive; an unterminated block stays masked until `finish()`.
- `release_idle()` releases everything: a token that could still be (the start of) a secret is masked,
  and the rest of that token is masked when it arrives, so a secret never leaks in two halves.

How (see `matchers.py` for the detector side): the re2 scanner finds trigger hits in the escape-free
view of the buffer; a hit is only taken once the scanner's verdict on it cannot change (it starts at
least `t_max` bytes before the end of the input); each hit is evaluated by its detector, which either
decides (spans or nothing) or asks to wait. Masked spans are emitted as runs: each maximal run of
masked bytes becomes one replacement, named after the first (highest-priority) span starting the run.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Callable

from bastion.errors import MaskingError
from bastion.masking.engine import compile_engine
from bastion.masking.matchers import Detector, KeyValueFamily, Overflow, Pending, PemOpen
from bastion.masking.profiles import MaskingProfile
from bastion.masking.view import MAX_ESCAPE, TextView

CONTEXT = 1024  # bytes kept before the earliest live position, for lookbehinds and key names
HOLD_BOUND = 32768 + 1024 + MAX_ESCAPE
_STARS = bytes(b if b in (10, 13) else 42 for b in range(256))  # same-length filler keeps line breaks
_ELLIPSIS = "…".encode()
# Colour changes (SGR) inside masked bytes are kept after the replacement, or a reset inside a secret
# would be masked with it and leave the terminal coloured. Only SGR: it carries no text, unlike an OSC
# title or hyperlink, and moves no cursor.
_SGR = re.compile(rb"\x1b\[[0-9;:]{0,32}m")
_LABELS: dict[str, bytes] = {}


@dataclass(frozen=True)
class MaskHit:
    """One masked secret: never the secret itself, only where it was and (with a key) its HMAC."""

    detector: str
    offset: int
    length: int
    digest: str | None


class StreamMasker:
    """Masks one output stream (stdout or stderr); pure: no I/O, no clock, no knowledge of SSH."""

    def __init__(
        self,
        profile: MaskingProfile,
        *,
        hmac_key: bytes | None = None,
        on_hit: Callable[[MaskHit], None] | None = None,
    ) -> None:
        self._profile = profile
        self._eng = compile_engine(profile)
        self.idle_release: float = profile.idle_release
        self._hmac_key = hmac_key
        self._on_hit = on_hit
        self._buf = b""
        self._base = 0  # stream offset of _buf[0]
        self._emitted = 0  # stream offset up to which output was produced
        self._scan = 0  # where the literal trigger chain resumes
        self._scan_rx = 0  # where the regex trigger chain resumes
        self._rx_seen: set[int] = set()  # stream offsets of regex hits taken (the chain may go back a line)
        self._pending: list[tuple[int, int, Detector]] = []  # (start, end, detector), stream offsets
        # (start, priority, sequence, end, id, prefix): plain tuple order is (start, priority, arrival)
        self._spans: list[tuple[int, int, int, int, str, bytes]] = []
        self._seq = 0
        self._in_run = False  # the last emitted byte was masked
        self._pem: list | None = None  # [END marker, search-from offset, detector id, start, hmac or None]
        self._swallow: tuple[object, str] | None = None  # (token class, detector id) after an idle mask
        # (where, token class, detector id): tokens that ran past a detector's window, masked as they go on
        self._runs_on: list[tuple[int, re.Pattern[bytes], str]] = []
        self._reported: dict[int, int] = {}
        self._finished = False

    # --- public API ---------------------------------------------------------------------------------
    @property
    def held(self) -> int:
        """Bytes received but not yet emitted (bounded by HOLD_BOUND)."""
        return max(0, self._base + len(self._buf) - self._emitted)

    def feed(self, data: bytes) -> bytes:
        if self._finished:
            raise MaskingError("feed() after finish()")
        if not data:
            return b""
        self._buf += data
        return self._guard(False)

    def finish(self) -> bytes:
        if self._finished:
            return b""
        out = self._guard(True)
        self._finished = True
        return out

    def release_idle(self) -> bytes:
        if self._finished or self.held == 0:
            return b""
        try:
            return self._idle()
        except MaskingError:
            raise
        except Exception as exc:  # fail closed: the caller stops the output
            raise MaskingError(f"masker failed: {type(exc).__name__}") from exc

    # --- the pipeline -------------------------------------------------------------------------------
    def _guard(self, final: bool) -> bytes:
        try:
            return self._process(final)
        except MaskingError:
            raise
        except Exception as exc:  # fail closed; never echo the input in the message
            raise MaskingError(f"masker failed: {type(exc).__name__}") from exc

    def _process(self, final: bool) -> bytes:
        out: list[bytes] = []
        while True:
            view = TextView(self._buf, self._base, final)
            if self._swallow is not None:
                self._apply_swallow(view)
            if self._runs_on:
                self._apply_runs_on(view, final)
            if self._pem is not None:
                if not self._pem_step(view, out, final):
                    break
                continue
            hold, pem = self._evaluate(view, final)
            if not self._emit(view, hold, pem, out):
                break
        self._trim(view)
        return out[0] if len(out) == 1 else b"".join(out)

    def _evaluate(self, view: TextView, final: bool) -> tuple[int, tuple[int, PemOpen] | None]:
        v = view.text
        avail = len(v)
        eng = self._eng
        prio = eng.prio
        kv = eng.kv
        stable = avail if final else avail - eng.t_max
        pending: list[tuple[int, int, Detector]] = []
        hold = avail
        pem: tuple[int, PemOpen] | None = None
        kv_end = -1  # KV hits before this position (same key, already decided) would decide the same
        env_end = -1  # hits before this position lie in the key of a `KEY=value` line (see `evaluate_key`)
        # Pending hits were found by earlier scans, so they all start before the scan position and
        # come first; scanner hits arrive in order and `dispatch` lists detectors in priority order:
        # the hits are evaluated in (start, priority) order without sorting.
        for s, e, det in self._pending:
            ts, te = view.to_view(s), view.to_view(e)
            if pem is not None:
                break
            if det is kv:
                r, kv_end, env_end = det.evaluate_key(v, ts, avail, final)
            elif ts < env_end and det.none_in_env_key:
                continue
            else:
                r = det.evaluate(v, ts, te, avail, final)
            if r is None:
                continue
            kind = type(r)
            if kind is list:
                if r:
                    self._add_spans(view, r, prio[id(det)])  # type: ignore[arg-type]
            elif kind is Pending:
                pending.append((ts, te, det))
                h = r.hold  # type: ignore[union-attr]
                if h is not None and h < hold:
                    hold = h
            elif kind is Overflow:
                self._add_overflow(view, r, prio[id(det)])  # type: ignore[arg-type]
            else:
                pem = (ts, r)  # type: ignore[assignment]
                pending.append((ts, te, det))  # until the block is entered (see below)
        sv = view.to_view(self._scan)
        rv = view.to_view(self._scan_rx)
        last_end, rx_end = sv, rv
        rx_later: list[tuple[int, int]] = []
        if sv < avail or rv < avail:
            identity = view.identity and self._on_hit is None
            base = view.base
            add = self._spans.append
            seq = self._seq
            # Both chains of trigger hits for the whole chunk, one native scan each; only hits starting
            # at most at `stable` are taken (their verdict cannot change as more input arrives).
            seen = self._rx_seen
            hits, last_end, rx_end, rx_starts, rx_later = eng.hits(
                v, sv, rv, avail, stable, {view.to_view(r) for r in seen} if seen else frozenset())
            for ts, te, dets in hits:
                if pem is not None:
                    break  # inside a private-key block: nothing else is looked at there
                for det in dets:
                    if det is kv:
                        if ts < kv_end:
                            continue
                        r, kv_end, e = det.evaluate_key(v, ts, avail, final)
                        if e >= 0:
                            env_end = e
                        if r and type(r) is list and r[-1][1] > kv_end:
                            # Key names inside a value it masked (`a_token=a_token=…`) would mask within it
                            # again: skip them, or a line of them costs a window scan each (quadratic).
                            kv_end = r[-1][1]
                    elif ts < env_end and det.none_in_env_key:
                        continue  # inside the key of a `KEY=value` line, which the family has decided
                    else:
                        r = det.evaluate(v, ts, te, avail, final)
                    if r is None:
                        continue
                    kind = type(r)
                    if kind is list:
                        if not r:
                            continue
                        if identity:  # `_add_spans`, inlined for the common case
                            p = prio[id(det)]
                            for s, e, det_id, keep in r:  # type: ignore[union-attr]
                                seq += 1
                                add((base + s, p, seq, base + e, det_id, v[s : s + keep] if keep else b""))
                        else:
                            self._seq = seq
                            self._add_spans(view, r, prio[id(det)])  # type: ignore[arg-type]
                            seq = self._seq
                    elif kind is Pending:
                        pending.append((ts, te, det))
                        h = r.hold  # type: ignore[union-attr]
                        if h is not None and h < hold:
                            hold = h
                    elif kind is Overflow:
                        self._seq = seq
                        self._add_overflow(view, r, prio[id(det)])  # type: ignore[arg-type]
                        seq = self._seq
                    else:
                        # A private-key block starts here. It is entered once everything before it
                        # is emitted, which an earlier hold can delay (a `data:` block or a value
                        # still arriving): the hit stays pending until then, as the scan moves on.
                        pem = (ts, r)  # type: ignore[assignment]
                        pending.append((ts, te, det))
                        break
            self._seq = seq
            if rx_starts and eng.rx_line_anchored:
                # only the hits evaluated: those past a private-key block's start are read again after its END
                seen.update(view.to_raw(ts) for ts in rx_starts if pem is None or ts < pem[0])
        new_scan = avail if final else max(last_end, sv, stable + 1)
        self._scan = view.to_raw(min(new_scan, avail))
        new_scan = avail if final else max(rx_end, rv, stable + 1)
        if not final:
            line = eng.open_line(v, avail)
            if line is not None and line < new_scan:
                new_scan = line  # a line-anchored trigger there may still match once the line goes on
        self._scan_rx = view.to_raw(min(new_scan, avail))
        if not final:
            zh = eng.zone_hold(v, max(stable + 1, 0), avail, rx_later)
            if zh < hold:
                hold = zh
        if view.identity:
            base = view.base
            self._pending = [(base + s, base + e, d) for s, e, d in pending]
        else:
            self._pending = [(view.to_raw(s), view.to_raw_end(e), d) for s, e, d in pending]
        hold_raw = view.to_raw(hold) if hold < avail else view.eff_end
        return hold_raw, pem

    def _add_overflow(self, view: TextView, spans: Overflow, prio: int) -> None:
        self._add_spans(view, spans, prio)
        self._runs_on.append((view.to_raw_end(spans[-1][1]), spans.cls, spans[-1][2]))

    def _apply_runs_on(self, view: TextView, final: bool) -> None:
        """Mask what has arrived of tokens that ran past a detector's window (see `Overflow`)."""
        v = view.text
        n = len(v)
        going: list[tuple[int, re.Pattern[bytes], str]] = []
        for pos, cls, det_id in self._runs_on:
            sv = view.to_view(pos)
            e = cls.match(v, sv).end() if sv < n else sv
            if e > sv:
                self._seq += 1
                self._spans.append((pos, -1, self._seq, view.to_raw_end(e), det_id, b""))
            if e >= n and not final:
                going.append((view.to_raw_end(e) if e > sv else pos, cls, det_id))
        self._runs_on = going

    def _add_spans(self, view: TextView, spans: list, prio: int) -> None:
        v = view.text
        plain = view.identity
        base = view.base
        add = self._spans.append
        report = self._on_hit is not None
        for s, e, det_id, keep in spans:
            if plain:
                rs, re_ = base + s, base + e
            else:
                rs, re_ = view.to_raw(s), view.to_raw_end(e)
            self._seq += 1
            add((rs, prio, self._seq, re_, det_id, v[s : s + keep] if keep else b""))
            if report and self._reported.get(rs) != re_:
                self._reported[rs] = re_
                self._report(det_id, rs, re_ - rs, v[s:e])

    def _report(self, det_id: str, offset: int, length: int, secret: bytes) -> None:
        if self._on_hit is None:
            return
        digest = None
        if self._hmac_key is not None:
            digest = hmac.new(self._hmac_key, secret, hashlib.sha256).hexdigest()
        self._on_hit(MaskHit(det_id, offset, length, digest))

    def _label(self, det_id: str, prefix: bytes) -> bytes:
        style = self._profile.replacement
        if style == "label":
            label = _LABELS.get(det_id)
            if label is None:
                label = _LABELS[det_id] = b"[MASKED:" + det_id.encode() + b"]"
            return label
        if style == "fixed":
            return self._profile.replacement_text.encode()
        if style == "keep-prefix":
            return prefix + _ELLIPSIS
        return b""  # same-length: the filler carries it

    def _filler(self, raw: bytes) -> bytes:
        return raw.translate(_STARS) if self._profile.replacement == "same-length" else b""

    def _emit(self, view: TextView, hold: int, pem: tuple[int, PemOpen] | None, out: list[bytes]) -> bool:
        """Emit up to `hold`; masked runs may go further. True if a private-key block was entered."""
        buf, base = self._buf, self._base
        limit = hold
        pem_raw = view.to_raw(pem[0]) if pem is not None else -1
        if pem is not None and pem_raw < limit:
            limit = pem_raw
        pos = self._emitted
        spans = self._spans
        if len(spans) > 1:
            spans.sort()
        i = 0
        n = len(spans)
        in_run = self._in_run
        label = self._label
        same_length = self._profile.replacement == "same-length"
        while i < n:
            s, _p, _q, e, det_id, prefix = spans[i]
            if e <= pos:
                i += 1
                continue
            if s > pos:
                if s >= limit:
                    break
                out.append(buf[pos - base : s - base])
                pos = s
                in_run = False
            if not in_run:
                if s == pos and s >= limit:
                    break  # the run's name is not settled until every span starting here is known
                out.append(label(det_id, prefix if s == pos else b""))
                in_run = True
            if same_length:
                out.append(buf[pos - base : e - base].translate(_STARS))
            elif 27 in buf[pos - base : e - base]:
                out.extend(_SGR.findall(buf[pos - base : e - base]))
            pos = e
            i += 1
        if i < n:
            rest = [sp for sp in spans[i:] if sp[3] > pos]
        else:
            rest = []
        if pos < limit and not (rest and rest[0][0] < limit):
            out.append(buf[pos - base : limit - base])
            pos = limit
            in_run = False
        self._in_run = in_run
        self._spans = rest
        self._emitted = pos
        if pem is None or pos < pem_raw:
            return False
        det_id, marker = pem[1].det_id, pem[1].marker
        if not self._in_run:
            out.append(self._label(det_id, b""))
            self._in_run = True
        mac = hmac.new(self._hmac_key, b"", hashlib.sha256) if self._hmac_key is not None else None
        self._pem = [marker, view.to_raw(pem[1].header_end), det_id, pem_raw, mac]
        if mac is not None:
            mac.update(buf[pem_raw - base : self._emitted - base])
        self._spans = [sp for sp in self._spans if sp[0] < pem_raw]
        self._pending = []
        return True

    def _pem_step(self, view: TextView, out: list[bytes], final: bool) -> bool:
        """Swallow a private-key block; True once its END line has been passed."""
        marker, search_from, det_id, start, _mac = self._pem  # type: ignore[misc]
        v = view.text
        sv = view.to_view(search_from)
        i = v.find(marker, sv)
        if i >= 0:
            end = view.to_raw_end(i + len(marker))
            self._swallow_to(end, out)
            self._close_pem(end)
            self._scan = self._scan_rx = end
            self._pending = []
            return True
        self._swallow_to(view.raw_end if final else view.eff_end, out)
        self._pem[1] = view.to_raw(max(sv, len(v) - len(marker) + 1))  # type: ignore[index]
        if final:
            self._close_pem(self._emitted)
        return False

    def _close_pem(self, end: int) -> None:
        _marker, _sf, det_id, start, mac = self._pem  # type: ignore[misc]
        self._pem = None
        if self._on_hit is not None:
            self._on_hit(MaskHit(det_id, start, end - start, mac.hexdigest() if mac is not None else None))

    def _swallow_to(self, end: int, out: list[bytes]) -> None:
        if end > self._emitted:
            if self._pem is not None and self._pem[4] is not None:
                self._pem[4].update(self._buf[self._emitted - self._base : end - self._base])
            swallowed = self._buf[self._emitted - self._base : end - self._base]
            filler = self._filler(swallowed)
            if filler:
                out.append(filler)
            elif 27 in swallowed:
                out.extend(_SGR.findall(swallowed))
            self._emitted = end

    def _apply_swallow(self, view: TextView) -> None:
        cls, det_id = self._swallow  # type: ignore[misc]
        v = view.text
        sv = view.to_view(self._emitted)
        if sv >= len(v):
            return
        e = cls.match(v, sv).end()  # type: ignore[attr-defined]
        if e > sv:
            self._seq += 1
            self._spans.append((self._emitted, -1, self._seq, view.to_raw_end(e), det_id, b""))
        if e < len(v):
            self._swallow = None

    def _idle(self) -> bytes:
        """Release everything held; mask what could still be a secret."""
        out: list[bytes] = []
        view = TextView(self._buf, self._base, False)
        v = view.text
        avail = len(v)
        if self._pem is not None:
            self._swallow_to(view.raw_end, out)
            return b"".join(out)
        eng = self._eng
        cands = [(view.to_view(s), view.to_view(e), d) for s, e, d in self._pending]
        zs = max(0, avail - eng.t_max + 1, view.to_view(self._scan))
        for q, lit in eng.scanner.zone_literals(v, zs, avail):
            cands.extend((q, q + len(lit), d) for d in eng.lit_map[lit])
        zr = max(0, avail - eng.t_max + 1, view.to_view(self._scan_rx))
        line = eng.open_line(v, avail)
        for det, _rx in eng.regex_dets:
            if det.zone_re is not None:
                head = det.idle_head
                lo = max(0, zr - det.zone_lookback)
                if line is not None and line < lo and id(det) in eng.line_anchored:
                    lo = line  # a long line-anchored candidate (an NTLM or pgpass line) began before the zone
                cands.extend((m.start(), m.start(), det) for m in det.zone_re.finditer(v, lo, avail)
                             if head is None or head.search(v, m.start(), avail))
        pem: tuple[int, PemOpen] | None = None
        for ts, te, det in cands:
            if det.opens_blocks:
                r = det.evaluate(v, ts, te, avail, False)
                if type(r) is PemOpen and (pem is None or ts < pem[0]):
                    pem = (ts, r)
        swallow = None
        for ts, te, det in cands:
            if pem is not None and ts >= pem[0]:
                continue  # inside the private-key block
            spans, cls = idle_spans(det, v, ts, te, avail)
            if spans:
                self._add_spans(view, spans, -1)
            if cls is not None:
                swallow = (cls, spans[-1][2])
        if pem is not None:
            # A private-key block whose header has arrived: release up to it, then swallow it as
            # `_process` would; what follows its END line is scanned and released as usual.
            if self._emit(view, view.raw_end, pem, out):
                out.append(self._process(False))
                if self.held:
                    out.append(self._idle())
            return b"".join(out)
        self._emit(view, view.raw_end, None, out)
        if swallow is not None and self._emitted >= view.raw_end and self._in_run:
            self._swallow = swallow
        return b"".join(out)

    def _trim(self, view: TextView) -> None:
        keep = min(self._emitted, self._scan, self._scan_rx)
        if self._rx_seen:
            self._rx_seen = {r for r in self._rx_seen if r >= self._scan_rx}
        if self._pending:
            keep = min(keep, min(p[0] for p in self._pending))
        if self._spans:
            keep = min(keep, min(sp[0] for sp in self._spans))
        if self._pem is not None:
            keep = min(keep, self._pem[1])
        keep = view.safe_cut(keep - CONTEXT)
        if keep > self._base:
            self._buf = self._buf[keep - self._base :]
            self._base = keep
            if len(self._reported) > 64:
                self._reported = {k: x for k, x in self._reported.items() if k >= keep}


def idle_spans(det: Detector, v: bytes, ts: int, te: int, avail: int) -> tuple[list, object | None]:
    """What to mask when releasing a hit early: its secrets as if the input ended here, plus the token
    that is still arriving where a secret could start (and the class to swallow its rest)."""
    r = det.evaluate(v, ts, te, avail, False)
    if type(r) is list:
        return r, None  # decided already (a hit near the end that the scan had not yet taken)
    if type(r) is not Pending:
        return [], None
    spans = list(det.evaluate(v, ts, te, avail, True) or [])  # type: ignore[arg-type]
    spans = [s for s in spans if isinstance(s, tuple)]
    h = r.hold
    cls = r.rest or det.value_class  # type: ignore[union-attr]
    if h is None or h >= avail or cls is None or isinstance(r, PemOpen):
        return spans, None
    if det.ids[0].startswith("private-key") and det.ids[0] != "private-key-base64":
        return spans, None  # (a base64-encoded key still arriving is masked: its armour line is encoded too)
    if r.rest is not None:  # type: ignore[union-attr]
        pass  # a list still arriving: all of it from its start, and then the rest of it
    elif isinstance(det, KeyValueFamily) and b"\n" not in v[h:avail]:
        pass  # a key's value may have spaces in it (`MNEMONIC=legal winner …`, INI passwords): all of it
    elif cls.fullmatch(v, h, avail) is None:  # type: ignore[union-attr]
        # Several words are held (`Bearer abcD…`, `Cookie: a=1; s=…`): the last one, still arriving, is the
        # one that may be cut short; what comes before it was already judged by the final-form spans above.
        p = avail
        while p > h and cls.fullmatch(v, p - 1, p) is not None:  # type: ignore[union-attr]
            p -= 1
        if p == avail:
            return spans, None
        h = p
    token = v[h:avail]
    if det.ids == ("credit-card",):
        if sum(c in b"0123456789" for c in token) < 7:
            return spans, None  # up to six leading digits (the issuer prefix) may be shown
    elif det.prefix_type and len(token) <= max(2, te - ts):
        return spans, None  # the public head alone (`ghp_`, `sk-`): its body, when it comes, is judged then
    elif det.idle_min_body or det.idle_show_below or det.idle_show_digits or r.show:  # type: ignore[union-attr]
        body = v[max(h, te) : avail]
        min_body = r.show or det.idle_min_body  # type: ignore[union-attr]
        if (len(body) < det.idle_show_below or (len(body) < min_body and (not body or body.isalpha()))
                or (body.isdigit() and len(body) <= det.idle_show_digits)):
            return spans, None  # a word being typed after a common head (see `Detector.idle_min_body`)
    det_id = spans[-1][2] if spans else _idle_id(det, v, ts)
    end = avail - 1 if v[avail - 1] == 13 and avail - 1 > h else avail  # (a typed line's `\r` is no part of it)
    # (a final-form span running past `h` keeps its part before it: the token from `h` on is masked anyway)
    spans = [s if s[1] <= h else (s[0], h, s[2], s[3]) for s in spans if s[0] < h] + [(h, end, det_id, 0)]
    return spans, cls


def _idle_id(det: Detector, v: bytes, ts: int) -> str:
    if isinstance(det, KeyValueFamily):
        return det.rule_for(v, ts)
    return det.ids[0]
