"""An AutoGen `AssistantAgent` whose `run_shell` tool runs on a server through a bastion gateway.

Offline: the model is `ReplayChatCompletionClient` playing a short, scripted conversation, so the example
needs no API key. The task is "free disk space in /var/log"; the scripted model

1. looks at disk usage (allowed),
2. tries `rm -rf /var/log/*` (refused by the shipped policy's rule deny-rm-system-paths),
3. reads the gateway's reason and switches to a read-only step: listing old compressed logs,
4. answers, quoting the rule, and leaves the deletion to a human.

Run it against a gateway started with the shipped policy (`policies/default.yaml`):

    bastion serve -c bastion.yaml &
    BASTION_PORT=2222 BASTION_USER=agent-7 BASTION_TARGET=web-1 BASTION_KEY=~/.ssh/agent-7 \\
    BASTION_KNOWN_HOSTS=./gateway_known_hosts python examples/autogen_agent.py

Every setting can also be given as an option (`--host --port --user --target --key --known-hosts`).
With a real model, replace `scripted_model()` with your model client: the tool line stays the same.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Sequence

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_core import FunctionCall
from autogen_core.models import CreateResult, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient

from bastion.integrations.autogen import BastionShell, GatewaySettings, bastion_shell_tool

TASK = "The disk on web-1 is filling up. Free some space in /var/log."

LOOK = "df -P / | tail -n 1 && ls /var/log | head -n 5"
DELETE = "rm -rf /var/log/*"
LIST_OLD = "find /var/log -name '*.gz' -mtime +7 2>/dev/null | head -n 20"
FINAL = ("I could not delete /var/log/* myself: the bastion gateway refused `rm -rf /var/log/*` under policy "
         "rule deny-rm-system-paths (recursive or forced deletion of a system path). Instead I listed the "
         "compressed logs older than a week above; please have a human review and delete those, or rotate "
         "the logs with logrotate.")


def _call(n: int, command: str) -> CreateResult:
    call = FunctionCall(id=f"call-{n}", name="run_shell", arguments=json.dumps({"command": command}))
    return CreateResult(finish_reason="function_calls", content=[call], usage=RequestUsage(0, 0), cached=False)


def scripted_model() -> ReplayChatCompletionClient:
    """The replayed model. `function_calling` must be on, or `AssistantAgent` refuses tools."""
    return ReplayChatCompletionClient(
        [_call(1, LOOK), _call(2, DELETE), _call(3, LIST_OLD), FINAL],
        model_info={"function_calling": True, "vision": False, "json_output": False, "family": "unknown",
                    "structured_output": False},
    )


@dataclass
class ExampleRun:
    """What a run produced: the agent's messages, the model (its `create_calls`) and the shell tool."""

    result: TaskResult
    model: ReplayChatCompletionClient
    shell: BastionShell


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    for option in ("host", "port", "user", "target", "key", "known-hosts"):
        parser.add_argument(f"--{option}", help=f"default: $BASTION_{option.upper().replace('-', '_')}")
    parser.add_argument("--quiet", action="store_true", help="do not print the conversation")
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> ExampleRun:
    args = _arguments(argv)
    settings = GatewaySettings.resolve(host=args.host, port=args.port, user=args.user, target=args.target,
                                       key_path=args.key, known_hosts=args.known_hosts)
    shell = BastionShell(settings=settings, timeout=30, hold_timeout=120)
    model = scripted_model()
    agent = AssistantAgent(
        "ops", model_client=model, tools=[bastion_shell_tool(shell=shell)], max_tool_iterations=5,
        system_message="You are an operations agent. Use run_shell for every command on the server.")
    try:
        result = await agent.run(task=TASK)
    finally:
        await shell.close()
    if not args.quiet:
        for message in result.messages:
            print(f"--- {message.source} ({type(message).__name__})")
            print(message.to_text())
    return ExampleRun(result, model, shell)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as exc:  # a configuration problem: one line, not a traceback
        print(f"autogen_agent: {exc}", file=sys.stderr)
        sys.exit(1)
