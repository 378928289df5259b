"""Text that came from the gateway, made safe and readable for the screen.

INVARIANT: every string a session or an agent controls (commands, reasons, user and target names, markers)
is shown only through `safe()` / `command_text()`, which turn control characters into visible symbols, and
always as `rich.text.Text` (never markup): an ESC in a command line must not reach the reviewer's terminal,
and `[bold]` in a command must not restyle the screen.
"""

from __future__ import annotations

import time

from rich.text import Text

# C0 controls as their Unicode "control picture" (␛ for ESC), C1 controls and DEL as a replacement mark.
_TABLE = {c: 0x2400 + c for c in range(0x20)}
_TABLE[0x7F] = 0x2421
_TABLE.update({c: 0xFFFD for c in range(0x80, 0xA0)})
# Bidirectional overrides and isolates can make a command read differently from what runs.
_TABLE.update({c: 0xFFFD for c in (0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069)})


def safe(value: object) -> str:
    """`str(value)` with every control character replaced by a visible symbol."""
    return str(value).translate(_TABLE)


def plain(value: object, style: str = "") -> Text:
    """A safe `Text` (no markup is ever parsed)."""
    return Text(safe(value), style=style, no_wrap=True)


def command_text(command: str, span: tuple[int, int] | None, *, limit: int | None = None) -> Text:
    """The command with the part the policy matched highlighted (`span` indexes the original string;
    `safe()` maps one character to one, so the indexes still hold)."""
    text = Text(safe(command), no_wrap=True)
    if span is not None:
        text.stylize("bold black on yellow", span[0], span[1])
    if limit is not None and len(text) > limit:
        text.truncate(limit - 1)
        text.append("…")
    return text


ACTION_STYLES = {"allow": "green", "deny": "bold red", "review": "bold yellow", "approve": "green",
                 "approved": "green", "denied": "red", "expired": "dim", "cancelled": "dim"}
STATUS_STYLES = {"open": "bold green", "closed": "dim", "terminated": "red", "interrupted": "yellow",
                 "failed": "red"}


def duration(seconds: float) -> str:
    """`42s`, `12m05s`, `3h04m`, `2d03h`: short, fixed-width enough for a table column."""
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def clock_time(epoch: float, now: float) -> str:
    """`HH:MM:SS` for today (UTC), else `YYYY-MM-DD HH:MM`. UTC keeps screens the same on every machine."""
    if epoch <= 0:
        return "—"
    same_day = int(epoch // 86400) == int(now // 86400)
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M", time.gmtime(epoch))


def media_time(seconds: float) -> str:
    """`mm:ss` (or `h:mm:ss`) for the replay's progress."""
    s = int(max(0, seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"
