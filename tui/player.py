"""The replay clock of a recording: play/pause, speed, seek, markers and an idle-time cap. Pure.

`Player` owns only time: it says which events are due, and whether the screen must be rebuilt from the
start (seeking backwards). The replay screen feeds the due events to a `TerminalModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
Event = tuple[float, str, str]


@dataclass(frozen=True)
class Marker:
    """A point of interest on the (idle-capped) timeline: a decision, an approval, a signal."""

    t: float
    label: str


@dataclass(frozen=True)
class Step:
    """What the screen must do after a clock change: clear first (`reset`), then apply `events`."""

    reset: bool
    events: list[Event]


def cap_idle(events: list[Event], cap: float | None) -> list[Event]:
    """Shorten every pause between events to at most `cap` seconds (None: keep real time)."""
    if cap is None or cap <= 0:
        return list(events)
    out: list[Event] = []
    last_real = 0.0
    t = 0.0
    for real, code, data in events:
        t += min(max(0.0, real - last_real), cap)
        last_real = real
        out.append((t, code, data))
    return out


class Player:
    """Replay position over a recording's events (asciicast v2 `o`/`r`/`m`; `i` is ignored)."""

    def __init__(self, events: list[Event], *, idle_cap: float | None = 2.0) -> None:
        self._real = [e for e in events if e[1] in ("o", "r", "m")]
        self.idle_cap = idle_cap
        self.speed = 1.0
        self.playing = False
        self.position = 0.0
        self._next = 0  # index of the first event not yet applied
        self._build()

    def _build(self) -> None:
        self.events = cap_idle(self._real, self.idle_cap)
        self.duration = self.events[-1][0] if self.events else 0.0
        self.markers = [Marker(t, data) for t, code, data in self.events if code == "m"]

    # --- playing -------------------------------------------------------------------------------------
    def toggle(self) -> Step:
        """Play or pause. Playing at the end starts again from the beginning (the step says to reset)."""
        if not self.playing and self.position >= self.duration and self.duration > 0:
            self.playing = True
            return self.seek(0.0)
        self.playing = not self.playing
        return Step(False, [])

    def advance(self, seconds: float) -> list[Event]:
        """Move the clock by `seconds` of wall time (times the speed) while playing; the events now due."""
        if not self.playing:
            return []
        self.position = min(self.duration, self.position + seconds * self.speed)
        due = self._due()
        if self.position >= self.duration:
            self.playing = False
        return due

    def _due(self) -> list[Event]:
        start = self._next
        while self._next < len(self.events) and self.events[self._next][0] <= self.position:
            self._next += 1
        return self.events[start:self._next]

    def faster(self) -> float:
        self.speed = next((s for s in SPEEDS if s > self.speed), SPEEDS[-1])
        return self.speed

    def slower(self) -> float:
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0])
        return self.speed

    # --- moving --------------------------------------------------------------------------------------
    def seek(self, to: float) -> Step:
        """Jump to `to` seconds (clamped). Backwards means: clear the screen and replay from the start."""
        to = max(0.0, min(self.duration, to))
        reset = to < self.position or (to == 0.0 and self._next > 0)
        if reset:
            self._next = 0
        self.position = to
        return Step(reset, self._due())

    def skip(self, seconds: float) -> Step:
        return self.seek(self.position + seconds)

    def next_marker(self) -> tuple[Marker | None, Step]:
        marker = next((m for m in self.markers if m.t > self.position + 1e-6), None)
        if marker is None:
            return None, Step(False, [])
        return marker, self.seek(marker.t)

    def previous_marker(self) -> tuple[Marker | None, Step]:
        # Half a second of slack, so pressing it twice walks back past the marker just reached.
        marker = next((m for m in reversed(self.markers) if m.t < self.position - 0.5), None)
        if marker is None:
            return None, self.seek(0.0)
        return marker, self.seek(marker.t)

    def set_idle_cap(self, cap: float | None) -> Step:
        """Change the cap; the position moves to the same event on the new timeline."""
        applied = self._next
        self.idle_cap = cap
        self._build()
        self._next = 0
        self.position = 0.0
        target = self.events[applied - 1][0] if applied else 0.0
        return Step(True, self.seek(target).events)

    def current_marker(self) -> Marker | None:
        """The last marker at or before the position."""
        return next((m for m in reversed(self.markers) if m.t <= self.position + 1e-6), None)
