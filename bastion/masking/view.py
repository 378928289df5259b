"""The text the detectors read: the raw buffer with terminal escape sequences taken out.

Colours and line-erase codes (`\\x1b[31m`, `\\x1b[K`) may sit around or inside a secret; the detectors
must see the secret as one run of characters. `TextView` removes escape sequences and maps positions
between the view and the raw stream, so a masked span always starts and ends on a byte that is not part
of an escape sequence (an escape inside a secret is masked with it; one around it is kept).

What a sequence carries as text stays text: the payload of an OSC (a window title, a hyperlink's URL, an
OSC 52 clipboard write) and of DCS/APC strings reaches the terminal and whoever reads the stream, so the
detectors read it too. Only the introducer (`ESC ]`) is taken out, and the terminators (BEL, `ESC \\`) read
as a line break, so a value inside a title ends where the title does.

The escape grammar is fixed and bounded (CSI up to 32 parameter bytes), so parsing is deterministic from
any point that is not inside a sequence. An escape sequence still incomplete at the end of the buffer (at
most a CSI, which carries no text) is reported through `eff_end`: the caller holds it back until it
completes.
"""

from __future__ import annotations

import re
from bisect import bisect_right

ESC = b"\x1b"
BEL = b"\x07"

# INVARIANT: every alternative is bounded, so an incomplete sequence is held back for a bounded time.
# Group 1 is the string terminator `ESC \\`: its ESC is taken out and its `\\` reads as a line break.
ESCAPE_RE = re.compile(
    rb"\x1b(?:\[[0-?]{0,32}[ -/]{0,4}[@-~]"  # CSI: colours, cursor moves, erase-line
    rb"|\]"  # OSC introducer (its payload is text, see above)
    rb"|[ -/]{1,2}[0-~]"  # nF: charset selection such as ESC ( B
    rb"|[0-Z^-~]"  # Fp/Fe/Fs two-byte sequences (not '[', '\\' or ']')
    rb"|(\\))"  # ST
)
_ESCAPE_PARTIAL_RE = re.compile(rb"\x1b(?:\[[0-?]{0,32}[ -/]{0,4}|[ -/]{0,2})\Z")
MAX_ESCAPE = 39  # longest sequence the grammar accepts (bounds what an incomplete one holds back)


class TextView:
    """`text` is `raw` without escape sequences; `base` is the stream offset of `raw[0]`.

    `eff_end` is the stream offset up to which the raw bytes are usable: the start of a trailing
    incomplete escape sequence, or the end of the buffer.
    """

    __slots__ = ("text", "base", "eff_end", "raw_end", "identity", "_segs", "_vstarts", "_rstarts")

    def __init__(self, raw: bytes, base: int, final: bool) -> None:
        self.base = base
        self.raw_end = base + len(raw)
        self.identity = ESC not in raw
        if self.identity:
            self.text = raw.replace(BEL, b"\n") if BEL in raw else raw
            self.eff_end = self.raw_end
            self._segs: list[tuple[int, int, int]] | None = None
            return
        limit = len(raw)
        if not final:
            last = raw.rfind(ESC)
            # A trailing ESC that is not part of a complete sequence, but could become one, is held.
            m = ESCAPE_RE.match(raw, last)
            if m is None and _ESCAPE_PARTIAL_RE.match(raw, last):
                limit = last
        pieces: list[bytes] = []
        segs: list[tuple[int, int, int]] = []  # (raw_start, raw_end, view_start), relative to base
        pos = 0
        vpos = 0
        for m in ESCAPE_RE.finditer(raw, 0, limit):
            s, e = m.span()
            if s > pos:
                pieces.append(raw[pos:s])
                segs.append((pos, s, vpos))
                vpos += s - pos
            if m.start(1) >= 0:  # ST: the ESC goes, the `\\` reads as a line break
                pieces.append(b"\n")
                segs.append((s + 1, e, vpos))
                vpos += 1
            pos = e
        if limit > pos:
            pieces.append(raw[pos:limit])
            segs.append((pos, limit, vpos))
            vpos += limit - pos
        text = b"".join(pieces)
        self.text = text.replace(BEL, b"\n") if BEL in text else text
        self.eff_end = base + limit
        self._segs = segs
        self._vstarts = [seg[2] for seg in segs]
        self._rstarts = [seg[0] for seg in segs]

    def to_raw(self, v: int) -> int:
        """Stream offset of view character `v` (or of the view end when `v == len(text)`)."""
        if self._segs is None:
            return self.base + v
        if v >= len(self.text):
            return self.eff_end
        i = bisect_right(self._vstarts, v) - 1
        rs, _re, vs = self._segs[i]
        return self.base + rs + (v - vs)

    def to_raw_end(self, v: int) -> int:
        """Stream offset just after view character `v - 1`: the end of a span, excluding escapes after it."""
        if v <= 0:
            return self.to_raw(0)
        return self.to_raw(v - 1) + 1

    def to_view(self, r: int) -> int:
        """View index of the first view character at or after stream offset `r`."""
        rel = r - self.base
        if self._segs is None:
            return max(0, min(rel, len(self.text)))
        if rel <= 0:
            return 0
        i = bisect_right(self._rstarts, rel) - 1
        if i < 0:
            return 0
        rs, re_, vs = self._segs[i]
        if rel >= re_:
            return vs + (re_ - rs)
        return vs + (rel - rs)

    def safe_cut(self, r: int) -> int:
        """The greatest stream offset <= `r` that is not inside an escape sequence."""
        if self._segs is None:
            return r
        rel = r - self.base
        i = bisect_right(self._rstarts, rel) - 1
        if i < 0:
            return self.base
        rs, re_, _vs = self._segs[i]
        if rel <= re_:
            return r
        return self.base + re_  # inside the escape run after segment i: cut where it starts
