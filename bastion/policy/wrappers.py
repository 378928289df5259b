"""Wrappers: programs that run another program (`sudo`, `env`, `xargs`, `find -exec`, `bash -c` ...).

`unwrap(program, args)` says what a wrapper runs: zero or more inner argv lists, and/or shell script text
to parse again (`bash -c`, `eval`, `su -c`, `watch`, `ssh host cmd`). `reads_program_text(...)` says when
a shell or interpreter takes its program from stdin or a file descriptor (then the content is opaque).

Option tables are per wrapper: which options take a value, how many operands precede the command. They
follow the GNU/BSD/sudo manuals; unknown options are skipped as flags, which errs towards finding *a*
command rather than none. Pure: no I/O.
"""

from __future__ import annotations

import re
import shlex

from bastion.policy.db_clients import db_client
from bastion.policy.envvars import assignment_commands, assignment_opaque, command_variable
from bastion.policy.inline_code import AWKS, CODE_FLAGS, inline_code, shell_texts
from bastion.policy.runners import HANDLERS as RUNNERS, MAKES, make_reads_stdin, powershell_code
from bastion.policy.toolchains import cargo, go
from bastion.policy.words import Word
from bastion.policy.wrapper_base import (Unwrapped, WrapperSpec, _join_script, _option_values, _skip_options,
                                           _split_words, long_option)

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh",
                    "rbash", "busybox-sh", "lksh", "pdksh", "oksh", "loksh", "posh", "elvish", "nu", "nushell",
                    "xonsh", "rc", "es", "ion", "oil", "osh", "ysh", "brush"})
# Other names of those shells: versioned, static or distribution builds (`bash5`, `ksh93`, `bash-static`,
# `mksh-static`, `sh.distrib`, `bash.exe`): the program is the shell itself.
_SHELL_ALIAS = re.compile(r"(bash|zsh|ksh|mksh|dash|ash|yash|sh|tcsh|csh|fish|rbash|posh|lksh|pdksh|oksh)"
                          r"(?:-?\d[\d.]*|-static|\.static|\.distrib|\.orig|\.real)*(?:\.exe)?")
# The dynamic loader runs the program it is given (`/lib64/ld-linux-x86-64.so.2 /bin/rm -rf /`).
_LOADER = re.compile(r"ld(?:-linux(?:-[\w-]+)?|-musl-[\w-]+|64)?\.so(?:\.\d+)*")


def canonical_program(name: str) -> str:
    """The program a file name stands for, where other names of one tool exist: `bash5` → `bash`, `ksh93` →
    `ksh`, `ld-linux-x86-64.so.2` → `ld.so`; other names are returned unchanged."""
    if name in SHELLS or not name[:1].isalpha():
        return name
    m = _SHELL_ALIAS.fullmatch(name)
    if m is not None:
        return m.group(1)
    if name.startswith("ld") and _LOADER.fullmatch(name):
        return "ld.so"
    return name
INTERPRETERS = frozenset({"python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua",
                          "irb", "deno", "bun", "Rscript", "R", "tclsh", "wish", "awk", "gawk", "mawk", "nawk",
                          "pwsh", "powershell", "osascript", "jshell", "groovy", "scala", "julia", "expect"})


SPECS: dict[str, WrapperSpec] = {
    "sudo": WrapperSpec("ughpCDrtTUcR", frozenset({"--user", "--group", "--host", "--prompt", "--close-from",
                        "--chdir", "--role", "--type", "--command-timeout", "--other-user", "--login-class",
                        "--chroot"}),
                        assignments=True, no_command_flags="lvkVK"),
    "doas": WrapperSpec("uCa", no_command_flags="L"),
    "pkexec": WrapperSpec("", frozenset({"--user"})),
    # --block-signal, --default-signal, --ignore-signal take an optional value, only as `=SIG`
    "env": WrapperSpec("uCSP", frozenset({"--unset", "--chdir", "--split-string"}), assignments=True),
    "nice": WrapperSpec("n", frozenset({"--adjustment"})),
    "nohup": WrapperSpec(),
    "setsid": WrapperSpec(),
    "timeout": WrapperSpec("sk", frozenset({"--signal", "--kill-after"}), operands=1),
    "stdbuf": WrapperSpec("ioe", frozenset({"--input", "--output", "--error"})),
    "ionice": WrapperSpec("cnpPu", frozenset({"--class", "--classdata", "--pid", "--pgid", "--uid"})),
    "time": WrapperSpec("fo", frozenset({"--format", "--output"})),
    "command": WrapperSpec(no_command_flags="vV"),
    "builtin": WrapperSpec(),
    "exec": WrapperSpec("a"),
    "chroot": WrapperSpec("", frozenset({"--userspec", "--groups"}), operands=1),
    "runuser": WrapperSpec("ugGcsw", frozenset({"--user", "--group", "--supp-group", "--command",
                           "--shell", "--whitelist-environment", "--session-command"})),
    "taskset": WrapperSpec("", operands=1),
    "chrt": WrapperSpec("T", frozenset({"--sched-runtime", "--sched-period", "--sched-deadline"}), operands=1),
    "numactl": WrapperSpec("CNmpiP", frozenset({"--cpunodebind", "--physcpubind", "--membind",
                           "--preferred", "--interleave"})),
    "unbuffer": WrapperSpec(),
    "fakeroot": WrapperSpec("sil", frozenset({"--lib", "--faked"})),
    "strace": WrapperSpec("abeEIoOpPsSuUX", frozenset({"--output", "--trace", "--signal", "--user",
                          "--attach", "--string-limit"})),
    "ltrace": WrapperSpec("aeEnoplsuxXAD", frozenset({"--output", "--library"})),
    "unshare": WrapperSpec("SGRw", frozenset({"--setuid", "--setgid", "--root", "--wd", "--map-user",
                           "--map-group", "--map-users", "--map-groups", "--propagation", "--load-interp",
                           "--monotonic", "--boottime"})),
    "nsenter": WrapperSpec("tSGrwWeF", frozenset({"--target", "--setuid", "--setgid", "--root", "--wd"})),
    "firejail": WrapperSpec(),
    "torsocks": WrapperSpec("uapPi"),
    "proxychains": WrapperSpec("f"),
    "proxychains4": WrapperSpec("f"),
    "systemd-run": WrapperSpec("pEMHu", frozenset({"--unit", "--property", "--description", "--slice",
                               "--uid", "--gid", "--working-directory", "--setenv", "--machine", "--host",
                               "--on-active", "--on-boot", "--on-startup", "--on-unit-active", "--on-unit-inactive",
                               "--on-calendar", "--timer-property", "--path-property", "--socket-property",
                               "--nice", "--service-type", "--background", "--json", "--capsule"})),
    "flock": WrapperSpec("wEc", frozenset({"--timeout", "--conflict-exit-code", "--command"}), operands=1),
    "caffeinate": WrapperSpec("tw"),
    "catchsegv": WrapperSpec(),
    "valgrind": WrapperSpec(),
    "dbus-launch": WrapperSpec(),
    "xvfb-run": WrapperSpec("nlsfep", frozenset({"--server-num", "--server-args", "--auth-file",
                            "--error-file", "--xauth-protocol"})),
    "daemonize": WrapperSpec("acEeloptuv"),
    "setpriv": WrapperSpec("", frozenset({"--reuid", "--regid", "--ruid", "--euid", "--rgid", "--egid",
                           "--groups", "--inh-caps", "--ambient-caps", "--bounding-set", "--securebits",
                           "--pdeathsig", "--selinux-label", "--apparmor-profile", "--landlock-access",
                           "--landlock-rule", "--seccomp-filter"})),
    "chpst": WrapperSpec("ugUelmdoptfc/n"),
    "sshpass": WrapperSpec("pfdP"),
    "faketime": WrapperSpec("", frozenset({"--date-prog"}), operands=1),  # -f is a flag
    "cgexec": WrapperSpec("g"),
    "prlimit": WrapperSpec("p", frozenset({"--pid"})),
    "dbus-run-session": WrapperSpec("", frozenset({"--config-file", "--dbus-daemon"})),
    "ssh-agent": WrapperSpec("aEPt", no_command_flags="k"),
    "eatmydata": WrapperSpec(),
    "nocache": WrapperSpec("n"),
    # -a[PROMPT], -p[COLOUR], -m[SUB] take only an attached value; -o is --one-shot
    "rlwrap": WrapperSpec("bCDefgHlOPqsStwz", frozenset({"--break-chars", "--command-name", "--file",
                          "--history-filename", "--logfile", "--prompt-colour", "--substitute-prompt"})),
    "tini": WrapperSpec("pe"),
    "dumb-init": WrapperSpec("r", frozenset({"--rewrite"})),
    "setarch": WrapperSpec(operands=1),
    "linux32": WrapperSpec(), "linux64": WrapperSpec(), "i386": WrapperSpec(), "x86_64": WrapperSpec(),
    "gosu": WrapperSpec(operands=1),
    "su-exec": WrapperSpec(operands=1),
    "s6-setuidgid": WrapperSpec(operands=1),
    "trickle": WrapperSpec("udwtln"),
    "cpulimit": WrapperSpec("lpe", frozenset({"--limit", "--pid", "--exe"})),
    "entr": WrapperSpec(),
    "ifne": WrapperSpec(), "chronic": WrapperSpec(), "nq": WrapperSpec(), "tsp": WrapperSpec("LDNW"),
    "run0": WrapperSpec("ugD", frozenset({"--user", "--group", "--chdir", "--unit", "--property", "--description",
                        "--slice", "--setenv", "--nice", "--machine", "--background"})),
    "then": WrapperSpec(), "do": WrapperSpec(), "else": WrapperSpec(),
}

# Wrappers whose command operand is shell text, not argv.
_XARGS_VALUE = "aEdILnPs"  # `-i[STR]`, `-l[N]`, `-e[EOF]` only take an attached value
_XARGS_LONG = frozenset({"--arg-file", "--eof", "--delimiter", "--replace", "--max-lines", "--max-args",
                         "--max-procs", "--max-chars", "--process-slot-var"})
_WATCH_VALUE = "nq"  # -n SECS, -q CYCLES (-c is --color, -d[=permanent] only takes an attached value)
_SSH_VALUE = "bcDEeFIiJLlmOopPQRSWwB"
_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_SU_VALUE = "csgGw"


def unwrap(program: str, args: list[Word]) -> Unwrapped | None:
    """What `program args...` runs, or None when `program` is not a wrapper."""
    if program in SPECS:
        return _unwrap_generic(program, args)
    handler = _SPECIAL.get(program)
    if handler is not None:
        return handler(args)
    if program in AWKS or program.rstrip("0123456789.") in CODE_FLAGS:  # python3.12, perl5.36
        texts = shell_texts(program, args)  # what inline code hands to a shell
        return Unwrapped(scripts=[Word(t) for t in texts]) if texts else None
    return None


def _unwrap_generic(program: str, args: list[Word]) -> Unwrapped:
    spec = SPECS[program]
    out = Unwrapped()
    if program == "env":
        # `env -S 'rm -rf /'` splits its string into words (no shell), also in a cluster (`-iS'…'`)
        expanded: list[Word] = []
        i = 0
        while i < len(args):
            a = args[i].value
            if a == "--":
                expanded.extend(args[i:])
                break
            if a == "--split-string" and i + 1 < len(args):
                expanded.extend(_env_split(args[i + 1]))
                i += 2
                continue
            if a.startswith("--split-string="):
                expanded.extend(_env_split(Word(a.split("=", 1)[1], args[i].dynamic)))
                i += 1
                continue
            if a.startswith("-") and not a.startswith("--") and len(a) > 1:
                k = 1
                while k < len(a) and a[k] not in "uCPS":
                    k += 1
                if k < len(a) and a[k] == "S":
                    if k > 1:
                        expanded.append(Word(a[:k], args[i].dynamic))
                    if k + 1 < len(a):
                        expanded.extend(_env_split(Word(a[k + 1:], args[i].dynamic)))
                        i += 1
                    elif i + 1 < len(args):
                        expanded.extend(_env_split(args[i + 1]))
                        i += 2
                    else:
                        i += 1
                    continue
                if k < len(a) - 1 or k < len(a) and i + 1 >= len(args):
                    expanded.append(args[i])  # `-uNAME`: the value is attached
                    i += 1
                    continue
                if k < len(a):  # `-u NAME`, `-C DIR`: keep the value with its option
                    expanded.extend(args[i:i + 2])
                    i += 2
                    continue
            if not a.startswith("-") and "=" not in a:
                expanded.extend(args[i:])  # the command: its own arguments are not env's
                break
            expanded.append(args[i])
            i += 1
        args = expanded
    if program == "nice" and args and args[0].value[:1] == "-" and args[0].value[1:].lstrip("-").isdigit():
        args = args[1:]  # `nice -10 cmd`
    start, no_command = _skip_options(args, spec)
    out.chdir = _chdir_option(program, args[:start])
    if spec.assignments:  # `env LESSOPEN='|CMD %s' less f`: a variable the inner program runs
        earlier: dict[str, str] = {}
        for a in args[:start]:
            name, eq, value = a.value.partition("=")
            if eq and command_variable(name) and not a.value.startswith("-"):
                word = Word(value, a.dynamic)
                inners, scripts = assignment_commands(name, word, earlier)
                out.inners.extend(inners)
                out.scripts.extend(scripts)
                out.opaque = out.opaque or assignment_opaque(name, word) or ""
                if not a.dynamic:
                    earlier[name] = value
    if program == "taskset" and any(a.value in ("-p", "--pid") or (a.value.startswith("-") and "p" in a.value
                                                                    and not a.value.startswith("--"))
                                    for a in args[:start]):
        return out  # `taskset -p mask pid`: no command
    start += spec.operands
    if program == "setarch":  # `setarch ARCH -R cmd`: options may follow the architecture
        while start < len(args) and args[start].value.startswith("-") and len(args[start].value) > 1:
            start += 1
            if args[start - 1].value == "--":
                break
    if program in ("sudo", "doas") and any(
            a.value.startswith("-") and not a.value.startswith("--") and ("i" in a.value or "s" in a.value)
            for a in args[:start]) or program in ("sudo", "doas") and any(
            a.value in ("--login", "--shell") for a in args[:start]):
        if start >= len(args):
            out.root_shell = True
            return out
    if program == "sudo" and any(a.value == "-e" or a.value == "--edit" for a in args[:start]):
        out.inners.append([Word("sudoedit")] + args[start:])
        return out
    if no_command:
        return out
    if program in ("runuser",):
        for i, a in enumerate(args):
            if a.value in ("-c", "--command", "--session-command") and i + 1 < len(args):
                out.scripts.append(args[i + 1])
                return out
    if program == "entr" and any(a.value.startswith("-") and "s" in a.value for a in args[:start]):
        if start < len(args):
            out.scripts.append(args[start])
        return out
    if program == "flock":
        for i, a in enumerate(args):
            if a.value in ("-c", "--command") and i + 1 < len(args):
                out.scripts.append(args[i + 1])
                return out
    if start < len(args):
        out.inners.append(args[start:])
    elif program in _SHELL_WITHOUT_COMMAND and (program != "chroot" or start > 0):
        out.root_shell = True  # `sudo chroot /`, `nsenter -a -t 1`, `run0`, `pkexec`: `$SHELL` as root
    return out


# Wrappers that start the user's interactive shell when given no command, as root (or as another user).
_SHELL_WITHOUT_COMMAND = frozenset({"runuser", "chroot", "nsenter", "run0", "pkexec"})


def _machinectl(args: list[Word]) -> Unwrapped:
    """`machinectl shell [USER@][MACHINE] [CMD…]`: CMD runs in the machine (`.host`: this one); with no CMD, a
    login shell (root by default). Other verbs run nothing."""
    words = [a for a in args if not a.value.startswith("-")]
    if not words or words[0].value != "shell":
        return Unwrapped()
    if len(words) > 2:
        return Unwrapped(inners=[words[2:]])
    return Unwrapped(root_shell=True)


def _env_split(word: Word) -> list[Word]:
    """GNU `env -S STRING`: split like env does: quotes, `\\_` is a space, `\\c` ends the string, `\\n` `\\t`…,
    `${VAR}` is the variable's value (only known at run time), `#` starting a word begins a comment."""
    text, dyn = word.value, word.dynamic
    out: list[Word] = []
    cur: list[str] = []
    has_word, cur_dyn = False, False
    i, n, quote = 0, len(text), ""
    escapes = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "_": " ", "#": "#", "$": "$",
               "\"": "\"", "'": "'", "\\": "\\"}
    while i < n:
        c = text[i]
        if quote == "'":
            if c == "'":
                quote = ""
            elif c == "\\" and i + 1 < n and text[i + 1] in "\\'":
                cur.append(text[i + 1])
                i += 1
            else:
                cur.append(c)
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            e = text[i + 1]
            if e == "c":
                break
            if e == "_" and not quote:
                if has_word:
                    out.append(Word("".join(cur), bool(dyn or cur_dyn), cur_dyn == 2))
                cur, has_word, cur_dyn = [], False, False
                i += 2
                continue
            cur.append(escapes.get(e, e))
            has_word = True
            i += 2
            continue
        if c == "$" and text.startswith("${", i):
            end = text.find("}", i)
            if end < 0:
                cur.append(text[i:])
                cur_dyn = has_word = True
                break
            if not cur:
                cur_dyn = 2  # the word starts with the run-time part: a path only known at run time
            cur.append(text[i:end + 1])
            cur_dyn = cur_dyn or True
            has_word = True
            i = end + 1
            continue
        if quote == '"':
            if c == '"':
                quote = ""
            else:
                cur.append(c)
            i += 1
            continue
        if c in "'\"":
            quote, has_word = c, True
            i += 1
            continue
        if c in " \t\n\r\f\v":
            if has_word:
                out.append(Word("".join(cur), bool(dyn or cur_dyn), cur_dyn == 2))
            cur, has_word, cur_dyn = [], False, False
            i += 1
            continue
        if c == "#" and not has_word:
            break
        cur.append(c)
        has_word = True
        i += 1
    if has_word:
        out.append(Word("".join(cur), bool(dyn or cur_dyn), cur_dyn == 2))
    return out


_CHDIR_OPTIONS = {"env": ("-C", "--chdir"), "sudo": ("-D", "--chdir"), "nsenter": ("-w", "--wd"),
                  "unshare": ("", "--wd"), "systemd-run": ("", "--working-directory")}


def _chdir_option(program: str, options: list[Word]) -> Word | None:
    """The directory a wrapper runs its command in (`env -C /`, `sudo --chdir=/etc`), when it says."""
    short, long = _CHDIR_OPTIONS.get(program, ("", ""))
    found = _option_values(options, short, (long,)) if long else []
    return found[-1] if found else None


def _shell(args: list[Word]) -> Unwrapped | None:
    """`bash [opts] -c 'script' [name args]`: the script is parsed again."""
    i, has_c = 0, False
    while i < len(args):
        a = args[i].value
        if a in ("--", "-"):
            i += 1
            break
        if a in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if a.startswith("--"):
            i += 1
            continue
        if a[:1] in "-+" and len(a) > 1:
            has_c = has_c or "c" in a[1:]
            i += 1
            continue
        break
    if has_c:
        out = Unwrapped()
        if i < len(args):
            out.scripts.append(args[i])
            out.script_args = args[i + 1:]
        return out
    return None


def _eval(args: list[Word]) -> Unwrapped:
    return Unwrapped(scripts=[_join_script(args)]) if args else Unwrapped()


def _su(args: list[Word]) -> Unwrapped:
    out = Unwrapped()
    i = 0
    while i < len(args):
        a = args[i].value
        if a in ("-c", "--command", "--session-command") and i + 1 < len(args):
            out.scripts.append(args[i + 1])
            return out
        if a.startswith("--command=") or a.startswith("--session-command="):
            out.scripts.append(Word(a.split("=", 1)[1], args[i].dynamic))
            return out
        if a.startswith("-") and not a.startswith("--") and len(a) > 1:
            cluster = a[1:]
            for k, ch in enumerate(cluster):
                if ch == "c":
                    rest = cluster[k + 1:]
                    if rest:
                        out.scripts.append(Word(rest, args[i].dynamic))
                    elif i + 1 < len(args):
                        out.scripts.append(args[i + 1])
                    return out
                if ch in _SU_VALUE:
                    if k == len(cluster) - 1:
                        i += 1
                    break
        i += 1
    out.root_shell = True  # no -c: an interactive shell as another user (root by default)
    return out


def _parallel_reads_commands(args: list[Word]) -> bool:
    """GNU parallel with no command and no `:::`/`::::`/`-a` input: every line it reads is a command."""
    if any(a.value in (":::", "::::", ":::+", "::::+", "-a", "--arg-file", "--pipe", "--pipepart")
           or a.value.startswith("--arg-file=") for a in args):
        return False
    start, _ = _skip_options(args, WrapperSpec(_XARGS_VALUE + "jSCkX", _XARGS_LONG | {"--jobs", "--sshlogin",
                                                                                    "--colsep", "--tmpdir"}))
    return start >= len(args)


def _xargs(args: list[Word]) -> Unwrapped:
    """`xargs [opts] cmd args…`: cmd runs with words read from stdin, appended or put where `-I STR` says."""
    spec = WrapperSpec(_XARGS_VALUE, _XARGS_LONG)
    start, _ = _skip_options(args, spec)
    replace_str = None
    for i, a in enumerate(args[:start]):
        v = a.value
        if v in ("-I", "--replace") and i + 1 < start:
            replace_str = args[i + 1].value
        elif v.startswith("--replace"):
            replace_str = v.partition("=")[2] or "{}"
        elif v.startswith(("-I", "-i")) and not v.startswith("--"):
            replace_str = v[2:] or ("{}" if v.startswith("-i") else None)
    inner = args[start:] or [Word("echo")]
    if replace_str:
        # `xargs -I% sh -c %`: each `%` is a line read from stdin
        inner = [Word(w.value, True, w.dynamic_prefix or w.value.startswith(replace_str)) if replace_str in w.value
                 else w for w in inner]
    elif inner[0].value.rsplit("/", 1)[-1] in SHELLS:
        inner = [*inner, Word("{words from stdin}", True, True)]  # `xargs sh -c`: the script comes from stdin
    return Unwrapped(inners=[inner], stdin_args=True)


def _watch(args: list[Word]) -> Unwrapped:
    spec = WrapperSpec(_WATCH_VALUE, frozenset({"--interval", "--equexit"}))
    start, _ = _skip_options(args, spec)
    rest = args[start:]
    if not rest:
        return Unwrapped()
    if any(a.value in ("-x", "--exec") for a in args[:start]):
        return Unwrapped(inners=[rest])
    return Unwrapped(scripts=[_join_script(rest)])  # watch runs `sh -c "<args joined>"`


def _ssh(args: list[Word]) -> Unwrapped:
    spec = WrapperSpec(_SSH_VALUE)
    start, _ = _skip_options(args, spec)
    options = args[:start]
    rest = args[start + 1:]  # skip the host
    if rest and rest[0].value.startswith("-") and not any(a.value == "--" for a in options):
        # OpenSSH parses options again after the host (`ssh host -p 22 cmd`) and drops a `--` there
        more, _ = _skip_options(rest, spec)
        options, rest = options + rest[:more], rest[more:]
    out = Unwrapped(scripts=_ssh_options(options), opaque=_ssh_loads(options))
    if rest:
        out.scripts.append(_join_script(rest))
    return out


def _coproc(args: list[Word]) -> Unwrapped:
    """`coproc [NAME] command`: runs the command in the background. tree-sitter-bash has no `coproc`, so
    `coproc NAME { cmd; }` arrives as the words `NAME { cmd` (the rest of the body as commands after it)."""
    i = 0
    if len(args) > 1 and args[1].value in ("{", "(") and args[0].value.isidentifier():
        i = 1
    if i < len(args) and args[i].value in ("{", "("):
        i += 1
    return Unwrapped(inners=[args[i:]]) if i < len(args) else Unwrapped()


def _scp(args: list[Word]) -> Unwrapped:
    """`scp|sftp -o ProxyCommand=CMD`, `scp -S PROGRAM`: commands run on this machine."""
    out = Unwrapped(scripts=_ssh_options(args), opaque=_ssh_loads(args))
    for prog in _option_values(args, "-S", ()):
        out.inners.append([prog])
    for server in _option_values(args, "-D", ()):  # `sftp -D 'PROG ARGS'`: a local server instead of ssh
        out.inners.append(_split_words(server))
    return out


def _program_option(short: str, longs: tuple[str, ...], shell: bool = False):  # noqa: ANN202
    """Options whose value is a program (`tcpdump -z CMD`, `sort --compress-program=CMD`) or, with `shell`,
    shell text (`split --filter='CMD'`)."""
    def handler(args: list[Word]) -> Unwrapped:
        values = _option_values(args, short, longs)
        if shell:
            return Unwrapped(scripts=values)
        return Unwrapped(inners=[[v] for v in values])
    return handler


def _rsync(args: list[Word]) -> Unwrapped:
    """`rsync -e 'CMD' ...`: the remote shell is a command run here."""
    return Unwrapped(scripts=_option_values(args, "-e", ("--rsh",)))


def _zip(args: list[Word]) -> Unwrapped:
    """`zip -T -TT 'CMD' ...`: the test command runs through the shell."""
    return Unwrapped(scripts=_option_values(args, "-TT", ("--unzip-command",)))


def _man(args: list[Word]) -> Unwrapped:
    """`man -P 'CMD'`, `man -H'CMD'`: the pager or browser is a shell command."""
    return Unwrapped(scripts=_option_values(args, "-P", ("--pager",)) + _option_values(args, "-H", ("--html",)))


_TAR_COMMANDS = ("--to-command", "--use-compress-program", "--info-script", "--new-volume-script",
                 "--rsh-command")
_TAR_VALUE = "fCIFbgKLNTXVH"  # short options that take a value (GNU tar)


def _tar_short_values(args: list[Word]) -> list[Word]:
    """Values of `-I PROG` and `-F SCRIPT`, also inside a cluster (`-xI CMD`, `-xICMD`) and in the old style,
    where the first word has no dash and each value letter takes the next word in turn (`tar xIf CMD x.tar`)."""
    out: list[Word] = []
    i = 0
    if args and not args[0].value.startswith("-"):
        pending = iter(args[1:])
        for ch in args[0].value:
            if ch in _TAR_VALUE:
                value = next(pending, None)
                if value is not None and ch in "IF":
                    out.append(value)
        i = 1
    for k in range(i, len(args)):
        v = args[k].value
        if v == "--":
            break
        if not v.startswith("-") or v.startswith("--"):
            continue
        for pos, ch in enumerate(v[1:], 1):
            if ch in _TAR_VALUE:
                attached = v[pos + 1:]
                if ch in "IF":
                    if attached:
                        out.append(Word(attached, args[k].dynamic))
                    elif k + 1 < len(args):
                        out.append(args[k + 1])
                break
    return out


def _tar(args: list[Word]) -> Unwrapped:
    """`tar --to-command=CMD`, `-I CMD`, `--checkpoint-action=exec=CMD`, `-F CMD`, `--rsh-command=PROG`
    (long names abbreviated too): commands tar runs."""
    out = Unwrapped(scripts=_option_values(args, "", _TAR_COMMANDS) + _tar_short_values(args))
    for k, a in enumerate(args):
        name, eq, value = a.value.partition("=")
        if name.startswith("--") and long_option(name, ("--checkpoint-action",)):
            if not eq and k + 1 < len(args):  # `--checkpoint-action exec=CMD`
                value = args[k + 1].value
            if value.startswith("exec="):
                out.scripts.append(Word(value[5:], a.dynamic or (not eq and args[k + 1].dynamic)))
    return out


_GIT_COMMAND_KEYS = ("core.pager", "core.editor", "core.sshcommand", "core.fsmonitor", "core.hookspath",
                     "core.askpass", "core.gitproxy", "sequence.editor", "diff.external", "pager.",
                     "credential.helper", "gpg.program", "uploadpack.packobjectshook", "interactive.difffilter")
_GIT_COMMAND_SUFFIXES = (".textconv", ".clean", ".smudge", ".process", ".driver", ".program", ".helper",
                         ".uploadpack", ".receivepack", "command", "cmd")


_GIT_PROGRAM_PATH = re.compile(r"^(?:browser|man|difftool|mergetool)\.[^.]+\.path$")
_GIT_INCLUDE = re.compile(r"^(?:include|includeif\..*)\.path$")


def _git_setting(key: str, value: Word) -> Word | None:
    """The command a git setting runs (`alias.x=!CMD`, `core.pager=CMD`, `*.textconv`, `sendemail.tocmd` …)."""
    section, _dot, rest = key.partition(".")
    if section.lower() == "url" and rest.lower().endswith((".insteadof", ".pushinsteadof")):
        # `url.ext::CMD.insteadOf=https://`: every matching URL becomes `ext::CMD…` (the base keeps its case)
        base = rest.rsplit(".", 1)[0]
        if not base.startswith("ext::"):
            return None
        return Word(" ".join(shlex.quote(w.value) for w in _git_ext_url(Word(base))), value.dynamic)
    key = key.lower()
    if key.startswith("alias.") or key.startswith("submodule.") and key.endswith(".update"):
        return Word(value.value[1:], value.dynamic) if value.value.startswith("!") else None
    if key.startswith("credential.") and key.endswith(".helper"):
        # `!CMD` is shell text, an absolute path a program with arguments, anything else `git credential-NAME`
        text = value.value
        return Word(text[1:] if text.startswith("!") else text if text.startswith("/") else "git credential-" + text,
                    value.dynamic) if text.strip() else None
    if key.startswith(_GIT_COMMAND_KEYS) or key.endswith(_GIT_COMMAND_SUFFIXES) or _GIT_PROGRAM_PATH.match(key):
        return value
    return None


def _git_include(key: str, value: Word, out: Unwrapped) -> None:
    """`include.path=FILE`, `includeIf.COND.path=FILE`: more settings (commands among them) from a file."""
    if _GIT_INCLUDE.match(key.lower()) and value.value not in ("", "/dev/null"):
        out.opaque = out.opaque or f"git reads configuration from {value.value}, which the gateway cannot read"


def _git(args: list[Word]) -> Unwrapped:
    """`git -c core.pager='CMD' ...`, `git -c alias.x='!CMD' x`: configuration values that are commands;
    `--config-env=KEY=VAR` takes the value from the environment (known only at run time)."""
    out = Unwrapped()
    for i, a in enumerate(args):
        if a.value == "-c" and i + 1 < len(args):
            key, _eq, value = args[i + 1].value.partition("=")
            word = Word(value, args[i + 1].dynamic)
        elif a.value.startswith("--config-env=") or a.value == "--config-env" and i + 1 < len(args):
            setting = a.value.partition("=")[2] if "=" in a.value else args[i + 1].value
            key, _eq, variable = setting.partition("=")
            word = Word("$" + variable, True)
        else:
            continue
        found = _git_setting(key, word)
        if found is not None:
            out.scripts.append(found)
        _git_include(key, word, out)
    _git_subcommand(args, out)
    return out


def _git_ext_url(url: Word) -> list[Word]:
    """`ext::CMD ARG%_ARG`: the command the ext transport runs (`% ` is a space in a word, `%%` a `%`, `%s`/`%S`
    the service name)."""
    words: list[str] = []
    current: list[str] = []
    text = url.value[len("ext::"):]
    k = 0
    while k < len(text):
        c = text[k]
        if c == "%" and k + 1 < len(text):
            nxt = text[k + 1]
            current.append({" ": " ", "%": "%", "s": "git-upload-pack", "S": "upload-pack"}.get(nxt, ""))
            k += 2
            continue
        if c == " ":
            if current:
                words.append("".join(current))
            current = []
        else:
            current.append(c)
        k += 1
    if current:
        words.append("".join(current))
    return [Word(w, url.dynamic) for w in words]


_GIT_GLOBAL_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--super-prefix",
                               "--config-env", "--exec-path", "--list-cmds"})


def _git_subcommand(args: list[Word], out: Unwrapped) -> None:
    """Subcommands that run shell text or a command: `rebase -x/--exec`, `bisect run`, `submodule foreach`,
    `difftool -x/--extcmd`, `filter-branch --*-filter`, `mergetool --tool-cmd`? (config only)."""
    i = 0
    while i < len(args) and args[i].value.startswith("-"):
        i += 2 if args[i].value in _GIT_GLOBAL_VALUE else 1
    if i >= len(args):
        return
    sub, rest = args[i].value, args[i + 1:]
    for a in rest:  # `git clone 'ext::sh -c rm% -rf% /'`: the ext transport runs a command here
        if a.value.startswith("ext::"):
            argv = _git_ext_url(a)
            if argv:
                out.inners.append(argv)
    if sub in _GIT_REMOTE_PROGRAM:  # `git clone --upload-pack=CMD`: for a local or ssh remote, run here
        out.scripts.extend(_option_values(rest, "-u" if sub == "clone" else "", _GIT_REMOTE_PROGRAM[sub]))
    if sub == "config":
        _git_config(rest, out)
    elif sub == "grep":  # `-O[CMD]`, `--open-files-in-pager[=CMD]`: the value is optional, so only attached
        for a in rest:
            name, eq, value = a.value.partition("=")
            if a.value == "--":
                break
            if a.value.startswith("-O") and len(a.value) > 2:
                out.scripts.append(Word(a.value[2:], a.dynamic))
            elif eq and name.startswith("--") and long_option(name, ("--open-files-in-pager",)):
                out.scripts.append(Word(value, a.dynamic))
    elif sub == "send-email":
        out.scripts.extend(_option_values(rest, "", ("--sendmail-cmd", "--to-cmd", "--cc-cmd", "--header-cmd")))
        out.scripts.extend(w for w in _option_values(rest, "", ("--smtp-server",)) if w.value.startswith("/"))
    elif sub == "rebase":
        out.scripts.extend(_option_values(rest, "-x", ("--exec",)))
    elif sub == "bisect" and rest and rest[0].value == "run" and len(rest) > 1:
        out.inners.append(rest[1:])
    elif sub == "submodule":
        words = [w for w in rest if not w.value.startswith("-")]
        if words and words[0].value == "foreach" and len(words) > 1:
            out.scripts.append(_join_script(words[1:]))
    elif sub == "difftool":
        out.scripts.extend(_option_values(rest, "-x", ("--extcmd",)))
    elif sub == "filter-branch":
        for k, a in enumerate(rest):
            name, eq, value = a.value.partition("=")
            if name.startswith("--") and name.endswith("-filter") and name != "--subdirectory-filter":
                if eq:
                    out.scripts.append(Word(value, a.dynamic))
                elif k + 1 < len(rest):
                    out.scripts.append(rest[k + 1])


_GIT_REMOTE_PROGRAM = {"clone": ("--upload-pack",), "fetch": ("--upload-pack",), "pull": ("--upload-pack",),
                       "ls-remote": ("--upload-pack", "--exec"), "archive": ("--exec",),
                       "push": ("--receive-pack", "--exec"), "send-pack": ("--receive-pack", "--exec"),
                       "fetch-pack": ("--upload-pack", "--exec"), "remote": ("--upload-pack",)}
_GIT_CONFIG_VALUE = frozenset({"-f", "--file", "--blob", "--type", "--default", "--comment", "--value"})
_GIT_CONFIG_ACTIONS = frozenset({"set", "--add", "--replace-all", "add"})


def _git_config(rest: list[Word], out: Unwrapped) -> None:
    """`git config [--global] KEY VALUE`, `git config set KEY VALUE`: a command setting is stored, and runs the
    next time git needs it (maybe later on this line: `git config alias.x '!CMD' && git x`)."""
    words: list[Word] = []
    k = 0
    while k < len(rest):
        v = rest[k].value
        if v in _GIT_CONFIG_VALUE:
            k += 2
            continue
        if v.startswith("-") and v not in _GIT_CONFIG_ACTIONS:
            if v.startswith(("--get", "--unset", "--list", "-l", "--remove", "--rename", "--edit", "-e")):
                return  # reads or removes, stores nothing
            k += 1
            continue
        if v not in _GIT_CONFIG_ACTIONS:
            words.append(rest[k])
        k += 1
    if words and words[0].value in ("get", "list", "unset", "rename-section", "remove-section", "edit"):
        return
    if len(words) >= 2:
        found = _git_setting(words[0].value, words[1])
        if found is not None:
            out.scripts.append(found)
        _git_include(words[0].value, words[1], out)


def _ssh_options(args: list[Word]) -> list[Word]:
    """`ssh -o ProxyCommand=CMD`, `-oLocalCommand CMD`: commands ssh runs on this machine."""
    out: list[Word] = []
    for i, a in enumerate(args):
        v = a.value
        if v == "-o" and i + 1 < len(args):
            opt = args[i + 1]
        elif v.startswith("-o") and len(v) > 2:
            opt = Word(v[2:], a.dynamic)
        else:
            continue
        key, _sep, value = opt.value.replace("=", " ", 1).partition(" ")
        if key.lower() in ("proxycommand", "localcommand", "knownhostscommand", "remotecommand"):
            out.append(Word(value.strip(), opt.dynamic))
    return out


_SSH_LIBRARY_OPTIONS = ("pkcs11provider", "securitykeyprovider")


def _ssh_loads(args: list[Word]) -> str:
    """Why ssh/scp/sftp run code the line does not show: a PKCS#11 or security-key library it loads (`-I LIB`,
    `-o PKCS11Provider=LIB`) or a configuration file (`-F FILE`: its ProxyCommand, `Match exec`…); else ""."""
    for value in _option_values(args, "-I", ()):
        if value.value not in ("", "none"):
            return f"ssh loads the library {value.value}, which the gateway cannot read"
    for i, a in enumerate(args):
        v = a.value
        opt = args[i + 1].value if v == "-o" and i + 1 < len(args) else v[2:] if v.startswith("-o") else ""
        key, _sep, value = opt.replace("=", " ", 1).partition(" ")
        if key.lower() in _SSH_LIBRARY_OPTIONS and value.strip() not in ("", "none", "internal"):
            return f"ssh loads the library {value.strip()}, which the gateway cannot read"
    for value in _option_values(args, "-F", ()):
        if value.value not in ("/dev/null", "none"):
            return f"ssh reads configuration from {value.value}, which the gateway cannot read"
    return ""


_TMUX_COMMANDS = frozenset({"new", "new-session", "new-window", "neww", "split-window", "splitw", "run-shell",
                            "run", "respawn-pane", "respawnp", "respawn-window", "respawnw", "pipe-pane",
                            "pipep", "send-keys", "send", "display-popup", "popup"})
_TMUX_VALUE = "cefFnstxylNThwbSp"  # options taking a value (`-d` detaches: no value)
_TMUX_D_VALUE = frozenset({"run-shell", "run", "display-popup", "popup"})  # -d DELAY / -d DIR there
_TMUX_NESTING = frozenset({"if-shell", "if", "bind-key", "bind", "set-hook", "confirm-before", "confirm",
                           "command-prompt"})
_TMUX_KEYS = frozenset({"Enter", "C-m", "C-j", "C-c", "C-d", "KPEnter", "Escape", "Tab", "Space"})


def _tmux(args: list[Word], depth: int = 0) -> Unwrapped:
    """`tmux new -d 'CMD'`, `tmux send-keys -t x 'CMD' Enter`, `tmux -c CMD`: shell text tmux runs or types;
    `if-shell SHELL TMUX…`, `run-shell`, `set-hook … TMUX`, `bind-key KEY TMUX…`, `confirm-before TMUX`,
    `command-prompt … TMUX`: tmux commands that run more (parsed again)."""
    out = Unwrapped()
    i = 0
    while depth == 0 and i < len(args) and args[i].value.startswith("-") and len(args[i].value) > 1:
        flag = args[i].value
        if flag == "--":
            i += 1
            break
        k = next((k for k, ch in enumerate(flag[1:], 1) if ch in "LSfcT"), 0)
        if not k:
            i += 1
            continue
        value = Word(flag[k + 1:], args[i].dynamic) if flag[k + 1:] else (args[i + 1] if i + 1 < len(args) else None)
        i += 1 if flag[k + 1:] else 2
        if flag[k] == "c" and value is not None:
            out.scripts.append(value)  # `tmux -c CMD` runs CMD with the default shell, like `sh -c`
    while i < len(args):
        sub = args[i].value
        j = i + 1
        while j < len(args) and args[j].value != ";":
            j += 1
        rest = args[i + 1:j]
        values = _TMUX_VALUE + ("d" if sub in _TMUX_D_VALUE else "")
        k = 0
        while k < len(rest) and rest[k].value.startswith("-") and len(rest[k].value) > 1:
            flag = rest[k].value
            k += 2 if flag[-1] in values and not any(ch in values for ch in flag[1:-1]) else 1
        operands = rest[k:]
        if sub in _TMUX_COMMANDS:
            words = [w for w in operands if w.value not in _TMUX_KEYS]
            if words:
                out.scripts.append(_join_script(words))
                if len(words) > 1:
                    out.scripts.append(words[-1])  # a value option the table does not know: its last word
        elif sub in _TMUX_NESTING and depth < 4:
            if sub in ("if-shell", "if") and operands:
                out.scripts.append(operands[0])
                nested = operands[1:]
            elif sub in ("bind-key", "bind", "set-hook"):
                nested = operands[1:]
                nested = [Word(" ".join(w.value for w in nested), any(w.dynamic for w in nested))] \
                    if len(nested) > 1 else nested
            else:
                nested = operands[-1:]
            for text in nested:
                inner = _tmux(_split_words(text) + [], depth + 1)
                out.scripts.extend(inner.scripts)
        i = j + 1
    return out


def _screen(args: list[Word]) -> Unwrapped:
    """`screen -dmS name CMD args`: runs CMD; `screen -X stuff 'CMD\n'` types it into a window."""
    for i, a in enumerate(args):
        if a.value == "-X" and i + 2 < len(args) and args[i + 1].value == "stuff":
            typed = args[i + 2]  # screen turns `\n`, `\r` and `^M` into the keys that run the line
            text = typed.value.replace("\\n", "\n").replace("\\r", "\n").replace("^M", "\n")
            return Unwrapped(scripts=[Word(text, typed.dynamic)])
    start, _ = _skip_options(args, WrapperSpec("cehpsSTtRrx"))
    return Unwrapped(inners=[args[start:]]) if start < len(args) else Unwrapped()


def _start_stop_daemon(args: list[Word]) -> Unwrapped:
    """`start-stop-daemon --start --exec PATH -- ARGS`: runs PATH (or `--startas`) with ARGS."""
    if not any(a.value in ("-S", "--start") for a in args):
        return Unwrapped()
    program: Word | None = None
    rest: list[Word] = []
    for i, a in enumerate(args):
        v = a.value
        if v == "--":
            rest = args[i + 1:]
            break
        name, eq, value = v.partition("=")
        if name in ("--exec", "--startas") and eq:
            program = Word(value, a.dynamic)
        elif v in ("-x", "-a", "--exec", "--startas") and i + 1 < len(args):
            program = args[i + 1]
    return Unwrapped(inners=[[program] + rest]) if program is not None else Unwrapped()


_CONTAINER_EXEC_VALUE = "euw"  # docker/podman exec: -e VAR, -u USER, -w DIR
_CONTAINER_EXEC_LONG = frozenset({"--env", "--user", "--workdir", "--env-file", "--detach-keys", "--preserve-fds"})


def _container_exec(args: list[Word]) -> Unwrapped:
    """`docker exec [opts] CONTAINER CMD…` (podman, nerdctl too): the command runs inside the container."""
    if not args or args[0].value != "exec":
        return Unwrapped()
    start, _ = _skip_options(args[1:], WrapperSpec(_CONTAINER_EXEC_VALUE, _CONTAINER_EXEC_LONG))
    rest = args[1 + start + 1:]  # after the container
    return Unwrapped(inners=[rest]) if rest else Unwrapped()


def _after_double_dash(args: list[Word]) -> Unwrapped:
    """`kubectl exec POD -- CMD…`, `lxc exec NAME -- CMD…`: what follows `--` runs there."""
    if not args or args[0].value != "exec":
        return Unwrapped()
    for i, a in enumerate(args):
        if a.value == "--" and i + 1 < len(args):
            return Unwrapped(inners=[args[i + 1:]])
    return Unwrapped()


def _busybox(args: list[Word]) -> Unwrapped:
    if not args or args[0].value.startswith("-"):
        return Unwrapped()
    return Unwrapped(inners=[args])


def _find(args: list[Word]) -> Unwrapped:
    """`find ROOTS... -exec cmd {} ;|+`: each -exec is a command; `{}` stands for files under ROOTS."""
    roots: list[Word] = []
    for a in args[find_roots_start([w.value for w in args]):]:
        if a.value.startswith("-") or a.value in ("(", "!", ")"):
            break
        roots.append(a)
    roots = roots or [Word(".")]
    out = Unwrapped()
    i = 0
    while i < len(args):
        if args[i].value in ("-fprint", "-fprint0", "-fls", "-fprintf") and i + 1 < len(args):
            out.scripts.append(Word(": > " + shlex.quote(args[i + 1].value), args[i + 1].dynamic))
        if args[i].value in _FIND_EXEC:
            j = i + 1
            while j < len(args) and args[j].value not in (";", "+"):
                j += 1
            inner = args[i + 1:j]
            if inner:
                expanded: list[Word] = []
                for w in inner:
                    if "{}" in w.value:
                        expanded.extend(Word(w.value.replace("{}", r.value), r.dynamic, r.dynamic_prefix)
                                        for r in roots)
                    else:
                        expanded.append(w)
                out.inners.append(expanded)
            i = j + 1
            continue
        i += 1
    return out


def find_roots_start(args: list[str]) -> int:
    """Index of find's first root, after its leading options (`-H`, `-L`, `-P`, `-D DEBUG`, `-O3`)."""
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-H", "-L", "-P") or a.startswith("-O") and a[2:].isdigit():
            i += 1
        elif a == "-D":
            i += 2
        elif a == "--":
            return i + 1
        else:
            break
    return i


def _alias_or_trap(args: list[Word]) -> Unwrapped:
    """`alias x='rm -rf /'` and `trap 'cmd' EXIT` carry shell text that may run later on this line."""
    out = Unwrapped()
    for a in args:
        if a.value.startswith("-"):
            continue
        if "=" in a.value:
            out.scripts.append(Word(a.value.split("=", 1)[1], a.dynamic))
        break
    return out


def _trap(args: list[Word]) -> Unwrapped:
    for a in args:
        if not a.value.startswith("-"):
            return Unwrapped(scripts=[a])
    return Unwrapped()


def _ip(args: list[Word]) -> Unwrapped:
    """`ip netns exec NAME CMD…`, `ip vrf exec NAME CMD…` (also `ip -n x netns exec`): CMD runs here."""
    words = [a.value for a in args]
    for i in range(len(words) - 2):
        if words[i] in ("netns", "vrf", "netn", "net") and words[i + 1] in ("exec", "exe", "ex", "e"):
            rest = args[i + 3:]
            return Unwrapped(inners=[rest]) if rest else Unwrapped()
    return Unwrapped()


_BWRAP_TWO = frozenset({"--bind", "--ro-bind", "--dev-bind", "--bind-try", "--ro-bind-try", "--dev-bind-try",
                        "--symlink", "--setenv", "--file", "--bind-data", "--ro-bind-data", "--chmod",
                        "--overlay-src", "--tmp-overlay", "--ro-overlay"})


def _bwrap(args: list[Word]) -> Unwrapped:
    """`bwrap [--opt value…] CMD…`: options take zero, one or two values; the first other word is CMD."""
    i = 0
    while i < len(args):
        v = args[i].value
        if v == "--":
            i += 1
            break
        if not v.startswith("--"):
            break
        if v in _BWRAP_TWO:
            i += 3
        elif v in ("--unshare-all", "--share-net", "--unshare-user", "--unshare-user-try", "--unshare-ipc",
                   "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup", "--unshare-cgroup-try",
                   "--die-with-parent", "--new-session", "--as-pid-1", "--clearenv", "--disable-userns",
                   "--assert-userns-disabled", "--level-prefix", "--help", "--version"):
            i += 1
        else:
            i += 2
    rest = args[i:]
    return Unwrapped(inners=[rest]) if rest else Unwrapped()


def _capsh(args: list[Word]) -> Unwrapped:
    """`capsh [opts] -- ARGS`: ARGS go to /bin/bash, or to the program `--shell=PROG` names (`capsh --shell=/bin/rm
    -- -rf /`); `==` re-runs capsh itself."""
    shell = Word("bash")
    for i, a in enumerate(args):
        if a.value == "--":
            return Unwrapped(inners=[[shell, *args[i + 1:]]])
        if a.value.startswith("--shell="):
            shell = Word(a.value.split("=", 1)[1], a.dynamic)
    return Unwrapped()


def _loader(args: list[Word]) -> Unwrapped:
    """`ld.so [--preload LIBS] [--library-path P] [--argv0 X] PROGRAM ARGS`: the loader runs PROGRAM; a preloaded
    or audit library is code the gateway cannot read."""
    out = Unwrapped()
    i = 0
    while i < len(args):
        v = args[i].value
        name, eq, _value = v.partition("=")
        if v == "--":
            i += 1
            break
        if not v.startswith("--"):
            break
        if name in ("--preload", "--audit"):
            out.opaque = f"the dynamic loader loads {name[2:]} libraries the gateway cannot read"
        if name in ("--list", "--verify", "--help", "--version", "--list-tunables", "--list-diagnostics"):
            return out
        i += 1 if eq or name not in _LOADER_VALUE else 2
    if i < len(args):
        out.inners.append(args[i:])
    return out


_LOADER_VALUE = frozenset({"--preload", "--audit", "--library-path", "--inhibit-rpath", "--argv0",
                           "--glibc-hwcaps-prepend", "--glibc-hwcaps-mask"})
_CMAKE_TOOLS = {"rm": ["rm"], "remove": ["rm"], "remove_directory": ["rm", "-r"], "rename": ["mv"],
                "copy": ["cp"], "copy_directory": ["cp", "-r"], "copy_if_different": ["cp"],
                "create_symlink": ["ln", "-s"], "create_hardlink": ["ln"], "cat": ["cat"], "tar": ["tar"],
                "touch": ["touch"], "chdir": [], "time": [], "env": ["env"]}


def _cmake(args: list[Word]) -> Unwrapped:
    """`cmake -E TOOL ARGS`: the portable command-line tools (`-E rm -rf /`, `-E env X=1 CMD`, `-E chdir DIR CMD`,
    `-E time CMD`, `-E remove_directory DIR`) are the commands they stand for."""
    for i, a in enumerate(args[:-1]):
        if a.value != "-E":
            continue
        tool, rest = args[i + 1].value, args[i + 2:]
        if tool not in _CMAKE_TOOLS:
            return Unwrapped()
        if tool == "chdir":
            return Unwrapped(inners=[rest[1:]], chdir=rest[0]) if len(rest) > 1 else Unwrapped()
        head = [Word(w) for w in _CMAKE_TOOLS[tool]]
        if tool in ("remove", "remove_directory"):
            rest = [w for w in rest if w.value != "-f"]
            head = head + [Word("-f")]
        return Unwrapped(inners=[head + rest]) if head or rest else Unwrapped()
    return Unwrapped()


def _mise(args: list[Word]) -> Unwrapped:
    """`mise exec|x [TOOLS] -- CMD…` or `-c|--command 'CMD'`; `asdf exec CMD…`: the command runs."""
    i = 0
    while i < len(args) and args[i].value.startswith("-"):
        i += 1
    if i >= len(args) or args[i].value not in ("exec", "x"):
        return Unwrapped()
    rest = args[i + 1:]
    scripts = _option_values(rest, "-c", ("--command",))
    if scripts:
        return Unwrapped(scripts=scripts)
    for k, a in enumerate(rest):
        if a.value == "--":
            return Unwrapped(inners=[rest[k + 1:]]) if k + 1 < len(rest) else Unwrapped()
    return Unwrapped()


def _asdf(args: list[Word]) -> Unwrapped:
    if len(args) > 1 and args[0].value == "exec":
        return Unwrapped(inners=[args[1:]])
    return Unwrapped()


def _fish(args: list[Word]) -> Unwrapped | None:
    """fish: `-c CMD`, also `--command CMD`/`--command=CMD` and `-C|--init-command CMD` (run before anything)."""
    scripts = _option_values(args, "-c", ("--command",)) + _option_values(args, "-C", ("--init-command",))
    if scripts:
        return Unwrapped(scripts=scripts)
    return _shell(args)


_PERF_RUNS = frozenset({"stat", "record", "trace", "top", "mem", "c2c", "kvm", "sched", "lock", "kmem",
                        "timechart", "ftrace"})


def _perf(args: list[Word]) -> Unwrapped:
    """`perf stat|record|trace [opts] CMD…`: CMD runs under perf."""
    if not args or args[0].value not in _PERF_RUNS:
        return Unwrapped()
    k = 1
    if args[0].value in ("mem", "c2c", "kvm", "sched", "lock", "kmem") and len(args) > 1:
        k = 2  # `perf mem record CMD`
    start, _ = _skip_options(args[k:], WrapperSpec("eopPtCFcGIrxmujdDaLS",
                                                    frozenset({"--event", "--output", "--pid", "--tid", "--cpu",
                                                               "--freq", "--count", "--cgroup", "--repeat",
                                                               "--call-graph", "--delay", "--field-separator"})))
    rest = args[k + start:]
    return Unwrapped(inners=[rest]) if rest else Unwrapped()


def _hyperfine(args: list[Word]) -> Unwrapped:
    """`hyperfine [opts] 'CMD'…`: every operand, and `--prepare/--setup/--cleanup`, is shell text."""
    out = Unwrapped()
    i = 0
    value_opts = {"-w", "--warmup", "-r", "--runs", "-m", "--min-runs", "-M", "--max-runs", "-S", "--shell",
                  "-n", "--command-name", "-u", "--time-unit", "--style", "--sort", "--export-asciidoc",
                  "--export-csv", "--export-json", "--export-markdown", "--export-orgmode", "--output",
                  "--input", "--reference"}
    script_opts = {"-p", "--prepare", "-s", "--setup", "-c", "--cleanup", "--conclude"}
    while i < len(args):
        v = args[i].value
        name, eq, value = v.partition("=")
        if name in script_opts:
            if eq:
                out.scripts.append(Word(value, args[i].dynamic))
            elif i + 1 < len(args):
                out.scripts.append(args[i + 1])
                i += 1
        elif name in value_opts:
            i += 0 if eq else 1
        elif name in ("-L", "--parameter-list"):
            i += 2
        elif name in ("-P", "--parameter-scan", "-D", "--parameter-step-size"):
            i += 3 if name in ("-P", "--parameter-scan") else 1
        elif not v.startswith("-"):
            out.scripts.append(args[i])
        i += 1
    return out


def _runner(subcommands: tuple[str, ...], spec: WrapperSpec, script_flags: tuple[str, ...] = ()) -> object:
    """Tools that run a command in an environment: `uv run CMD`, `poetry run CMD`, `bundle exec CMD`,
    `conda run -n env CMD`, `npm exec -- CMD`, `nix develop -c CMD`; `script_flags` take shell text."""
    def handler(args: list[Word]) -> Unwrapped:
        # global options before the subcommand (`uv --quiet run`, `poetry -C dir run`)
        i = 0
        while i < len(args) and args[i].value.startswith("-") and args[i].value not in script_flags:
            i += 2 if args[i].value in ("-C", "--directory", "-P", "--project", "--cwd") else 1
        if subcommands:
            if i >= len(args) or args[i].value not in subcommands:
                return Unwrapped()
            i += 1
        rest = args[i:]
        out = Unwrapped()
        for name in script_flags:
            out.scripts.extend(_option_values(rest, name if not name.startswith("--") else "", (name,)
                                              if name.startswith("--") else ()))
        if out.scripts:
            return out
        start, _ = _skip_options(rest, spec)
        start += spec.operands
        if start < len(rest):
            out.inners.append(rest[start:])
        return out
    return handler


def _nix(args: list[Word]) -> Unwrapped:
    """`nix develop|shell … -c CMD…` runs CMD; `nix-shell --run/--command 'TEXT'` is shell text."""
    for i, a in enumerate(args):
        if a.value in ("-c", "--command") and i + 1 < len(args):
            return Unwrapped(inners=[args[i + 1:]])
    return Unwrapped()


def _nix_shell(args: list[Word]) -> Unwrapped:
    return Unwrapped(scripts=_option_values(args, "", ("--run", "--command")))


def _terminal(args: list[Word]) -> Unwrapped:
    """`xterm -e CMD…`, `gnome-terminal -- CMD…`, `konsole -e CMD…`: the terminal runs CMD."""
    for i, a in enumerate(args):
        if a.value in ("-e", "-x", "--", "--command", "--execute") and i + 1 < len(args):
            if a.value == "--command":
                return Unwrapped(scripts=[args[i + 1]])
            rest = args[i + 1:]
            if a.value == "-e" and len(rest) == 1 and " " in rest[0].value:
                return Unwrapped(scripts=rest)  # `gnome-terminal -e 'CMD ARGS'` is one string
            return Unwrapped(inners=[rest])
    return Unwrapped()


_SED_ADDR = r"(?:(?:\d+(?:~\d+)?|\$|/(?:\\.|[^/\n])*/[IM]*|\\(.)(?:\\.|.)*?\1)(?:\s*,\s*(?:[+~]?\d+|\$|/(?:\\.|[^/\n])*/[IM]*))?\s*!?\s*)?"
_SED_START = r"(?:^|[;{}\n])\s*" + _SED_ADDR
# GNU sed reads the argument of `e`, `w`, `r` (and the `w` flag of `s`) after skipping blanks, so none is needed:
# `1erm -rf /` runs `rm -rf /`, `1w/etc/passwd` writes it. The text runs to the end of the line (`;` included).
_SED_E = re.compile(_SED_START + r"e[ \t]*([^\n]*)")
_SED_WRITE = re.compile(_SED_START + r"[wW][ \t]*([^\n]+)")
_SED_READ = re.compile(_SED_START + r"[rR][ \t]*([^\n]+)")
_SED_S = re.compile(_SED_START + r"s([^\\\n])(?:\\.|(?!\2)[^\n])*\2(?:\\.|(?!\2)[^\n])*\2([gpiImMe0-9]*)(w[ \t]*([^\n]+))?")


def _sed_scripts(args: list[Word]) -> list[Word]:
    scripts = _option_values(args, "-e", ("--expression",))
    if scripts or any(a.value in ("-f", "--file") or a.value.startswith("--file=") for a in args):
        return scripts
    for i, a in enumerate(args):
        v = a.value
        if v == "--":
            return args[i + 1:i + 2]
        if v in ("-l", "--line-length") or (v.startswith("-") and not v.startswith("--") and v.endswith("l")):
            continue
        if not v.startswith("-") or v == "-":
            return [a]
    return []


def _sed(args: list[Word]) -> Unwrapped:
    """GNU sed runs commands: `e CMD` (and a bare `e`, or `s///e`, runs the pattern space) and writes files
    (`w FILE`, `s///w FILE`); `r FILE` reads one. Seen as `CMD`, opaque text, `: > FILE` and `cat FILE`."""
    out = Unwrapped()
    for word in _sed_scripts(args):
        text = word.value
        if "e" not in text and "w" not in text and "W" not in text and "r" not in text and "R" not in text:
            continue
        for m in _SED_E.finditer(text):
            cmd = (m.group(2) or "").strip()
            out.scripts.append(Word(cmd, word.dynamic) if cmd else Word("{pattern space}", True))
        for m in _SED_S.finditer(text):
            if "e" in m.group(3):
                out.scripts.append(Word("{pattern space}", True))
            if m.group(5):
                out.scripts.append(Word(": > " + shlex.quote(m.group(5).strip()), word.dynamic))
        for m in _SED_WRITE.finditer(text):
            target = m.group(2).strip()
            if target not in ("/dev/stdout", "/dev/stderr"):
                out.scripts.append(Word(": > " + shlex.quote(target), word.dynamic))
        for m in _SED_READ.finditer(text):
            out.inners.append([Word("cat"), Word(m.group(2).strip(), word.dynamic)])
    return out


_GDB_EX = ("-ex", "--ex", "-eval-command", "--eval-command", "-iex", "--iex", "-init-eval-command",
           "--init-eval-command")


def _debugger_command(text: Word, out: Unwrapped) -> None:
    v = text.value.strip()
    head, _sep, rest = v.partition(" ")
    if v.startswith("!"):
        out.scripts.append(Word(v[1:], text.dynamic))
    elif head in ("shell", "she", "shel"):
        out.scripts.append(Word(rest, text.dynamic))
    elif head == "platform" and rest.strip().startswith("shell"):
        out.scripts.append(Word(rest.strip()[5:], text.dynamic))
    elif head in ("python", "py", "pi", "python-interactive", "script"):
        out.inners.append([Word("python3"), Word("-c"), Word(rest, text.dynamic)])


def _gdb(args: list[Word]) -> Unwrapped:
    """`gdb -ex 'shell CMD'`, `-ex '!CMD'`, `-ex 'python CODE'`, `--args PROG…`; lldb `-o 'platform shell
    CMD'`, `-o 'script CODE'`, `-- PROG…`."""
    out = Unwrapped()
    for i, a in enumerate(args):
        v = a.value
        name, eq, value = v.partition("=")
        if name in _GDB_EX or v in ("-o", "--one-line", "-O", "--one-line-before-file", "-k",
                                    "--one-line-on-crash"):
            if eq:
                _debugger_command(Word(value, a.dynamic), out)
            elif i + 1 < len(args):
                _debugger_command(args[i + 1], out)
        elif v in ("--args", "-args", "--") and i + 1 < len(args):
            out.inners.append(args[i + 1:])
            break
    return out


_ANSIBLE_SHELL_MODULES = frozenset({"shell", "command", "raw", "win_shell", "win_command"})


def _ansible(args: list[Word]) -> Unwrapped:
    """`ansible HOSTS -m shell -a 'CMD'` (command is the default module): CMD runs on the hosts, maybe this one."""
    module = "command"
    for m in _option_values(args, "-m", ("--module-name",)):
        module = m.value.rsplit(".", 1)[-1]
    if module not in _ANSIBLE_SHELL_MODULES:
        return Unwrapped()
    return Unwrapped(scripts=_option_values(args, "-a", ("--args",)))


def _remote_shell(value_letters: str):  # noqa: ANN202
    """`pdsh -w HOSTS CMD…`, `pssh -h FILE CMD`, `clush -w HOSTS CMD`: CMD is shell text run on the hosts."""
    def handler(args: list[Word]) -> Unwrapped:
        start, _ = _skip_options(args, WrapperSpec(value_letters))
        rest = args[start:]
        return Unwrapped(scripts=[_join_script(rest)]) if rest else Unwrapped()
    return handler


def _vagrant(args: list[Word]) -> Unwrapped:
    """`vagrant ssh -c 'CMD'`: CMD runs in the machine."""
    if not args or args[0].value != "ssh":
        return Unwrapped()
    return Unwrapped(scripts=_option_values(args[1:], "-c", ("--command",)))


_TCL_RUN = re.compile(r"(?:^|[;\n\[{])\s*(?:spawn|exec|system)\s+(?:-\S+\s+)*([^;\n\]}]+)")


def _expect(args: list[Word]) -> Unwrapped:
    """`expect -c 'spawn CMD…'`, Tcl `exec CMD…`: the programs the script starts."""
    out = Unwrapped()
    for code in _option_values(args, "-c", ()):
        for m in _TCL_RUN.finditer(code.value):
            words = _split_words(Word(m.group(1), code.dynamic))
            if words:
                out.inners.append(words)
    return out


def _wget(args: list[Word]) -> Unwrapped:
    """`wget --use-askpass=CMD` (also abbreviated), `wget -e use_askpass=CMD` (a wgetrc command): wget runs CMD
    for a user name and password; `--config=FILE` reads wgetrc commands from a file (opaque)."""
    out = Unwrapped(scripts=[w for w in _option_values(args, "", ("--use-askpass",)) if w.value.strip()])
    for command in _option_values(args, "-e", ("--execute",)):
        name, eq, value = command.value.partition("=")
        while eq and re.sub(r"[-_\s]", "", name).lower() == "execute":  # the wgetrc `execute = COMMAND`
            name, eq, value = value.strip().partition("=")
        if eq and re.sub(r"[-_\s]", "", name).lower() == "useaskpass" and value.strip():
            out.scripts.append(Word(value.strip(), command.dynamic))
    for rc in _option_values(args, "", ("--config",)):
        if rc.value not in ("", "/dev/null"):
            out.opaque = f"wget reads commands from {rc.value} (--config), which the gateway cannot read"
    return out


# apt's `-o NAME=VALUE` settings that are shell commands apt runs (`DPkg::Pre-Invoke::=CMD`, also under
# `Binary::apt::`), programs (`Dir::Bin::dpkg=PROG`), dpkg options, or more configuration read from a file.
_APT_SHELL_SETTINGS = frozenset({"pre-invoke", "post-invoke", "pre-invoke-success", "post-invoke-success",
                                 "pre-install-pkgs", "proxy-auto-detect", "proxyautodetect"})
_APT_PROGRAM_SETTING = re.compile(r"(?:^|::)(?:dir::bin::[^:]+|apt::key::gpgvcommand)$")
_APT_CONFIG_SETTING = re.compile(r"(?:^|::)dir::etc(?:::(?:main|parts))?$")


def _apt(args: list[Word]) -> Unwrapped:
    """`apt-get -o APT::Update::Pre-Invoke::=CMD update`, `apt -oDPkg::Post-Invoke::=CMD install x` (also in a
    cluster, `-yo…`, and as `--option`): commands apt runs; `-o Dpkg::Options::=--pre-invoke=CMD` is dpkg's;
    `-c FILE` / `--config-file` and `Dir::Etc::…` read more settings (commands among them) from a file."""
    out = Unwrapped()
    settings: list[Word] = []
    files: list[Word] = []
    i = 0
    while i < len(args):
        a = args[i]
        v = a.value
        if v == "--":
            break
        name, eq, value = v.partition("=")
        if name in ("--option", "--config-file"):
            target = settings if name == "--option" else files
            if eq:
                target.append(Word(value, a.dynamic))
            elif i + 1 < len(args):
                target.append(args[i + 1])
                i += 1
        elif v.startswith("-") and not v.startswith("--"):
            for k, ch in enumerate(v[1:], 1):
                if ch in "octa":
                    if k + 1 < len(v):
                        found = Word(v[k + 1:], a.dynamic)
                    elif i + 1 < len(args):
                        found, i = args[i + 1], i + 1
                    else:
                        break
                    if ch in "oc":
                        (settings if ch == "o" else files).append(found)
                    break
        i += 1
    for setting in settings:
        key, eq, value = setting.value.partition("=")
        if not eq:
            continue
        key = re.sub(r"(?:::\d*)+$|:+$", "", key.strip().lower())
        word = Word(value, setting.dynamic)
        if key.rsplit("::", 1)[-1] in _APT_SHELL_SETTINGS:
            if value.strip():
                out.scripts.append(word)
        elif _APT_PROGRAM_SETTING.search(key):
            out.inners.append([word])
        elif key.endswith("dpkg::options"):
            found = _dpkg([word])
            out.scripts.extend(found.scripts)
        elif _APT_CONFIG_SETTING.search(key):
            files.append(word)
    for f in files:
        if f.value not in ("", "/dev/null"):
            out.opaque = f"apt reads settings from {f.value}, which the gateway cannot read (they can run commands)"
    return out


def _dpkg(args: list[Word]) -> Unwrapped:
    """`dpkg --pre-invoke=CMD`, `--post-invoke=CMD`, `--status-logger=CMD`: shell commands dpkg runs."""
    return Unwrapped(scripts=_option_values(args, "", ("--pre-invoke", "--post-invoke", "--status-logger"),
                                            abbreviated=False))


_HG_GLOBAL_VALUE = frozenset({"-R", "--repository", "--repo", "--cwd", "--config", "--encoding", "--encodingmode",
                              "--color", "--pager"})
_HG_REMOTE = frozenset({"clone", "pull", "push", "incoming", "in", "outgoing", "out", "identify", "id", "share"})
_HG_COMMAND_KEYS = frozenset({"ui.editor", "ui.ssh", "ui.merge", "pager.pager", "gpg.cmd", "email.method",
                              "ui.askpass"})


def _hg_setting(setting: Word, out: Unwrapped) -> None:
    key, eq, value = setting.value.partition("=")
    if not eq:
        return
    key = key.strip().lower()
    word = Word(value, setting.dynamic)
    if key.startswith("alias."):
        if value.startswith("!"):
            out.scripts.append(Word(value[1:], setting.dynamic))
    elif key.startswith("hooks."):
        if value.startswith("python:"):
            if "/" in value or ".py:" in value:  # a Python file the gateway cannot read
                out.opaque = out.opaque or f"hg runs a Python hook from a file ({value[7:]})"
        elif value.strip():
            out.scripts.append(word)
    elif key in _HG_COMMAND_KEYS or key.startswith("extdiff.cmd.") or key.startswith("merge-tools.") \
            and key.endswith(".executable"):
        if value.strip() and not value.startswith("internal:"):
            out.scripts.append(word)
    elif key.startswith("extensions.") and ("/" in value or value.endswith(".py")):
        out.opaque = out.opaque or f"hg loads an extension from a file ({value})"


def _hg(args: list[Word]) -> Unwrapped:
    """`hg --config alias.x='!CMD' x`, `hg --config hooks.pre-log=CMD log` (and the other command settings),
    `hg clone -e|--ssh CMD`, `hg bisect -c|--command CMD`, `hg extdiff -p PROG`: what Mercurial runs."""
    out = Unwrapped()
    for setting in _option_values(args, "", ("--config",)):
        _hg_setting(setting, out)
    i = 0
    while i < len(args) and args[i].value.startswith("-"):
        i += 2 if args[i].value in _HG_GLOBAL_VALUE else 1
    if i >= len(args):
        return out
    sub, rest = args[i].value, args[i + 1:]
    if sub in _HG_REMOTE:
        out.scripts.extend(_option_values(rest, "-e", ("--ssh",)))
    elif sub == "bisect":
        out.scripts.extend(_option_values(rest, "-c", ("--command",)))
    elif sub == "extdiff":
        out.inners.extend([p] for p in _option_values(rest, "-p", ("--program",)))
    return out


_WATCHEXEC_VALUE = "wefisdEWFoj"
_WATCHEXEC_LONG = frozenset({"--watch", "--exts", "--extensions", "--filter", "--ignore", "--signal", "--debounce",
                             "--shell", "--env", "--workdir", "--project-origin", "--filter-file", "--ignore-file",
                             "--on-busy-update", "--stop-signal", "--stop-timeout", "--delay-run", "--poll",
                             "--emit-events-to", "--color", "--wrap-process", "--watch-file", "--watch-non-recursive",
                             "--filter-prog", "--log-file", "--timings", "--notify", "--socket", "--fs-events"})


def _watchexec(args: list[Word]) -> Unwrapped:
    """`watchexec [opts] [--] CMD…`: CMD runs through a shell (its words joined) on every change, or as argv
    with `-n`/`--shell=none`."""
    start, _ = _skip_options(args, WrapperSpec(_WATCHEXEC_VALUE, _WATCHEXEC_LONG))
    rest = args[start:]
    if not rest:
        return Unwrapped()
    shells = _option_values(args[:start], "", ("--shell",))
    if any(a.value == "-n" for a in args[:start]) or shells and shells[-1].value == "none":
        return Unwrapped(inners=[rest])
    return Unwrapped(scripts=[_join_script(rest)])


def _nodemon(args: list[Word]) -> Unwrapped:
    """`nodemon --exec|-x 'CMD' [SCRIPT ARGS…]`: runs `CMD SCRIPT ARGS` through a shell on every change; without
    `--exec` it runs `node SCRIPT ARGS`."""
    execs = _option_values(args, "-x", ("--exec",))
    start, _ = _skip_options(args, WrapperSpec("weixdsC", frozenset({"--watch", "--ext", "--ignore", "--exec",
                                                                      "--delay", "--signal", "--config", "--cwd"})))
    operands = args[start:]
    if execs:
        tail = " ".join(shlex.quote(w.value) for w in operands)
        return Unwrapped(scripts=[Word(e.value + (" " + tail if tail else ""),
                                       e.dynamic or any(w.dynamic for w in operands)) for e in execs])
    return Unwrapped(inners=[[Word("node"), *operands]]) if operands else Unwrapped()


def _double_dash_command(args: list[Word]) -> Unwrapped:
    """`reflex [opts] -- CMD…`, `onchange GLOB -- CMD…`: what follows `--` runs."""
    for i, a in enumerate(args):
        if a.value == "--" and i + 1 < len(args):
            return Unwrapped(inners=[args[i + 1:]])
    return Unwrapped()


def _watchmedo(args: list[Word]) -> Unwrapped:
    """`watchmedo shell-command --command='CMD'` (watchdog), `chokidar GLOB -c 'CMD'`: shell text run on change."""
    return Unwrapped(scripts=_option_values(args, "-c", ("--command",)))


def _mapfile(args: list[Word]) -> Unwrapped:
    """`mapfile -C CALLBACK -c N arr` (readarray too) runs `CALLBACK INDEX LINE` as shell text every N lines."""
    callbacks = _cluster_values(args, "C", "dnOsuc")
    return Unwrapped(scripts=[Word(c.value + " 0 {line}", c.dynamic) for c in callbacks])


def _compgen(args: list[Word]) -> Unwrapped:
    """`compgen -C CMD`, `complete -C CMD`: CMD runs (at once, or at each completion); `-F FUNC` too."""
    return Unwrapped(scripts=_cluster_values(args, "CF", "AGPSWXo"))


def _enable(args: list[Word]) -> Unwrapped:
    """`enable -f FILE NAME` loads a builtin from a shared object: code the gateway cannot read."""
    if _cluster_values(args, "f", "") or any(a.value.startswith("-") and "f" in a.value for a in args):
        return Unwrapped(opaque="enable -f loads a shell builtin from a shared object the gateway cannot read")
    return Unwrapped()


def _cluster_values(args: list[Word], wanted: str, other_values: str) -> list[Word]:
    """getopt-style short options: the values of the letters in `wanted`, also at the end of a cluster
    (`-tC CMD`, `-CCMD`); letters in `other_values` take a value too (and end their cluster)."""
    out: list[Word] = []
    i = 0
    while i < len(args):
        v = args[i].value
        if v == "--" or not v.startswith("-") or len(v) < 2 or v.startswith("--"):
            if v == "--" or not v.startswith("-"):
                break
            i += 1
            continue
        for k, ch in enumerate(v[1:], start=1):
            if ch in wanted or ch in other_values:
                attached = v[k + 1:]
                if attached:
                    value = Word(attached, args[i].dynamic)
                elif i + 1 < len(args):
                    i += 1
                    value = args[i]
                else:
                    break
                if ch in wanted:
                    out.append(value)
                break
        i += 1
    return out


_SPECIAL = {
    **{name: _shell for name in SHELLS},
    "fish": _fish, "ld.so": _loader, "cmake": _cmake, "mise": _mise, "rtx": _mise, "asdf": _asdf,
    "devbox": _runner(("run",), WrapperSpec()), "pixi": _runner(("run", "exec"), WrapperSpec()),
    "mapfile": _mapfile, "readarray": _mapfile, "compgen": _compgen, "complete": _compgen, "enable": _enable,
    "eval": _eval, "su": _su, "xargs": _xargs, "watch": _watch, "ssh": _ssh, "busybox": _busybox,
    "find": _find, "alias": _alias_or_trap, "trap": _trap, "sg": _su,
    "parallel": _xargs, "coproc": _coproc, "toybox": _busybox, "rsync": _rsync, "zip": _zip, "man": _man,
    "machinectl": _machinectl, "tar": _tar, "bsdtar": _tar, "gtar": _tar, "git": _git, "go": go, "cargo": cargo, "tmux": _tmux, "screen": _screen, "start-stop-daemon": _start_stop_daemon,
    "docker": _container_exec, "podman": _container_exec, "nerdctl": _container_exec,
    "kubectl": _after_double_dash, "oc": _after_double_dash, "lxc": _after_double_dash, "incus": _after_double_dash,
    "scp": _scp, "sftp": _scp, "tcpdump": _program_option("-z", ("--postrotate-command",)),
    "sort": _program_option("", ("--compress-program",)), "split": _program_option("", ("--filter",), True),
    "sed": _sed, "gsed": _sed, "gdb": _gdb, "lldb": _gdb,
    **{name: (lambda args, name=name: db_client(name, args)) for name in ("psql", "mysql", "mariadb", "sqlite3", "duckdb")},
    "ansible": _ansible, "pdsh": _remote_shell("wxgXlRtufN"), "pssh": _remote_shell("hHlpoeOtxX"),
    "parallel-ssh": _remote_shell("hHlpoeOtxX"), "clush": _remote_shell("wxgXlftuoR"), "vagrant": _vagrant,
    "expect": _expect,
    "wget": _wget, "dpkg": _dpkg, "hg": _hg, "chg": _hg,
    **{name: _apt for name in ("apt", "apt-get", "aptitude", "apt-cache", "apt-mark", "apt-config", "apt-cdrom")},
    "watchexec": _watchexec, "nodemon": _nodemon, "reflex": _double_dash_command, "onchange": _double_dash_command,
    "watchmedo": _watchmedo, "chokidar": _watchmedo,
    "ip": _ip, "bwrap": _bwrap, "capsh": _capsh, "perf": _perf, "hyperfine": _hyperfine,
    "uv": _runner(("run",), WrapperSpec("pm", frozenset({"--with", "--with-editable", "--with-requirements",
                  "--python", "--directory", "--project", "--env-file", "--package", "--extra", "--group",
                  "--only-group", "--index", "--index-url", "--extra-index-url", "--find-links"}))),
    "poetry": _runner(("run",), WrapperSpec()), "pipenv": _runner(("run",), WrapperSpec()),
    "pdm": _runner(("run",), WrapperSpec()), "hatch": _runner(("run",), WrapperSpec()),
    "rye": _runner(("run",), WrapperSpec()),
    "bundle": _runner(("exec",), WrapperSpec("", frozenset({"--gemfile"}))),
    "conda": _runner(("run",), WrapperSpec("np", frozenset({"--name", "--prefix", "--cwd"}))),
    "mamba": _runner(("run",), WrapperSpec("np", frozenset({"--name", "--prefix", "--cwd"}))),
    "micromamba": _runner(("run",), WrapperSpec("np", frozenset({"--name", "--prefix", "--cwd"}))),
    "direnv": _runner(("exec",), WrapperSpec(operands=1)),
    "npm": _runner(("exec", "x"), WrapperSpec("", frozenset({"--package"})), ("-c", "--call")),
    "npx": _runner((), WrapperSpec("p", frozenset({"--package"})), ("-c", "--call")),
    "pnpm": _runner(("exec", "dlx"), WrapperSpec(), ("-c",)),
    "yarn": _runner(("exec", "dlx"), WrapperSpec()),
    "nix": _nix, "nix-shell": _nix_shell,
    "xterm": _terminal, "gnome-terminal": _terminal, "konsole": _terminal, "urxvt": _terminal,
    "rxvt": _terminal, "alacritty": _terminal, "terminator": _terminal, "xfce4-terminal": _terminal,
    "tilix": _terminal, "kitty": _terminal,
}
_SPECIAL.update(RUNNERS)
WRAPPER_NAMES = tuple(sorted(set(SPECS) | set(_SPECIAL) - {"then", "do", "else"}))


def reads_program_text(program: str, args: list[Word]) -> str | None:
    """Where a shell/interpreter reads its program from, when that is not a literal on the line.

    Returns "stdin" (no script operand, `-s`, `-`, `/dev/stdin`), "fd" (a /dev/fd path or a process
    substitution), or None (a script file, or inline code we can see).
    """
    if program in ("source", "."):
        return _script_operand_kind(args[0]) if args else None
    if program == "parallel" and _parallel_reads_commands(args):
        return "stdin"  # `curl URL | parallel`: each line of stdin is a command
    if program in ("at", "batch"):
        # the job's commands come from stdin unless `-f FILE`; `-l`/`-r`/`-c` list, remove or show jobs
        if any(a.value.startswith("-") and any(c in a.value[1:] for c in "flrcd") for a in args):
            return None
        return "stdin"
    if program in MAKES:
        return "stdin" if make_reads_stdin(args) else None  # `make -f -`: the makefile is on stdin
    if program in ("sed", "gsed"):  # `sed -f -`, `sed -f /dev/stdin`: the script (its `e CMD`s too) is on stdin
        return next((k for k in map(_script_operand_kind, _option_values(args, "-f", ("--file",))) if k), None)
    if program not in SHELLS and program not in INTERPRETERS:
        return None
    if _only_prints_and_exits(program, args):
        return None  # `python3 --version`, `perl -v`: no program is read
    if program in ("pwsh", "pwsh-preview", "powershell"):
        kind, code = powershell_code(args, program == "powershell")
        if kind == "" or code is not None and code.value == "-":
            return "stdin"  # an interactive pwsh, `-Command -`, `-File -`
        return _script_operand_kind(code) if kind == "file" and code is not None else None
    inline_flags = {"python": "cm", "python2": "cm", "python3": "cm", "perl": "eE", "ruby": "e", "node": "ep",
                    "nodejs": "ep", "php": "r", "lua": "e", "irb": "", "deno": "", "bun": "e"}
    if program in SHELLS:
        value_opts = ("-o", "+o", "-O", "+O", "--rcfile", "--init-file")
        flags_with_code = "c"
    else:
        value_opts = ("-W", "-X", "-Q", "-I", "-M", "-r", "--require", "-f", "-v", "-F")
        flags_with_code = inline_flags.get(program.rstrip("0123456789."), "e")
        if program.startswith("python"):
            flags_with_code = "cm"
        if program in ("awk", "gawk", "mawk", "nawk"):
            # awk's program is its first operand, or a file: `-f -`, `-f /dev/stdin` read it from stdin
            for k, a in enumerate(args[:-1]):
                if a.value in ("-f", "--file") :
                    kind = _script_operand_kind(args[k + 1])
                    if kind is not None:
                        return kind
            return None
        if inline_code(program, args) is not None or program == "R" and any(
                a.value.startswith("--file=") for a in args):
            return None  # `node --eval=CODE`, `julia --eval CODE`, `R --file=x.R`: not stdin
    i = 0
    while i < len(args):
        a = args[i].value
        if a == "-":
            return "stdin"
        if a == "--":
            i += 1
            break
        if a in value_opts:
            if a == "-f" and i + 1 < len(args):
                return _script_operand_kind(args[i + 1]) or None
            i += 2
            continue
        if a.startswith("--"):
            i += 1
            continue
        if a[:1] in "-+" and len(a) > 1:
            if any(ch in flags_with_code for ch in a[1:]):
                return None  # inline code, handled by unwrap (shells) or visible in argv
            if program in SHELLS and "s" in a[1:]:
                return "stdin"
            i += 1
            continue
        break
    if i >= len(args):
        return "stdin"
    return _script_operand_kind(args[i])


_EXIT_FLAGS = frozenset({"--version", "--help"})
# Per interpreter family: the short flags that print something and exit (for shells and python `-v` is
# verbose mode, which still reads a program, so it is not here).
_EXIT_SHORT = {"python": frozenset({"-V", "-VV", "-h", "-?"}), "perl": frozenset({"-v", "-V", "-h"}),
               "ruby": frozenset({"-v", "-h"}), "node": frozenset({"-v", "-h"}), "nodejs": frozenset({"-v", "-h"}),
               "deno": frozenset({"-V", "-h"}), "bun": frozenset({"-v", "-h"}), "php": frozenset({"-v", "-h", "-i", "-m"}),
               "lua": frozenset({"-v"}), "julia": frozenset({"-v", "-h"}),
               "pwsh": frozenset({"-v", "-Version", "-version", "-h", "-Help", "-help", "-?"}),
               "powershell": frozenset({"-Version", "-version", "-Help", "-help", "-?"})}


def _only_prints_and_exits(program: str, args: list[Word]) -> bool:
    """Options only, one of which prints the version or help and exits (`python3 --version`, `perl -v`)? With an
    operand the answer is no: `ruby -v /dev/stdin` prints its version and then runs stdin."""
    family = "python" if program.startswith("python") else program.rstrip("0123456789.")
    exits = _EXIT_FLAGS | _EXIT_SHORT.get(family, frozenset())
    if any(not a.value.startswith("-") or a.value in ("-", "--") for a in args):
        return False
    return any(a.value in exits for a in args)


def _script_operand_kind(word: Word) -> str | None:
    v = word.value
    if word.procsub or v.startswith("/dev/fd/") or v.startswith("/proc/self/fd/"):
        return "fd"
    if v in ("/dev/stdin", "-", "/proc/self/fd/0", "/dev/fd/0"):
        return "stdin"
    return None
