"""Gateway-supplied text is made safe; the config file and flags resolve as documented."""

from __future__ import annotations

import pytest

from bastion.errors import ConfigError

from tui.config import DEFAULT_PORT, load_config
from tui.models import Approval
from tui.text import command_text, duration, plain, safe


def test_safe_makes_controls_visible_and_keeps_length():
    hostile = "ls\x1b]52;c;AAAA\x07\x9b2J\u202eevil"
    cleaned = safe(hostile)
    assert len(cleaned) == len(hostile)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in cleaned)
    assert "\u202e" not in cleaned
    assert "␛" in cleaned


def test_markup_in_gateway_text_is_not_interpreted():
    assert plain("[bold red]rm -rf /[/]").plain == "[bold red]rm -rf /[/]"


def test_matched_part_is_highlighted():
    approval = Approval.from_json({"id": "a", "command": "sudo systemctl restart nginx", "matched": "systemctl restart"})
    span = approval.match_span()
    assert span == (5, 22)
    text = command_text(approval.command, span)
    assert [(s.start, s.end) for s in text.spans] == [(5, 22)]
    bad_span = Approval.from_json({"id": "a", "command": "ls", "span": [0, 99]})
    assert bad_span.match_span() is None


def test_duration_formats():
    assert [duration(s) for s in (5, 65, 3700, 90000)] == ["5s", "1m05s", "1h01m", "1d01h"]


def test_config_defaults_file_and_flags(tmp_path):
    env = {"BASTION_TUI_CONFIG": str(tmp_path / "missing.yaml")}
    config = load_config(env=env)
    assert (config.host, config.port, config.identity) == ("127.0.0.1", DEFAULT_PORT, None)
    path = tmp_path / "tui.yaml"
    path.write_text("host: gw.example.test\nport: 2200\nuser: carol\nidentity: ~/.ssh/id_review\n")
    config = load_config(path, overrides={"port": 2201, "user": None})
    assert (config.host, config.port, config.user) == ("gw.example.test", 2201, "carol")
    assert config.identity is not None and config.identity.endswith("/.ssh/id_review")


@pytest.mark.parametrize("content, message", [("port: 99999\n", "port must be"), ("hots: x\n", "unknown key"),
                                              ("- a\n", "expected a mapping")])
def test_config_errors_are_one_line(tmp_path, content, message):
    path = tmp_path / "tui.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
