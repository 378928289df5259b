"""Masking profiles: which detectors are on, custom patterns, extra key names, replacement style,
and the rules that choose a profile per target and user/group.

Profiles live in the policy files under a top-level `masking:` key (schema in docs/masking.md):

    masking:
      profiles:
        strict:
          detectors: all               # or a list of ids; `exclude:` removes some
          exclude: [credit-card]
          extra_keys: [pin, otp_seed]
          replacement: label           # label | fixed | keep-prefix | same-length
          text: "[REDACTED]"           # for `fixed`
          idle_release_ms: 50
          custom:
            - id: acme-token
              regex: 'ACME_[A-Z0-9]{32}'
              description: ACME internal token
      select:
        - profile: strict
          targets: ["db-*"]            # fnmatch patterns; omitted = any
          users: [alice]
          groups: [ops]
      default: strict                  # profile used when no select rule matches

Every error raises `MaskingConfigError` naming `file:line` and the reason.
"""

from __future__ import annotations

import fnmatch
import re
import re._parser as sre_parse  # the stdlib regex parser: gives a pattern's min/max match width
from dataclasses import dataclass, field
from typing import Any, Sequence

import re2

from bastion.errors import MaskingConfigError
from bastion.masking.matchers import Detector, Info, Pending, line_window

STYLES = ("label", "fixed", "keep-prefix", "same-length")
MAX_CUSTOM_WIDTH = 4096
_ID_RE = re.compile(r"[a-z0-9][a-z0-9\-]{1,62}\Z")
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_\-]{0,62}\Z")


def _builtin_ids() -> tuple[str, ...]:
    """The stream detectors, and the output of secret-printing commands (`commands.py`)."""
    from bastion.masking.commands import COMMAND_OUTPUT_ID
    from bastion.masking.detectors import BUILTIN_IDS

    return (*BUILTIN_IDS, COMMAND_OUTPUT_ID)


@dataclass(frozen=True)
class CustomPattern:
    """A site-specific secret shape. `regex` is RE2 syntax (linear time: it cannot backtrack), its match
    length is bounded (at most 4096 bytes), and it needs a literal head of 2+ characters (or `triggers`)
    so the scanner can find candidates without running the regex everywhere. A named group `secret`
    limits the mask to that group."""

    id: str
    regex: str
    description: str = ""
    triggers: tuple[str, ...] = ()
    max_width: int = 256

    def detector(self) -> Detector:
        return CustomDetector(self)


class CustomDetector(Detector):
    prefix_type = True

    def __init__(self, pattern: CustomPattern) -> None:
        self.ids = (pattern.id,)
        self.id = pattern.id
        self.literals = tuple(t.lower().encode() for t in pattern.triggers)
        self.regex = re2.compile(pattern.regex.encode())
        names = {(k.decode() if isinstance(k, bytes) else k): i for k, i in self.regex.groupindex.items()}
        self.group = names.get("secret", 0)
        self.max_window = pattern.max_width + 1
        self.value_class = re.compile(rb"[A-Za-z0-9_\-.+/=]*")
        self.boundary = False
        self.pattern = pattern

    def infos(self) -> list[Info]:
        return [Info(self.id, self.pattern.description, (), ())]

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        w = line_window(v, ts, self.max_window, avail, final)
        if w is None:
            return Pending(ts)
        m = self.regex.match(v, ts, w)
        if m is None:
            return None
        s, e = m.span(self.group)
        return [(s, e, self.id, 0)] if e > s else None


@dataclass(frozen=True)
class MaskingProfile:
    """What to mask and how to show it. Frozen and hashable: compiled engines are cached per profile."""

    name: str = "default"
    detectors: frozenset[str] = field(default_factory=lambda: frozenset(_builtin_ids()))
    custom: tuple[CustomPattern, ...] = ()
    extra_keys: tuple[str, ...] = ()
    replacement: str = "label"
    replacement_text: str = "[MASKED]"
    idle_release: float = 0.05


@dataclass(frozen=True)
class SelectRule:
    profile: str
    targets: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def matches(self, user: str, groups: Sequence[str], target: str) -> bool:
        if self.targets and not any(fnmatch.fnmatchcase(target, t) for t in self.targets):
            return False
        if self.users and user not in self.users:
            return False
        if self.groups and not set(groups) & set(self.groups):
            return False
        return True


@dataclass(frozen=True)
class ProfileSet:
    """Named profiles and the first-match rules choosing one per (user, groups, target)."""

    profiles: dict[str, MaskingProfile]
    rules: tuple[SelectRule, ...] = ()
    default_name: str = "default"

    def select(self, user: str, groups: Sequence[str], target: str) -> MaskingProfile:
        for rule in self.rules:
            if rule.matches(user, groups, target):
                return self.profiles[rule.profile]
        return self.profiles[self.default_name]

    def default(self) -> MaskingProfile:
        return self.profiles[self.default_name]

    def get(self, name: str) -> MaskingProfile:
        try:
            return self.profiles[name]
        except KeyError:
            raise MaskingConfigError(f"unknown masking profile {name!r}") from None


def validate_custom(where: str, raw: Any) -> CustomPattern:
    if not isinstance(raw, dict):
        raise MaskingConfigError(f"{where}: a custom pattern must be a mapping with id and regex")
    unknown = set(raw) - {"id", "regex", "description", "triggers", "max_length"}
    if unknown:
        raise MaskingConfigError(f"{where}: unknown custom pattern key(s) {sorted(unknown)}")
    pid, rx = raw.get("id"), raw.get("regex")
    if not isinstance(pid, str) or not _ID_RE.match(pid):
        raise MaskingConfigError(f"{where}: custom pattern id must be lower-case letters, digits and dashes")
    if pid in _builtin_ids():
        raise MaskingConfigError(f"{where}: custom pattern id {pid!r} clashes with a built-in detector")
    if not isinstance(rx, str) or not rx:
        raise MaskingConfigError(f"{where}: custom pattern {pid!r} needs a regex")
    try:
        re2.compile(rx.encode())
    except Exception as exc:
        raise MaskingConfigError(f"{where}: custom pattern {pid!r}: regex does not compile under RE2: {exc}") from exc
    try:
        parsed = sre_parse.parse(rx)
        lo, hi = parsed.getwidth()
    except Exception as exc:
        raise MaskingConfigError(f"{where}: custom pattern {pid!r}: regex does not parse: {exc}") from exc
    if hi > MAX_CUSTOM_WIDTH:
        raise MaskingConfigError(
            f"{where}: custom pattern {pid!r}: match length is unbounded or over {MAX_CUSTOM_WIDTH} bytes "
            "(use bounded repeats such as {20,64} instead of + or *)"
        )
    if lo == 0:
        raise MaskingConfigError(f"{where}: custom pattern {pid!r}: regex matches the empty string")
    triggers = raw.get("triggers")
    if triggers is None:
        head = []
        for op, arg in parsed:
            if op is sre_parse.LITERAL:
                head.append(chr(arg))
            else:
                break
        if len(head) < 2:
            raise MaskingConfigError(
                f"{where}: custom pattern {pid!r}: regex must start with 2+ literal characters, or give triggers:"
            )
        triggers = ["".join(head)]
    if not isinstance(triggers, list) or not all(isinstance(t, str) and len(t) >= 2 for t in triggers):
        raise MaskingConfigError(f"{where}: custom pattern {pid!r}: triggers must be strings of 2+ characters")
    max_len = raw.get("max_length", hi)
    if not isinstance(max_len, int) or not 1 <= max_len <= MAX_CUSTOM_WIDTH:
        raise MaskingConfigError(f"{where}: custom pattern {pid!r}: max_length must be 1..{MAX_CUSTOM_WIDTH}")
    return CustomPattern(pid, rx, str(raw.get("description", "")), tuple(triggers), max(hi, 1))


def _str_list(where: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise MaskingConfigError(f"{where}: {key} must be a list of strings")
    return tuple(value)


PROFILE_KEYS = {"detectors", "exclude", "extra_keys", "replacement", "text", "idle_release_ms", "custom"}


def build_profile(where: str, name: str, raw: Any) -> MaskingProfile:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise MaskingConfigError(f"{where}: profile {name!r} must be a mapping")
    unknown = set(raw) - PROFILE_KEYS
    if unknown:
        raise MaskingConfigError(f"{where}: profile {name!r}: unknown key(s) {sorted(unknown)}")
    builtin = _builtin_ids()
    dets = raw.get("detectors", "all")
    if dets == "all":
        enabled = set(builtin)
    else:
        enabled = set(_str_list(where, "detectors", dets))
    excluded = set(_str_list(where, "exclude", raw.get("exclude")))
    for d in sorted((enabled | excluded) - set(builtin)):
        raise MaskingConfigError(f"{where}: profile {name!r}: unknown detector {d!r}")
    enabled -= excluded
    custom_raw = raw.get("custom") or []
    if not isinstance(custom_raw, list):
        raise MaskingConfigError(f"{where}: profile {name!r}: custom must be a list")
    custom = tuple(validate_custom(where, c) for c in custom_raw)
    if len({c.id for c in custom}) != len(custom):
        raise MaskingConfigError(f"{where}: profile {name!r}: duplicate custom pattern id")
    extra = _str_list(where, "extra_keys", raw.get("extra_keys"))
    for k in extra:
        if len(k) < 2 or not re.fullmatch(r"[A-Za-z0-9_.\-]+", k):
            raise MaskingConfigError(f"{where}: profile {name!r}: extra key {k!r} must be an identifier")
    style = raw.get("replacement", "label")
    if style not in STYLES:
        raise MaskingConfigError(f"{where}: profile {name!r}: replacement must be one of {', '.join(STYLES)}")
    text = raw.get("text", "[MASKED]")
    if not isinstance(text, str) or any(c in text for c in "\r\n\x1b"):
        raise MaskingConfigError(f"{where}: profile {name!r}: text must be a one-line string")
    idle = raw.get("idle_release_ms", 50)
    if not isinstance(idle, (int, float)) or isinstance(idle, bool) or not 1 <= idle <= 5000:
        raise MaskingConfigError(f"{where}: profile {name!r}: idle_release_ms must be 1..5000")
    return MaskingProfile(name, frozenset(enabled), custom, extra, style, text, idle / 1000.0)


def build_profiles(sections: Sequence[tuple[str, int, Any]]) -> ProfileSet:
    """Merge the `masking:` sections of policy files, each given as `(file, line, data)`."""
    profiles: dict[str, MaskingProfile] = {"default": MaskingProfile()}
    defined: dict[str, str] = {}
    rules: list[tuple[str, SelectRule]] = []
    default_name = "default"
    default_where: str | None = None
    for file, line, data in sections:
        where = f"{file}:{line}"
        if data is None:
            continue
        if not isinstance(data, dict):
            raise MaskingConfigError(f"{where}: masking must be a mapping with profiles/select/default")
        unknown = set(data) - {"profiles", "select", "default"}
        if unknown:
            raise MaskingConfigError(f"{where}: masking: unknown key(s) {sorted(unknown)}")
        profs = data.get("profiles") or {}
        if not isinstance(profs, dict):
            raise MaskingConfigError(f"{where}: masking.profiles must be a mapping of name to profile")
        for name, raw in profs.items():
            if not isinstance(name, str) or not _NAME_RE.match(name):
                hint = " (YAML reads on/off/yes/no as true/false: quote the name)" if isinstance(name, bool) else ""
                raise MaskingConfigError(
                    f"{where}: profile name {name!r} must be lower-case letters, digits, dashes{hint}")
            if name in defined:
                raise MaskingConfigError(f"{where}: profile {name!r} already defined at {defined[name]}")
            defined[name] = where
            profiles[name] = build_profile(where, name, raw)
        sel = data.get("select") or []
        if not isinstance(sel, list):
            raise MaskingConfigError(f"{where}: masking.select must be a list")
        for raw in sel:
            if not isinstance(raw, dict) or "profile" not in raw:
                raise MaskingConfigError(f"{where}: each select rule needs a profile")
            unknown = set(raw) - {"profile", "targets", "users", "groups"}
            if unknown:
                raise MaskingConfigError(f"{where}: select rule: unknown key(s) {sorted(unknown)}")
            rules.append((where, SelectRule(
                str(raw["profile"]),
                _str_list(where, "targets", raw.get("targets")),
                _str_list(where, "users", raw.get("users")),
                _str_list(where, "groups", raw.get("groups")),
            )))
        if "default" in data:
            if default_where is not None:
                raise MaskingConfigError(f"{where}: masking.default already set at {default_where}")
            default_name, default_where = str(data["default"]), where
    for where, rule in rules:
        if rule.profile not in profiles:
            raise MaskingConfigError(f"{where}: select rule names unknown profile {rule.profile!r}")
    if default_name not in profiles:
        raise MaskingConfigError(f"{default_where}: masking.default names unknown profile {default_name!r}")
    # Compile every profile now: a profile that cannot run must fail the policy load (and keep the old
    # profiles), not refuse sessions later.
    from bastion.masking.engine import compile_engine

    for name, profile in profiles.items():
        try:
            compile_engine(profile)
        except Exception as exc:
            raise MaskingConfigError(f"masking profile {name!r} cannot be compiled: {exc}") from exc
    return ProfileSet(profiles, tuple(r for _w, r in rules), default_name)
