"""Detectors that need more than one regex: payment cards, command-line passwords, Kubernetes Secrets,
base64-wrapped and PuTTY private keys, `.pgpass` lines."""

from __future__ import annotations

import binascii
import re
from urllib.parse import unquote_to_bytes

from bastion.masking.matchers import (ALNUM, Detector, Info, Pending, PemOpen, Span, is_text, line_start_ok,
                                      line_window, not_placeholder)


_LUHN_DOUBLE = bytes(((d * 2) - 9 if d * 2 > 9 else d * 2) for d in range(10))
_DIGIT_VALUE = bytes.maketrans(b"0123456789", bytes(range(10)))



class SampledDetector(Detector):
    """A detector of one kind (`ids[0]`), described by its class docstring unless it sets `description`, with
    the positive and negative samples the tests run."""

    description = ""

    def __init__(self, positives=(), negatives=()) -> None:  # noqa: ANN001
        self.positives = tuple(positives)
        self.negatives = tuple(negatives)

    def infos(self) -> list[Info]:
        return [Info(self.ids[0], self.description or self.__doc__ or "", self.positives, self.negatives)]


def luhn_ok(digits: bytes) -> bool:
    values = digits.translate(_DIGIT_VALUE)[::-1]  # ASCII digits as 0-9, last digit first
    return (sum(values[::2]) + sum(_LUHN_DOUBLE[d] for d in values[1::2])) % 10 == 0


def card_brand_ok(d: bytes) -> bool:
    """Issuer prefix and length of the major networks (so random Luhn-valid numbers rarely pass)."""
    n = len(d)
    two, four = int(d[:2]), int(d[:4])
    if d[:1] == b"4":
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if d[:4] == b"6011" or 644 <= int(d[:3]) <= 649 or two == 65 or two == 62:
        return 16 <= n <= 19
    if 3528 <= four <= 3589:
        return 16 <= n <= 19
    if 300 <= int(d[:3]) <= 305 or two in (36, 38, 39):
        return 14 <= n <= 19
    if d[:4] in _MAESTRO or 56 <= two <= 58:
        return 13 <= n <= 19  # Maestro
    return 2200 <= four <= 2204 and n == 16  # Mir


_MAESTRO = frozenset((b"5018", b"5020", b"5038", b"5893", b"6304", b"6759", b"6761", b"6762", b"6763"))


# What an ungrouped run of digits is when it is not a card: the value of an id, a counter or a timestamp
# (`"id": 1234…`, `rx_bytes=…`), or a Prometheus sample (`node_memory_bytes{x="y"} 4111…`). About 2% of random
# 16- and 19-digit numbers (snowflake ids, byte counters) pass the issuer and Luhn checks.
_COUNTER_KEY = re.compile(rb"(?i)(?:id|ids|count|total|bytes|size|seq|sequence|offset|ts|time|timestamp|nanos|ns|ms|"
                          rb"us|serial|version|pid|uid|gid|inode|hash)[\"']?[ \t]*[:=][ \t]*[\"']?\Z")
_METRIC_SAMPLE = re.compile(rb"(?![^{\s]*(?i:card|credit|pan_|_pan))"  # (not `card_number 4111…`)
                            rb"(?:[A-Za-z_][A-Za-z0-9_]*_[A-Za-z0-9_]*(?::[A-Za-z0-9_]+)*(?:\{[^}\n]*\})?"
                            rb"|[A-Za-z_][A-Za-z0-9_:]*\{[^}\n]*\})[ \t]+")


def _counter_context(v: bytes, s: int) -> bool:
    ls = v.rfind(b"\n", max(0, s - 512), s) + 1
    return (_COUNTER_KEY.search(v, max(ls, s - 64), s) is not None
            or _METRIC_SAMPLE.fullmatch(v, ls, s) is not None)


class CardDetector(SampledDetector):
    """Payment card numbers, 13-19 digits, plain or in groups split by spaces or dashes; Luhn-checked."""

    ids = ("credit-card",)
    literals = ()
    trigger_re = rb"[2-6][0-9](?:[ \-]?[0-9]){11}"
    trigger_width = 24
    boundary = True
    zone_re = re.compile(rb"(?<![0-9A-Za-z_.])[2-6]")
    value_class = re.compile(rb"[0-9 \-]*")
    max_window = 64
    RUN = re.compile(rb"[0-9 \-]*")
    CARD = re.compile(
        rb"(?<![0-9A-Za-z_.])(?:[0-9]{13,19}|[0-9]{4}([ \-])[0-9]{4}\1[0-9]{4}\1(?:[0-9]{4}\1[0-9]{3}|[0-9]{1,7})"
        rb"|[0-9]{4}([ \-])[0-9]{6}\2[0-9]{4,5})(?![0-9A-Za-z_])"  # (19 digits: 4-4-4-4-3 or 4-4-4-7)
    )


    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        lim = ts + 64
        e = self.RUN.match(v, ts, min(avail, lim)).end()
        if e < avail or e >= lim:
            w = min(e + 1, avail)
        elif final:
            w = avail
        else:
            # still arriving: held only if a card could still start in it (`2024-05-0` typed is a date: its
            # second group has two digits, no card's has)
            c = ts
            while c < avail:
                if 50 <= v[c] <= 54 and (c == ts or v[c - 1] in b" -") and _CARD_PREFIX.fullmatch(v, c, avail):
                    return Pending(ts)
                c += 1
            w = avail  # no card can still start in it: what it holds already is final
        out: list[Span] = []
        c = ts
        while c < e:
            ch = v[c]
            if 50 <= ch <= 54 and (c == ts or v[c - 1] in b" -") and not (c > 0 and v[c - 1] in ALNUM):
                m = self.CARD.match(v, c, w)
                if m is not None:
                    digits = m.group().translate(None, b" -")
                    if card_brand_ok(digits) and luhn_ok(digits) and not (
                            len(digits) == m.end() - m.start() and _counter_context(v, m.start())):
                        out.append((m.start(), m.end(), "credit-card", 0))
                        c = m.end()
                        continue
            nxt = v.find(b" ", c + 1, e)
            nxt2 = v.find(b"-", c + 1, e)
            cands = [x for x in (nxt, nxt2) if x >= 0]
            if not cands:
                break
            c = min(cands) + 1
        return out


# what has arrived of a card number: digits, or 4-4-4-(1-7) / 4-6-5 groups with one kind of separator
_CARD_PREFIX = re.compile(rb"[0-9]{1,19}|[0-9]{4}([ \-])(?:[0-9]{0,4}|[0-9]{4}\1(?:[0-9]{0,4}|[0-9]{4}\1(?:[0-9]{0,7}"
                          rb"|[0-9]{4}\1[0-9]{0,3}))|[0-9]{5,6}(?:\1[0-9]{0,5})?)")
_REGISTRY_LOGIN = re.compile(rb"\b(?:docker|podman|nerdctl|buildah|skopeo|oras|crane|regctl)(?:\s+registry)?\s+\Z")


_VALUE = rb"(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\"|(?P<s>[^\s\-'\"][^\s]*))"  # quoted, or a bare word


def _flag_rule(flags: bytes, spaced: bool = True) -> "re.Pattern[bytes]":
    """A rule for a tool's option that takes a password: `flags` an alternation (`-p|--password`), the value after
    blanks (or attached, `spaced=False`: `7z -pSECRET`)."""
    return re.compile(rb"(?<=[ \t])(?:" + flags + rb")" + (rb"[ \t]+" if spaced else b"") + _VALUE)


def _flag_hold(flags: bytes) -> "re.Pattern[bytes]":
    return re.compile(rb"(?<=[ \t])(?:" + flags + rb")[ \t]")


# `7z a|x|e|u …` (the command and its verb: `7z` alone is two characters that base64 holds every few KiB)
_SEVEN_ZIP = tuple(f"{p} {verb} ".encode() for p in ("7z", "7za", "7zr") for verb in "axeu")


class CliPasswordDetector(SampledDetector):
    """Passwords on command lines and in `.netrc`: `mysql -pSECRET`, `sshpass -p SECRET`,
    `redis-cli -a SECRET`, `--password SECRET`, `machine h login u password SECRET`."""

    ids = ("cli-password",)
    # Every rule needs a space or tab (or a quote, netrc/flag forms) between the trigger and the line end,
    # and a `KEY=value` line has none after its key.
    none_in_env_key = True
    # `--token VALUE` (a space, not `=`: `--token=x` is a key-value assignment, seen by that family)
    SECRET_FLAGS = (b"--token ", b"--secret ", b"--api-key ", b"--apikey ", b"--api-token ", b"--access-token ",
                    b"--auth-token ", b"--client-secret ", b"--secret-key ", b"--private-token ", b"--bearer-token ",
                    b"--secret-access-key ", b"--refresh-token ", b"--session-token ", b"--certificate-key ",
                    b"--auth ")  # (httpie `--auth USER:PASSWORD`)
    FLAG_VALUE = re.compile(rb"[ \t]*([\"']?)([^\s\"']{8,})\1")
    prefix_type = False
    boundary = False
    value_class = re.compile(rb"[^\s]*")
    max_window = 1024
    _P_ATTACHED = re.compile(rb"(?<=[ \t])-p(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\"|(?P<s>[^\s\-'\"][^\s]*))"
                             rb"|(?<=[\"'])-p(?P<s2>[^\s\-'\"][^\s'\"]*)(?=[\"'])")  # (`['mysql', '-pSECRET']`)
    _P_SPACED = re.compile(rb"(?<=[ \t])-p[ \t]*(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\"|(?P<s>[^\s\-'\"][^\s]*))")
    _P_UPPER = re.compile(rb"(?<=[ \t])-P[ \t]*(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\"|(?P<s>[^\s\-'\"][^\s]*))")
    # (a rule whose secret comes once per line ends in `[^\n]*`: `finditer` must not take the next field too)
    _SNMP_COMMUNITY = re.compile(rb"6?[ \t]+['\"]?(?P<s>[^\s'\"\-][^\s'\"]*)[^\n]*")
    # the snmp tools: `-c COMMUNITY` (v1/v2c), `-A AUTHPASS` / `-X PRIVPASS` (v3; `-a SHA`, `-x AES` name algorithms)
    _SNMP_CLI = re.compile(rb"(?<=[ \t])-[cAX][ \t]*(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\"|(?P<s>[^\s\-'\"][^\s]*))")
    # `mc alias set NAME URL ACCESS_KEY SECRET_KEY` (MinIO client)
    _MC_ALIAS = re.compile(rb"[ \t]+\S+[ \t]+\S+[ \t]+\S+[ \t]+['\"]?(?P<s>[^\s'\"]+)[^\n]*")
    _SASL_PASSWD = re.compile(rb"[ \t]+[^\s:]+:(?P<s>[^\s]+)[ \t\r]*$", re.MULTILINE)
    _LDAP = re.compile(rb"(?<=[ \t])-w[ \t]+(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\"|(?P<s>[^\s\-'\"][^\s]*))")
    RULES = {
        b"mysql": _P_ATTACHED,
        b"mariadb": _P_ATTACHED,
        b"sshpass": _P_SPACED,
        # mongo/mongosh `-p PASSWORD` (a space: `-p` alone prompts)
        b"mongosh": re.compile(rb"(?<=[ \t])-p[ \t]+(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\"|(?P<s>[^\s\-'\"][^\s]*))"),
        b"mongo": re.compile(rb"(?<=[ \t])-p[ \t]+(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\"|(?P<s>[^\s\-'\"][^\s]*))"),
        b"ldapsearch": _LDAP, b"ldapmodify": _LDAP, b"ldapadd": _LDAP, b"ldapdelete": _LDAP, b"ldappasswd": _LDAP,
        b"ldapwhoami": _LDAP,
        b"sqlcmd": _P_UPPER, b"ipmitool": _P_UPPER, b"bcp": _P_UPPER,
        # `rabbitmqctl add_user NAME PASSWORD`, `change_password NAME PASSWORD`
        b"rabbitmqctl": re.compile(rb"[ \t]+(?:add_user|change_password)[ \t]+\S+[ \t]+['\"]?(?P<s>[^\s'\"]+)[^\n]*"),
        # `htpasswd -b[c] FILE USER PASSWORD`, `htpasswd -nb USER PASSWORD` (the password on the command line)
        b"htpasswd": re.compile(rb"(?:[ \t]+-[a-zA-Z]+)*?[ \t]+-[A-Za-z]*b[A-Za-z]*(?:[ \t]+-[a-zA-Z]+)*"
                                rb"(?:[ \t]+(?![\-])\S+){1,2}?[ \t]+['\"]?(?P<s>[^\s'\"\-][^\s'\"]*)['\"]?[ \t\r]*(?:$|[|;&>])",
                                re.MULTILINE),
        # `smbclient //srv/share -U user%password`
        b"smbclient": re.compile(rb"[^\n]*?[ \t](?:-U[ \t]*|--user[ \t=]+)['\"]?[^\s%'\"]+%(?P<s>[^\s'\"]+)"),
        b"rpcclient": re.compile(rb"[^\n]*?[ \t](?:-U[ \t]*|--user[ \t=]+)['\"]?[^\s%'\"]+%(?P<s>[^\s'\"]+)"),
        b"xfreerdp": re.compile(rb"[^\n]*?[ \t]/p:(?P<s>[^\s]+)"),
        # `sqlplus scott/tiger@db` (user/password[@connect])
        b"sqlplus": re.compile(rb"(?:[ \t]+-[A-Za-z]+)*[ \t]+['\"]?[A-Za-z0-9_$#.]+/(?P<s>[^\s@/'\"]+)(?=@|[\s'\"]|$)[^\n]*",
                               re.MULTILINE),
        # `openssl enc -k PASSWORD` (`-kfile` names a file)
        b"openssl": re.compile(rb"[^\n]*?[ \t]-k[ \t]+(?P<s>[^\s\-][^\s]*)"),
        # snmpd.conf: `rocommunity COMMUNITY [SOURCE]`, `com2sec NAME SOURCE COMMUNITY`,
        # `createUser NAME SHA AUTHPASS [AES PRIVPASS]` (both passphrases)
        b"rocommunity": _SNMP_COMMUNITY, b"rwcommunity": _SNMP_COMMUNITY,
        b"com2sec": re.compile(rb"6?[ \t]+(?:-Cn[ \t]+\S+[ \t]+)?\S+[ \t]+\S+[ \t]+['\"]?(?P<s>[^\s'\"]+)[^\n]*"),
        b"createuser": re.compile(rb"[ \t]+(?:-e[ \t]+\S+[ \t]+)?\S+[ \t]+(?:MD5|SHA[\-0-9]*)[ \t]+['\"]?(?P<s>[^\s'\"]+)['\"]?"
                                  rb"(?:[ \t]+(?:DES|AES[0-9]*)[ \t]+['\"]?(?P<s2>[^\s'\"]+))?[^\n]*"),
        **dict.fromkeys((b"snmpwalk", b"snmpbulkwalk", b"snmpget", b"snmpbulkget", b"snmpgetnext", b"snmpset",
                         b"snmptable", b"snmptrap", b"snmpinform"), _SNMP_CLI),
        # `aws ssm put-parameter --name … --value SECRET` (what SecureString parameters hold)
        b"put-parameter": re.compile(rb"[^\n]*?[ \t]--value[ \t=]+(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\"|(?P<s>[^\s'\"][^\s]*))"),
        b"mc alias set": _MC_ALIAS, b"mc config host add": _MC_ALIAS,
        # haproxy `stats auth USER:PASSWORD`
        b"stats auth": re.compile(rb"[ \t]+[^\s:]+:(?P<s>\S+)[^\n]*"),
        # postfix sasl_passwd: `[smtp.example.com]:587 USER:PASSWORD`
        **dict.fromkeys((b"]:587", b"]:465", b"]:25", b"]:2525"), _SASL_PASSWD),
        # Windows `net user NAME PASSWORD [/add]` (`net user NAME *` prompts; `/delete` and the like are options)
        b"net user": re.compile(rb"[ \t]+(?:\"[^\"\r\n]+\"|[^\s/\"]+)[ \t]+(?P<s>[^\s/*][^\s]*)[^\n]*"),
        # archives: `zip -P PW`, `unzip -P PW`, `7z a -pPW` (`-p` alone prompts)
        b"zip ": _flag_rule(rb"-P|--password"), b"unzip ": _flag_rule(rb"-P"),
        **dict.fromkeys(_SEVEN_ZIP, _flag_rule(rb"-p", spaced=False)),
        b"az login": _flag_rule(rb"-p|--password"),
        # `az keyvault secret set … --value PW`, `gh secret set NAME --body PW` / `-b PW`
        b"secret set": re.compile(rb"[^\n]*?(?<=[ \t])(?:--value|--body|-b)(?:[ \t]+|=|(?<=-b))" + _VALUE),
        **dict.fromkeys((b"psexec", b"paexec", b"cqlsh", b"cypher-shell", b"openfortivpn", b"twine"),
                        _flag_rule(rb"-p|--password")),
        b"kadmin": _flag_rule(rb"-w"),
        b"nuget": _flag_rule(rb"-p|-k|--password|--api-key"),
        b"ssh-keygen": _flag_rule(rb"-N|-P"),  # the new and the old passphrase
        b"doctl": _flag_rule(rb"-t|--access-token"),
        b"lftp": re.compile(rb"(?<=[ \t])-u[ \t]+['\"]?[^\s,'\"]+,(?P<s>[^\s'\"]+)"),
        b"swaks": _flag_rule(rb"-ap|--auth-password"),
        # Oracle Data Pump and RMAN: `expdp system/PW@db`, `rman target sys/PW@db` (as `sqlplus`)
        **dict.fromkeys((b"expdp", b"impdp", b"rman"), re.compile(
            rb"[^\n]*?[ \t]['\"]?[A-Za-z0-9_$#.]+/(?P<s>[^\s@/'\"]+)(?=@|[\s'\"]|$)", re.MULTILINE)),
        b"mysqlsh": re.compile(rb"[^\n]*?(?:[ \t]|[ \t]--uri=)['\"]?(?:mysqlx?://)?[^\s:@/'\"=]+:(?P<s>[^\s@'\"]+)@"),
        # `net use Z: \\srv\share PASSWORD /user:DOMAIN\user` (`*` prompts)
        b"net use": re.compile(rb"(?:[ \t]+[A-Za-z*]:)?[ \t]+\\\\\S+[ \t]+(?P<s>[^\s/*][^\s]*)"),
        b"convertto-securestring": re.compile(rb"[ \t]+(?:-String[ \t]+)?(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\")[^\n]*",
                                              re.IGNORECASE),
        b"wpa_passphrase": re.compile(rb"(?<=wpa_passphrase)[ \t]+(?:\"[^\"\r\n]+\"|[^\s\"]+)[ \t]+['\"]?(?P<s>[^\s'\"]{8,63})(?![^\s'\"])[^\n]*"),  # WPA: 8 to 63 characters
        # `reg add KEY /v DefaultPassword /t REG_SZ /d PW` (Winlogon auto-logon)
        b"reg add": re.compile(rb"(?=[^\n]*/v[ \t]+\"?[A-Za-z]*(?i:pass|secret|token|key)[A-Za-z]*)[^\n]*?[ \t]/d[ \t]+"
                               + _VALUE),
        b"> auth ": re.compile(rb"(?:[^\s]+[ \t]+)?(?P<s>[^\s]+)[ \t\r]*$", re.MULTILINE),
        b'"auth" "': re.compile(rb'(?:[^"\n]*"[ \t]+")?(?P<s>[^"\n]+)"[ \t\r]*$', re.MULTILINE),
        b" on >": re.compile(rb"(?<=>)(?P<s>(?![0-9]+(?:\s|$)|=)[^\s]{4,})[^\n]*", re.MULTILINE),  # (at the `>`)
        b"acl setuser": re.compile(rb"[^\n]*?[ \t]>(?P<s>[^\s]+)"),
        b"auth-pass": re.compile(rb"[ \t]+\S+[ \t]+['\"]?(?P<s>[^\s'\"]+)[^\n]*"),
        **dict.fromkeys((b"password 0 ", b"password 7 ", b"secret 0 ", b"key 7 ", b"snmp-server community "),
                        re.compile(rb"(?<= )(?P<s>[^\s]+)[^\n]*")),
        b"message-digest-key ": re.compile(rb"\d+[ \t]+md5[ \t]+(?:[07][ \t]+)?(?P<s>[^\s]+)[^\n]*"),
        b"authentication-key ": re.compile(rb"(?:[07][ \t]+)?(?P<s>[^\s]+)[^\n]*"),
        b"key-string ": re.compile(rb"(?:[07][ \t]+)?(?P<s>[^\s]+)[^\n]*"),
        b"rootpw": re.compile(rb"[ \t]+(?:--plaintext[ \t]+)?(?P<s>[^\s\-$][^\s]*)[^\n]*"),
        b"login=": re.compile(rb"[^\s:,'\"]+:(?P<s>[^\s,'\"]+)"),
        **dict.fromkeys((b"auth-trunc ", b"enc cbc(", b"enc ctr(", b"aead rfc4106(", b"aead rfc4309(", b"auth hmac("),
                        re.compile(rb"[^\n]*?[ \t]0x(?P<s>[0-9a-fA-F]{16,})")),
        **dict.fromkeys((b"* ntlm ", b"* sha1 "), re.compile(rb"[ \t]*:[ \t]*(?P<s>[0-9a-fA-F]{32,40})")),
        b"etcdctl": re.compile(rb"(?<=[ \t])--user[ \t=]+['\"]?[^\s:'\"]*:(?P<s>[^\s'\"]+)"),
        # `rclone config create NAME TYPE key value …`: the values of its secret parameters
        b"rclone config": re.compile(rb"[^\n]*?[ \t](?:secret_access_key|client_secret|pass|password|token|key|"
                                     rb"account_key|sas_url|service_account_credentials)[ \t]+['\"]?(?P<s>[^\s'\"]+)"),
        b"reg_sz": re.compile(rb"(?<=REG_SZ)[ \t]+(?P<s>[^\s][^\r\n]*?)[ \t\r]*$", re.MULTILINE | re.IGNORECASE),
        b"ipsec secret ": re.compile(rb"(?<= )(?P<s>[^\s]+)[^\n]*"),  # vpnc.conf
        # `npm config set //registry.example.com/:_authToken VALUE`
        **dict.fromkeys((b":_authtoken ", b":_auth ", b":_password "), re.compile(rb"(?<= )['\"]?(?P<s>[^\s'\"]+)[^\n]*")),
        b"keyring -install": re.compile(rb"[= \t]+['\"]?(?P<s>[A-Za-z0-9+/]{16,}={0,2})"),
        # `pulumi config set --secret NAME VALUE`
        b"pulumi": re.compile(rb"(?=[^\n]*[ \t]--secret\b)[^\n]*?config[ \t]+set[ \t]+(?:--secret[ \t]+)?[^\s\-]\S*"
                              rb"[ \t]+(?:--secret[ \t]+)?(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\"|(?P<s>[^\s\-'\"][^\s]*))"),
        b"redis-cli": re.compile(rb"(?<=[ \t])-a[ \t]+(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\"|(?P<s>[^\s\-'\"][^\s]*))"),
        # `curl -u user:password`, `--user=user:password` (the part after the first colon)
        b"curl": re.compile(rb"(?<=[ \t])(?:-u[ \t]*|--user[ \t=]+)['\"]?[^\s:'\"]*:([^\s'\"]+)"),
        # `docker login -u user -p password` (`docker run -p 8080:80` is a port: only after `login`, and only
        # for the container tools below; triggered by `login`, which is rarer in output than `docker`)
        b"login": re.compile(rb"[^\n]*?[ \t]-p[ \t]+([^\s\-][^\s]*)"),
        b"evil-winrm": _flag_rule(rb"-p|--password|-H|--hash"),
        # httpie `http -a USER:PASSWORD URL` (and `--auth`, a secret-named flag)
        **dict.fromkeys((b"http -a", b"https -a"), re.compile(rb"[ \t]*['\"]?[^\s:'\"]+:(?P<s>[^\s'\"]+)[^\n]*")),  # (an NTLM hash passes the hash: as good as the password)
        # `netsh wlan show profile name=X key=clear`: `    Key Content            : PASSPHRASE`
        b"key content": re.compile(rb"[ \t]*:[ \t]*(?P<s>[^\s][^\r\n]*?)[ \t\r]*$", re.MULTILINE),
    }
    # the triggers: every rule's, `pass` (a `--pass…` flag, a netrc `password`, `password VALUE` in a line), the
    # SQL literal `password '` and the secret-named flags
    literals = (*RULES, b"pass", b"password '") + SECRET_FLAGS
    # Where a rule's secret can start at the earliest: after its flag (and the user name before a `:` or
    # `%`). While the line is still arriving only from there is held, so typing `curl -s …` or
    # `mysql -u root` holds nothing and an idle release masks nothing; once the flag has arrived the rest is
    # held (a rule missing here holds everything after its trigger).
    _AFTER_P, _AFTER_P_SPACE = re.compile(rb"(?<=[ \t\"'])-p"), re.compile(rb"(?<=[ \t])-p[ \t]")
    _AFTER_W, _AFTER_UPPER_P = re.compile(rb"(?<=[ \t])-w[ \t]"), re.compile(rb"(?<=[ \t])-P")
    _AFTER_SMB_USER = re.compile(rb"[ \t](?:-U[ \t]*|--user[ \t=]+)['\"]?[^\s%'\"]+%")
    HOLD_AFTER = {
        b"curl": re.compile(rb"(?<=[ \t])(?:-u[ \t]*|--user[ \t=]+)['\"]?[^\s:'\"]*:"),
        b"mysql": _AFTER_P, b"mariadb": _AFTER_P, b"sshpass": _AFTER_P,
        b"mongosh": _AFTER_P_SPACE, b"mongo": _AFTER_P_SPACE, b"login": _AFTER_P_SPACE,
        b"redis-cli": re.compile(rb"(?<=[ \t])-a[ \t]"),
        **dict.fromkeys((b"ldapsearch", b"ldapmodify", b"ldapadd", b"ldapdelete", b"ldappasswd", b"ldapwhoami"),
                        _AFTER_W),
        b"sqlcmd": _AFTER_UPPER_P, b"ipmitool": _AFTER_UPPER_P, b"bcp": _AFTER_UPPER_P,
        b"openssl": re.compile(rb"[ \t]-k[ \t]"),
        b"smbclient": _AFTER_SMB_USER, b"rpcclient": _AFTER_SMB_USER,
        b"xfreerdp": re.compile(rb"[ \t]/p:"),
        b"rocommunity": re.compile(rb"6?[ \t]+"), b"rwcommunity": re.compile(rb"6?[ \t]+"),
        b"com2sec": re.compile(rb"6?[ \t]+(?:-Cn[ \t]+\S+[ \t]+)?\S+[ \t]+\S+[ \t]+"),
        b"createuser": re.compile(rb"[ \t]+(?:-e[ \t]+\S+[ \t]+)?\S+[ \t]+(?:MD5|SHA[\-0-9]*)[ \t]+"),
        **dict.fromkeys((b"snmpwalk", b"snmpbulkwalk", b"snmpget", b"snmpbulkget", b"snmpgetnext", b"snmpset",
                         b"snmptable", b"snmptrap", b"snmpinform"), re.compile(rb"(?<=[ \t])-[cAX]")),
        b"put-parameter": re.compile(rb"[ \t]--value[ \t=]"),
        b"mc alias set": re.compile(rb"[ \t]+\S+[ \t]+\S+[ \t]+\S+[ \t]+"),
        b"mc config host add": re.compile(rb"[ \t]+\S+[ \t]+\S+[ \t]+\S+[ \t]+"),
        b"net user": re.compile(rb"[ \t]+(?:\"[^\"\r\n]+\"|[^\s/\"]+)[ \t]+"),
        b"stats auth": re.compile(rb"[ \t]+[^\s:]+:"),
        b"htpasswd": re.compile(rb"(?<=[ \t])-[A-Za-z]*b[A-Za-z]*[ \t]"),  # the password is given only with `-b`
        b"zip ": _flag_hold(rb"-P|--password"), b"unzip ": _flag_hold(rb"-P"),
        **dict.fromkeys(_SEVEN_ZIP, re.compile(rb"(?<=[ \t])-p")),
        b"az login": _flag_hold(rb"-p|--password"),
        b"secret set": re.compile(rb"(?<=[ \t])(?:--value|--body|-b)"),
        **dict.fromkeys((b"psexec", b"paexec", b"cqlsh", b"cypher-shell", b"openfortivpn", b"twine"),
                        _flag_hold(rb"-p|--password")),
        b"kadmin": _flag_hold(rb"-w"), b"nuget": _flag_hold(rb"-p|-k|--password|--api-key"),
        b"ssh-keygen": _flag_hold(rb"-N|-P"), b"doctl": _flag_hold(rb"-t|--access-token"),
        b"lftp": re.compile(rb"(?<=[ \t])-u[ \t]+['\"]?[^\s,'\"]+,"), b"swaks": _flag_hold(rb"-ap|--auth-password"),
        b"net use": re.compile(rb"[ \t]+\\\\\S+[ \t]+"), b"reg add": re.compile(rb"[ \t]/d[ \t]"),
        **dict.fromkeys((b"]:587", b"]:465", b"]:25", b"]:2525"), re.compile(rb"[ \t]+[^\s:]+:")),
    }
    # (a NUL between the option and its value: `/proc/PID/cmdline`)
    FLAG = re.compile(rb"(?i)pass(?:word|wd|phrase)?(?:[ \t\x00]+|[\"'][ \t]*,[ \t]*)"
                      rb"(?:'(?P<q1>[^'\r\n]+)'|\"(?P<q2>[^\"\r\n]+)\"|(?P<s>[^\s\x00\-'\"][^\s\x00'\"]*))")
    # what may stand before `pass` in an option: `--password`, `--db-password`, `--requirepass`, keytool's
    # `-storepass`/`-keypass`/`-srcstorepass`, `-passphrase`
    _FLAG_HEAD = re.compile(rb"(?:\A|[\s\x00\"'\[,])(?:--[A-Za-z0-9_\-]{0,40}|-(?:src|dest|new)?(?:store|key)?)\Z")
    NETRC = re.compile(rb"(?i)password[ \t]+([^\s]+)")
    PAIR = re.compile(rb"(?i)pass(?:word|wd|phrase)[ \t]+(?:'(?P<q1>[^'\s]{3,128})'|\"(?P<q2>[^\"\s]{3,128})\"|"
                      rb"(?P<s>[^\s'\"]{8,128}))(?=[\s;,)]|\Z)")
    description = ("Passwords and tokens given on command lines (`mysql -p…`, `sshpass -p`, `--password …`, "
                   "`--token …`) and in .netrc files")

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        word = v[ts:te].lower()
        if word[:2] == b"--":
            return self._secret_flag(v, ts, te, avail, final)
        rule = self.RULES.get(word)
        flag = alone = pair = False
        if rule is None:  # "pass": a `--pass…` flag, a netrc `password` field, or `password VALUE` in a line
            flag = _FLAG_HEAD_OK(v, ts)
            if flag and v[ts - 5 : ts].lower() == b"--no-":
                return None  # `pg_dump --no-password app`: the option that turns the prompt off
            if not flag:
                if word[:4] != b"pass" or ts == 0:  # `pass`, or `password '` (also a `sql-password` literal)
                    return None
                if v[ts - 1 : ts] not in (b" ", b"\t"):
                    if v[ts - 9 : ts].lower() != b"insecure-":  # haproxy `user NAME insecure-password …`
                        return None
                    pair = True
                ls = v.rfind(b"\n", max(0, ts - 512), ts) + 1
                head = v[ls:ts].lower()
                alone = not pair and _NETRC_HEAD.search(head) is None
                if alone and not line_start_ok(v, ts):
                    # `user "joe" password "…"` (fetchmail), `mysqladmin … password '…'`: a value that is
                    # quoted or looks generated (`Failed password for root` is prose)
                    alone, pair = False, True
            if pair:
                return self._pair(v, ts, avail, final)
        elif ts > 0 and v[ts - 1] in ALNUM and word[0] in ALNUM:  # (`]:587`, `> auth ` follow a name or a port)
            return None
        elif word[0] == 93 and not _SASL_LINE_HEAD.fullmatch(v, v.rfind(b"\n", max(0, ts - 256), ts) + 1, ts + 1):
            return None  # `[host]:587` must start its line
        elif word == b"reg_sz":
            ls = v.rfind(b"\n", max(0, ts - 256), ts) + 1
            if _REG_SECRET_NAME.search(v, ls, ts) is None:
                return None  # `reg query` output: only a value whose name says password, secret or key
        elif word == b"login=" and v[ts - 1 : ts] not in (b" ", b"\t"):
            return None  # squid's `login=` is an option after a blank (not `SSHPASS_LOGIN=`)
        elif word == b"login":
            ls = v.rfind(b"\n", max(0, ts - 256), ts) + 1
            if _REGISTRY_LOGIN.search(v, ls, ts) is None:
                return None
        w = line_window(v, ts, self.max_window, avail, final)
        if w is None:
            after = self.HOLD_AFTER.get(word) if rule is not None else None
            if after is None:
                return Pending(te)
            m = after.search(v, te, avail)
            return Pending(m.end() if m is not None else avail)
        out: list[Span] = []
        if rule is not None:
            for m in rule.finditer(v, te, w):
                g = _secret_group(m)
                if m.start(g) >= 0 and not_placeholder(m.group(g).strip(b"\"'")):  # (`-p "$TOKEN"`: in quotes)
                    out.append((m.start(g), m.end(g), "cli-password", 0))
                if "s2" in m.re.groupindex and m.start("s2") >= 0 and not_placeholder(m.group("s2")):
                    out.append((m.start("s2"), m.end("s2"), "cli-password", 0))
        else:
            rx = self.FLAG if flag else self.NETRC
            m = rx.match(v, ts, w)
            if m is not None:
                g = _secret_group(m)
                value = m.group(g)
                if alone and v[m.end(): w].strip():
                    return out  # `password only once.`: prose, not a netrc line's last field
                if flag and _METAVAR.match(value):
                    return out  # `--password PASSWORD  the database password`: usage text
                if not_placeholder(value) and len(value) >= 3 and value[:1] not in b"$<(":
                    out.append((m.start(g), m.end(g), "cli-password", 0))
        return out


    def _pair(self, v: bytes, ts: int, avail: int, final: bool):
        """`password VALUE` inside a line, decided as soon as the value is followed by a blank (not at the line
        end: a prompt `Password: ` holds nothing, and `password 'x' and more` is decided at its quote)."""
        lim = min(avail, ts + 160)
        m = self.PAIR.match(v, ts, lim)
        if m is None or (m.end() == avail and not final):
            if final or avail >= ts + 160:
                return None
            p = _PAIR_PARTIAL.fullmatch(v, ts, avail)
            if p is None:
                return None
            # hold the value from its first byte; an idle release shows a word of up to 7 letters (`password
            # reset` typed key by key): an unquoted value needs 8 bytes and a digit to be taken
            return Pending(p.start(1) if p.start(1) >= 0 else None, show=8)
        g = _secret_group(m)
        value = m.group(g)
        if not_placeholder(value) and value[:1] not in b"$<-/~." and (
                _pair_generated(value) if g == "s" else _pair_quoted_ok(value)):
            return [(m.start(g), m.end(g), "cli-password", 0)]
        return None

    def _secret_flag(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        if ts > 0 and v[ts - 1] not in b" \t\"'=":
            return None
        w = line_window(v, ts, self.max_window, avail, final)
        if w is None:
            return Pending(te)
        m = self.FLAG_VALUE.match(v, te, w)
        if m is None:
            return None
        value = m.group(2)
        if value[:1] in b"$-/~.@<" or not not_placeholder(value) or not any(c in _DIGITS_SYMBOLS for c in value):
            return None  # a variable, another option, a path, a placeholder or a plain word
        return [(m.start(2), m.end(2), "cli-password", 0)]


_SASL_LINE_HEAD = re.compile(rb"[ \t]*\[[A-Za-z0-9.\-]+\]")
_REG_SECRET_NAME = re.compile(rb"(?:^|[ \t])[A-Za-z_]*(?i:password|passwd|secret|token|apikey)[A-Za-z_]*[ \t]+\Z")
_HAPROXY_RULE = re.compile(rb"(?:^|[ \t])http-(?:request|response)[ \t]+\Z")
_DIGITS_SYMBOLS = frozenset(b"0123456789_+/=.~")
# a .netrc line names its machine (or `default`) before `login` and `password`
_NETRC_HEAD = re.compile(rb"(?:\A|[ \t])(?:machine[ \t]+\S+|default)[ \t]")
# an option's argument name in usage and help text (`--password PASSWORD`, click's `--password TEXT`)
_METAVAR = re.compile(rb"[A-Z][A-Z_]{1,31}\Z")


# `password VALUE` still arriving: the word, or the value (group 1: where it starts, quote included)
_PAIR_PARTIAL = re.compile(rb"(?i)pass(?:w(?:o(?:r(?:d)?)?)?|w(?:d)?|p(?:h(?:r(?:a(?:s(?:e)?)?)?)?)?)?"
                           rb"|(?i:pass(?:word|wd|phrase))[ \t]+(?:(['\"][^\s'\"]{0,128}['\"]?|[^\s'\"]{1,128}))?")


def _pair_generated(value: bytes) -> bool:
    """An unquoted word after `password ` that a machine or a person made as a password: letters and digits,
    and mixed case or a symbol (`Zq8rT2mwLp`, `k9#pLq2z`), not a name (`2fa-enabled`, `sha256`, `v2-legacy`)."""
    if not any(48 <= c <= 57 for c in value) or not any(c in _LETTER_BYTES for c in value):
        return False
    symbols = value.translate(None, _ALNUM_DASH)
    return bool(symbols) or (value.lower() != value and value.upper() != value)


def _pair_quoted_ok(value: bytes) -> bool:
    """A quoted word after `password `: a password unless it is a plain word (`password 'twice'` is prose)."""
    return bool(value.translate(None, _LETTERS_ONLY)) or (value.lower() != value and value.upper() != value
                                                           and not value.istitle())


_LETTER_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_LETTERS_ONLY = bytes(sorted(_LETTER_BYTES))
_ALNUM_DASH = _LETTERS_ONLY + b"0123456789-_."


def _secret_group(m: "re.Match[bytes]") -> int | str:
    """The group holding the secret: `s`, or the inside of a quoted value (`q1`/`q2`), else group 1."""
    gi = m.re.groupindex
    for g in ("q1", "q2"):
        if g in gi and m.start(g) >= 0:
            return g
    return "s" if "s" in gi else 1


def _FLAG_HEAD_OK(v: bytes, ts: int) -> bool:
    lo = max(0, ts - 48)
    if v.rfind(b"-", lo, ts) < 0:
        return False  # the common case (`DB_PASSWORD=…`): no option dash before it
    return CliPasswordDetector._FLAG_HEAD.search(v, lo, ts) is not None
_B64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}\Z")
_YAML_ITEM = re.compile(rb"[ \t]*([A-Za-z0-9_.\-]+)[ \t]*:[ \t]*(\S.*?)?[ \t\r]*\Z")
_JSON_PAIR = re.compile(rb'\s*"((?:[^"\\]|\\.)*)"\s*:\s*"((?:[^"\\]|\\.)*)"\s*(,|\})')
_JSON_OPEN = re.compile(rb"[ \t]*\{")
_CONFIGMAP_KIND = re.compile(rb"kind:[ \t]*[\"']?ConfigMap\b")


def looks_base64(value: bytes) -> bool:
    """Strict base64 that is not an ordinary word (Secret data values are base64; ConfigMap text is not)."""
    if len(value) < 4 or len(value) % 4 or not _B64.match(value):
        return False
    body = value.rstrip(b"=")
    return value.endswith(b"=") or any(c in b"0123456789+/" for c in body) or (
        not body.isalpha() or (not body.islower() and not body.isupper() and not body.istitle())
    )


class K8sSecretDataDetector(SampledDetector):
    """Values under `data:` / `stringData:` in Kubernetes Secret YAML or JSON (`kubectl get secret -o yaml`)."""

    ids = ("k8s-secret-data",)
    literals = (b"data:", b'data":')
    prefix_type = False
    boundary = False
    max_window = 32768
    value_class = re.compile(rb"[A-Za-z0-9+/=]*")


    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        lo = max(0, ts - 16)
        key_from = ts
        while key_from > lo and (v[key_from - 1] in ALNUM or v[key_from - 1] in b"_-"):
            key_from -= 1
        key = v[key_from : ts + 4].lower()
        if key not in (b"data", b"stringdata"):
            return None
        string_data = key == b"stringdata"
        lim = min(ts + self.max_window, avail)
        if v[te - 2 : te] == b'":':  # JSON
            if key_from == 0 or v[key_from - 1] != 34:
                return None
            m = _JSON_OPEN.match(v, te, lim)
            if m is None:
                if not final and v[te:avail].strip(b" \t") == b"" and avail - te < 64:
                    return Pending(None)
                return None
            pos = m.end()
            out: list[Span] = []
            while True:
                m = _JSON_PAIR.match(v, pos, lim)
                if m is None:
                    rest = v[pos:lim].lstrip()
                    if rest.startswith(b"}") or lim >= ts + self.max_window or final:
                        return out
                    if lim < avail:
                        return out
                    return Pending(te)
                value = m.group(2)
                if value and (string_data or looks_base64(value)):
                    out.append((m.start(2), m.end(2), "k8s-secret-data", 0))
                pos = m.end()
                if m.group(3) == b"}":
                    return out
        # YAML: the key alone on its line; the block is the more-indented lines after it
        if not line_start_ok(v, key_from):
            return None
        kind_at = v.rfind(b"kind:", max(0, ts - 4096), ts)
        if kind_at >= 0 and _CONFIGMAP_KIND.match(v, kind_at) and b"apiVersion" not in v[kind_at:ts]:
            return None  # a hand-written ConfigMap (`kind: ConfigMap` above its `data:`)
        ls = v.rfind(b"\n", 0, key_from) + 1
        indent = key_from - ls
        nl = v.find(b"\n", te, lim)
        if nl < 0:
            if final or lim >= ts + self.max_window:
                return None
            return Pending(None) if v[te:avail].strip(b" \t\r") == b"" else None
        if v[te:nl].strip(b" \t\r"):
            return None  # `data: {}` or an inline value: not a block
        out = []
        pos = nl + 1
        while True:
            end = v.find(b"\n", pos, lim)
            if end < 0:
                if final or lim >= ts + self.max_window:
                    end = lim
                else:
                    # the block may continue: a line's indent is known once a non-space byte arrived
                    return Pending(te)
            line = v[pos:end]
            stripped = line.lstrip(b" ")
            if stripped.strip(b"\r\t") and len(line) - len(stripped) <= indent:
                # `kubectl get cm -o yaml` lists `kind:` right after `data:`: a ConfigMap's values are plain text
                return [] if _CONFIGMAP_KIND.match(stripped) else out
            if stripped.strip(b"\r\t"):
                m = _YAML_ITEM.match(line)
                if m is not None and m.group(2) is not None:
                    value = m.group(2)
                    if string_data or looks_base64(value):
                        out.append((pos + m.start(2), pos + m.end(2), "k8s-secret-data", 0))
            if end >= lim:
                return out
            pos = end + 1


_XML_NOT_NAME = re.compile(rb"[^A-Za-z0-9_.\-:]")
_XML_NAME_AFTER = re.compile(rb"[A-Za-z0-9_.\-:]*")
_XML_OPENERS = frozenset(b"<\"'>")
_XML_CLOSERS = frozenset(b">\"'<")
_XML_TEXT = re.compile(rb"[ \t]*([^<\r\n]+?)[ \t]*</([A-Za-z_][\w.\-:]*)[ \t]*>")
_XML_ATTR_VALUE = re.compile(rb"""[ \t]+value[ \t]*=[ \t]*(["'])([^"'\r\n]*)\1""")
_XML_NEXT_VALUE = re.compile(rb"</name>\s*<value>[ \t]*([^<\r\n]+?)[ \t]*</value>")
_XML_NAME_ATTR = re.compile(rb"""(?:name|key)[ \t]*=[ \t]*["']\Z""")
_XML_ENTRY_TEXT = re.compile(rb""">[ \t]*([^<\r\n]+?)[ \t]*</""")  # `<entry key="password">value</entry>`
_XML_ENTRY_OPEN = re.compile(rb"""["']>[ \t]*""")
_XML_VALUE_OPEN = re.compile(rb"</name>\s*<value>[ \t]*")
_PLIST_NEXT_VALUE = re.compile(rb"</key>\s*<string>[ \t]*([^<\r\n]+?)[ \t]*</string>")
_PLIST_VALUE_OPEN = re.compile(rb"</key>\s*<string>[ \t]*")
_XML_ATTRS = re.compile(rb"""(?:[ \t]+[A-Za-z_:][\w.\-:]*[ \t]*=[ \t]*(?:"[^"<>\r\n]*"|'[^'<>\r\n]*'))+[ \t]*(/?)>""")
_XML_ATTR_OPEN = re.compile(rb"""["'][ \t]+value[ \t]*=[ \t]*["']""")


_XML_VALUE_CHILD = re.compile(rb"\s*(?:<Value>([^<\r\n]*)<(?=/|\Z)|<!\[CDATA\[((?:[^\]\r\n]|\](?!\]>))*)\]\]>)")
_XML_VALUE_CHILD_PARTIAL = re.compile(rb"\s*(?:<(?:V(?:a(?:l(?:u(?:e(?:>([^<\r\n]*)(?:<(?:/(?:V(?:a(?:l(?:u(?:e)?)?)?)?)?)?)?)?)?)?)?)?)?)?")


class XmlSecretDetector(SampledDetector):
    """Secret-named values in XML: `<password>…</password>`, `<property name="db.password" value="…"/>`
    (Maven, Ant, Tomcat) and Hadoop-style `<name>fs.s3a.secret.key</name> <value>…</value>`."""

    ids = ("xml-secret-value",)
    # The name run after a hit in a `KEY=value` key ends at `=` (or 64 bytes on, at a name byte): neither is
    # a tag's or an attribute's end, so `evaluate` returns None there.
    none_in_env_key = True
    prefix_type = False
    boundary = False
    value_class = re.compile(rb"[^<\r\n\"']*")
    max_window = 1024

    description = ("Values of secret-named XML elements and properties "
                   "(`<password>…</password>`, `name=\"…password\" value=\"…\"`, `<name>…secret…</name><value>`)")

    def __init__(self, literals, key_ok, positives=(), negatives=()) -> None:  # noqa: ANN001
        super().__init__(positives, negatives)
        self.literals = tuple(x.lower().encode() for x in literals)
        self._key_ok = key_ok

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        e = _XML_NAME_AFTER.match(v, te, min(avail, te + 64)).end()
        if e >= avail:
            if not final:
                return Pending(None)  # the name is still arriving: nothing secret has started yet
        elif v[e] not in _XML_CLOSERS:
            if v[e] != 32:
                return None  # the common case (`KEY=value`, prose): the name is not a tag's or an attribute's
            lt = v.rfind(b"<", max(0, ts - 64), ts)  # `<password encrypted="false">`: a tag with attributes
            if lt < 0 or not _XML_NAME_AFTER.fullmatch(v, lt + 1, ts):
                return None
        lo = max(0, ts - 64)
        m = _XML_NOT_NAME.search(v[lo:ts][::-1])  # the identifier's start, found backwards in C
        s = ts - m.start() if m is not None else lo
        if s == 0 or v[s - 1] not in _XML_OPENERS:
            return None
        before = v[s - 1 : s]
        if not self._key_ok(v[s:e]):
            return None
        if before == b"<":  # <password>value</password>
            gt = e
            if v[e : e + 1] != b">":
                if v[e : e + 1] != b" ":
                    return None
                m = _XML_ATTRS.match(v, e, min(avail, e + 256))  # `<password encrypted="false">`
                if m is None:
                    return Pending(None) if not final and avail < e + 256 and b"\n" not in v[e:avail] else None
                if m.group(1):
                    return None  # `<password …/>`: no text
                gt = m.end() - 1
            if v[gt + 1 : gt + 2] in (b"\n", b"\r", b" ", b"\t", b"<"):
                # Windows unattend.xml: `<AdministratorPassword>` then `<Value>…</Value>` on the next line
                cap = min(avail, gt + 512)
                mv = _XML_VALUE_CHILD.match(v, gt + 1, cap)
                if mv is not None:
                    g = 1 if mv.start(1) >= 0 else 2
                    return self._span(mv.start(g), mv.end(g), v)
                pv = _XML_VALUE_CHILD_PARTIAL.fullmatch(v, gt + 1, cap)
                if pv is not None and not final and cap == avail:
                    return Pending(pv.start(1) if pv.start(1) >= 0 else None)
            w = line_window(v, gt + 1, self.max_window, avail, final)
            if w is None:
                return Pending(gt + 1)
            m = _XML_TEXT.match(v, gt + 1, w + 1 if w < avail else w)
            if m is not None:
                return self._span(m.start(1), m.end(1), v) if m.group(2) == v[s:e] else None
            if final and w >= avail:  # the stream ended (or went idle) inside the value
                return self._rest(v, gt + 1, avail)
            return None
        if before == b">":  # <name>fs.s3a.secret.key</name> <value>…</value>; plist <key>Password</key> <string>…
            if v[max(0, s - 6) : s] == b"<name>":
                close, next_value, value_open = b"</value>", _XML_NEXT_VALUE, _XML_VALUE_OPEN
            elif v[max(0, s - 5) : s] == b"<key>":
                close, next_value, value_open = b"</string>", _PLIST_NEXT_VALUE, _PLIST_VALUE_OPEN
            else:
                return None
            cap = min(avail, e + 512)
            end = v.find(close, e, cap)
            if end >= 0:
                m = next_value.match(v, e, end + len(close))
                return self._span(m.start(1), m.end(1), v) if m else None
            opened = value_open.match(v, e, cap)
            if not final and avail < e + 512:
                return Pending(opened.end() if opened else None)  # hold from where the value starts
            if final and opened is not None:  # the stream ended inside the value: mask what came of it
                return self._rest(v, opened.end(), avail)
            return None
        # name="db.password" value="…"
        if _XML_NAME_ATTR.search(v, max(0, s - 16), s) is None or v[e : e + 1] != before:
            return None
        w = line_window(v, e, self.max_window, avail, final)
        if w is None:
            opened = _XML_ATTR_OPEN.match(v, e, avail) or _XML_ENTRY_OPEN.match(v, e, avail)
            return Pending(opened.end() if opened else None)
        m = _XML_ATTR_VALUE.match(v, e + 1, w)
        if m is not None:
            return self._span(m.start(2), m.end(2), v)
        m = _XML_ENTRY_TEXT.match(v, e + 1, w)
        if m is not None:
            return self._span(m.start(1), m.end(1), v)
        opened = _XML_ATTR_OPEN.match(v, e, w) or _XML_ENTRY_OPEN.match(v, e, w)
        if final and w >= avail and opened is not None:
            return self._rest(v, opened.end(), avail)
        return None

    def _rest(self, v: bytes, start: int, avail: int) -> list[Span] | None:
        """What has arrived of a value cut short: up to a `<`, quote or line end."""
        return self._span(start, self.value_class.match(v, start, avail).end(), v)

    @staticmethod
    def _span(a: int, b: int, v: bytes) -> list[Span] | None:
        value = v[a:b]
        if len(value) < 3 or not not_placeholder(value) or value.startswith((b"${", b"[MASKED")):
            return None
        return [(a, b, "xml-secret-value", 0)]


_B64_RUN = re.compile(rb"[A-Za-z0-9+/=]*")
_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


class Base64PrivateKeyDetector(SampledDetector):
    """A PEM private key that was base64-encoded again (`LS0tLS1CRUdJTi…`: Kubernetes `tls.key`, Helm
    values, `base64 key.pem`), on one line or wrapped at 64/76 columns. Certificates are left alone."""

    ids = ("private-key-base64",)
    literals = (b"ls0tls1crudjtib",)  # base64 of "-----BEGIN " (the scan is case-insensitive; checked exactly)
    head = b"LS0tLS1CRUdJTiB"
    prefix_type = False  # the trigger itself is no secret; the span starts after it
    boundary = False
    max_window = 65536
    value_class = _B64_RUN

    @staticmethod
    def decoded_ok(decoded: bytes) -> bool:
        return b"PRIVATE KEY" in decoded

    def could_be_key(self, partial: bytes) -> bool:
        """A run still arriving may be a key while its decoded armour line is open or names a private key
        (what an idle release masks: `LS0tLS1CRUdJTiBSU0EgUFJ`, `-----BEGIN RSA PR`, could be one)."""
        head = partial[:64]
        try:
            decoded = binascii.a2b_base64(head[: len(head) // 4 * 4])
        except binascii.Error:
            return False
        name = decoded[11:]
        return b"-----" not in name or b"PRIVATE KEY" in name

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        if v[ts:te] != self.head or (ts > 0 and v[ts - 1] in _B64_CHARS and v[ts - 1] != 61):  # `KEY=LS0t…` is one
            return None
        lim = min(avail, ts + self.max_window)
        growing = not final and lim == avail  # the window's end is only where input stops for now
        e = _B64_RUN.match(v, te, lim).end()
        if e == lim and growing:
            if not self.could_be_key(v[ts:e]):
                return None
            return Pending(te)
        head = v[ts : min(e, ts + 64)]
        try:
            decoded = binascii.a2b_base64(head[: len(head) // 4 * 4])
        except binascii.Error:
            return None
        if not self.decoded_ok(decoded):
            return None
        end = e
        ls = v.rfind(b"\n", 0, ts) + 1
        width = e - ls
        if ls == ts and width in (64, 76) and v[e : e + 1] == b"\n":
            # wrapped (`base64 key.pem`): every full-width line after it belongs to it, up to a shorter one
            pos = e + 1
            while pos < lim:
                le = _B64_RUN.match(v, pos, lim).end()
                if le == lim and growing:
                    return Pending(te)
                if le == pos:
                    break
                end = le
                if le - pos != width or v[le : le + 1] != b"\n":
                    break
                pos = le + 1
            else:
                if growing:
                    return Pending(te)
        return [(te, end, self.ids[0], 0)]


class KeytabBase64Detector(Base64PrivateKeyDetector):
    """A Kerberos keytab in base64 (`base64 krb5.keytab`, a Secret's or a CI variable's value): version 0x502,
    then entries (length, principal, timestamp, key). Every byte after the header is key material."""

    ids = ("kerberos-keytab-base64",)
    literals = (b"bqiaaa",)  # base64 of 05 02 00 00 (the version and a first entry shorter than 16 MiB)
    head = b"BQIAAA"

    @staticmethod
    def decoded_ok(decoded: bytes) -> bool:
        # version, entry length, number of components (counted without the realm), realm length
        if len(decoded) < 10 or decoded[:2] != b"\x05\x02":
            return False
        size = int.from_bytes(decoded[2:6], "big")
        comps = int.from_bytes(decoded[6:8], "big")
        realm = int.from_bytes(decoded[8:10], "big")
        return 16 <= size <= 65536 and 1 <= comps <= 8 and 1 <= realm <= 255


_OVPN_HEAD = re.compile(rb"-----BEGIN OpenVPN (Static key V1|tls-crypt-v2 (?:client|server) key)-----")
_OVPN_PARTIAL = re.compile(rb"-----BEGIN[A-Za-z0-9 \-]{0,60}")


class OpenVpnKeyDetector(SampledDetector):
    """OpenVPN static keys (`tls-auth`/`tls-crypt`/`secret` key files, `<tls-auth>` blocks inlined in a `.ovpn`)
    and tls-crypt-v2 keys, BEGIN to END."""

    ids = ("openvpn-static-key",)
    literals = (b"-----begin openvpn",)
    opens_blocks = True
    boundary = False
    max_window = 100

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        m = _OVPN_HEAD.match(v, ts, min(avail, ts + 100))
        if m is None:
            if not final and avail - ts < 100 and _OVPN_PARTIAL.fullmatch(v, ts, avail):
                return Pending(ts)
            return None
        return PemOpen(self.ids[0], m.end(), b"-----END OpenVPN " + m.group(1) + b"-----")


_PUTTY_LINES = re.compile(rb"private-lines:[ \t]*([0-9]{1,4})[ \t]*\r?\n", re.IGNORECASE)


class PuttyPrivateKeyDetector(SampledDetector):
    """The private part of a PuTTY `.ppk` key: the `Private-Lines: N` lines that follow that header."""

    ids = ("private-key-putty",)
    literals = (b"private-lines:",)
    prefix_type = False
    boundary = True
    max_window = 65536
    value_class = re.compile(rb"[A-Za-z0-9+/=\r\n]*")


    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        lim = min(avail, ts + self.max_window)
        m = _PUTTY_LINES.match(v, ts, lim)
        if m is None:
            if not final and avail - ts < 32 and b"\n" not in v[ts:avail]:
                return Pending(te)  # the count is still arriving
            return None
        start = pos = m.end()
        for _ in range(int(m.group(1))):
            nl = v.find(b"\n", pos, lim)
            if nl < 0:
                if not final and lim == avail:
                    return Pending(start)
                nl = lim
            pos = nl + 1
        end = min(pos - 1, lim)
        if end > start and v[end - 1 : end] == b"\r":
            end -= 1
        return [(start, end, "private-key-putty", 0)] if end > start else []


_RSA_XML_PRIVATE = re.compile(rb"\s*<P>(?=[A-Za-z0-9+/]{16})")  # base64: not an HTML paragraph
_RSA_XML_PARTIAL = re.compile(rb"\s*(?:<(?:P(?:>[A-Za-z0-9+/]{0,15})?)?)?")


class RsaKeyValueDetector(SampledDetector):
    """The private parts of a .NET `RSA.ToXmlString(true)` key: `<P>`, `<Q>`, `<DP>`, `<DQ>`, `<InverseQ>` and
    `<D>`, which follow `</Exponent>` inside `<RSAKeyValue>` (the modulus and exponent are public)."""

    ids = ("private-key-xml",)
    literals = (b"</exponent>",)
    prefix_type = False
    boundary = False
    max_window = 16384
    value_class = re.compile(rb"[A-Za-z0-9+/=<>\s]*")

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        if v[ts : te] != b"</Exponent>":
            return None
        m = _RSA_XML_PRIVATE.match(v, te, min(avail, te + 256))
        if m is None:
            if not final and avail - te < 256 and _RSA_XML_PARTIAL.fullmatch(v, te, avail):
                return Pending(te)  # `<P>` may still follow
            return None
        start = m.end() - 3
        lim = min(avail, start + self.max_window)
        end = v.find(b"</RSAKeyValue>", start, lim)
        if end < 0:
            if not final and lim == avail:
                return Pending(start)
            end = lim  # no end within the window: the rest of it is masked, as an unterminated PEM block is
        while end > start and v[end - 1] in b" \t\r\n":
            end -= 1
        return [(start, end, "private-key-xml", 0)]


_KEY_TEXT_LABEL = re.compile(rb"(?:privateexponent|prime[12]|exponent[12]|coefficient|priv):[ \t]*\r?\n", re.IGNORECASE)
_KEY_TEXT_LINE = re.compile(rb"[ \t]+[0-9a-f]{2}(?::[0-9a-f]{2})*:?[ \t]*\r?")


class KeyTextDetector(SampledDetector):
    """The private numbers of a key printed by `openssl rsa|pkey|ec -text`: the hex lines under
    `privateExponent:`, `prime1:` … `coefficient:` (RSA) and `priv:` (EC, Ed25519, DSA)."""

    ids = ("private-key-text",)
    literals = (b"privateexponent:", b"prime1:", b"prime2:", b"exponent1:", b"exponent2:", b"coefficient:",
                b"priv:")
    prefix_type = False
    boundary = True
    max_window = 8192
    value_class = re.compile(rb"[0-9a-f: \t\r\n]*")

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        if not line_start_ok(v, ts):
            return None
        m = _KEY_TEXT_LABEL.match(v, ts, min(avail, ts + 32))
        if m is None:
            if not final and avail - ts < 32 and b"\n" not in v[ts:avail]:
                return Pending(None)  # the label's line is still arriving; the numbers start below it
            return None
        start = pos = m.end()
        lim = start + self.max_window
        end = start
        while True:
            nl = v.find(b"\n", pos, min(avail, lim))
            if nl < 0:
                if not final and avail < lim:
                    return Pending(start)
                nl = min(avail, lim)
            if not _KEY_TEXT_LINE.fullmatch(v, pos, nl):
                break
            end = nl
            if nl >= avail or nl >= lim:
                break
            pos = nl + 1
        if end > start and v[end - 1 : end] == b"\r":
            end -= 1
        return [(start, end, self.ids[0], 0)] if end > start else []


_PGPASS = re.compile(rb"([^:\s#]{1,64}):(?:[0-9]{1,5}|\*):((?:[^:\\\s]|\\.){1,64}):((?:[^:\\\s]|\\.){1,64}):"
                     rb"(?P<s>[^\r\n]*)")
_HEX_PAIRS = re.compile(rb"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){4,}")
_NOT_PGPASS_FIELD = re.compile(rb"[=/]")  # (a database or user name has neither: an assignment, a path, a URL)


class PgpassDetector(SampledDetector):
    """The password field of a PostgreSQL `.pgpass` line: `host:port:database:user:password`."""

    ids: tuple[str, ...] = ("pgpass-password", "ntlm-hash")
    literals = ()
    # The whole line shape up to the password's first byte, without counted repeats (they blow up re2's DFA):
    # `host:5432:` alone is also every `12:34:` timestamp.
    trigger_re = rb"(?m:^)[^:\s#]+:(?:[0-9]+|\*):[^:\s]+:[^:\s]+:[^\s]"
    # A line-anchored trigger: the regex chain goes back to the start of a line still arriving (engine.open_line),
    # so a long `host:port:db:user:` cut by a chunk end is still found; this width only sizes the end zone.
    trigger_width = 40
    # (and an NTLM line still arriving: its hashes come before the fourth colon the trigger needs)
    zone_re = re.compile(rb"(?m:^)(?:[^:\s#]+:(?:[0-9]+|\*):[^:\s]+:[^:\s]+:[^\s]"
                         rb"|[^:\s#]+:[0-9]{1,10}:(?=[0-9a-fA-FX]{0,32}(?::[0-9a-fA-F]{0,32}(?::{0,3})?)?\Z))")
    prefix_type = False
    boundary = False
    max_window = 1024
    value_class = re.compile(rb"[^\r\n]*")


    def __init__(self, positives=(), negatives=(), ntlm_positives=(), on: frozenset[str] | None = None) -> None:  # noqa: ANN001
        super().__init__(positives, negatives)
        self.ntlm_positives = tuple(ntlm_positives)
        self.on = on if on is not None else frozenset(self.ids)

    def infos(self) -> list[Info]:
        return [Info("pgpass-password", self.__doc__ or "", self.positives, self.negatives),
                Info("ntlm-hash", "NTLM password hashes in secretsdump / pwdump lines (`user:RID:LM:NT:::`)",
                     self.ntlm_positives, ())]

    def enabled(self, ids: frozenset[str]) -> "Detector | None":
        on = frozenset(i for i in self.ids if i in ids)
        return PgpassDetector(self.positives, self.negatives, self.ntlm_positives, on) if on else None

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        if ts > 0 and v[ts - 1] != 10:
            return None
        w = line_window(v, ts, self.max_window, avail, final)
        n = _NTLM_LINE.match(v, ts, avail if w is None else w)
        if n is not None:  # `user:RID:LM:NT:::` has the shape of a pgpass line; its hashes are the secret
            return [(n.start(1), n.end(1), "ntlm-hash", 0)] if "ntlm-hash" in self.on else None
        if w is None:
            p = _NTLM_PARTIAL.fullmatch(v, ts, avail)
            if p is not None and p.start(1) >= 0:
                return Pending(p.start(1))  # the hashes may be arriving: hold them
        if "pgpass-password" not in self.on:
            return None
        m = _PGPASS.match(v, ts, avail if w is None else w)
        if m is None:
            return Pending(None) if w is None else None  # the fields are still arriving
        if _HEX_PAIRS.match(v, ts, m.end()):
            return None  # a MAC address or a fingerprint, not a pgpass line
        if m.group(3).isdigit():
            # `root:*:19000:0:99999:7:::` is a shadow line (days, not a database and a user); `grep -n` output
            # `build.log:1:auth.c:42:17: warning`, `app.log:3:2024-05-01T12:00:00Z`: a line and a column, a time
            return None
        if _NOT_PGPASS_FIELD.search(m.group(2)) or _NOT_PGPASS_FIELD.search(m.group(3)):
            return None  # `app.yaml:14:url=https://host:8443/v1`, `x.tfvars:3:arn=arn:aws:iam::…`: grep -n output
        if w is None:
            return Pending(m.start("s"))  # the password is arriving: hold it
        password = m.group("s").rstrip(b" \t")
        if not password or not not_placeholder(password):
            return None
        return [(m.start("s"), m.start("s") + len(password), "pgpass-password", 0)]


_NTLM_LINE = re.compile(rb"[^:\s]+:[0-9]{1,10}:([0-9a-fA-FX]{32}:[0-9a-fA-F]{32}):(?::|\[)")  # (smbpasswd: `:[U  ]`)
_NTLM_PARTIAL = re.compile(rb"[^:\s]+:[0-9]{1,10}:()[0-9a-fA-FX]{0,32}(?::[0-9a-fA-F]{0,32}(?::{0,3})?)?")
_NV_SEP = re.compile(rb"[\"']?[ \t]*[:=][ \t]*")
_NV_BARE = re.compile(rb"[^\s\"',}\]]*")
_NV_NAME = re.compile(rb"(?:^|[\s{,\[\-])[\"']?(name|key|parameterkey|parametername|variable|keyname)[\"']?[ \t]*[:=][ \t]*"
                      rb"[\"']?([^\"'\r\n,}]{1,128})", re.IGNORECASE | re.MULTILINE)
_NV_PARENT = re.compile(rb"\"([^\"\r\n]{1,128})\"[ \t]*:[ \t]*\{\Z")
_NV_LIST_ITEM = re.compile(rb'"((?:[^"\\\r\n]|\\.){1,1024})"')
_NV_MAP_ITEM = re.compile(rb'"(?:[^"\\\r\n]|\\.){1,256}"[ \t]*:[ \t]*"((?:[^"\\\r\n]|\\.){1,1024})"')
_AZ_KEY_NAME = re.compile(rb"(?i)(?:key[0-9]|primary|secondary|kerb[0-9])")
_NV_NEXT_ITEM = re.compile(rb"\n[ \t]*- ")  # a YAML list's next item
_NV_NOT_SECRET = frozenset((b"true", b"false", b"null", b"none", b"yes", b"no"))


class NameValueSecretDetector(SampledDetector):
    """The value of a name/value pair whose name is secret-named: Kubernetes container `env` (`- name: DB_PASSWORD`
    then `value: …`), ECS task definitions and SSM parameters (`{"Name": "/prod/db/password", "Value": "…"}`),
    Terraform outputs (`"db_password": {"sensitive": true, "value": "…"}`)."""

    ids = ("name-value-secret",)
    literals = (b'"value"', b"'value'", b"value:", b"parametervalue")
    prefix_type = False
    boundary = True
    value_class = re.compile(rb"[^\s\"',}\]]*")
    max_window = 1024

    def __init__(self, key_ok, positives=(), negatives=()) -> None:  # noqa: ANN001
        super().__init__(positives, negatives)
        self._key_ok = key_ok

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        if ts > 0 and (v[ts - 1] in ALNUM or v[ts - 1] == 95):  # `default_value:`, `xvalue`
            return None
        if not self._named_secret(v, ts):
            return None
        at = te - 1 if v[te - 1 : te] == b":" else te  # `value:` already holds its separator
        w = line_window(v, ts, self.max_window, avail, final)
        lim = avail if w is None else w
        m = _NV_SEP.match(v, at, lim)
        if m is None or m.end() >= lim:
            return Pending(None) if w is None and avail - at < 16 else None
        p = m.end()
        opener = v[p : p + 1]
        if opener == b"[" or opener == b"{":  # a list or map of secrets (`"value": ["k1", "k2"]`, `{"a": "k1"}`)
            cap = min(avail, p + self.max_window)
            close = v.find(b"]" if opener == b"[" else b"}", p, cap)
            if close < 0:
                if not final and avail < p + self.max_window:
                    return Pending(p)
                close = cap
            out: list[Span] = []
            for sm in (_NV_LIST_ITEM if opener == b"[" else _NV_MAP_ITEM).finditer(v, p + 1, close):
                item = sm.group(1)
                if item and item.lower() not in _NV_NOT_SECRET and not_placeholder(item):
                    out.append((sm.start(1), sm.end(1), "name-value-secret", 0))
            return out
        quote = v[p : p + 1]
        if quote in (b'"', b"'"):
            p += 1
            e = v.find(quote, p, lim)
            if e < 0:
                if w is None:
                    return Pending(p)  # the value is still arriving
                e = lim  # unterminated: the rest of the line
        else:
            e = _NV_BARE.match(v, p, lim).end()
            if e >= lim and w is None:
                return Pending(p)
        value = v[p:e].rstrip(b"\r")
        if not value or value.lower() in _NV_NOT_SECRET or not not_placeholder(value):
            return None
        return [(p, p + len(value), "name-value-secret", 0)]

    def _named_secret(self, v: bytes, ts: int) -> bool:
        """Is the nearest name before `ts`, in the same item, a secret's name?"""
        lo = max(0, ts - 512)
        window = v[lo:ts].lower()
        last = None
        if b"name" in window or b"key" in window or b"variable" in window:  # the regex only where it can match
            for last in _NV_NAME.finditer(v, lo, ts):
                pass
        if last is not None:
            between = v[last.end() : ts]
            # not across the start or end of a JSON object or the start of the next YAML list item
            if b"}" not in between and b"{" not in between and not _NV_NEXT_ITEM.search(between):
                name = last.group(2).strip()
                if last.group(1).lower() == b"keyname":  # `az storage account keys list`: key1, key2, primary…
                    return _AZ_KEY_NAME.match(name) is not None
                return bool(self._key_ok(name))
        # Terraform: `"db_password": {"sensitive": true, "value": …` (the enclosing object's own key)
        brace = v.rfind(b"{", lo, ts)
        if brace < 0 or v.find(b"}", brace, ts) >= 0:
            return False
        parent = _NV_PARENT.search(v, max(lo, brace - 160), brace + 1)
        return parent is not None and bool(self._key_ok(parent.group(1)))


_JWK_VALUE = re.compile(rb'[ \t]*:[ \t]*"([A-Za-z0-9_\-]{16,})"')
_JWK_KTY = re.compile(rb'"kty"[ \t]*:[ \t]*"(?:RSA|EC|OKP|oct)"')


class JwkPrivateDetector(SampledDetector):
    """The private members of a JSON Web Key (`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`, and `"k"` of a symmetric
    key) in an object that has a `"kty"`: JWKS files, OIDC signing keys, Kubernetes service-account keys."""

    ids = ("jwk-private-key",)
    literals = (b'"d"', b'"p"', b'"q"', b'"dp"', b'"dq"', b'"qi"', b'"k"')
    prefix_type = False
    boundary = False
    value_class = re.compile(rb"[A-Za-z0-9_\-]*")
    max_window = 16384


    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        lim = min(avail, te + self.max_window)
        m = _JWK_VALUE.match(v, te, lim)
        if m is None or m.end() >= avail and not final:
            # the value is still arriving (or this is no string member): decide when it has
            if not final and avail - te < self.max_window and b"," not in v[te:avail] and b"}" not in v[te:avail]:
                return Pending(te)
            return None
        # the same object: its `"kty"` before this member (no `{`/`}` between), or after it up to the object's end
        lo = max(0, ts - 4096)
        before = v.rfind(b"{", lo, ts)
        if before >= 0 and v.find(b"}", before, ts) < 0 and _JWK_KTY.search(v, before, ts):
            return [(m.start(1), m.end(1), "jwk-private-key", 0)]
        close = v.find(b"}", m.end(), lim)
        if close < 0:
            if not final and lim == avail:
                return Pending(m.start(1))
            # The object never closed (a truncated stream, or an idle release before its `"kty"` arrived):
            # a private member's value may be what it looks like, so it is masked.
            return [(m.start(1), m.end(1), "jwk-private-key", 0)] if lim == avail else None
        if _JWK_KTY.search(v, m.end(), close):
            return [(m.start(1), m.end(1), "jwk-private-key", 0)]
        return None


_DIRECTIVE = re.compile(rb"""[ \t]+([A-Za-z_][A-Za-z0-9_.\-]{0,63})[ \t]+(?:"([^"\r\n]*)"|'([^'\r\n]*)'|([^\s;"']+))"""
                        rb"""[ \t]*;?[ \t]*\r?\Z""")
_PHP_DEFINE = re.compile(rb"""define[ \t]*\([ \t]*(['"])([A-Za-z0-9_]{1,64})\1[ \t]*,[ \t]*(['"])([^'"\r\n]{1,512})\3""",
                         re.IGNORECASE)
_DIRECTIVE_HEAD = re.compile(rb"[ \t]+([A-Za-z_][A-Za-z0-9_.\-]{0,63})[ \t]+[\"']?")
_PHP_DEFINE_HEAD = re.compile(rb"""define[ \t]*\([ \t]*(['"])([A-Za-z0-9_]{1,64})\1[ \t]*,[ \t]*(['"])""", re.IGNORECASE)
# what an idle release swallows of a quoted value still arriving: the rest of it, to its closing quote
_TO_QUOTE = {b"'": re.compile(rb"[^'\r\n]*"), b'"': re.compile(rb'[^"\r\n]*')}
_WP_SALT = re.compile(rb"(?:AUTH|SECURE_AUTH|LOGGED_IN|NONCE)_(?:KEY|SALT)\Z")
_DOCKER_NOP = re.compile(rb"#\(nop\)[ \t]*\Z")


class DirectiveSecretDetector(SampledDetector):
    """Secret-named settings written as directives: Apache `SetEnv DB_PASS x`, nginx `fastcgi_param DB_PASSWORD x;`,
    Dockerfile `ENV DB_PASSWORD x`, PHP `define('DB_PASSWORD', 'x');` (wp-config.php keys and salts too)."""

    ids = ("directive-secret",)
    # (`checksum/secret` is here only to shadow the `secret` trigger inside it: Helm's `checksum/secret: <sha256>`
    # annotation is a digest, not a secret, and a longer literal starting earlier hides the hits inside it)
    literals = (b"setenv ", b"fastcgi_param ", b"uwsgi_param ", b"scgi_param ", b"passenv ", b"env ", b"define(",
                b"define (", b"checksum/secret", b"#define ",
                # a secret-named header set by a proxy: nginx `proxy_set_header X-Api-Key …;`, Apache `RequestHeader
                # set X-API-Key "…"`, HAProxy `http-request set-header X-Api-Key …`, Caddy `header_up X-Api-Key …`
                b"proxy_set_header ", b"grpc_set_header ", b"requestheader set ", b"set-header ", b"header_up ",
                # fish `set -x NAME VALUE`, Windows `setx NAME VALUE` (`launchctl setenv` is the `setenv ` above)
                b"set -x ", b"set -gx ", b"set -ux ", b"setx ")
    prefix_type = False
    boundary = True
    value_class = re.compile(rb"[^\s;\"']*")
    max_window = 1024

    def __init__(self, key_ok, value_ok, positives=(), negatives=()) -> None:  # noqa: ANN001
        super().__init__(positives, negatives)
        self._key_ok = key_ok
        self._value_ok = value_ok

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        if ts > 0 and v[ts - 1] in ALNUM:
            return None
        c = v[ts] | 32
        if c == 99:  # checksum/secret
            return None
        if c == 100:  # define(
            w = line_window(v, ts, self.max_window, avail, final)
            if w is None:  # the value is held from its start once the name is known to be a secret's
                h = _PHP_DEFINE_HEAD.match(v, ts, avail)
                if h is None:
                    return Pending(None)
                name = h.group(2)
                if not (self._key_ok(name) or _WP_SALT.match(name.upper())):
                    return None
                return Pending(h.end(), _TO_QUOTE[h.group(3)])  # a quoted value may hold blanks and `;`
            m = _PHP_DEFINE.match(v, ts, w)
            if m is None:
                return None
            name, value = m.group(2), m.group(4)
            if not (self._key_ok(name) or _WP_SALT.match(name.upper())) or not self._value_ok(value):
                return None
            return [(m.start(4), m.end(4), self.ids[0], 0)]
        if c == 101 and v[ts:te] != b"ENV ":
            return None  # `env ` only as a Dockerfile instruction
        if not line_start_ok(v, ts):
            ls = v.rfind(b"\n", max(0, ts - 256), ts) + 1
            if c == 115 and v[ts : ts + 4] == b"set-":
                if _HAPROXY_RULE.search(v, ls, ts) is None:  # `http-request set-header …`
                    return None
            elif c == 115 and v[ts : ts + 7].lower() == b"setenv " and v[max(ls, ts - 10) : ts] == b"launchctl ":
                pass  # macOS `launchctl setenv NAME VALUE`
            elif c != 101 or _DOCKER_NOP.search(v, ls, ts) is None:  # `docker history`: `/bin/sh -c #(nop)  ENV …`
                return None
        elif c == 115 and v[ts : ts + 4] == b"set-":
            return None  # `set-header` alone is not a directive
        w = line_window(v, ts, self.max_window, avail, final)
        if w is None:
            h = _DIRECTIVE_HEAD.match(v, te - 1, avail)
            if h is None or h.end() >= avail:
                return Pending(None)  # the name (or the blanks after it) still arriving: no value yet
            if not self._key_ok(h.group(1)):
                return None
            return Pending(h.end(), _TO_QUOTE.get(v[h.end() - 1 : h.end()]))
        m = _DIRECTIVE.match(v, te - 1, w)
        if m is None or not self._key_ok(m.group(1)):
            return None
        g = 2 if m.start(2) >= 0 else 3 if m.start(3) >= 0 else 4
        value = m.group(g)
        if len(value) < 3 or not not_placeholder(value) or not self._value_ok(value):
            return None
        return [(m.start(g), m.end(g), self.ids[0], 0)]


# URL-encoded text: the key before an encoded `=` runs back to a raw delimiter; decoded, its last field is the key
_URL_KEY_RUN = re.compile(rb"[^\s\"'<>&?=;,(){}\[\]]{1,160}\Z")
_URL_KEY_FIELD = re.compile(rb"[^&?=;,\s\"']+\Z")
_URL_JSON_KEY = re.compile(rb"(?i)%22((?:[A-Za-z0-9_.\-]|%5f|%2d){1,64})\Z")
# a value runs to an encoded `&`, quote or line break (or a raw delimiter); other escapes are part of it
_URL_VALUE = re.compile(rb"(?:[^\s&\"'<>%]|%(?![2][26]|0[aAdD])[0-9A-Fa-f]{2})*")
_URL_ESCAPE_PARTIAL = re.compile(rb"%[0-9A-Fa-f]?")
_URL_VALUE_QUOTED = re.compile(rb"(?:[^\s&\"'<>%]|%(?!22|0[aAdD])[0-9A-Fa-f]{2})*")


class UrlEncodedSecretDetector(SampledDetector):
    """Secret-named values in URL-encoded text: a form body or query string logged encoded
    (`body=user%3Dbob%26password%3DHunter2%21`), JSON carried in a query parameter
    (`q=%7B%22api_key%22%3A%22…%22%7D`). The key names and value checks are the key-value family's."""

    ids = ("url-encoded-secret",)
    literals = (b"%3d", b"%22%3a%22", b"%22%3a%20%22")
    prefix_type = False
    boundary = False
    none_in_env_key = True  # an identifier (an env key) holds no `%`
    value_class = re.compile(rb"[^\s&\"'<>]*")
    max_window = 512

    def __init__(self, rules_for, positives=(), negatives=()) -> None:  # noqa: ANN001
        super().__init__(positives, negatives)
        self._rules_for = rules_for  # key name -> the key-value rules that accept it

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        quoted = v[ts + 1 : ts + 3] == b"22"
        if quoted:
            m = _URL_JSON_KEY.search(v, max(0, ts - 200), ts)
            if m is None:
                return None
            key = unquote_to_bytes(m.group(1))
        else:
            m = _URL_KEY_RUN.search(v, max(0, ts - 160), ts)
            if m is None:
                return None
            field = _URL_KEY_FIELD.search(unquote_to_bytes(m.group(0)))
            if field is None:
                return None
            key = field.group(0)
        rules = self._rules_for(key)
        if not rules:
            return None
        lim = min(avail, te + self.max_window)
        mv = (_URL_VALUE_QUOTED if quoted else _URL_VALUE).match(v, te, lim)
        end = mv.end()
        if not final and (end >= avail or _URL_ESCAPE_PARTIAL.fullmatch(v, end, avail)):
            return Pending(te)  # the value is still arriving (or the escape after it: `%2` of `%22` or `%21`)
        raw = v[te:end]
        if quoted and not v.startswith(b"%22", end) and end < lim:
            return None  # not a closed JSON string
        value = unquote_to_bytes(raw.replace(b"+", b" ") if not quoted else raw)
        if len(value) < 3 or not not_placeholder(value) or not is_text(value):
            return None
        if any(r.value_ok(value, quoted) for r in rules):
            return [(te, end, "url-encoded-secret", 0)]
        return None


# A password fed to a command's standard input on its command line: `echo PW | sudo -S …`, `printf '%s\n' PW |
# chpasswd`, `… --password-stdin <<< "PW"`. The value comes before the pipe, so the echo is the trigger.
_PIPED_VALUE = rb"(?:'(?P<q1>[^'\r\n]*)'|\"(?P<q2>[^\"\r\n]*)\"|(?P<s>[^\s'\"|;&<>()`][^\s|;&<>()`]*))"
_ECHO_ARGS = re.compile(rb"[ \t]+(?:-[neE]{1,3}[ \t]+)*" + _PIPED_VALUE + rb"[ \t]*\|[ \t]*(?P<cmd>[^\n|;&]*)")
_PRINTF_ARGS = re.compile(rb"[ \t]+(?:(?:'%s(?:\\n)?'|\"%s(?:\\n)?\")[ \t]+)?" + _PIPED_VALUE
                          + rb"[ \t]*\|[ \t]*(?P<cmd>[^\n|;&]*)")
_HERE_STRING = re.compile(rb"[ \t]*" + _PIPED_VALUE)
# what an echo still arriving may yet become: options, one value (a quote may be open), a pipe and more
_PIPED_VIABLE = re.compile(rb"[ \t]*(?:-[neE]{0,3}(?:[ \t]+|\Z))*(?:(?:'%s(?:\\n)?'|\"%s(?:\\n)?\")[ \t]+)?"
                           rb"(?:'[^'\r\n]*'?|\"[^\"\r\n]*\"?|[^\s'\"|;&<>()`$][^\s|;&<>()`]*)?[ \t]*(?:\|[^\n]*)?")
_CHPASSWD_CMD = re.compile(rb"(?:\A|[\s/])chpasswd")
_STDIN_CONSUMER = re.compile(
    rb"(?:\A|[\s/])(?:sudo(?:[ \t]+-[^\s]*)*?[ \t]+(?:-[A-Za-z]*S[A-Za-z]*|--stdin)(?=\s|\Z)|chpasswd(?=\s|\Z)"
    rb"|passwd[ \t]+(?:[^\n]*[ \t])?-{1,2}stdin(?=\s|\Z)|kinit(?=\s|\Z)|smbpasswd[ \t]+(?:[^\n]*[ \t])?-[A-Za-z]*s"
    rb"|htpasswd[ \t]+(?:[^\n]*[ \t])?-[A-Za-z]*i)"
    rb"|--password-stdin(?=\s|\Z)|--passphrase-fd[ \t=]+0(?=\s|\Z)|-passin[ \t]+stdin(?=\s|\Z)")


class PipedPasswordDetector(SampledDetector):
    """Passwords fed to a command's standard input on a command line (shell history, `ps`, CI logs):
    `echo PW | sudo -S …`, `echo 'user:PW' | chpasswd`, `echo PW | docker login -u u --password-stdin`,
    `printf '%s\\n' PW | passwd --stdin u`, `sudo -S cmd <<< 'PW'`."""

    ids = ("piped-password",)
    literals = (b"echo ", b"echo\t", b"printf ", b"<<<")
    prefix_type = False
    boundary = True
    none_in_env_key = True
    max_window = 1024
    # An idle release shows what is being typed after `echo ` (each keystroke is one): only a whole line
    # that pipes the value into a password-reading command is masked then.
    idle_show_below = 1 << 20

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        word = v[ts:te].lower()
        if word != b"<<<" and ts > 0 and (v[ts - 1] in ALNUM or v[ts - 1] in b"_-."):
            return None  # `myecho`, `x.echo`
        w = line_window(v, ts, self.max_window, avail, final)
        if word == b"<<<":
            ls = v.rfind(b"\n", max(0, ts - self.max_window), ts) + 1
            # (from the newline before the line: `\A` is only the very start of the buffer, not `pos`)
            if _STDIN_CONSUMER.search(v, ls - 1 if ls else 0, ts) is None:
                return None
            if w is None:
                return Pending(te)
            m = _HERE_STRING.match(v, te, w)
            return self._spans(m, v[ls:ts]) if m is not None else None
        if w is None:
            return Pending(te) if _PIPED_VIABLE.fullmatch(v, te - 1, avail) else None
        m = (_PRINTF_ARGS if word == b"printf " else _ECHO_ARGS).match(v, te - 1, w)
        if m is None or _STDIN_CONSUMER.search(m.group("cmd")) is None:
            return None
        return self._spans(m, m.group("cmd"))

    @staticmethod
    def _spans(m: "re.Match[bytes]", cmd: bytes) -> list[Span] | None:
        g = _secret_group(m)
        s, e = m.start(g), m.end(g)
        value = m.group(g)
        if value.endswith(b"\\n"):
            value, e = value[:-2], e - 2  # `printf 'PW\n'`
        if _CHPASSWD_CMD.search(cmd) and b":" in value:
            cut = value.index(b":") + 1  # `user:PW`: the password
            value, s = value[cut:], s + cut
        if len(value) < 3 or value[:1] in b"$`" or not not_placeholder(value):
            return None  # a variable (`"$PW"`), a substitution, a placeholder
        return [(s, s + len(value), "piped-password", 0)]


_WG_KEY = rb"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]="  # a Curve25519 key in base64: 32 bytes, its last char padded
_WG_DUMP = re.compile(rb"[A-Za-z0-9_.\-]{1,15}\t(?P<k1>" + _WG_KEY + rb")\t(?P<k2>" + _WG_KEY + rb"|\(none\))\t"
                      rb"(?P<f3>[^\t\r\n]*)(?:\t|\r?$)", re.MULTILINE)


class WireGuardDumpDetector(SampledDetector):
    """WireGuard keys in `wg show all dump` lines (tab-separated, the interface first): an interface's private
    key (the line whose fourth field is the listen port) and a peer's preshared key (after its public key).
    `wg show IFACE dump` leaves the interface out, so its lines start with the key itself: not looked for,
    since holding every word that starts a line (`cat`, `Mount`) would slow typing."""

    ids = ("wireguard-dump-key",)
    literals = ()
    trigger_re = rb"(?m:^)[A-Za-z0-9_.\-]{1,15}\t[A-Za-z0-9+/]{43}=\t"
    # line-anchored (see PgpassDetector): the chain goes back to the start of a line still arriving
    trigger_width = 40
    zone_re = re.compile(rb"(?m:^)[A-Za-z0-9_.\-]{1,15}\t[A-Za-z0-9+/]{0,43}(?:=\t?)?\Z")
    # an idle release masks a line only once a whole key and its tab have arrived (a typed word is no key)
    idle_head = re.compile(trigger_re)
    prefix_type = False
    boundary = False
    max_window = 512
    value_class = re.compile(rb"[A-Za-z0-9+/=]*")

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        if ts > 0 and v[ts - 1] != 10:
            return None
        w = line_window(v, ts, self.max_window, avail, final)
        if w is None:
            tab = v.find(b"\t", ts, min(avail, ts + 16))
            return Pending(tab + 1 if tab >= 0 else None)  # the line is still arriving: hold from its first key
        m = _WG_DUMP.match(v, ts, w + 1 if w < avail else w)
        if m is None:
            return None
        if m.group("f3").isdigit():
            return [(m.start("k1"), m.end("k1"), "wireguard-dump-key", 0)]  # the interface: its private key
        if m.group("k2") != b"(none)":
            return [(m.start("k2"), m.end("k2"), "wireguard-dump-key", 0)]  # a peer: the preshared key
        return None


_CHPASSWD_ITEM = re.compile(rb"[ \t]*(?:-[ \t]+)?['\"]?[^:\s'\"]+:(?P<s>[^\s'\"]+)['\"]?[ \t\r]*")
_INDENT = re.compile(rb"[ \t]*")
_CHPASSWD_LIST = re.compile(rb"[ \t]*list:[ \t]*(?:[|>][-+]?)?[ \t\r]*\Z")


class CloudInitChpasswdDetector(SampledDetector):
    """Passwords in cloud-init's `chpasswd:` module: the `user:password` lines of its `list: |` block (or
    of a `list:` sequence); `RANDOM` / `R` (cloud-init generates those) are not passwords."""

    ids = ("cloud-init-chpasswd",)
    literals = (b"chpasswd:",)
    prefix_type = False
    boundary = True
    none_in_env_key = True
    max_window = 8192
    value_class = re.compile(rb"[^\r\n]*")

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        ls = v.rfind(b"\n", max(0, ts - 256), ts) + 1
        if v[ls:ts].strip(b" \t-"):
            return None  # `chpasswd:` must be a key of its own (not `x_chpasswd:` or text before it)
        base = ts - ls
        nl = v.find(b"\n", te, avail)
        if nl < 0 or v[te:nl].strip(b" \t\r"):
            return None if nl >= 0 or final else (Pending(te) if not v[te:avail].strip() else None)
        lines, p, done = [], nl + 1, False
        lim = min(avail, ts + self.max_window)
        while p < lim:
            e = v.find(b"\n", p, lim)
            if e < 0:
                break
            line = v[p:e]
            if line.strip(b" \t\r") and len(_INDENT.match(line).group(0)) <= base:
                done = True  # the module's block has ended
                break
            lines.append((p, e))
            p = e + 1
        if not done and not final and avail < ts + self.max_window:
            return Pending(nl + 1)  # the block may still hold its list
        out: list[Span] = []
        list_indent = None
        for s, e in lines:
            line = v[s:e]
            indent = len(_INDENT.match(line).group(0))
            if list_indent is None:
                if _CHPASSWD_LIST.match(line):
                    list_indent = indent
                continue
            if line.strip(b" \t\r") and indent <= list_indent:
                list_indent = None  # the next key of the module (`expire: false`)
                continue
            m = _CHPASSWD_ITEM.fullmatch(v, s, e)
            if m is not None and m.group("s") not in (b"RANDOM", b"R") and not_placeholder(m.group("s")):
                out.append((m.start("s"), m.end("s"), "cloud-init-chpasswd", 0))
        return out
