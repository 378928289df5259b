"""bastion.yaml → validated `Settings`, with every default filled in here and nowhere else.

Validation happens once, at load. Every error names the key path and what is wrong with it, and all
errors are reported together, so an operator fixes a config in one pass. The rest of the code trusts
`Settings`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncssh
import yaml

from bastion.errors import ConfigError

DEFAULT_CONFIG_NAME = "bastion.yaml"
TARGET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
USER_NAME_RE = TARGET_NAME_RE
ENV_ALLOWLIST_DEFAULT = ("TERM", "LANG", "LC_*")


@dataclass(frozen=True)
class ListenSettings:
    host: str = "127.0.0.1"
    port: int = 2222


@dataclass(frozen=True)
class UserSettings:
    name: str
    groups: tuple[str, ...] = ()
    keys: tuple[asyncssh.SSHKey, ...] = ()
    default_target: str | None = None
    targets: tuple[str, ...] = ("*",)  # glob patterns of targets this user may reach
    totp_required: bool = False        # a TOTP code (keyboard-interactive) after key, certificate or token


@dataclass(frozen=True)
class TargetAccount:
    """One login account on a target: its label in policy, the account name and bastion's key for it."""

    label: str
    account: str
    key_path: Path


@dataclass(frozen=True)
class TargetSettings:
    name: str
    host: str
    port: int
    account: str                 # the account in use (the least-privileged one unless policy maps another)
    client_key_path: Path
    host_keys: tuple[asyncssh.SSHKey, ...]
    connect_timeout: float = 10.0
    accounts: tuple[TargetAccount, ...] = ()   # least privileged first
    account_label: str = ""

    def with_account(self, label: str) -> "TargetSettings | None":
        """This target as logged in with the account labelled `label`, or None if it has no such account."""
        for entry in self.accounts:
            if entry.label == label:
                return replace(self, account=entry.account, client_key_path=entry.key_path, account_label=label)
        return None


@dataclass(frozen=True)
class RecordingSettings:
    directory: Path = Path("recordings")
    record_input: bool = False
    flush_interval: float = 0.1
    coalesce: float = 0.01
    strict: bool = True  # a session whose recording fails is refused / ended
    fsync: bool = False  # fsync each recording on close (survives power loss; costs latency per session)


@dataclass(frozen=True)
class UpstreamSettings:
    # OpenSSH's sshd allows 10 sessions per connection by default (MaxSessions); more channels on one
    # connection also raise latency for everyone on it.
    max_channels_per_connection: int = 10
    idle_timeout: float = 60.0
    keepalive_interval: float = 30.0


@dataclass(frozen=True)
class ApprovalConfig:
    reviewer_group: str = "reviewers"
    default_timeout: float = 600.0
    max_grant: float = 8 * 3600.0
    progress_interval: float = 30.0
    webhook_url: str | None = None
    webhook_style: str = "json"  # json | slack


@dataclass(frozen=True)
class Settings:
    """The whole validated configuration of one gateway process."""

    source: Path | None = None
    listen: ListenSettings = ListenSettings()
    state_dir: Path = Path("state")
    host_key_paths: tuple[Path, ...] = ()
    store_path: Path = Path("state/bastion.sqlite3")
    policy_dir: Path = Path("policies")
    recording: RecordingSettings = RecordingSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    users: dict[str, UserSettings] = field(default_factory=dict)
    user_ca_keys: tuple[asyncssh.SSHKey, ...] = ()
    targets: dict[str, TargetSettings] = field(default_factory=dict)
    env_allowlist: tuple[str, ...] = ENV_ALLOWLIST_DEFAULT
    shutdown_grace: float = 2.0
    approvals: ApprovalConfig = ApprovalConfig()
    oidc_issuers: tuple[Any, ...] = ()          # bastion.identity.oidc.OidcIssuerSettings
    certificate_max_validity: float = 3600.0    # longest certificate `bastion login` gets

    @property
    def user_ca_key_path(self) -> Path:
        return self.state_dir / "user_ca_ed25519"

    @property
    def generated_host_key_path(self) -> Path:
        return self.state_dir / "ssh_host_ed25519_key"


class _Errors:
    """Collects `key.path: message` strings so every fault is reported at once."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{self.source}: {path}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(self.items))


def find_config(explicit: str | os.PathLike[str] | None) -> Path | None:
    """The config file to load: the explicit one, $BASTION_CONFIG, or ./bastion.yaml if present."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("BASTION_CONFIG")
    if env:
        return Path(env)
    local = Path(DEFAULT_CONFIG_NAME)
    return local if local.is_file() else None


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load and validate the config at `path` (or the default location); embedded defaults if none."""
    config_path = find_config(path)
    if config_path is None:
        return Settings()
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read: {exc.strerror or exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{config_path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if raw is None:
        raw = {}
    return settings_from_mapping(raw, source=config_path)


def settings_from_mapping(raw: Any, *, source: Path | None = None) -> Settings:
    """Validate an already-parsed config mapping. Relative paths are relative to the config file."""
    errors = _Errors(str(source) if source else "<config>")
    base = source.parent if source else Path(".")
    if not isinstance(raw, dict):
        errors.add("(top level)", "must be a mapping")
        errors.raise_if_any()

    known = {"listen", "state_dir", "host_keys", "store", "policies", "recording", "upstream", "users",
             "user_ca_keys", "targets", "env_allowlist", "shutdown_grace", "approvals", "oidc"}
    _known_keys(raw, known, "", errors)

    listen_raw = _mapping(raw, "listen", errors)
    listen = ListenSettings(
        host=_str(listen_raw, "host", "listen.host", errors, ListenSettings.host),
        port=_int(listen_raw, "port", "listen.port", errors, ListenSettings.port, lo=0, hi=65535),
    )
    state_dir = _path(raw, "state_dir", "state_dir", errors, Path("state"), base)
    host_key_paths = tuple(base / p for p in _str_list(raw, "host_keys", "host_keys", errors))
    store_raw = _mapping(raw, "store", errors)
    store_path = _path(store_raw, "path", "store.path", errors, state_dir / "bastion.sqlite3", base)
    policy_raw = _mapping(raw, "policies", errors)
    policy_dir = _path(policy_raw, "dir", "policies.dir", errors, Path("policies"), base)

    rec_raw = _mapping(raw, "recording", errors)
    recording = RecordingSettings(
        directory=_path(rec_raw, "dir", "recording.dir", errors, Path("recordings"), base),
        record_input=_bool(rec_raw, "record_input", "recording.record_input", errors, False),
        flush_interval=_float(rec_raw, "flush_interval", "recording.flush_interval", errors, 0.1,
                              lo=0.001, hi=0.1),
        coalesce=_float(rec_raw, "coalesce", "recording.coalesce", errors, 0.01, lo=0.0, hi=0.1),
        strict=_bool(rec_raw, "strict", "recording.strict", errors, True),
        fsync=_bool(rec_raw, "fsync", "recording.fsync", errors, False),
    )
    up_raw = _mapping(raw, "upstream", errors)
    upstream = UpstreamSettings(
        max_channels_per_connection=_int(up_raw, "max_channels_per_connection",
                                         "upstream.max_channels_per_connection", errors, 10, lo=1, hi=1000),
        idle_timeout=_float(up_raw, "idle_timeout", "upstream.idle_timeout", errors, 60.0, lo=0.0, hi=86400),
        keepalive_interval=_float(up_raw, "keepalive_interval", "upstream.keepalive_interval", errors, 30.0,
                                  lo=0.0, hi=3600),
    )

    ca_keys = tuple(_public_keys(raw.get("user_ca_keys"), "user_ca_keys", errors, base))
    targets = _targets(raw.get("targets"), errors, base)
    users = _users(raw.get("users"), errors, base, targets)
    env_allowlist = tuple(_str_list(raw, "env_allowlist", "env_allowlist", errors)) or ENV_ALLOWLIST_DEFAULT
    shutdown_grace = _float(raw, "shutdown_grace", "shutdown_grace", errors, 2.0, lo=0.0, hi=300)
    approvals = _approvals(_mapping(raw, "approvals", errors), errors)
    oidc_issuers, cert_max = _oidc(_mapping(raw, "oidc", errors), errors, base)
    errors.raise_if_any()
    return Settings(
        source=source, listen=listen, state_dir=state_dir, host_key_paths=host_key_paths,
        store_path=store_path, policy_dir=policy_dir, recording=recording, upstream=upstream,
        users=users, user_ca_keys=ca_keys, targets=targets, env_allowlist=env_allowlist,
        shutdown_grace=shutdown_grace, approvals=approvals, oidc_issuers=oidc_issuers,
        certificate_max_validity=cert_max,
    )


def _oidc(raw: dict, errors: _Errors, base: Path) -> tuple[tuple[Any, ...], float]:
    from bastion.identity.oidc import validate_issuer_settings

    _known_keys(raw, {"issuers", "certificate_max_validity"}, "oidc", errors)
    issuers = []
    listed = raw.get("issuers") or []
    if not isinstance(listed, list):
        errors.add("oidc.issuers", "must be a list of issuer settings")
        listed = []
    for index, entry in enumerate(listed):
        try:
            issuers.append(validate_issuer_settings(entry if isinstance(entry, dict) else {},
                                                    f"oidc.issuers[{index}]", base_dir=base))
        except ConfigError as exc:
            errors.add(f"oidc.issuers[{index}]", str(exc))
    cert_max = _float(raw, "certificate_max_validity", "oidc.certificate_max_validity", errors, 3600.0,
                      lo=60, hi=86400)
    return tuple(issuers), cert_max


def _approvals(raw: dict, errors: _Errors) -> ApprovalConfig:
    allowed = {"reviewer_group", "default_timeout", "max_grant", "progress_interval", "webhook"}
    _known_keys(raw, allowed, "approvals", errors)
    hook = raw.get("webhook") or {}
    if not isinstance(hook, dict):
        errors.add("approvals.webhook", "must be a mapping with url and style")
        hook = {}
    url = hook.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        errors.add("approvals.webhook.url", "must be an http:// or https:// URL")
        url = None
    style = hook.get("style", "json")
    if style not in ("json", "slack"):
        errors.add("approvals.webhook.style", "must be json or slack")
        style = "json"
    return ApprovalConfig(
        reviewer_group=_str(raw, "reviewer_group", "approvals.reviewer_group", errors, "reviewers"),
        default_timeout=_float(raw, "default_timeout", "approvals.default_timeout", errors, 600.0, lo=1, hi=86400),
        max_grant=_float(raw, "max_grant", "approvals.max_grant", errors, 28800.0, lo=0, hi=7 * 86400),
        progress_interval=_float(raw, "progress_interval", "approvals.progress_interval", errors, 30.0,
                                 lo=0.05, hi=3600),
        webhook_url=url, webhook_style=style,
    )


# --- field readers ---------------------------------------------------------------------------------

def _known_keys(raw: dict, allowed: set[str], path: str, errors: _Errors) -> None:
    """A typo in a key is an error, not a silently ignored setting."""
    for key in raw:
        if key not in allowed:
            errors.add(f"{path}.{key}" if path else str(key), f"unknown key (known: {', '.join(sorted(allowed))})")


def _mapping(raw: dict, key: str, errors: _Errors) -> dict:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(key, "must be a mapping")
        return {}
    return value


def _str(raw: dict, key: str, path: str, errors: _Errors, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        errors.add(path, "must be a non-empty string")
        return default
    return value


def _int(raw: dict, key: str, path: str, errors: _Errors, default: int, *, lo: int, hi: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        errors.add(path, f"must be a whole number from {lo} to {hi}")
        return default
    return value


def _float(raw: dict, key: str, path: str, errors: _Errors, default: float, *, lo: float, hi: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        errors.add(path, f"must be a number from {lo} to {hi} (seconds)")
        return default
    return float(value)


def _bool(raw: dict, key: str, path: str, errors: _Errors, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        errors.add(path, "must be true or false")
        return default
    return value


def _path(raw: dict, key: str, path: str, errors: _Errors, default: Path, base: Path) -> Path:
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or not value:
        errors.add(path, "must be a path")
        return default
    return base / Path(value).expanduser()


def _str_list(raw: dict, key: str, path: str, errors: _Errors) -> list[str]:
    value = raw.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        errors.add(path, "must be a list of strings")
        return []
    return value


def _public_keys(value: Any, path: str, errors: _Errors, base: Path) -> list[asyncssh.SSHKey]:
    """Public keys given inline (`ssh-ed25519 AAAA… comment`) or as `file:PATH` (one key per line)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        errors.add(path, "must be a list of public keys ('ssh-ed25519 AAAA…' or 'file:PATH')")
        return []
    keys: list[asyncssh.SSHKey] = []
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(item, str) or not item.strip():
            errors.add(where, "must be a public key string")
            continue
        lines = [item.strip()]
        if item.startswith("file:"):
            file = base / Path(item[5:]).expanduser()
            try:
                lines = [ln.strip() for ln in file.read_text().splitlines()
                         if ln.strip() and not ln.lstrip().startswith("#")]
            except OSError as exc:
                errors.add(where, f"cannot read {file}: {exc.strerror or exc}")
                continue
        for line in lines:
            try:
                keys.append(asyncssh.import_public_key(line))
            except (asyncssh.KeyImportError, ValueError) as exc:
                errors.add(where, f"not a valid SSH public key ({exc})")
    return keys


def _targets(value: Any, errors: _Errors, base: Path) -> dict[str, TargetSettings]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add("targets", "must be a mapping of target name to settings")
        return {}
    result: dict[str, TargetSettings] = {}
    allowed = {"host", "port", "account", "key", "accounts", "host_keys", "connect_timeout"}
    for name, raw in value.items():
        path = f"targets.{name}"
        if not isinstance(name, str) or not TARGET_NAME_RE.match(name):
            errors.add(path, "target names use letters, digits, '.', '_' and '-' (max 63)")
            continue
        if not isinstance(raw, dict):
            errors.add(path, "must be a mapping")
            continue
        _known_keys(raw, allowed, path, errors)
        accounts = _target_accounts(raw, path, errors, base)
        required_keys = ("host", "host_keys") if "accounts" in raw else ("host", "account", "key", "host_keys")
        if "accounts" in raw and ("account" in raw or "key" in raw):
            errors.add(path, "give either account and key, or accounts, not both")
        for required in required_keys:
            if required not in raw:
                why = " (pin the target's host key: ssh-keyscan it and check the fingerprint)" \
                    if required == "host_keys" else ""
                errors.add(f"{path}.{required}", "is required" + why)
        host_keys = _public_keys(raw.get("host_keys"), f"{path}.host_keys", errors, base)
        if "host_keys" in raw and not host_keys:
            errors.add(f"{path}.host_keys", "must pin at least one host key")
        if not accounts and "accounts" not in raw:
            key_path = _path(raw, "key", f"{path}.key", errors, Path(), base)
            if "key" in raw and isinstance(raw.get("key"), str) and not key_path.is_file():
                errors.add(f"{path}.key", f"private key file {key_path} does not exist")
            account = _str(raw, "account", f"{path}.account", errors, "nobody") if "account" in raw else ""
            accounts = [TargetAccount(account, account, key_path)]
        if not accounts:
            continue
        result[name] = TargetSettings(
            name=name,
            host=_str(raw, "host", f"{path}.host", errors, "127.0.0.1") if "host" in raw else "",
            port=_int(raw, "port", f"{path}.port", errors, 22, lo=1, hi=65535),
            account=accounts[0].account,
            client_key_path=accounts[0].key_path,
            host_keys=tuple(host_keys),
            connect_timeout=_float(raw, "connect_timeout", f"{path}.connect_timeout", errors, 10.0,
                                   lo=0.1, hi=300),
            accounts=tuple(accounts),
            account_label=accounts[0].label,
        )
    return result


def _target_accounts(raw: dict, path: str, errors: _Errors, base: Path) -> list[TargetAccount]:
    """`accounts: {readonly: {account: ro, key: keys/ro}, deploy: {...}}`, least privileged first."""
    value = raw.get("accounts")
    if value is None:
        return []
    if not isinstance(value, dict) or not value:
        errors.add(f"{path}.accounts", "must map account labels to {account, key}, least privileged first")
        return []
    accounts = []
    for label, entry in value.items():
        where = f"{path}.accounts.{label}"
        if not isinstance(entry, dict) or "account" not in entry or "key" not in entry:
            errors.add(where, "needs account and key")
            continue
        key_path = _path(entry, "key", f"{where}.key", errors, Path(), base)
        if not key_path.is_file():
            errors.add(f"{where}.key", f"private key file {key_path} does not exist")
        accounts.append(TargetAccount(str(label), _str(entry, "account", f"{where}.account", errors, "nobody"),
                                      key_path))
    return accounts


def _users(value: Any, errors: _Errors, base: Path,
           targets: dict[str, TargetSettings]) -> dict[str, UserSettings]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add("users", "must be a mapping of user name to settings")
        return {}
    result: dict[str, UserSettings] = {}
    allowed = {"groups", "keys", "default_target", "targets", "totp"}
    for name, raw in value.items():
        path = f"users.{name}"
        if not isinstance(name, str) or not USER_NAME_RE.match(name):
            errors.add(path, "user names use letters, digits, '.', '_' and '-' (max 63)")
            continue
        raw = raw or {}
        if not isinstance(raw, dict):
            errors.add(path, "must be a mapping")
            continue
        _known_keys(raw, allowed, path, errors)
        default_target = raw.get("default_target")
        if default_target is not None and default_target not in targets:
            errors.add(f"{path}.default_target", f"names no configured target ({default_target!r})")
        target_globs = _str_list(raw, "targets", f"{path}.targets", errors) or ["*"]
        totp = raw.get("totp", "off")
        if totp not in ("off", "required"):
            errors.add(f"{path}.totp", "must be off or required")
        result[name] = UserSettings(
            name=name,
            groups=tuple(_str_list(raw, "groups", f"{path}.groups", errors)),
            keys=tuple(_public_keys(raw.get("keys"), f"{path}.keys", errors, base)),
            default_target=default_target,
            targets=tuple(target_globs),
            totp_required=totp == "required",
        )
    return result


EXAMPLE_CONFIG = """\
# bastion.yaml — configuration of one bastion gateway.
# Every key is optional; what is shown is the embedded default unless marked "example".
# Relative paths are relative to this file.

listen:
  host: 127.0.0.1          # bind address; keep it on loopback unless a firewall stands in front
  port: 2222

state_dir: state           # host key (generated on first start) and the SQLite audit store live here
# host_keys: [state/ssh_host_ed25519_key]   # the gateway's own host key(s); generated if none exist
store:
  path: state/bastion.sqlite3
policies:
  dir: policies            # the policy set (YAML), hot-reloaded on change or SIGHUP
recording:
  dir: recordings          # recordings/YYYY/MM/DD/<session-id>.cast (asciicast v2)
  record_input: false      # true records keystrokes too, passwords typed at prompts included
  flush_interval: 0.1      # seconds; a crash loses at most this much of a recording
  strict: true             # refuse or end a session whose recording cannot be written
  fsync: false             # true: fsync each recording when it closes (survives power loss, slower)

upstream:
  max_channels_per_connection: 10   # sessions share a pooled connection to each target account
  idle_timeout: 60                  # close a pooled connection idle this long (seconds)

env_allowlist: [TERM, LANG, "LC_*"]  # client environment variables passed to the target

approvals:
  reviewer_group: reviewers   # users in this group may open bastion-review and give verdicts (with TOTP)
  default_timeout: 600        # seconds a held command waits when its rule sets no timeout; then denied
  max_grant: 28800            # longest "approve this command for N minutes" a reviewer may give
  # webhook: {url: "https://hooks.example/…", style: slack}   # paged on every new request

# Callers. Connect as `ssh -p 2222 USER:TARGET@gateway`, or plain USER for the default target.
# Uncomment and fill in (the gateway refuses everyone until a user and a target exist):
users: {}
#  alice:
#    groups: [agents]                      # policy rules and session rules match on groups
#    keys:
#      - "ssh-ed25519 AAAA... alice@laptop" # or: - file:keys/alice.pub
#    default_target: web-1                 # used when alice connects without ':TARGET'
#    targets: ["web-*"]                    # glob patterns alice may reach (default: all)
#    totp: required                        # people: a TOTP code after the key (`bastion users enroll-totp`)

# Short-lived tokens: agents log in with an OIDC access token as the SSH password (user = the token's
# user claim, which must name a user above), or trade it for an SSH certificate with `bastion login`.
# oidc:
#   issuers:
#     - issuer: https://idp.example.com
#       audience: bastion
#       algorithms: [RS256]
#       user_claim: sub
#       groups_claim: groups
#   certificate_max_validity: 3600

# OpenSSH user certificates signed by these CAs are accepted for the user named in a principal.
# user_ca_keys:
#   - file:keys/user_ca.pub

targets: {}
#  web-1:
#    host: 10.0.0.5
#    port: 22
#    account: deploy                       # the account bastion logs in as
#    key: keys/web-1_deploy                # private key bastion uses for it (callers never see it)
#    # or several accounts, least privileged first; policy `accounts:` rules map callers to them:
#    # accounts:
#    #   readonly: {account: viewer, key: keys/web-1_viewer}
#    #   deploy:   {account: deploy, key: keys/web-1_deploy}
#    host_keys:                            # pinned: any other host key is refused
#      - "ssh-ed25519 AAAA..."             # from `ssh-keyscan -t ed25519 HOST`, fingerprint checked
#    connect_timeout: 10
"""
