"""The replay clock: idle cap, play, seek, speed and markers."""

from __future__ import annotations

from tui.player import Player, cap_idle

EVENTS = [(0.0, "m", "session s-1"), (0.5, "o", "a"), (1.0, "m", "allow r1: ls"), (31.0, "o", "b"),
          (32.0, "m", "deny r2: rm"), (33.0, "o", "c"), (34.0, "i", "typed")]


def test_idle_cap_shortens_only_long_pauses():
    capped = cap_idle(EVENTS, 2.0)
    assert [t for t, _, _ in capped] == [0.0, 0.5, 1.0, 3.0, 4.0, 5.0, 6.0]
    assert cap_idle(EVENTS, None) == EVENTS


def test_play_emits_due_events_once_and_stops_at_the_end():
    player = Player(EVENTS, idle_cap=2.0)
    assert player.duration == 5.0  # the input event is not replayed
    assert player.advance(1.0) == []  # paused
    player.toggle()
    assert [d for _, _, d in player.advance(1.0)] == ["session s-1", "a", "allow r1: ls"]
    assert player.advance(0.5) == []
    player.speed = 16.0
    assert [d for _, _, d in player.advance(1.0)] == ["b", "deny r2: rm", "c"]
    assert not player.playing and player.position == player.duration
    step = player.toggle()  # play at the end: from the start again
    assert step.reset and player.playing and player.position == 0.0


def test_seek_backwards_resets_and_replays_up_to_the_position():
    player = Player(EVENTS, idle_cap=2.0)
    player.seek(4.5)
    step = player.skip(-5)
    assert step.reset and player.position == 0.0
    assert [d for _, _, d in step.events] == ["session s-1"]
    step = player.seek(3.0)
    assert not step.reset and [d for _, _, d in step.events] == ["a", "allow r1: ls", "b"]


def test_markers_walk_forward_and_back():
    player = Player(EVENTS, idle_cap=2.0)
    marker, _ = player.next_marker()
    assert marker is not None and marker.label == "allow r1: ls"
    marker, _ = player.next_marker()
    assert marker is not None and marker.label == "deny r2: rm"
    assert player.next_marker()[0] is None
    marker, step = player.previous_marker()
    assert marker is not None and marker.label == "allow r1: ls" and step.reset
    assert player.current_marker().label == "allow r1: ls"


def test_speeds_are_bounded():
    player = Player(EVENTS)
    for _ in range(10):
        player.faster()
    assert player.speed == 16.0
    for _ in range(10):
        player.slower()
    assert player.speed == 0.5


def test_changing_the_idle_cap_keeps_the_place():
    player = Player(EVENTS, idle_cap=2.0)
    player.seek(4.0)  # at "deny r2: rm"
    step = player.set_idle_cap(None)
    assert step.reset and player.position == 32.0
    assert step.events[-1][2] == "deny r2: rm"
