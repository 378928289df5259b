"""Live fan-out to watchers: bounded per watcher; a slow one is cut off as lagged, never slows the session."""

from __future__ import annotations

from bastion.recording.fanout import Fanout


async def test_watchers_get_events_in_order_then_the_end():
    fanout = Fanout()
    watcher = fanout.subscribe("s1")
    fanout.publish("s1", (0.1, "o", "hello"))
    fanout.publish("s2", (0.1, "o", "not mine"))
    fanout.publish("s1", (0.2, "m", "marker"))
    fanout.end("s1")
    assert await watcher.next() == (0.1, "o", "hello")
    assert await watcher.next() == (0.2, "m", "marker")
    assert await watcher.next() is None and not watcher.lagged
    assert not fanout.watched("s1")


async def test_a_watcher_that_falls_behind_is_cut_off_as_lagged_and_others_keep_going():
    fanout = Fanout(max_events=10, max_bytes=1_000_000)
    slow, fast = fanout.subscribe("s1"), fanout.subscribe("s1")
    for i in range(5):
        fanout.publish("s1", (float(i), "o", "x"))
    for _ in range(5):
        await fast.next()
    for i in range(5, 20):  # publishing never blocks, whatever the watchers do
        fanout.publish("s1", (float(i), "o", "x"))
        if not fast.lagged:
            await fast.next()
    assert slow.lagged and not fast.lagged
    events = []
    while (event := await slow.next()) is not None:
        events.append(event)
    assert len(events) == 10  # what fit in its buffer, then the end
    assert fanout.watched("s1")  # the fast watcher is still subscribed
