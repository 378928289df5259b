"""Commands whose output *is* a secret: `gh auth token`, `aws ecr get-login-password`, `vault kv get -field=…`.

What they print is a bare value: no key names it, no head marks it, so no detector can find it in the
stream. The gateway knows the command of an exec session, so it asks here, before the first byte, whether
that command prints a secret to the session's stdout; if so the whole stdout is masked
(`secret-command-output`, see `WholeOutputMasker`). A secret that goes elsewhere is left to its consumer:
piped into a command that is not a plain filter (`aws ecr get-login-password | docker login
--password-stdin`), captured by a command substitution (`docker login -p "$(gh auth token)"`,
`T=$(gh auth token)`), or redirected to a file. Piped anywhere else (`| base64 -d`, `| jq -r .x`, `| tee`,
a program not known to consume its input) or printed by `echo $(…)`, it is taken to reach stdout: when in
doubt, the output is masked.

The command is parsed by the policy's shell parser, so wrappers (`sudo`, `env`, `bash -c`) and quoting do
not hide it. A line that cannot be analysed is judged by its commands that could be.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from bastion.policy.shell import SimpleCommand, parse_command_line

COMMAND_OUTPUT_ID = "secret-command-output"

# Programs that take a secret on stdin to log in or store it, and do not print it back (`--password-stdin`).
CONSUMERS = frozenset(
    "docker podman nerdctl buildah skopeo crane oras regctl helm kubectl oc gh glab vault npm yarn pnpm twine "
    "gpg login chpasswd passwd htpasswd ssh-add aws az gcloud doppler op bw pass gopass kinit keyring "
    "secret-tool security sops age openssl ssh sshpass".split()
)
# Programs that print their arguments: a secret substituted into them (`echo $(gh auth token)`) is printed.
PRINTERS = frozenset("echo printf print".split())
_FILE_READERS = frozenset("cat head tail less more bat batcat strings tac nl".split())
# Files that hold one bare secret (Docker / Compose secrets, Vault's token helper file).
_SECRET_FILE_PREFIXES = ("/run/secrets/", "/var/run/secrets/")
_SECRET_FILE_NAMES = (".vault-token",)


def _positional(args: Sequence[str]) -> list[str]:
    return [a for a in args if not a.startswith("-")]


def _subsequence(words: list[str], *want: str) -> bool:
    it = iter(words)
    return all(any(w == x for w in it) for x in want)


def _has_option(args: Sequence[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + "=") or (len(n) == 2 and a.startswith(n) and len(a) > 2)
               for a in args for n in names)


def _aws(args: Sequence[str]) -> str | None:
    p = _positional(args)
    for svc, op in (("ecr", "get-login-password"), ("ecr-public", "get-login-password"),
                    ("secretsmanager", "get-secret-value"), ("codeartifact", "get-authorization-token")):
        if _subsequence(p, svc, op):
            return f"aws {svc} {op}"
    if "ssm" in p and any(x in p for x in ("get-parameter", "get-parameters", "get-parameters-by-path")) and (
            _has_option(args, "--with-decryption")):
        return "aws ssm get-parameter --with-decryption"
    if _subsequence(p, "configure", "get") and any(w in x.lower() for x in p for w in ("secret", "token")):
        return "aws configure get"
    if "sts" in p and _has_option(args, "--output") and "text" in p:
        return "aws sts … --output text"
    return None


def _gcloud(args: Sequence[str]) -> str | None:
    p = _positional(args)
    if "auth" in p and any(x in p for x in ("print-access-token", "print-identity-token")):
        return "gcloud auth print-access-token"
    if _subsequence(p, "secrets", "versions", "access"):
        return "gcloud secrets versions access"
    return None


def _az(args: Sequence[str]) -> str | None:
    p = _positional(args)
    if _subsequence(p, "account", "get-access-token"):
        return "az account get-access-token"
    if _subsequence(p, "keyvault", "secret", "show"):
        return "az keyvault secret show"
    if _subsequence(p, "keys", "list") or "list-keys" in p or "show-connection-string" in p:
        return "az … keys list"
    if _subsequence(p, "acr", "login") and _has_option(args, "--expose-token"):
        return "az acr login --expose-token"
    return None


def _vault(args: Sequence[str]) -> str | None:
    p = _positional(args)
    if _subsequence(p, "kv", "get") or (p[:1] == ["read"]) or _subsequence(p, "print", "token"):
        return "vault " + " ".join(p[:2])
    return None


def _kubectl(args: Sequence[str]) -> str | None:
    p = _positional(args)
    if "view-secret" in p or _subsequence(p, "create", "token"):
        return "kubectl " + " ".join(p[:2])
    at = p.index("get") + 1 if "get" in p else 0  # (option values come first: `-n prod get secret`)
    if at and any(x in ("secret", "secrets") or x.startswith(("secret/", "secrets/")) for x in p[at : at + 2]):
        if any("jsonpath" in a or "template" in a for a in args):
            return "kubectl get secret -o jsonpath"  # bare values (`-o yaml` is left to `k8s-secret-data`)
    return None


def _password_manager(program: str, args: Sequence[str]) -> str | None:
    p = _positional(args)
    if program == "op" and (p[:1] == ["read"] or (_subsequence(p, "item", "get") and (
            _has_option(args, "--fields", "--reveal", "--otp")))):
        return "op " + " ".join(p[:2])
    if program in ("pass", "gopass") and (not p or p[0] not in (
            "ls", "list", "find", "search", "grep", "insert", "edit", "rm", "mv", "cp", "git", "init", "help",
            "version", "sync", "setup", "mounts", "config", "recipients", "templates", "fsck", "audit")):
        return program + " show"
    if program == "bw" and (_subsequence(p, "get") and any(x in p for x in ("password", "totp", "notes", "item"))
                            or (p[:1] in (["unlock"], ["login"]) and _has_option(args, "--raw"))):
        return "bw " + " ".join(p[:2])
    if program == "lpass" and p[:1] == ["show"] and _has_option(args, "--password"):
        return "lpass show --password"
    if program == "security" and p[:1] in (["find-generic-password"], ["find-internet-password"]) and (
            "-w" in args or "-g" in args):
        return "security " + p[0] + " -w"
    if program == "secret-tool" and p[:1] == ["lookup"]:
        return "secret-tool lookup"
    if program == "keyring" and p[:1] == ["get"]:
        return "keyring get"
    if program == "doppler" and _subsequence(p, "secrets", "get") and _has_option(args, "--plain"):
        return "doppler secrets get --plain"
    if program == "doppler" and _subsequence(p, "secrets", "download") and _has_option(args, "--no-file"):
        return "doppler secrets download --no-file"
    if program == "heroku" and p[:1] in (["config:get"], ["auth:token"]):
        return "heroku " + p[0]
    if program == "sops" and (_has_option(args, "-d", "--decrypt") or p[:1] == ["decrypt"]):
        return "sops --decrypt"
    if program == "ansible-vault" and p[:1] in (["view"], ["decrypt"]):
        return "ansible-vault " + p[0]
    return None


def _generator(program: str, args: Sequence[str]) -> str | None:
    if program == "openssl" and _positional(args)[:1] == ["rand"]:
        return "openssl rand"
    if program in ("pwgen", "apg", "mkpasswd"):
        return program
    return None


_VAR_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
# the last key of a jq / yq path (`.password`, `.data.token`, `.["api-key"]`, `.creds | .secret`)
_JQ_LAST_KEY = re.compile(r"""(?:\.([A-Za-z_][\w\-]*)|\[\s*["']([^"']+)["']\s*\])\s*\Z""")
_NOT_SECRET_VARS = frozenset(("PWD", "OLDPWD"))  # the working directories (`pwd` is a password's name too)


def _secret_name(name: str) -> bool:
    """A name the key-value detectors take for a secret's (`GITHUB_TOKEN`, `DB_PASSWORD`, `api_key`)."""
    from bastion.masking.detectors import KEY_FAMILY

    if name.upper() in _NOT_SECRET_VARS:
        return False
    return bool(KEY_FAMILY._rules_for(name.encode())[0])


def _value_printer(program: str, args: Sequence[str]) -> str | None:
    """`printenv GITHUB_TOKEN`, `echo "$DB_PASSWORD"`, `jq -r .password`: a secret-named value, printed bare."""
    if program == "printenv":
        return next((f"printenv {a}" for a in _positional(args) if _secret_name(a)), None)
    if program in ("echo", "printf"):
        for a in args:
            for name in _VAR_REF.findall(a):
                if _secret_name(name):
                    return f"{program} ${name}"
        return None
    if program in ("jq", "gojq", "yq", "jaq"):
        p = _positional(args)
        if p:
            m = _JQ_LAST_KEY.search(p[0].strip())
            if m is not None and _secret_name(m.group(1) or m.group(2)):
                return f"{program} {p[0].strip()}"
    return None


def _file_reader(program: str, args: Sequence[str]) -> str | None:
    if program not in _FILE_READERS:
        return None
    for a in _positional(args):
        if a.startswith(_SECRET_FILE_PREFIXES) or a.rsplit("/", 1)[-1] in _SECRET_FILE_NAMES:
            return f"{program} {a}"
    return None


_BY_PROGRAM: dict[str, Callable[[Sequence[str]], str | None]] = {
    "gh": lambda a: "gh auth token" if _subsequence(_positional(a), "auth", "token") else None,
    "aws": _aws, "gcloud": _gcloud, "az": _az, "vault": _vault, "kubectl": _kubectl, "oc": _kubectl,
}


def secret_printer(cmd: SimpleCommand) -> str | None:
    """What this one command prints that is a secret (a short name for the audit trail), or None."""
    if cmd.opaque or cmd.is_wrapper:
        return None
    program = cmd.program
    rule = _BY_PROGRAM.get(program)
    if rule is not None:
        return rule(cmd.args)
    return (_password_manager(program, cmd.args) or _generator(program, cmd.args) or _file_reader(program, cmd.args)
            or _value_printer(program, cmd.args))


def _reaches_stdout(cmd: SimpleCommand, commands: Sequence[SimpleCommand]) -> bool:
    if any(r.writes and r.fd in (None, 1) for r in cmd.redirects):
        return False  # `gh auth token > /tmp/t`
    if any(p in CONSUMERS for p in cmd.pipes_to):
        return False  # `… | docker login --password-stdin`
    s, e = cmd.span
    for other in commands:
        if other is cmd or other.is_wrapper:
            continue
        os_, oe = other.span
        if os_ <= s and e <= oe and (os_, oe) != (s, e):
            # inside a command substitution of `other`: printed only if `other` prints its arguments
            # (`curl -H "Authorization: Bearer $(gcloud auth print-access-token)"` prints the response)
            if other.program not in PRINTERS:
                return False
    return True


def secret_output_command(command: str) -> str | None:
    """The secret-printing command of an exec session's command line whose output reaches the session's
    stdout (see the module docstring), or None."""
    if not command.strip():
        return None
    line = parse_command_line(command)
    for cmd in line.commands:
        what = secret_printer(cmd)
        if what is not None and _reaches_stdout(cmd, line.commands):
            return what
    return None
