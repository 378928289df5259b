"""The terminal model: what a session prints never reaches the reviewer's terminal as escapes; memory and
backlog are bounded; full-screen programs and resizes behave."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.term import TerminalModel

HOSTILE = (
    "\x1b]0;pwned title\x07"            # window title
    "\x1b]52;c;ZWNobyBwd25lZA==\x07"     # OSC 52: write the reviewer's clipboard
    "\x1b]8;;http://198.51.100.7/\x1b\\link\x1b]8;;\x1b\\"  # hyperlink
    "\x1bP+q544e\x1b\\"                   # DCS query
    "\x1b[6n\x1b[c\x1b[>c"               # cursor position / device attribute queries
    "\x9b31m\x9d0;c1 title\x9c"            # C1 (8-bit) CSI and OSC
    "\x1b[?1000h\x1b[?2004h"             # mouse reporting, bracketed paste
    "plain\x07\x08\x7f text\r\n"
)


def _rendered(model: TerminalModel) -> str:
    return "".join(segment.text for y in range(model.lines) for segment in model.row(y))


def _assert_clean(text: str) -> None:
    bad = [c for c in text if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0]
    assert not bad, f"control characters reached the view: {bad!r}"


def test_hostile_sequences_never_reach_the_view():
    model = TerminalModel(60, 5)
    model.write(HOSTILE)
    model.pump(1 << 20)
    rendered = _rendered(model)
    _assert_clean(rendered)
    assert "pwned" not in rendered and "ZWNob" not in rendered
    assert "plai" in rendered and "text" in rendered  # (the backspace ate the "n", as on a terminal)
    assert model.screen.title_changes >= 1  # the title change was seen, and kept to ourselves


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=300))
def test_any_output_renders_without_control_characters(data):
    model = TerminalModel(40, 6)
    model.write(data)
    model.pump(1 << 20)
    _assert_clean(_rendered(model))
    for y in range(model.lines):
        assert sum(len(s.text) for s in model.row(y)) <= model.columns


def test_colours_and_attributes_become_styles():
    model = TerminalModel(20, 2)
    model.write("\x1b[1;31mred\x1b[0m \x1b[38;5;208mor\x1b[0m \x1b[48;2;0;0;255mbg\x1b[0m")
    model.pump()
    segments = {s.text.strip(): s.style for s in model.row(0) if s.text.strip()}
    assert segments["red"].bold and segments["red"].color.name == "red"
    assert segments["or"].color.triplet is not None
    assert segments["bg"].bgcolor.triplet.blue == 255


def test_scrollback_is_bounded_and_scrollable():
    model = TerminalModel(20, 4, scrollback=50)
    model.write("".join(f"line {i}\r\n" for i in range(500)))
    while model.backlog:
        model.pump()
    assert model.history_size == 50
    top_of_history = "".join(s.text for s in model.row(0, scroll=50)).strip()
    assert top_of_history == "line 447"  # 500 lines, 3 on screen + the cursor line, 50 kept


def test_a_flood_keeps_the_tail_and_counts_what_was_skipped():
    model = TerminalModel(40, 5, backlog_limit=64 * 1024)
    for i in range(20_000):
        model.write(f"\x1b[32mrow {i:06d}\x1b[0m\r\n")
    assert model.backlog <= 64 * 1024 + 4
    assert model.skipped > 0
    while model.backlog:
        model.pump()
    assert "row 019999" in model.text()  # the newest output is what shows


def test_alternate_screen_restores_the_shell_screen():
    model = TerminalModel(30, 4)
    model.write("$ htop\r\n\x1b[?1049h\x1b[2J\x1b[HCPU 12%")
    model.pump()
    assert "CPU 12%" in model.text() and "$ htop" not in model.text()
    model.write("\x1b[?1049l")
    model.pump()
    assert "$ htop" in model.text() and "CPU" not in model.text()


def test_resize_applies_after_queued_output():
    model = TerminalModel(30, 4)
    model.write("before")
    model.resize(50, 10)
    assert (model.columns, model.lines) == (50, 10)
    assert "before" in model.text()


def test_cursor_is_drawn_reverse_and_hidden_when_asked():
    model = TerminalModel(10, 2)
    model.write("ab")
    model.pump()
    assert any(s.style and s.style.reverse for s in model.row(0))
    model.write("\x1b[?25l")
    model.pump()
    assert not any(s.style and s.style.reverse for s in model.row(0))
