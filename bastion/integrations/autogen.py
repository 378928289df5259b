"""AutoGen adapters: a code executor and a `run_shell` tool that run on a target through the gateway.

Optional (`pip install 'bastion[autogen]'`); the gateway never imports this module. Both adapters share
one `GatewayConnection` (one SSH connection, one exec channel per command) and return what the gateway
decided as text the model can act on: a denial says which rule refused the command, why, and what to do
instead; a held command waits for the reviewer with the gateway's progress lines in the output.

    executor = BastionCodeExecutor(user="agent-7", target="web-1", key_path="~/.ssh/agent")  # or BASTION_* env
    tool = bastion_shell_tool()                                                              # BASTION_* env
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, List, Sequence

from autogen_core import CancellationToken
from autogen_core.code_executor import CodeBlock, CodeExecutor, CodeResult
from autogen_core.tools import FunctionTool

from bastion.integrations.commands import (SUPPORTED_LANGUAGES, PythonMode, RemoteCommand, UnsupportedLanguage,
                                           block_command, shell_command)
from bastion.integrations.connection import GatewayConnection, GatewaySettings
from bastion.integrations.notices import GatewayNotice, parse_gateway_notice
from bastion.integrations.runner import CommandOutcome, Limits, run_command

__all__ = ["BastionCodeExecutor", "BastionShell", "GatewayNotice", "GatewaySettings", "bastion_shell_tool",
           "parse_gateway_notice"]


def _settings(settings: GatewaySettings | None, **given: Any) -> GatewaySettings:
    return settings if settings is not None else GatewaySettings.resolve(**given)


def _token_event(token: CancellationToken | None) -> asyncio.Event | None:
    """An event set when the token is cancelled; the token may be cancelled from another thread."""
    if token is None:
        return None
    event = asyncio.Event()
    loop = asyncio.get_running_loop()

    def fire() -> None:
        if loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    token.add_callback(fire)
    return event


class BastionCodeExecutor(CodeExecutor):
    """Runs `sh`/`bash` blocks and `python` blocks on one target through the gateway.

    Python runs as `python3 -c '<code>'` by default, where the policy's interpreter rules can read the
    code; `python_mode="stdin"` runs `python3 -` fed by a here-document instead, which policies treat
    as opaque (held for review or refused).

    Blocks run in order, each as its own command; execution stops at the first block that fails, like
    AutoGen's local executor. `timeout` is per block (exit 124 when reached); `hold_timeout` is how long
    a block may wait for a human reviewer before it is withdrawn. With `remote_timeout` (the default)
    the target's own `timeout -k` also bounds each block, so nothing outlives an agent that vanished.
    """

    def __init__(self, *, settings: GatewaySettings | None = None, host: str | None = None,
                 port: int | None = None, user: str | None = None, target: str | None = None,
                 key_path: str | Path | None = None, token_file: str | Path | None = None,
                 known_hosts: str | Path | None = None, timeout: float = 60, hold_timeout: float | None = 600,
                 remote_timeout: bool = True, python_mode: PythonMode = "argv",
                 max_output_chars: int = 32_000) -> None:
        if timeout < 1:
            raise ValueError("timeout must be at least one second")
        self.settings = _settings(settings, host=host, port=port, user=user, target=target, key_path=key_path,
                                  token_file=token_file, known_hosts=known_hosts)
        self.connection = GatewayConnection(self.settings)
        self.limits = Limits(run=timeout, hold=hold_timeout, max_output_chars=max_output_chars)
        self.remote_timeout = remote_timeout
        self.python_mode: PythonMode = python_mode
        self._started = False

    @property
    def timeout(self) -> float:
        return float(self.limits.run or 0)

    async def execute_code_blocks(self, code_blocks: List[CodeBlock],
                                  cancellation_token: CancellationToken) -> CodeResult:
        # No eager connect here: a gateway that is down must come back as a result, not an exception.
        self._started = True
        cancelled = _token_event(cancellation_token)
        outputs: list[str] = []
        exit_code = 0
        for block in code_blocks:
            try:
                command = block_command(block.language, block.code,
                                        limit=self.limits.run if self.remote_timeout else None,
                                        python_mode=self.python_mode)
            except UnsupportedLanguage as exc:
                outputs.append(str(exc))
                exit_code = 1
                break
            outcome = await run_command(self.connection, command, self.limits, cancelled)
            outputs.append(outcome.text)
            exit_code = outcome.exit_code
            if exit_code != 0:
                break
        return CodeResult(exit_code=exit_code, output="".join(_joined(outputs)))

    async def start(self) -> None:
        """Connect now, so a wrong address or key shows up before the agent runs (`GatewayUnavailable`)."""
        self._started = True
        await self.connection.get()

    async def stop(self) -> None:
        self._started = False
        await self.connection.close()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def supported_languages(self) -> Sequence[str]:
        return SUPPORTED_LANGUAGES


def _joined(outputs: list[str]) -> list[str]:
    joined: list[str] = []
    for text in outputs:
        if joined and not joined[-1].endswith("\n"):
            joined.append("\n")
        joined.append(text)
    return joined


class BastionShell:
    """The `run_shell` tool's behaviour: one shell command on the target, its result as text for the model."""

    def __init__(self, *, settings: GatewaySettings | None = None, timeout: float = 60,
                 hold_timeout: float | None = 600, remote_timeout: bool = True, max_output_chars: int = 16_000,
                 **given: Any) -> None:
        self.settings = _settings(settings, **given)
        self.connection = GatewayConnection(self.settings)
        self.limits = Limits(run=timeout, hold=hold_timeout, max_output_chars=max_output_chars)
        self.remote_timeout = remote_timeout
        self.last: CommandOutcome | None = None  # the latest outcome (examples and tests read it)

    def command_for(self, command: str) -> RemoteCommand:
        return shell_command(command, limit=self.limits.run if self.remote_timeout else None)

    async def run_shell(self, command: str, cancellation_token: CancellationToken) -> str:
        """Run a shell command on the target through the bastion gateway and return its result."""
        outcome = await run_command(self.connection, self.command_for(command), self.limits,
                                    _token_event(cancellation_token))
        self.last = outcome
        if outcome.status == "ran":
            body = outcome.text if outcome.text else "(no output)"
            return f"{body}{'' if body.endswith(chr(10)) else chr(10)}[exit status {outcome.exit_code}]"
        return f"{outcome.text}\n[exit status {outcome.exit_code}]"

    async def close(self) -> None:
        await self.connection.close()


TOOL_DESCRIPTION = (
    "Run one shell command on the remote server {target} through the bastion gateway and return its "
    "output and exit status. Every command is checked against a policy: a refused command does not run, "
    "and the result says which rule refused it and why; do not retry a refused command unchanged."
)


def bastion_shell_tool(*, shell: BastionShell | None = None, name: str = "run_shell", **options: Any) -> FunctionTool:
    """A `FunctionTool` named `run_shell` for `AssistantAgent(tools=[...])`; options as for `BastionShell`."""
    shell = shell if shell is not None else BastionShell(**options)

    async def run_shell(command: str, cancellation_token: CancellationToken) -> str:
        return await shell.run_shell(command, cancellation_token)

    run_shell.__doc__ = BastionShell.run_shell.__doc__
    tool = FunctionTool(run_shell, description=TOOL_DESCRIPTION.format(target=shell.settings.target), name=name)
    tool.bastion_shell = shell  # type: ignore[attr-defined]  # so callers can close its connection
    return tool
