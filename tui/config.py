"""Where `bastion-tui` connects: a small YAML file of defaults, overridden by command-line flags.

The file is `$BASTION_TUI_CONFIG`, else `~/.config/bastion/tui.yaml`; keys `host`, `port`, `user`,
`identity`, `known_hosts`. Without it: 127.0.0.1:2222, the login name, and the user's default SSH keys.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bastion.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 2222
_KEYS = {"host", "port", "user", "identity", "known_hosts"}


@dataclass(frozen=True)
class TuiConfig:
    """Validated connection settings."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    user: str = ""
    identity: str | None = None  # None: asyncssh's default keys and agent
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts


def config_path(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("BASTION_TUI_CONFIG"):
        return Path(env["BASTION_TUI_CONFIG"]).expanduser()
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "bastion" / "tui.yaml"


def load_config(path: Path | None = None, *, overrides: dict[str, Any] | None = None,
                env: dict[str, str] | None = None) -> TuiConfig:
    """Read the file (missing is fine), apply non-None `overrides` (the CLI flags), validate once."""
    path = path or config_path(env)
    values: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read ({exc})") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of {', '.join(sorted(_KEYS))}")
        unknown = set(loaded) - _KEYS
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        values.update(loaded)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    port = values.get("port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"port must be 1-65535, got {port!r}")
    host = str(values.get("host") or DEFAULT_HOST)
    user = str(values.get("user") or _login_name())
    identity = values.get("identity")
    known_hosts = values.get("known_hosts")
    return TuiConfig(host=host, port=port, user=user,
                     identity=str(Path(str(identity)).expanduser()) if identity else None,
                     known_hosts=str(Path(str(known_hosts)).expanduser()) if known_hosts else None)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "reviewer"
