"""A masker for a stream that is a secret from its first byte to its last (see `commands.py`).

Same API as `StreamMasker` (`feed`, `release_idle`, `finish`, `held`), so the gateway drives it the same
way. Leading whitespace passes; from the first other byte on, everything is one masked run: one
replacement is emitted at once and the rest is swallowed as it arrives, so nothing is ever held back. A
final line break is kept so the client's prompt stays on its own line. One `MaskHit` is reported at the
end, with the HMAC of the whole value (less surrounding whitespace), computed as the bytes pass: the
value itself is never kept.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Callable

from bastion.errors import MaskingError
from bastion.masking.commands import COMMAND_OUTPUT_ID
from bastion.masking.profiles import MaskingProfile
from bastion.masking.stream import MaskHit

_WS = b" \t\r\n"
_NOT_NEWLINE = bytes(b if b in b"\r\n" else ord("*") for b in range(256))


class WholeOutputMasker:
    """Masks all of one stream."""

    def __init__(self, profile: MaskingProfile, *, hmac_key: bytes | None = None,
                 on_hit: Callable[[MaskHit], None] | None = None) -> None:
        self.idle_release: float = profile.idle_release
        self._style = profile.replacement
        self._text = profile.replacement_text.encode()
        self._on_hit = on_hit
        self._mac = hmac.new(hmac_key, digestmod=hashlib.sha256) if hmac_key is not None else None
        self._offset = 0  # stream offset of the next byte fed
        self._start = -1  # stream offset of the value's first byte
        self._length = 0  # bytes of the value so far, trailing whitespace excluded
        self._trailing = b""  # whitespace after the value so far (part of it only if more follows)
        self._finished = False

    @property
    def held(self) -> int:
        return 0

    def feed(self, data: bytes) -> bytes:
        if self._finished:
            raise MaskingError("feed() after finish()")
        out = []
        if self._start < 0:
            lead = len(data) - len(data.lstrip(_WS))
            out.append(data[:lead])
            if lead == len(data):
                self._offset += len(data)
                return data
            self._start = self._offset + lead
            out.append(self._label())
            data = data[lead:]
            self._offset += lead
        self._offset += len(data)
        body = data.rstrip(_WS)
        if body:
            self._absorb(self._trailing + body)
            self._trailing = data[len(body):]
            if self._style == "same-length":
                out.append(data.translate(_NOT_NEWLINE))
                return b"".join(out)
        else:
            self._trailing += data
            if self._style == "same-length":
                out.append(data.translate(_NOT_NEWLINE))
        return b"".join(out)

    def release_idle(self) -> bytes:
        return b""

    def finish(self) -> bytes:
        if self._finished:
            return b""
        self._finished = True
        if self._start < 0:
            return b""
        if self._on_hit is not None:
            self._on_hit(MaskHit(COMMAND_OUTPUT_ID, self._start, self._length,
                                 self._mac.hexdigest() if self._mac is not None else None))
        if self._style != "same-length" and self._trailing.endswith(b"\n"):
            return b"\r\n" if self._trailing.endswith(b"\r\n") else b"\n"
        return b""

    def _absorb(self, chunk: bytes) -> None:
        self._length += len(chunk)
        if self._mac is not None:
            self._mac.update(chunk)

    def _label(self) -> bytes:
        if self._style == "label":
            return b"[MASKED:" + COMMAND_OUTPUT_ID.encode() + b"]"
        if self._style == "fixed":
            return self._text
        if self._style == "keep-prefix":
            return "…".encode()
        return b""  # same-length: the stars carry it
