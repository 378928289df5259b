"""Does a `Condition` hold for a `SimpleCommand`? Flags, paths, regexes and globs, computed once per command.

Flag semantics (`flags_all` / `flags_any`): options are found in any order and form — clusters (`-rf`,
`-fr`), separate (`-r -f`), long (`--recursive`, `--recursive=x`) and unambiguous GNU abbreviations
(`--recur`); scanning stops at `--`. Path semantics (`paths`): path-like arguments (containing `/` or
starting with `~`, also `--opt=/path` values) and every redirection target, cleaned lexically
(`//etc/./` → `/etc`); a glob argument (`/etc/*`) also counts as the directory it expands in. Path globs:
`*` stays within one path component, `**` crosses them, and `dir/**` also matches `dir` itself.
Pure: no I/O.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from functools import cached_property, lru_cache
from typing import Callable

from bastion.policy.model import Condition, FlagGroup
from bastion.policy.shell import SimpleCommand, normalise_path

_GLOB_CHARS = frozenset("*?[")
# File names that usually hold a secret: what a glob argument is tried against (see `glob_probes`).
_PROBE_NAMES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk", "credentials",
                "config", "config.json", "shadow", "gshadow", "shadow-", ".netrc", ".pgpass", ".my.cnf",
                ".git-credentials", ".vault-token", "ssh_host_rsa_key", "ssh_host_ecdsa_key",
                "ssh_host_ed25519_key", "admin.conf", "environ", "token", "credentials.tfrc.json")


_ATTACHED_PATH = re.compile(r"-[A-Za-z0-9]{1,3}?([@<]?(?:/|~/|~$)[^\s]+|[@<]?~)$")


@lru_cache(maxsize=4096)
def compile_path_glob(pattern: str) -> re.Pattern[str]:
    """Compile a path glob (`*` one component, `**` any depth, `dir/**` includes `dir`)."""
    pattern = pattern if pattern in ("/", "~") else pattern.rstrip("/") or "/"
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("/**", i) and i + 3 == n:
            out.append("(?:/.*)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.S)


def glob_match(value: str, pattern: str) -> bool:
    """Plain name glob (users, targets, program names)."""
    return fnmatch.fnmatchcase(value, pattern)


class CommandView:
    """Facts derived from one SimpleCommand, each computed at most once per evaluation."""

    __slots__ = ("cmd", "__dict__")

    def __init__(self, cmd: SimpleCommand) -> None:
        self.cmd = cmd

    @cached_property
    def flags(self) -> tuple[frozenset[str], tuple[str, ...]]:
        """(exact flag tokens present, long options present) up to `--`."""
        present: set[str] = set()
        longs: list[str] = []
        for arg in self.cmd.args:
            if arg == "--":
                break
            if arg.startswith("--") and len(arg) > 2:
                name = arg.split("=", 1)[0]
                present.add(name)
                longs.append(name)
            elif arg.startswith("-") and len(arg) > 1:
                present.add(arg)  # `-delete`, `-exec` as a whole
                present.update("-" + ch for ch in arg[1:])
        return frozenset(present), tuple(longs)

    def has_flag(self, group: FlagGroup) -> bool:
        present, longs = self.flags
        for spelling in group.spellings:
            if spelling in present:
                return True
            if spelling.startswith("--"):
                # GNU getopt accepts unambiguous abbreviations: `--rec` for `--recursive`.
                if any(len(x) >= 4 and spelling.startswith(x) for x in longs):
                    return True
        return False

    @cached_property
    def path_args(self) -> tuple[str, ...]:
        out: list[str] = []
        for arg in self.cmd.args:
            value = arg
            if arg.startswith("-"):
                if "=" not in arg:
                    # a short option with its value attached: curl's `-d@/etc/shadow`, `-T/etc/shadow`
                    m = _ATTACHED_PATH.match(arg)
                    if m is None:
                        continue
                    value = m.group(1)
                else:
                    value = arg.split("=", 1)[1]  # `--target-directory=/etc`, `of=/dev/sda` below
            elif "=" in arg and "/" in arg.split("=", 1)[1] and not arg.startswith(("/", "~", ".")):
                value = arg.split("=", 1)[1]  # dd's `of=/dev/sda`, curl's `-F f=@/etc/shadow`
            if value[:1] in ("@", "<") and len(value) > 1:
                value = value[1:]  # curl's `-d @file`, `-F f=<file`: the file is read
            if value[:7].lower() == "file://":
                # `curl file:///etc/shadow`, `wget file://localhost/etc/shadow`: a local file is read
                rest = value[7:]
                value = rest if rest.startswith("/") else "/" + rest.partition("/")[2]
            if not value or not ("/" in value or value.startswith("~") or value in (".", "..")):
                continue
            cleaned = normalise_path(value)
            out.append(cleaned)
            if _GLOB_CHARS.intersection(cleaned):
                out.append(_glob_base(cleaned))
            if "$" in value and value.startswith(("/", "~")):
                # `/${x}` is `/` when x is empty: the directory a run-time part lands in is a path too
                out.append(_glob_base(normalise_path(value[:value.index("$")] + "*")))
        for r in self.cmd.redirects:
            if r.op not in ("<<", "<<<") and r.target:
                out.append(r.target)
        return tuple(out)

    @cached_property
    def glob_args(self) -> tuple[str, ...]:
        """Path arguments that are globs (`/etc/sha*`): the shell expands them to whatever exists."""
        return tuple(p for p in self.path_args if _GLOB_CHARS.intersection(p))

    @cached_property
    def glob_probes(self) -> tuple[str, ...]:
        """For a glob argument whose last part is the pattern (`~/.ssh/*`, `/etc/ssh/*key`): the usual secret
        files it would expand to if they were there."""
        return self._probes(self.glob_args)

    @staticmethod
    def _probes(globs: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for g in globs:
            head, _sep, last = g.rpartition("/")
            if not _sep or _GLOB_CHARS.intersection(head):
                continue
            out.extend(f"{head}/{name}" for name in _PROBE_NAMES if fnmatch.fnmatchcase(name, last)
                       and (last.startswith(".") or not name.startswith(".")))  # `*` skips dot files
        return tuple(out)

    @cached_property
    def cwd_paths(self) -> tuple[str, ...]:
        """Relative arguments resolved against the directory an earlier `cd` on the line moved to
        (`cd / && rm -rf bin` → `/bin`, `cd /etc; rm -rf *` → `/etc`)."""
        cwd = self.cmd.cwd
        if cwd is None:
            return ()
        out: list[str] = []
        for arg in self.cmd.args:
            if not arg or arg.startswith(("-", "/", "~")) or "=" in arg:
                continue
            resolved = normalise_path(cwd.rstrip("/") + "/" + arg)
            out.append(resolved)
            if _GLOB_CHARS.intersection(resolved):
                out.append(_glob_base(resolved))
        for r in self.cmd.redirects:  # `cd /etc && echo x >> passwd` writes /etc/passwd
            if r.op not in ("<<", "<<<") and r.target and not r.target.startswith(("/", "~")) \
                    and not r.target.isdigit() and r.target != "-":
                out.append(normalise_path(cwd.rstrip("/") + "/" + r.target))
        return tuple(out)

    @cached_property
    def write_targets_cwd(self) -> tuple[str, ...]:
        """Write targets, relative ones also resolved against an earlier literal `cd` on the line."""
        targets = self.write_targets
        cwd = self.cmd.cwd
        if cwd is None:
            return targets
        return targets + tuple(normalise_path(cwd.rstrip("/") + "/" + t) for t in targets
                               if not t.startswith(("/", "~")))

    @cached_property
    def glob_args_cwd(self) -> tuple[str, ...]:
        """Glob arguments, relative ones also resolved against an earlier `cd` (`cd ~/.ssh && cat *`)."""
        return tuple(p for p in self.paths_with_cwd if _GLOB_CHARS.intersection(p))

    @cached_property
    def glob_probes_cwd(self) -> tuple[str, ...]:
        return self._probes(self.glob_args_cwd)

    @cached_property
    def paths_with_cwd(self) -> tuple[str, ...]:
        return self.path_args + self.cwd_paths

    @cached_property
    def destinations(self) -> tuple[str, ...]:
        """The destination operand (`-t DIR`/`--target-directory=DIR`, else the last non-option argument) and,
        since it may be a directory, each source's name inside it (`cp key ~/.ssh/` writes `~/.ssh/key`)."""
        args = self.cmd.args
        target: str | None = None
        skip: set[int] = set()
        for i, arg in enumerate(args):
            if arg in ("-t", "--target-directory") and i + 1 < len(args):
                target, skip = args[i + 1], {i + 1}
                break
            if arg.startswith("--target-directory="):
                target = arg.split("=", 1)[1]
                break
        operands = [a for i, a in enumerate(args) if not a.startswith("-") and i not in skip]
        if target is None:
            if len(operands) < 2:
                return ()
            target, operands = operands[-1], operands[:-1]
            if ":" in target and not target.startswith(("/", "~", ".")):
                target = target.split(":", 1)[1]  # scp/rsync `host:path`: the remote path
        base = normalise_path(target)
        if not (target.endswith("/") or skip or len(operands) > 1 or _directory_name(base)):
            return (base,)
        names = {posixpath.basename(normalise_path(s.split(":", 1)[-1])) for s in operands}
        return (base, *(normalise_path(base.rstrip("/") + "/" + n) for n in sorted(names) if n not in ("", ".", "..")))

    @cached_property
    def write_targets(self) -> tuple[str, ...]:
        return tuple(r.target for r in self.cmd.redirects if r.writes)

    @cached_property
    def display(self) -> str:
        return self.cmd.display()


# Destinations that are directories wherever they are (`cp key ~/.ssh` writes `~/.ssh/key`); another name may be a
# file (`cp ~/.bashrc ~/.bashrc.bak`), so only a trailing `/`, `-t DIR` or several sources say it is a directory.
_DIRECTORY_NAMES = frozenset({".ssh", ".config", "autostart", "cron.d", "cron.daily", "cron.hourly", "sudoers.d",
                              "profile.d", "init.d", "systemd", "system", "user", "bin", "sbin", "etc", "lib",
                              "lib64", "root", "home", "~", ".", ".."})


def _directory_name(path: str) -> bool:
    return posixpath.basename(path) in _DIRECTORY_NAMES or path in ("~", "/", ".", "..") or (
        path.startswith("/home/") and path.count("/") == 2)


def _glob_base(path: str) -> str:
    """`/etc/*.conf` → `/etc`; `/*` → `/`: the directory a glob argument expands inside."""
    parts = path.split("/")
    keep: list[str] = []
    for part in parts:
        if _GLOB_CHARS.intersection(part):
            break
        keep.append(part)
    base = "/".join(keep)
    return base or ("/" if path.startswith("/") else ".")


Check = Callable[[CommandView], bool]


def compile_condition(cond: Condition, *, program_checked: bool = False,  # noqa: C901
                      resolve_cwd: bool = False) -> tuple[Check, ...]:
    """The checks a condition needs, cheapest and most selective first; all must pass.

    `program_checked`: the caller's index already matched the program name, so that check is left out.
    `resolve_cwd`: `paths` also sees relative arguments resolved against an earlier `cd` on the line, and glob
    arguments that would expand to a listed path (`cat /etc/sha*`). Only where matching more can only make a
    decision stricter (a deny/review rule's `when`, an allow rule's `unless`): whether a `cd` really happened
    (`cd /x; rm -rf y` after a failed cd), or what a glob expands to, cannot be known.
    """
    checks: list[Check] = []
    if (cond.programs or cond.program_globs) and not program_checked:
        names, globs = cond.programs, cond.program_globs
        if globs:
            checks.append(lambda v: v.cmd.program in names or any(glob_match(v.cmd.program, g) for g in globs))
        else:
            checks.append(lambda v: v.cmd.program in names)
    for attr in ("opaque", "starts_shell", "dynamic_args", "recursive"):
        want = getattr(cond, attr)
        if want is not None:
            checks.append(lambda v, a=attr, w=want: getattr(v.cmd, a) == w)
    if cond.dynamic_paths is not None:
        checks.append(lambda v, w=cond.dynamic_paths: bool(v.cmd.dynamic_paths) == w)
    if cond.no_args is not None:
        checks.append(lambda v, w=cond.no_args: (not v.cmd.args) == w)
    for attr in ("via", "fed_by", "pipes_to"):
        wanted = getattr(cond, attr)
        if wanted:
            source = "wrappers" if attr == "via" else attr
            checks.append(lambda v, w=wanted, s=source: not w.isdisjoint(getattr(v.cmd, s)))
    if cond.writes:
        wrx = _union(cond.writes)
        # most commands have no redirection: every rule with a `writes` block asks about every command
        if resolve_cwd:
            checks.append(lambda v: bool(v.cmd.redirects) and any(wrx.match(t) for t in v.write_targets_cwd))
        else:
            checks.append(lambda v: bool(v.cmd.redirects) and any(wrx.match(t) for t in v.write_targets))
    if cond.program_paths:
        pats = cond.program_paths
        checks.append(lambda v: any(p.match(normalise_path(v.cmd.path)) for p in pats))
    if cond.flags_all:
        groups_all = cond.flags_all
        checks.append(lambda v: all(v.has_flag(g) for g in groups_all))
    if cond.flags_any:
        groups_any = cond.flags_any
        checks.append(lambda v: any(v.has_flag(g) for g in groups_any))
    if cond.args_regex is not None:
        rx = cond.args_regex
        checks.append(lambda v: any(rx.search(a) for a in v.cmd.args))
    if cond.paths:
        prx = _union(cond.paths)
        literals = cond.path_literals if resolve_cwd else ()
        paths_of = (lambda v: v.paths_with_cwd) if resolve_cwd else (lambda v: v.path_args)

        def paths_match(v: CommandView) -> bool:
            if any(prx.match(a) for a in paths_of(v)):
                return True
            if not resolve_cwd:
                return False
            globs = v.glob_args_cwd if v.cmd.cwd is not None else v.glob_args
            if not globs:
                return False
            # a glob argument that would expand to a listed path (`cat /etc/sha*` → /etc/shadow), or to a file
            # that usually holds a secret, where the rule lists it (`cat ~/.ssh/*` → ~/.ssh/id_rsa)
            if any(fnmatch.fnmatchcase(lit, g) for g in globs for lit in literals):
                return True
            return any(prx.match(p) for p in (v.glob_probes_cwd if v.cmd.cwd is not None else v.glob_probes))

        checks.append(paths_match)
    if cond.destination:
        drx = _union(cond.destination)
        checks.append(lambda v: any(drx.match(d) is not None for d in v.destinations))
    if cond.stdin_regex is not None:
        srx = cond.stdin_regex
        checks.append(lambda v: v.cmd.stdin_data is not None and srx.search(v.cmd.stdin_data) is not None)
    if cond.command_regex is not None:
        crx = cond.command_regex
        checks.append(lambda v: crx.search(v.display) is not None)
    return tuple(checks)


def _union(patterns: tuple[re.Pattern[str], ...]) -> re.Pattern[str]:
    """One regex for a list of path globs (each already anchored with \\Z): one match call, not forty."""
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.S)


def holds(checks: tuple[Check, ...], view: CommandView) -> bool:
    for check in checks:
        if not check(view):
            return False
    return True


def condition_holds(cond: Condition, view: CommandView) -> bool:
    """Does `cond` hold for the command in `view`? (Uncompiled form, for callers outside the hot path.)"""
    return holds(compile_condition(cond), view)
