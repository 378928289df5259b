"""Command rows: record, exit status, per-session listing and search."""

from __future__ import annotations

from bastion.store.commands import commands_for_session, record_command, search_commands, set_command_exit
from bastion.store.db import Store


def _record(store: Store, text: str, *, at: float, session_id: str = "s1", user: str = "alice",
            target: str = "web-1", action: str = "allow") -> int:
    return record_command(store, session_id=session_id, text=text, at=at, user=user, groups=["agents", "ops"],
                          target=target, action=action, rules=["allow-readonly"], reason="read-only command",
                          policy_version="p-1", opaque=False)


def test_record_and_set_exit(store: Store) -> None:
    cid = _record(store, "ls -la /var/log", at=10.0)
    other = _record(store, "cat /etc/hostname", at=11.0)
    set_command_exit(store, cid, 2)
    rows = commands_for_session(store, "s1")
    assert [r["id"] for r in rows] == [cid, other]
    assert rows[0]["exit_status"] == 2 and rows[1]["exit_status"] is None
    assert rows[0]["groups"] == ["agents", "ops"] and rows[0]["rules"] == ["allow-readonly"]
    assert rows[0]["opaque"] is False


def test_search(store: Store) -> None:
    _record(store, "ls /tmp", at=1.0)
    _record(store, "rm -rf /tmp/x", at=2.0, action="deny")
    _record(store, "LS /TMP", at=3.0, user="bob", target="db-1")
    _record(store, "echo 100%_done", at=4.0, session_id="s2")
    assert [r["text"] for r in search_commands(store)] == ["echo 100%_done", "LS /TMP", "rm -rf /tmp/x", "ls /tmp"]
    assert [r["text"] for r in search_commands(store, action="deny")] == ["rm -rf /tmp/x"]
    assert [r["text"] for r in search_commands(store, user="bob")] == ["LS /TMP"]
    assert [r["text"] for r in search_commands(store, target="web-1", since=2.0)] == ["echo 100%_done",
                                                                                      "rm -rf /tmp/x"]
    assert [r["text"] for r in search_commands(store, text="/tmp")] == ["rm -rf /tmp/x", "ls /tmp"]
    assert [r["text"] for r in search_commands(store, text="%_")] == ["echo 100%_done"]  # no wildcards
    assert len(search_commands(store, limit=2)) == 2
