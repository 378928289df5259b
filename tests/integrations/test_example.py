"""examples/autogen_agent.py end to end, offline: replayed model, real gateway with the shipped policy, real sshd."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("autogen_agentchat")
pytest.importorskip("autogen_ext.models.replay")

from autogen_agentchat.messages import TextMessage, ToolCallExecutionEvent  # noqa: E402
from autogen_core.models import FunctionExecutionResultMessage  # noqa: E402

from bastion.clock import SystemClock  # noqa: E402
from bastion.store.commands import search_commands  # noqa: E402
from bastion.store.db import Store  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def load_example():
    spec = importlib.util.spec_from_file_location("autogen_agent_example", ROOT / "examples" / "autogen_agent.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def shipped_gw(make_gateway):
    policy = (ROOT / "policies" / "default.yaml").read_text()
    return make_gateway(policy=policy, users={"agent-7": {"groups": ["agents"]}})


async def test_example_agent_allowed_denied_then_adapts(shipped_gw, monkeypatch, capsys):
    example = load_example()
    # Connection settings from the environment, as a user would run it (the port as an argument).
    monkeypatch.setenv("BASTION_USER", "agent-7")
    monkeypatch.setenv("BASTION_TARGET", "web-1")
    monkeypatch.setenv("BASTION_KEY", str(shipped_gw.keys["agent-7"]))
    monkeypatch.setenv("BASTION_KNOWN_HOSTS", str(shipped_gw.known_hosts))
    monkeypatch.setenv("BASTION_HOST", "127.0.0.1")
    run = await example.main(["--port", str(shipped_gw.port)])

    results = [r for m in run.result.messages if isinstance(m, ToolCallExecutionEvent) for r in m.content]
    assert len(results) == 3
    looked, refused, listed = results
    # 1. allowed: real output from the target, no error.
    assert not looked.is_error and "[exit status 0]" in looked.content and "/" in looked.content
    # 2. refused: the model reads the rule, the reason and what to do instead; not an exception.
    assert not refused.is_error
    assert "policy rule deny-rm-system-paths" in refused.content
    assert "recursive or forced deletion of a system path" in refused.content
    assert "Do not retry it unchanged" in refused.content and "[exit status 126]" in refused.content
    assert "Traceback" not in refused.content
    # 3. the next model call saw that refusal, and the step it took is the read-only alternative.
    third_call = run.model.create_calls[2]["messages"]
    seen = [r.content for m in third_call if isinstance(m, FunctionExecutionResultMessage) for r in m.content]
    assert any("deny-rm-system-paths" in text for text in seen)
    assert not listed.is_error and "[exit status 0]" in listed.content
    final = run.result.messages[-1]
    assert isinstance(final, TextMessage) and "deny-rm-system-paths" in final.content
    # One connection served the whole conversation.
    assert run.shell.connection.connects == 1
    assert "deny-rm-system-paths" in capsys.readouterr().out

    # The gateway's own record agrees: allowed, denied (never ran), allowed.
    store = Store.open(shipped_gw.settings.store_path, clock=SystemClock())
    try:
        rows = sorted(search_commands(store), key=lambda row: row["id"])
    finally:
        store.close()
    assert [row["action"] for row in rows] == ["allow", "deny", "allow"]
    assert "deny-rm-system-paths" in rows[1]["rules"] and "rm -rf /var/log/*" in rows[1]["text"]
    assert rows[1]["exit_status"] in (None, 126)
