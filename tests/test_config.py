"""bastion.yaml is validated once; every error names its key and the fault, all at once."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from bastion.config import EXAMPLE_CONFIG, Settings, load_settings, settings_from_mapping
from bastion.errors import ConfigError


def test_no_config_gives_embedded_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BASTION_CONFIG", raising=False)
    settings = load_settings(None)
    assert settings == Settings()
    assert (settings.listen.host, settings.listen.port) == ("127.0.0.1", 2222)
    assert settings.recording.record_input is False and settings.recording.strict is True
    assert settings.store_path == Path("state/bastion.sqlite3")


def test_every_error_is_reported_with_its_key(tmp_path):
    with pytest.raises(ConfigError) as raised:
        settings_from_mapping({
            "listen": {"port": 70000},
            "recording": {"flush_interval": 5, "record_input": "yes"},
            "users": {"alice": {"keys": ["not a key"], "default_target": "nowhere", "colour": "red"}},
            "targets": {"web-1": {"host": "h", "account": "deploy", "key": str(tmp_path / "missing")}},
            "bogus": 1,
        }, source=tmp_path / "bastion.yaml")
    text = str(raised.value)
    for expected in [
        "listen.port: must be a whole number from 0 to 65535",
        "recording.flush_interval: must be a number from 0.001 to 0.1",
        "recording.record_input: must be true or false",
        "users.alice.keys[0]: not a valid SSH public key",
        "users.alice.default_target: names no configured target ('nowhere')",
        "users.alice.colour: unknown key",
        "targets.web-1.host_keys: is required (pin the target's host key",
        "targets.web-1.key: private key file",
        "bogus: unknown key",
    ]:
        assert expected in text, expected


def test_yaml_syntax_error_names_the_line(tmp_path):
    config = tmp_path / "bastion.yaml"
    config.write_text("listen:\n  port: [1\n")
    with pytest.raises(ConfigError, match=r"bastion.yaml:\d+: not valid YAML"):
        load_settings(config)


def test_keys_can_come_from_files_and_paths_are_relative_to_the_config(tmp_path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / "alice.pub").write_bytes(key.export_public_key())
    (tmp_path / "target_key").write_bytes(key.export_private_key())
    config = tmp_path / "bastion.yaml"
    config.write_text(
        "users:\n  alice:\n    keys: ['file:alice.pub']\n    default_target: web-1\n"
        "targets:\n  web-1:\n    host: 127.0.0.1\n    account: deploy\n    key: target_key\n"
        f"    host_keys: ['{key.export_public_key().decode().strip()}']\n"
    )
    settings = load_settings(config)
    assert settings.users["alice"].keys[0].public_data == key.public_data
    assert settings.targets["web-1"].client_key_path == tmp_path / "target_key"
    assert settings.targets["web-1"].port == 22


def test_example_config_loads_and_has_no_active_placeholders(tmp_path):
    config = tmp_path / "bastion.yaml"
    config.write_text(EXAMPLE_CONFIG)
    settings = load_settings(config)
    assert settings.listen.port == 2222
