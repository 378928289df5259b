"""Policy YAML → model, collecting every fault as `file:line: reason`.

Responsible for: reading the YAML of one file with line numbers (a SafeLoader whose mappings and
sequences remember where each key and item started), validating every key, compiling regexes and
globs at load time, expanding `@name` references to `lists:`, and reading policy test cases. It does no
combining and no matching. The only I/O is `read_text` in `load_documents`/`load_test_cases`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bastion.policy.match import compile_path_glob
from bastion.policy.words import expand_braces
from bastion.policy.model import (ACTIONS, DEFAULT_APPROVAL_TIMEOUT, DEFAULT_APPROVERS, SESSION_KINDS, Condition,
                                  FlagGroup, MaskingSection, PolicyTestCase, Rule, SessionRule,
                                  AccountRule)

TOP_LEVEL_KEYS = frozenset({"default", "opaque", "rules", "sessions", "accounts", "lists", "masking",
                            "description"})
ACCOUNT_KEYS = frozenset({"id", "account", "users", "groups", "targets", "description"})
RULE_KEYS = frozenset({"id", "action", "reason", "when", "unless", "users", "groups", "targets", "approval",
                       "description"})
SESSION_KEYS = frozenset({"id", "kinds", "kind", "action", "reason", "users", "groups", "targets"})
CONDITION_KEYS = frozenset({"program", "programs", "program_path", "flags_all", "flags_any", "args_regex",
                            "paths", "writes", "command_regex", "via", "opaque", "starts_shell",
                            "dynamic_args", "dynamic_paths", "no_args", "fed_by", "stdin_regex",
                            "recursive", "pipes_to", "destination"})
_BOOL_KEYS = ("opaque", "starts_shell", "dynamic_args", "dynamic_paths", "no_args", "recursive")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")


class _LineMap(dict):
    line: int = 0
    key_lines: dict[Any, int]


class _LineList(list):
    line: int = 0
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records line numbers and rejects duplicate keys."""

    duplicate_keys: list[tuple[int, Any]]


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _LineMap:
    loader.flatten_mapping(node)
    out = _LineMap()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out.key_lines:
            loader.duplicate_keys.append((key_node.start_mark.line + 1, key))
        out.key_lines[key] = key_node.start_mark.line + 1
        out[key] = loader.construct_object(value_node, deep=True)
    return out


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> _LineList:
    out = _LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _line_of(obj: Any, default: int) -> int:
    return getattr(obj, "line", default) or default


@dataclass
class Document:
    """One parsed policy file, before the set is assembled."""

    file: str
    data: Any
    errors: list[str] = field(default_factory=list)


def read_yaml(file: str, text: str) -> Document:
    loader = _LineLoader(text)
    loader.duplicate_keys = []
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        return Document(file, None, [f"{file}:{line}: invalid YAML: {exc.problem or exc}"])
    except yaml.YAMLError as exc:
        return Document(file, None, [f"{file}:1: invalid YAML: {exc}"])
    finally:
        loader.dispose()
    errors = [f"{file}:{line}: duplicate key {key!r}" for line, key in loader.duplicate_keys]
    return Document(file, data, errors)


@dataclass
class ParsedSet:
    """Everything the files say, validated; `evaluate.PolicySet` is built from it."""

    rules: list[Rule] = field(default_factory=list)
    sessions: list[SessionRule] = field(default_factory=list)
    accounts: list[AccountRule] = field(default_factory=list)
    default: str | None = None
    opaque: str | None = None
    masking: list[MaskingSection] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class _Errors:
    def __init__(self, file: str, sink: list[str]) -> None:
        self.file, self.sink = file, sink

    def add(self, line: int, reason: str) -> None:
        self.sink.append(f"{self.file}:{line}: {reason}")


def build_set(documents: list[Document]) -> ParsedSet:
    """Validate documents (already sorted by file name) into one set, collecting all errors."""
    out = ParsedSet()
    lists: dict[str, list[Any]] = {}
    seen_rule_ids: dict[str, str] = {}
    setting_from: dict[str, str] = {}
    # First pass: `lists:` from every file, so any file may reference any list.
    for doc in documents:
        out.errors.extend(doc.errors)
        if isinstance(doc.data, dict) and isinstance(doc.data.get("lists"), dict):
            err = _Errors(doc.file, out.errors)
            for name, items in doc.data["lists"].items():
                line = doc.data["lists"].key_lines.get(name, 1)
                if not isinstance(items, list) or not all(isinstance(i, (str, int, float)) for i in items):
                    err.add(line, f"lists.{name} must be a list of strings")
                elif name in lists:
                    err.add(line, f"list {name!r} is defined twice")
                else:
                    lists[name] = [str(i) for i in items]
    _resolve_list_references(lists, out.errors, documents)
    for doc in documents:
        err = _Errors(doc.file, out.errors)
        data = doc.data
        if data is None:
            continue
        if not isinstance(data, dict):
            err.add(_line_of(data, 1), "a policy file must be a mapping with `rules:` and/or `sessions:`")
            continue
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                err.add(data.key_lines[key], f"unknown top-level key {key!r} (expected one of "
                                             f"{', '.join(sorted(TOP_LEVEL_KEYS))})")
        for key in ("default", "opaque"):
            if key in data:
                line = data.key_lines[key]
                value = data[key]
                if value not in ACTIONS:
                    err.add(line, f"{key} must be one of allow, review, deny (got {value!r})")
                elif key in setting_from:
                    err.add(line, f"{key} is already set in {setting_from[key]}")
                else:
                    setting_from[key] = f"{doc.file}:{line}"
                    setattr(out, key, value)
        if "masking" in data:
            out.masking.append(MaskingSection(doc.file, data.key_lines["masking"], data["masking"]))
        for key, build, into in (("rules", _rule, out.rules), ("sessions", _session_rule, out.sessions),
                                 ("accounts", _account_rule, out.accounts)):
            _rule_list(data, key, build, into, err, lists, doc.file, seen_rule_ids)
    return out


def _known_keys(raw: Any, allowed: frozenset[str], what: str, err: "_Errors") -> bool:
    """Report every key not in `allowed` (a typo must not silently widen or narrow a rule)."""
    ok = True
    for key in raw:
        if key not in allowed:
            err.add(raw.key_lines[key], f"{what}: unknown key {key!r}")
            ok = False
    return ok


def _rule_list(data: Any, key: str, build: Any, into: list, err: "_Errors", lists: dict, file: str,
               seen_rule_ids: dict[str, str]) -> None:
    """Parse the list under `key` with `build`, appending to `into`; ids are unique across every kind."""
    items = data.get(key, [])
    if key in data and not isinstance(items, list):
        err.add(data.key_lines[key], f"{key} must be a list")
        return
    for index, raw in enumerate(items):
        line = items.item_lines[index] if isinstance(items, _LineList) else 1
        rule = build(raw, line, err, lists, order=len(into))
        if rule is None:
            continue
        if rule.id in seen_rule_ids:
            err.add(line, f"duplicate rule id {rule.id!r} (first at {seen_rule_ids[rule.id]})")
            continue
        seen_rule_ids[rule.id] = f"{file}:{line}"
        into.append(rule)


def _resolve_list_references(lists: dict[str, list[str]], errors: list[str], documents: list[Document]) -> None:
    """Expand `@name` items inside lists (a list may include another); cycles are errors."""
    def where(name: str) -> str:
        for doc in documents:
            if isinstance(doc.data, dict) and isinstance(doc.data.get("lists"), dict) and name in doc.data["lists"]:
                return f"{doc.file}:{doc.data['lists'].key_lines[name]}"
        return "?:1"

    def expand(name: str, stack: tuple[str, ...]) -> list[str]:
        out: list[str] = []
        for item in lists[name]:
            ref = item[1:] if item.startswith("@") else None
            if ref is None:
                out.append(item)
            elif ref in stack:
                errors.append(f"{where(name)}: list {name!r} includes itself through {ref!r}")
            elif ref not in lists:
                errors.append(f"{where(name)}: list {name!r} refers to unknown list {item!r}")
            else:
                out.extend(expand(ref, stack + (ref,)))
        return out

    for name in list(lists):
        lists[name] = expand(name, (name,))


def _strings(value: Any, line: int, what: str, err: _Errors, lists: dict[str, list[str]]) -> list[str] | None:
    """A string or a list of strings; `@name` items expand to `lists: name`."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        err.add(line, f"{what} must be a string or a list of strings")
        return None
    out: list[str] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            err.add(line, f"{what} items must be strings (got {type(item).__name__})")
            return None
        item = str(item)
        if item.startswith("@"):
            if item[1:] not in lists:
                err.add(line, f"{what}: unknown list {item!r} (define it under top-level `lists:`)")
                return None
            out.extend(lists[item[1:]])
        else:
            out.append(item)
    return out


def _who(raw: dict, err: _Errors, lists: dict) -> tuple[tuple[str, ...], frozenset[str], tuple[str, ...]] | None:
    got = []
    for key in ("users", "groups", "targets"):
        value = _strings(raw[key], raw.key_lines[key], key, err, lists) if key in raw else []
        if value is None:
            return None
        got.append(value)
    return tuple(got[0]), frozenset(got[1]), tuple(got[2])


def _action_reason(raw: dict, line: int, err: _Errors, rid: str) -> tuple[str, str] | None:
    action, reason = raw.get("action"), raw.get("reason")
    ok = True
    if action not in ACTIONS:
        err.add(raw.key_lines.get("action", line), f"rule {rid!r}: action must be allow, review or deny "
                                                    f"(got {action!r})")
        ok = False
    if not isinstance(reason, str) or not reason.strip():
        err.add(raw.key_lines.get("reason", line), f"rule {rid!r}: a non-empty `reason` is required")
        ok = False
    return (action, reason.strip()) if ok else None


def _rule_id(raw: Any, line: int, err: _Errors) -> str | None:
    if not isinstance(raw, dict):
        err.add(line, "each rule must be a mapping")
        return None
    rid = raw.get("id")
    if not isinstance(rid, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]*", rid):
        err.add(raw.key_lines.get("id", line), f"rule id must be a word of letters, digits, `-_.:` (got {rid!r})")
        return None
    return rid


def _rule(raw: Any, line: int, err: _Errors, lists: dict, order: int) -> Rule | None:
    rid = _rule_id(raw, line, err)
    if rid is None:
        return None
    ok = _known_keys(raw, RULE_KEYS, f"rule {rid!r}", err)
    ar = _action_reason(raw, line, err, rid)
    who = _who(raw, err, lists)
    if "when" not in raw:
        err.add(line, f"rule {rid!r}: `when` is required (use `when: {{}}` to match every command)")
        return None
    when = _conditions(raw["when"], raw.key_lines["when"], err, lists, rid)
    unless = _conditions(raw["unless"], raw.key_lines["unless"], err, lists, rid) if "unless" in raw else ()
    timeout, approvers = DEFAULT_APPROVAL_TIMEOUT, DEFAULT_APPROVERS
    if "approval" in raw:
        parsed = _approval(raw["approval"], raw.key_lines["approval"], err, rid)
        if parsed is None:
            ok = False
        else:
            timeout, approvers = parsed
    if not ok or ar is None or who is None or when is None or unless is None:
        return None
    return Rule(id=rid, action=ar[0], reason=ar[1], file=err.file, line=line, when=when, unless=unless,  # type: ignore[arg-type]
                users=who[0], groups=who[1], targets=who[2], approval_timeout=timeout, approvers=approvers,
                order=order)


def _approval(raw: Any, line: int, err: _Errors, rid: str) -> tuple[float, int] | None:
    if not isinstance(raw, dict):
        err.add(line, f"rule {rid!r}: approval must be a mapping with `timeout` and/or `approvers`")
        return None
    timeout, approvers = DEFAULT_APPROVAL_TIMEOUT, DEFAULT_APPROVERS
    for key, value in raw.items():
        kline = raw.key_lines[key]
        if key == "timeout":
            seconds = parse_duration(value)
            if seconds is None or seconds <= 0:
                err.add(kline, f"rule {rid!r}: approval timeout must be a positive duration like 300, 90s, "
                               f"10m, 1h (got {value!r})")
                return None
            timeout = seconds
        elif key == "approvers":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                err.add(kline, f"rule {rid!r}: approvers must be a positive integer (got {value!r})")
                return None
            approvers = value
        else:
            err.add(kline, f"rule {rid!r}: unknown approval key {key!r}")
            return None
    return timeout, approvers


def parse_duration(value: Any) -> float | None:
    """`300`, `90s`, `10m`, `1h` → seconds; `7d` too (for `replay --since`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*", value)
    if not m:
        return None
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2) or "s"]


def _conditions(raw: Any, line: int, err: _Errors, lists: dict, rid: str) -> tuple[Condition, ...] | None:
    blocks = raw if isinstance(raw, list) else [raw]
    lines = raw.item_lines if isinstance(raw, _LineList) else [line] * len(blocks)
    out: list[Condition] = []
    for block, bline in zip(blocks, lines):
        cond = _condition(block, _line_of(block, bline), err, lists, rid)
        if cond is None:
            return None
        out.append(cond)
    return tuple(out)


def _flag_groups(value: Any, line: int, what: str, err: _Errors, lists: dict) -> tuple[FlagGroup, ...] | None:
    items = _strings(value, line, what, err, lists)
    if items is None:
        return None
    groups = []
    for item in items:
        spellings = tuple(s.strip() for s in item.split("|") if s.strip())
        if not spellings or not all(s.startswith("-") for s in spellings):
            err.add(line, f"{what}: {item!r} must be options starting with `-`, alternatives separated by `|`")
            return None
        groups.append(FlagGroup(spellings))
    return tuple(groups)


def _regex(value: Any, line: int, what: str, err: _Errors) -> re.Pattern[str] | None | bool:
    if not isinstance(value, str):
        err.add(line, f"{what} must be a regular expression string")
        return False
    try:
        return re.compile(value)
    except re.error as exc:
        err.add(line, f"{what}: invalid regular expression: {exc}")
        return False


def _condition(raw: Any, line: int, err: _Errors, lists: dict, rid: str) -> Condition | None:  # noqa: C901
    if raw is None:
        raw = _LineMap()
        raw.key_lines = {}
    if not isinstance(raw, dict):
        err.add(line, f"rule {rid!r}: a condition must be a mapping (or a list of mappings)")
        return None
    fields: dict[str, Any] = {}
    ok = True
    for key, value in raw.items():
        kline = raw.key_lines.get(key, line)
        what = f"rule {rid!r}: {key}"
        if key not in CONDITION_KEYS:
            err.add(kline, f"rule {rid!r}: unknown condition {key!r} (expected one of "
                           f"{', '.join(sorted(CONDITION_KEYS))})")
            ok = False
        elif key in ("program", "programs"):
            names = _strings(value, kline, what, err, lists)
            if names is None:
                ok = False
                continue
            fields["programs"] = frozenset(n for n in names if not set("*?[").intersection(n))
            fields["program_globs"] = tuple(n for n in names if set("*?[").intersection(n))
        elif key in ("flags_all", "flags_any"):
            groups = _flag_groups(value, kline, what, err, lists)
            ok = ok and groups is not None
            fields[key] = groups
        elif key in ("paths", "writes", "program_path", "destination"):
            globs = _strings(value, kline, what, err, lists)
            if globs is None:
                ok = False
                continue
            expanded = [e for g in globs for e, _ in expand_braces([(c, False) for c in g])]
            fields["program_paths" if key == "program_path" else key] = tuple(
                compile_path_glob(g) for g in dict.fromkeys(expanded))
            if key == "paths":  # literal paths, for arguments that are globs themselves (`cat /etc/sha*`)
                fields["path_literals"] = tuple(g for g in dict.fromkeys(expanded) if not set("*?[").intersection(g))
        elif key in ("args_regex", "command_regex", "stdin_regex"):
            pattern = _regex(value, kline, what, err)
            ok = ok and pattern is not False
            fields[key] = pattern
        elif key in ("via", "fed_by", "pipes_to"):
            names = _strings(value, kline, what, err, lists)
            ok = ok and names is not None
            fields[key] = frozenset(names or ())
        elif key in _BOOL_KEYS:
            if not isinstance(value, bool):
                err.add(kline, f"{what} must be true or false")
                ok = False
            fields[key] = value
    if not ok:
        return None
    return Condition(file=err.file, line=line, **fields)


def _session_rule(raw: Any, line: int, err: _Errors, lists: dict, order: int) -> SessionRule | None:
    rid = _rule_id(raw, line, err)
    if rid is None:
        return None
    ok = _known_keys(raw, SESSION_KEYS, f"session rule {rid!r}", err)
    kinds_raw = raw.get("kinds", raw.get("kind"))
    kline = raw.key_lines.get("kinds", raw.key_lines.get("kind", line))
    kinds = _strings(kinds_raw, kline, f"session rule {rid!r}: kinds", err, lists) if kinds_raw is not None else None
    if kinds_raw is None:
        err.add(line, f"session rule {rid!r}: `kinds` is required ({', '.join(SESSION_KINDS)})")
        ok = False
    for kind in kinds or ():
        if kind not in SESSION_KINDS:
            err.add(kline, f"session rule {rid!r}: unknown kind {kind!r} (expected {', '.join(SESSION_KINDS)})")
            ok = False
    ar = _action_reason(raw, line, err, rid)
    who = _who(raw, err, lists)
    if not ok or kinds is None or ar is None or who is None:
        return None
    return SessionRule(id=rid, kinds=tuple(kinds), action=ar[0], reason=ar[1], file=err.file, line=line,  # type: ignore[arg-type]
                       users=who[0], groups=who[1], targets=who[2], order=order)


def _account_rule(raw: Any, line: int, err: _Errors, lists: dict, order: int) -> AccountRule | None:
    rid = _rule_id(raw, line, err)
    if rid is None:
        return None
    ok = _known_keys(raw, ACCOUNT_KEYS, f"account rule {rid!r}", err)
    account = raw.get("account")
    if not isinstance(account, str) or not account:
        err.add(raw.key_lines.get("account", line), f"account rule {rid!r}: `account` (an account label of the target) is required")
        ok = False
    who = _who(raw, err, lists)
    if not ok or who is None:
        return None
    return AccountRule(id=rid, account=account, file=err.file, line=line, users=who[0], groups=who[1],
                       targets=who[2], order=order)


# --- files ---------------------------------------------------------------------------------------
def is_test_file(path: Path, directory: Path) -> bool:
    return path.name.endswith((".test.yaml", ".test.yml")) or path.parent != directory


def policy_files(directory: Path) -> list[Path]:
    """Policy files of a directory: `*.yaml`/`*.yml` at the top level, minus `*.test.yaml`."""
    if not directory.is_dir():
        return []
    files = [p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")]
    return sorted((p for p in files if not is_test_file(p, directory)), key=lambda p: p.name)


def test_files(directory: Path) -> list[Path]:
    """Policy test files: `tests/*.yaml` under the directory and `*.test.yaml` beside the policy."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.glob("*.test.y*ml")]
    tests_dir = directory / "tests"
    if tests_dir.is_dir():
        found.extend(p for p in tests_dir.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    return sorted(set(found))


def load_documents(directory: Path) -> list[Document]:
    docs = []
    for path in policy_files(directory):
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            docs.append(Document(name, None, [f"{name}:1: cannot read: {exc}"]))
            continue
        docs.append(read_yaml(name, text))
    return docs


TEST_CASE_KEYS = frozenset({"command", "commands", "user", "groups", "group", "target", "expect", "rule",
                            "name"})


def parse_test_cases(file: str, text: str) -> tuple[list[PolicyTestCase], list[str]]:
    """Test file format: optional `defaults: {user, groups, target}` and `cases:` (see the docs)."""
    doc = read_yaml(file, text)
    errors = list(doc.errors)
    data = doc.data
    cases: list[PolicyTestCase] = []
    err = _Errors(file, errors)
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        if data is not None or not errors:
            err.add(_line_of(data, 1), "a test file must be a mapping with a `cases:` list")
        return cases, errors
    for key in data:
        if key not in ("defaults", "cases", "description"):
            err.add(data.key_lines[key], f"unknown top-level key {key!r} in a test file")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        err.add(data.key_lines["defaults"], "defaults must be a mapping")
        defaults = {}
    raw_cases = data["cases"]
    for index, raw in enumerate(raw_cases):
        line = raw_cases.item_lines[index]
        if not isinstance(raw, dict):
            err.add(line, "each case must be a mapping")
            continue
        unknown = [k for k in raw if k not in TEST_CASE_KEYS]
        if unknown:
            err.add(line, f"unknown case keys: {', '.join(map(str, unknown))}")
            continue
        merged = {**defaults, **raw}
        expect = merged.get("expect")
        if expect not in ACTIONS:
            err.add(raw.key_lines.get("expect", line), f"expect must be allow, review or deny (got {expect!r})")
            continue
        commands = raw.get("commands", [raw.get("command")] if "command" in raw else None)
        if not isinstance(commands, list) or not commands:
            err.add(line, "a case needs `command: STRING` or `commands: [STRING, ...]`")
            continue
        bad = [k for k, c in enumerate(commands) if not isinstance(c, str)]
        if bad:
            lines_ = getattr(raw.get("commands"), "item_lines", [line] * len(commands))
            for k in bad:
                err.add(lines_[k], f"command {commands[k]!r} is not a string (quote it)")
            continue
        groups = merged.get("groups", merged.get("group", []))
        groups = [groups] if isinstance(groups, str) else groups
        if not isinstance(groups, list):
            err.add(line, "groups must be a list of strings")
            continue
        c_lines = raw["commands"].item_lines if isinstance(raw.get("commands"), _LineList) else [line]
        for k, command in enumerate(commands):
            cline = c_lines[k] if k < len(c_lines) else line
            cases.append(PolicyTestCase(
                name=f"{file}:{cline}", command=command, user=str(merged.get("user", "agent")),
                groups=tuple(str(g) for g in groups), target=str(merged.get("target", "*")),
                expect=expect, rule=str(merged["rule"]) if merged.get("rule") is not None else None))
    return cases, errors
