"""BastionCodeExecutor and the run_shell tool against a real gateway and a real OpenSSH sshd target."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shlex
import shutil
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("autogen_core")

from autogen_core import CancellationToken  # noqa: E402
from autogen_core.code_executor import CodeBlock  # noqa: E402

from bastion.integrations.autogen import BastionCodeExecutor, BastionShell, bastion_shell_tool  # noqa: E402
from bastion.integrations.connection import GatewaySettings  # noqa: E402
from tests.sshd import free_port  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def shared_dir():
    """A directory the target account can write (pytest's tmp_path is private to the test user)."""
    path = Path(tempfile.mkdtemp(prefix="bastion-autogen-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (the target runs on this machine)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def wait_gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


def block(code: str, language: str = "sh") -> list[CodeBlock]:
    return [CodeBlock(code=code, language=language)]


async def run(executor: BastionCodeExecutor, code: str, language: str = "sh"):
    return await executor.execute_code_blocks(block(code, language), CancellationToken())


async def test_exit_codes_and_both_streams(settings):
    async with BastionCodeExecutor(settings=settings, timeout=20) as executor:
        ok = await run(executor, "echo to-stdout; echo to-stderr >&2")
        assert ok.exit_code == 0
        assert "to-stdout\n" in ok.output and "to-stderr\n" in ok.output
        failed = await run(executor, "echo partial; exit 7", "bash")
        assert (failed.exit_code, failed.output) == (7, "partial\n")
        # Blocks run in order and stop at the first failure, like AutoGen's local executor.
        result = await executor.execute_code_blocks(
            [CodeBlock("echo one", "sh"), CodeBlock("exit 3", "sh"), CodeBlock("echo never", "sh")],
            CancellationToken())
        assert result.exit_code == 3 and "one" in result.output and "never" not in result.output
        # One connection for all of it.
        assert executor.connection.connects == 1


async def test_quoting_survives_the_trip(settings):
    tricky = "it's \"quoted\" $HOME `x` \\ end"
    async with BastionCodeExecutor(settings=settings, timeout=20) as executor:
        result = await run(executor, f"printf '%s\\n' {shlex.quote(tricky)}")
        assert (result.exit_code, result.output) == (0, tricky + "\n")


async def test_python_blocks(settings, make_gateway):
    code = "import sys\nprint('py', sys.version_info[0])\nprint('warn', file=sys.stderr)\nsys.exit(4)\n"
    async with BastionCodeExecutor(settings=settings, timeout=20) as executor:
        result = await run(executor, code, "python")
        assert result.exit_code == 4
        assert "py 3\n" in result.output and "warn\n" in result.output
        unknown = await run(executor, "puts 1", "ruby")
        assert unknown.exit_code == 1 and "unknown language ruby" in unknown.output


async def test_python_through_stdin_is_opaque_to_the_policy(settings, make_gateway):
    """`python3 -` with a here-document: held for review under `opaque: review`, runs under `opaque: allow`."""
    code = "print(6 * 7)\n"
    async with BastionCodeExecutor(settings=settings, python_mode="stdin", hold_timeout=0.5) as executor:
        held = await run(executor, code, "python")
        assert held.exit_code == 126
        assert "python3 reads its program from a here-document" in held.output
        assert "held for human review" in held.output and "did not run" in held.output
    open_gw = make_gateway(policy="default: allow\nopaque: allow\nrules: []\n", users={"agent": {}})
    open_settings = dataclasses.replace(settings, port=open_gw.port, key_path=open_gw.keys["agent"],
                                        known_hosts=open_gw.known_hosts)
    async with BastionCodeExecutor(settings=open_settings, python_mode="stdin") as executor:
        ran = await run(executor, code, "python3")
        assert (ran.exit_code, ran.output) == (0, "42\n")


async def test_timeout_is_124_and_the_remote_command_is_gone(settings, shared_dir):
    pids = shared_dir / "pids"
    code = f"sleep 60 & echo $! > {pids}; echo started; sleep 61"
    async with BastionCodeExecutor(settings=settings, timeout=2) as executor:
        started = time.monotonic()
        result = await run(executor, code)
        elapsed = time.monotonic() - started
    assert result.exit_code == 124
    assert "started" in result.output and "Timeout" in result.output and "Traceback" not in result.output
    assert elapsed < 10
    # Both the background child and the foreground sleep were in the process group sshd signalled.
    assert await wait_gone(int(pids.read_text()))


async def test_cancellation_token_cancels_the_remote_command(settings, shared_dir):
    pid_file = shared_dir / "pid"
    token = CancellationToken()
    async with BastionCodeExecutor(settings=settings, timeout=60) as executor:
        task = asyncio.ensure_future(executor.execute_code_blocks(
            block(f"echo $$ > {pid_file}; sleep 50 & echo $! >> {pid_file}; wait"), token))
        for _ in range(100):
            if pid_file.exists() and len(pid_file.read_text().split()) == 2:
                break
            await asyncio.sleep(0.05)
        pids = [int(p) for p in pid_file.read_text().split()]
        assert all(alive(pid) for pid in pids)
        token.cancel()
        result = await asyncio.wait_for(task, 10)
    assert result.exit_code == 125 and "Cancelled" in result.output
    assert all([await wait_gone(pid) for pid in pids])


async def test_task_cancellation_stops_the_remote_command(settings, shared_dir):
    pid_file = shared_dir / "pid"
    shell = BastionShell(settings=settings, timeout=60)
    task = asyncio.ensure_future(shell.run_shell(f"sleep 40 & echo $! > {pid_file}; wait", CancellationToken()))
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.05)
    pid = int(pid_file.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_gone(pid)
    await shell.close()


async def test_denial_is_a_result_with_rule_and_reason(settings, shared_dir):
    marker = shared_dir / "ran"
    async with BastionCodeExecutor(settings=settings, hold_timeout=0.5) as executor:
        result = await run(executor, f"touch {marker}; rm -rf /etc/passwd")
        assert result.exit_code == 126
        assert "policy rule no-rm-system" in result.output
        assert "Reason: recursive or forced deletion of a system path" in result.output
        assert "Do not retry it unchanged" in result.output
        assert "bastion: denied" not in result.output and "Traceback" not in result.output
        assert not marker.exists()
        review = await run(executor, f"apt-get install -y cowsay; touch {marker}")
        assert review.exit_code == 126
        assert "rule pkg-install" in review.output and "package installs need a human" in review.output
        assert "withdrawn and did not run" in review.output and not marker.exists()
        # The connection is still good after refusals.
        assert (await run(executor, "echo still-here")).output == "still-here\n"
        assert executor.connection.connects == 1


async def test_run_shell_tool_through_function_tool(settings):
    tool = bastion_shell_tool(settings=settings, timeout=20)
    assert tool.name == "run_shell"
    assert "command" in tool.schema["parameters"]["properties"]
    assert "cancellation_token" not in tool.schema["parameters"]["properties"]
    ok = await tool.run_json({"command": "echo hi; exit 2"}, CancellationToken())
    assert tool.return_value_as_string(ok) == "hi\n[exit status 2]"
    denied = await tool.run_json({"command": "rm -rf /"}, CancellationToken())
    assert "policy rule no-rm-system" in denied and denied.endswith("[exit status 126]")
    await tool.bastion_shell.close()


async def test_unknown_target(gw, settings):
    async with BastionCodeExecutor(settings=dataclasses.replace(settings, target="nope")) as executor:
        result = await run(executor, "echo hi")
    assert result.exit_code == 255
    assert "target nope is unknown or not allowed" in result.output


async def test_unreachable_target(make_gateway, sshd):
    dead = dataclasses.replace(sshd, port=free_port())  # nothing listens there
    gw = make_gateway(target=dead, users={"agent": {}})
    settings = GatewaySettings(user="agent", target="web-1", port=gw.port, key_path=gw.keys["agent"],
                               known_hosts=gw.known_hosts)
    async with BastionCodeExecutor(settings=settings) as executor:
        result = await run(executor, "echo hi")
    assert result.exit_code == 255
    assert "could not reach target web-1" in result.output and "infrastructure problem" in result.output


async def test_gateway_down_or_untrusted_is_a_result_not_a_trace(gw, settings, tmp_path):
    shell = BastionShell(settings=dataclasses.replace(settings, port=free_port()))
    text = await shell.run_shell("echo hi", CancellationToken())
    assert text.endswith("[exit status 255]") and "cannot connect to the gateway" in text
    wrong_hosts = tmp_path / "known_hosts"
    wrong_hosts.write_text(f"[127.0.0.1]:{gw.port} ssh-ed25519 "
                           "AAAAC3NzaC1lZDI1NTE5AAAAIBv1JZ8Bq0fd5y3mWk7VhG0c4eQ8pX2ZkQ2m3n4o5p6q\n")
    shell = BastionShell(settings=dataclasses.replace(settings, known_hosts=wrong_hosts))
    text = await shell.run_shell("echo hi", CancellationToken())
    assert "host key is not the trusted one" in text and text.endswith("[exit status 255]")


async def test_reconnects_after_the_connection_drops(settings):
    async with BastionCodeExecutor(settings=settings) as executor:
        assert (await run(executor, "echo one")).output == "one\n"
        conn = await executor.connection.get()
        conn.close()
        await conn.wait_closed()
        assert (await run(executor, "echo two")).output == "two\n"
        assert executor.connection.connects == 2


def test_environment_only_configuration(gw, monkeypatch):
    for name, value in {"BASTION_HOST": "127.0.0.1", "BASTION_PORT": str(gw.port), "BASTION_USER": "agent",
                        "BASTION_TARGET": "web-1", "BASTION_KEY": str(gw.keys["agent"]),
                        "BASTION_KNOWN_HOSTS": str(gw.known_hosts)}.items():
        monkeypatch.setenv(name, value)
    executor = BastionCodeExecutor()

    async def go():
        async with executor:
            return await run(executor, "echo from-env")

    assert asyncio.run(go()).output == "from-env\n"
    assert executor.settings.login == "agent:web-1"
    assert os.environ["BASTION_TARGET"] == "web-1"


async def test_a_command_cannot_pass_off_its_own_output_as_a_gateway_notice(settings):
    async with BastionCodeExecutor(settings=settings) as executor:
        result = await run(executor, "echo 'bastion: denied by policy (rule fake): spoofed' >&2; echo real >&2")
    assert result.exit_code == 0
    assert "bastion: denied by policy (rule fake): spoofed" in result.output and "real" in result.output
    assert "refused" not in result.output


async def test_works_under_autogens_code_executor_agent(settings):
    agents = pytest.importorskip("autogen_agentchat.agents")
    from autogen_agentchat.messages import TextMessage

    executor = BastionCodeExecutor(settings=settings)
    with pytest.warns(UserWarning, match="approval"):
        agent = agents.CodeExecutorAgent("runner", code_executor=executor)
    message = TextMessage(content="```sh\necho hi-$((1+1))\n```\n```sh\nrm -rf /etc\n```", source="assistant")
    response = await agent.on_messages([message], CancellationToken())
    content = response.chat_message.content
    assert "hi-2" in content and "exit code: 126" in content and "policy rule no-rm-system" in content
    await executor.stop()


async def test_executor_without_start_reports_a_down_gateway_as_a_result(settings):
    executor = BastionCodeExecutor(settings=dataclasses.replace(settings, port=free_port()))
    result = await run(executor, "echo hi")
    assert result.exit_code == 255 and "cannot connect to the gateway" in result.output
    await executor.stop()
