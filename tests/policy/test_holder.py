"""Hot reload: a broken new version is rejected and reported; the previous version stays in force."""

from __future__ import annotations

import asyncio
import os

from bastion.policy.holder import PolicyHolder

V1 = "rules:\n  - id: no-rm\n    action: deny\n    reason: r\n    when: {program: rm}\n"
V2 = "rules:\n  - id: no-ls\n    action: deny\n    reason: r\n    when: {program: ls}\n"
BROKEN = "rules:\n  - id: x\n    action: nope\n    reason: r\n    when: {program: ls}\n"


def test_reload_keeps_old_set_on_error(write_policy) -> None:
    directory = write_policy(**{"p.yaml": V1})
    events: list[tuple[str, dict]] = []
    holder = PolicyHolder(directory, lambda name, data: events.append((name, data)))
    v1 = holder.current.version
    assert events[-1][0] == "policy.loaded" and events[-1][1]["version"] == v1
    (directory / "p.yaml").write_text(BROKEN)
    assert holder.reload() is False
    assert holder.current.version == v1
    name, data = events[-1]
    assert name == "policy.reload_failed" and data["kept_version"] == v1
    assert data["errors"][0].startswith(f"{directory / 'p.yaml'}:3: ")
    assert holder.current.evaluate("rm x", user="u").action == "deny"
    (directory / "p.yaml").write_text(V2)
    assert holder.reload() is True
    assert holder.current.version != v1
    assert holder.current.evaluate("rm x", user="u").action == "allow"


def test_broken_at_start_denies_everything(write_policy) -> None:
    directory = write_policy(**{"p.yaml": BROKEN})
    events: list[tuple[str, dict]] = []
    holder = PolicyHolder(directory, lambda name, data: events.append((name, data)))
    d = holder.current.evaluate("ls", user="u")
    assert d.action == "deny" and "policy failed to load" in d.reason
    assert events[-1][0] == "policy.reload_failed"


async def test_watch_reloads_on_change(write_policy) -> None:
    directory = write_policy(**{"p.yaml": V1})
    events: list[str] = []
    holder = PolicyHolder(directory, lambda name, data: events.append(name))
    task = asyncio.create_task(holder.watch(interval=0.01))
    try:
        path = directory / "p.yaml"
        path.write_text(V2 + "# changed\n")
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        for _ in range(200):
            if events.count("policy.loaded") >= 2:
                break
            await asyncio.sleep(0.01)
        assert events.count("policy.loaded") == 2
        assert holder.current.evaluate("ls", user="u").action == "deny"
    finally:
        task.cancel()
