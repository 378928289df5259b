"""Docs don't drift: every CLI command has help text and is shown in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from bastion.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "bastion") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
    return found


COMMANDS = _commands(main)


def test_the_cli_has_the_documented_commands():
    names = {path for path, _ in COMMANDS}
    assert {"bastion serve", "bastion init", "bastion sessions", "bastion audit verify", "bastion policy eval",
            "bastion mask", "bastion reviewer enroll", "bastion login"} <= names


@pytest.mark.parametrize("path,command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_help_and_is_in_the_readme(path, command):
    assert (command.help or "").strip(), f"{path} has no help text"
    if isinstance(command, click.Group) and command.commands and path not in README:
        return  # a group is documented through its subcommands
    assert path in README, f"{path} is not mentioned in README.md"
