"""The built-in secret detectors, as data: id, description, trigger, shape, and test samples.

Samples are generated from a fixed seed so that the repository never holds a real credential, while
every sample has the real shape (prefix, alphabet, length, checksum where there is one). Positive
samples are `(text, secret)`: masking `text` must remove `secret`; negatives must pass unchanged
through the whole default profile (they are the classic false positives).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from urllib.parse import quote

from bastion.masking.matchers import (
    ContextDetector,
    Detector,
    Info,
    KeyRule,
    KeyValueFamily,
    PemDetector,
    TokenDetector,
    key_parts,
    not_placeholder,
)
from bastion.masking.special import (Base64PrivateKeyDetector, CardDetector, CliPasswordDetector,
                                     CloudInitChpasswdDetector, JwkPrivateDetector, PipedPasswordDetector,
                                     UrlEncodedSecretDetector, WireGuardDumpDetector, DirectiveSecretDetector, K8sSecretDataDetector, KeytabBase64Detector, NameValueSecretDetector,
                                     KeyTextDetector, OpenVpnKeyDetector, PgpassDetector, PuttyPrivateKeyDetector,
                                     RsaKeyValueDetector, XmlSecretDetector)

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def fake(alphabet: str, n: int, seed: str) -> str:
    """A deterministic, obviously generated string of `n` characters (never a real credential)."""
    out: list[str] = []
    counter = 0
    while len(out) < n:
        digest = hashlib.sha256(f"bastion-fake:{seed}:{counter}".encode()).digest()
        out.extend(alphabet[b % len(alphabet)] for b in digest)
        counter += 1
    return "".join(out[:n])


def _mixed(value: bytes) -> bool:
    """Has a digit or a symbol: tells tokens from words such as `Bearer authentication`."""
    return any(c in b"0123456789-._~+/=" for c in value)


# --- samples --------------------------------------------------------------------------------------
AWS_ID = "AKIA" + fake(UPPER_DIGITS, 16, "akia")
AWS_SECRET = fake(B64, 40, "aws-secret")
AWS_SESSION = fake(B64, 120, "aws-session")
GHP = "ghp_" + fake(ALNUM, 36, "ghp")
JWT = ".".join(
    (
        base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("="),
        base64.urlsafe_b64encode(b'{"sub":"fake-user-42","name":"Test User","iat":1516239022}').decode().rstrip("="),
        fake(URLSAFE, 43, "jwt-sig"),
    )
)
PASSWORD = "Tr0ub4dor&3-" + fake(ALNUM, 6, "pw")
CARD_VISA = "4111 1111 1111 1111"
CARD_MC = "5555555555554444"
CARD_AMEX = "3782-822463-10005"


def _sk_key_body(s: bytes) -> bool:
    """An `sk-` key (OpenAI and the many APIs shaped like it: OpenRouter `sk-or-v1-<hex>`, DeepSeek `sk-<hex>`):
    digits and capitals, or a last part of 32+ lower-case letters and digits mixed as generated text is."""
    if any(c in b"0123456789" for c in s) and any(c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ" for c in s):
        return True
    tail = s.rsplit(b"-", 1)[-1]
    digits = sum(c in b"0123456789" for c in tail)
    return len(tail) >= 32 and tail.isalnum() and digits >= 6 and len(tail) - digits >= 6


LOWER_DIGITS = "abcdefghijklmnopqrstuvwxyz0123456789"


def _letters_and_digits(s: bytes) -> bool:
    """Generated, not a word: 4+ digits and 4+ letters."""
    digits = sum(c in b"0123456789" for c in s)
    return digits >= 4 and len(s) - digits >= 4


def _tok(
    id: str, desc: str, literals: list[str], pattern: bytes, secret: str, *, ctx: str = "token: {s}", negs=(), pos=(), **kw
) -> TokenDetector:
    return TokenDetector(
        id, desc, literals, pattern,
        positives=[(ctx.format(s=secret), secret)] + ([(secret, secret)] if kw.get("boundary", True) else [])
        + list(pos),
        negatives=list(negs), **kw,
    )


_DISCORD = "M" + fake(URLSAFE, 23, "dc1") + "." + fake(URLSAFE, 6, "dc2") + "." + fake(URLSAFE, 38, "dc3")


class DiscordTokenDetector(TokenDetector):
    """Its trigger is the short middle part (`.abcdef.`): a trigger over the 24-26 byte head would make re2's
    DFA track every possible start and crawl. From the middle part, the head is found looking back."""

    zone_lookback = 26

    def evaluate(self, v: bytes, ts: int, te: int, avail: int, final: bool):
        if v[ts : ts + 1] != b".":  # a candidate head near the end of the input (`zone_re`)
            return super().evaluate(v, ts, te, avail, final)
        for n in (24, 25, 26):
            s = ts - n
            if s >= 0 and v[s] in b"MNO":
                r = super().evaluate(v, s, s, avail, final)
                if r is not None:
                    return r
        return None


def _uuid(seed: str) -> str:
    h = fake(HEX, 32, seed)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_AZ_HEAD = fake(ALNUM + "_~.", 3, "az-head") + "8"
_AZ_BODY = fake(ALNUM + "_~.-", 34, "az-body")
_K3S = fake(HEX, 64, "k3s-ca") + "::server:" + fake(HEX, 32, "k3s-pw")
_K3S_NODE = fake(HEX, 64, "k3s-ca2") + "::node:" + fake(HEX, 32, "k3s-pw2")
_GRAFANA_LEGACY = base64.b64encode(b'{"k":"' + fake(ALNUM, 32, "grafana-k").encode() + b'","n":"deploy","id":1}').decode()


TOKEN_DETECTORS: list[Detector] = [
    _tok("aws-access-key-id", "AWS access key id (AKIA/ASIA/ABIA/ACCA + 16 base32 characters)",
         ["akia", "asia", "abia", "acca"], rb"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])", AWS_ID,
         ctx="aws_access_key_id = {s}", cont=rb"[A-Za-z0-9]", keep=4, viable=rb"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{0,16}",
         # AWS's documentation ids (`AKIAIOSFODNN7EXAMPLE`) are masked too: public, but what a real key
         # pasted over the example looks like, and masking a public value costs nothing
         pos=[("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE")],
         negs=["Asia/Tokyo timezone", "AKIA is a prefix", "AKIAIOSFODNN7EXAMPLEXTRA1234"]),
    # the IAM console's credentials.csv (`AKIA…,<secret>`), `AKIA… <secret>`, SDK calls (`("AKIA…", "<secret>")`),
    # SQL (`ACCESS_KEY_ID 'AKIA…' SECRET_ACCESS_KEY '<secret>'`): the secret next to its key id, with no key name
    _tok("aws-key-pair", "AWS secret access key written right after its access key id", ["akia", "asia", "abia", "acca"],
         rb"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?=[\s\"',:;|])[\"']?[ \t]*[,:;|]?[ \t]*"
         rb"(?:(?i:secret_access_key|secret)[ \t]*[=:]?[ \t]*)?[\"']?(?P<s>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
         AWS_SECRET, ctx="Access key ID,Secret access key\n" + AWS_ID + ",{s}", boundary=False,
         cont=rb"[A-Za-z0-9/+=,:;|\t \"'_]", max_len=160,
         validate=lambda s: any(97 <= c <= 122 for c in s) and any(65 <= c <= 90 for c in s),
         negs=["an AKIA id is followed by a 40-character secret"]),
    # `aws sts assume-role|get-session-token --output text`: CREDENTIALS, key id, expiry, secret, session token
    _tok("aws-sts-credentials-text", "AWS STS credentials printed as text (the secret key and the session token)",
         ["credentials\t"],
         rb"CREDENTIALS\t(?:ASIA|AKIA)[A-Z0-9]{16}\t[^\t\r\n]{1,40}\t(?P<s>[A-Za-z0-9/+]{40}\t[A-Za-z0-9/+=]{40,})",
         AWS_SECRET + "\t" + fake(B64, 120, "sts-token"),
         ctx="CREDENTIALS\tASIA" + fake(UPPER_DIGITS, 16, "asia") + "\t2026-05-01T13:03:44+00:00\t{s}", boundary=False,
         cont=rb"[A-Za-z0-9/+=:\t\-]", max_len=4096),
    _tok("ably-api-key", "Ably API keys (<app id>.<key id>:<secret>)", [],
         rb"(?<![A-Za-z0-9_\-.])[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{6}:(?P<s>[A-Za-z0-9_\-+/=]{40,50})(?![A-Za-z0-9_\-+/=])",
         fake(URLSAFE, 43, "ably"), ctx="ABLY_KEY=0NcLVn.giccJG:{s}", boundary=False, cont=rb"[A-Za-z0-9_\-+/=.:]",
         trigger_re=rb"[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{6}:[A-Za-z0-9_\-+/=]{8}", trigger_width=22,
         zone_re=rb"(?<![A-Za-z0-9_\-.])[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{6}:",
         idle_head=rb"[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{6}:"),
    _tok("github-pat-classic", "GitHub classic personal access token (ghp_)", ["ghp_"],
         rb"ghp_[A-Za-z0-9]{36}(?![A-Za-z0-9_])", GHP, ctx="GITHUB_TOKEN={s}", cont=rb"[A-Za-z0-9_]", keep=4,
         viable=rb"ghp_[A-Za-z0-9]{0,36}", negs=["ghp_short", "the ghp_ prefix"]),
    _tok("github-oauth-token", "GitHub OAuth access token (gho_)", ["gho_"],
         rb"gho_[A-Za-z0-9]{36}(?![A-Za-z0-9_])", "gho_" + fake(ALNUM, 36, "gho"), cont=rb"[A-Za-z0-9_]", keep=4,
         viable=rb"gho_[A-Za-z0-9]{0,36}"),
    _tok("github-app-token", "GitHub App user-to-server / server-to-server token (ghu_, ghs_)", ["ghu_", "ghs_"],
         rb"gh[us]_[A-Za-z0-9]{36}(?![A-Za-z0-9_])", "ghs_" + fake(ALNUM, 36, "ghs"), cont=rb"[A-Za-z0-9_]",
         keep=4, viable=rb"gh[us]_[A-Za-z0-9]{0,36}"),
    _tok("github-refresh-token", "GitHub refresh token (ghr_)", ["ghr_"],
         rb"ghr_[A-Za-z0-9]{36,76}(?![A-Za-z0-9_])", "ghr_" + fake(ALNUM, 76, "ghr"), cont=rb"[A-Za-z0-9_]",
         keep=4, viable=rb"ghr_[A-Za-z0-9]{0,76}"),
    _tok("github-fine-grained-pat", "GitHub fine-grained personal access token (github_pat_)", ["github_pat_"],
         rb"github_pat_[A-Za-z0-9_]{50,}", "github_pat_" + fake(ALNUM, 22, "gfp1") + "_" + fake(ALNUM, 59, "gfp2"),
         cont=rb"[A-Za-z0-9_]", keep=11, viable=rb"github_pat_[A-Za-z0-9_]*"),
    _tok("gitlab-pat", "GitLab personal/project/group access token (glpat-)", ["glpat-"],
         rb"glpat-[A-Za-z0-9_\-.]{20,}", "glpat-" + fake(URLSAFE, 20, "glpat"), cont=rb"[A-Za-z0-9_\-.]", keep=6,
         viable=rb"glpat-[A-Za-z0-9_\-.]*", negs=["see glpat-docs for details"]),
    _tok("gitlab-deploy-token", "GitLab deploy token (gldt-)", ["gldt-"], rb"gldt-[A-Za-z0-9_\-]{20,}",
         "gldt-" + fake(URLSAFE, 20, "gldt"), keep=5, viable=rb"gldt-[A-Za-z0-9_\-]*"),
    _tok("gitlab-runner-token", "GitLab runner authentication/registration token (glrt-, GR1348941)",
         ["glrt-", "gr1348941"], rb"(?:glrt-|GR1348941)[A-Za-z0-9_\-.]{20,}", "glrt-" + fake(URLSAFE, 20, "glrt"),
         cont=rb"[A-Za-z0-9_\-.]", keep=5, viable=rb"(?:glrt-|GR1348941)[A-Za-z0-9_\-.]*"),
    _tok("gitlab-pipeline-trigger-token", "GitLab pipeline trigger token (glptt-)", ["glptt-"],
         rb"glptt-[A-Za-z0-9_\-]{20,}", "glptt-" + fake(HEX, 40, "glptt"), keep=6, viable=rb"glptt-[A-Za-z0-9_\-]*"),
    _tok("gitlab-token", "Other GitLab tokens (CI build, OAuth app secret, SCIM, feed, agent, incoming mail)",
         ["glcbt-", "gloas-", "glsoat-", "glft-", "glagent-", "glimt-"],
         rb"gl(?:cbt|oas|soat|ft|agent|imt)-[A-Za-z0-9_\-]{20,}", "gloas-" + fake(URLSAFE, 64, "gloas"), keep=6,
         viable=rb"gl(?:cbt|oas|soat|ft|agent|imt)-[A-Za-z0-9_\-]*"),
    _tok("slack-token", "Slack bot/user/app-level/refresh token (xoxb-, xoxp-, xoxa-, xoxe-, …)", ["xox"],
         rb"xox(?:[abprs]|e(?:\.xox[bp])?)-[A-Za-z0-9\-]{10,}",
         "xoxb-" + fake("0123456789", 12, "s1") + "-" + fake("0123456789", 13, "s2") + "-" + fake(ALNUM, 24, "s3"),
         cont=rb"[A-Za-z0-9\-.]", keep=5, viable=rb"xox(?:[abprs]-?[A-Za-z0-9\-]*|e(?:\.(?:x(?:o(?:x(?:[bp]-?[A-Za-z0-9\-]*)?)?)?)?|-?[A-Za-z0-9\-]*))?",
         negs=["the xoxo greeting"]),
    _tok("slack-app-token", "Slack app configuration token (xapp-)", ["xapp-"], rb"xapp-[A-Za-z0-9\-]{20,}",
         "xapp-1-A" + fake(UPPER_DIGITS, 10, "xa1") + "-" + fake("0123456789", 13, "xa2") + "-" + fake(HEX, 64, "xa3"),
         cont=rb"[A-Za-z0-9\-]", keep=5, viable=rb"xapp-[A-Za-z0-9\-]*"),
    _tok("slack-webhook-url", "Slack incoming webhook / workflow URL secret path", ["hooks.slack.com/"],
         rb"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9_/\-]{20,})",
         "T" + fake(UPPER_DIGITS, 8, "sw1") + "/B" + fake(UPPER_DIGITS, 8, "sw2") + "/" + fake(ALNUM, 24, "sw3"),
         ctx="url=https://hooks.slack.com/services/{s}", boundary=False, cont=rb"[A-Za-z0-9_/\-.]", max_len=300,
         negs=["see https://hooks.slack.com/ for docs"]),
    _tok("stripe-secret-key", "Stripe secret API key (sk_live_, sk_test_)", ["sk_live_", "sk_test_"],
         rb"sk_(?:live|test)_[A-Za-z0-9]{24,}", "sk_live_" + fake(ALNUM, 24, "stripe"), keep=8,
         cont=rb"[A-Za-z0-9_]", viable=rb"sk_(?:live|test)_[A-Za-z0-9]*",
         pos=[("stripe: sk_test_4eC39HqLyjWDarjtT1zdp7dc", "sk_test_4eC39HqLyjWDarjtT1zdp7dc")],  # the documentation's own
         negs=["pk_live_" + fake(ALNUM, 24, "stripe-pk") + " is a publishable key"]),
    _tok("stripe-restricted-key", "Stripe restricted API key (rk_live_, rk_test_)", ["rk_live_", "rk_test_"],
         rb"rk_(?:live|test)_[A-Za-z0-9]{24,}", "rk_test_" + fake(ALNUM, 24, "stripe-rk"), keep=8,
         cont=rb"[A-Za-z0-9_]", viable=rb"rk_(?:live|test)_[A-Za-z0-9]*"),
    _tok("stripe-webhook-secret", "Stripe webhook signing secret (whsec_)", ["whsec_"],
         rb"whsec_[A-Za-z0-9+/=]{32,}", "whsec_" + fake(ALNUM, 32, "whsec"), keep=6, cont=rb"[A-Za-z0-9_+/=]",
         viable=rb"whsec_[A-Za-z0-9+/=]*"),
    _tok("anthropic-api-key", "Anthropic API key (sk-ant-)", ["sk-"], rb"sk-ant-[A-Za-z0-9_\-]{32,}",
         "sk-ant-api03-" + fake(URLSAFE, 93, "ant") + "AA", keep=7, viable=rb"sk-(?:a(?:n(?:t(?:-[A-Za-z0-9_\-]*)?)?)?)?"),
    _tok("openai-api-key", "OpenAI API key (sk-, sk-proj-, sk-svcacct-, sk-admin-)", ["sk-"],
         rb"sk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}",
         "sk-proj-" + fake(URLSAFE, 56, "oai1") + "T3BlbkFJ" + fake(URLSAFE, 56, "oai2"), keep=3,
         validate=_sk_key_body,
         viable=rb"sk-[A-Za-z0-9_\-]*", negs=["disk-usage-report-for-the-whole-cluster", "task-scheduler sk-learn",
                                              "sk-learn-compatible-estimators-for-the-pipeline-v2"]),
    _tok("huggingface-token", "Hugging Face access token (hf_, api_org_)", ["hf_", "api_org_"],
         rb"(?:hf_|api_org_)[A-Za-z0-9]{30,}", "hf_" + fake(ALNUM, 34, "hf"), keep=3, cont=rb"[A-Za-z0-9_]",
         viable=rb"(?:hf_|api_org_)[A-Za-z0-9]*", negs=["hf_hub_download is a function"]),
    _tok("gcp-api-key", "Google Cloud / Firebase API key (AIza + 35)", ["aiza"], rb"AIza[0-9A-Za-z_\-]{35}",
         "AIza" + fake(URLSAFE, 35, "aiza"), keep=4, viable=rb"AIza[0-9A-Za-z_\-]{0,35}"),
    _tok("gcp-oauth-client-secret", "Google OAuth client secret (GOCSPX-)", ["gocspx-"],
         rb"GOCSPX-[A-Za-z0-9_\-]{24,32}", "GOCSPX-" + fake(URLSAFE, 28, "gocspx"), keep=7,
         viable=rb"GOCSPX-[A-Za-z0-9_\-]*"),
    _tok("gcp-oauth-access-token", "Google OAuth 2.0 access token (ya29.)", ["ya29."],
         rb"ya29\.[A-Za-z0-9_\-.]{30,}", "ya29.a0" + fake(URLSAFE, 120, "ya29"), keep=5, cont=rb"[A-Za-z0-9_\-.]",
         viable=rb"ya29\.[A-Za-z0-9_\-.]*", max_len=4096,  # (service-account and workload-identity tokens run to 1 KiB+)
         pos=[("ya29.c." + fake(URLSAFE, 1000, "ya29-long"), "ya29.c." + fake(URLSAFE, 1000, "ya29-long"))]),
    _tok("sendgrid-api-key", "SendGrid API key (SG.xxx.yyy)", ["sg."],
         rb"SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{32,64}",
         "SG." + fake(URLSAFE, 22, "sg1") + "." + fake(URLSAFE, 43, "sg2"), keep=3, cont=rb"[A-Za-z0-9_\-.]",
         viable=rb"SG\.[A-Za-z0-9_\-.]*", negs=["SG.1 is a section number", "org.SG.example.Class"]),
    # legacy keys are 32 lower-case letters and digits (the documentation's own is `key-3ax6xnjp29jd6fds4gc373sgvjxteol0`)
    _tok("mailgun-api-key", "Mailgun private API key (key- + 32 lower-case letters and digits)", ["key-"],
         rb"key-[0-9a-z]{32}(?![A-Za-z0-9])", "key-" + fake(HEX, 32, "mailgun"), keep=4, viable=rb"key-[0-9a-z]{0,32}",
         validate=lambda s: len(s) - len(s.translate(None, b"0123456789")) >= 3,  # not a 32-letter word run
         pos=[("MAILGUN: key-3ax6xnjp29jd6fds4gc373sgvjxteol0", "key-3ax6xnjp29jd6fds4gc373sgvjxteol0")],
         negs=["key-value store", "the key-" + "0" * 8 + " id", "key-abcdefghijklmnopqrstuvwxyzabcdef"], idle_min_body=8),
    _tok("elevenlabs-api-key", "ElevenLabs API key (sk_ + 48 hex)", [], rb"sk_[0-9a-f]{48}(?![A-Za-z0-9])",
         "sk_" + fake(HEX, 48, "elevenlabs"), keep=3, cont=rb"[A-Za-z0-9_]", viable=rb"s(?:k(?:_[0-9a-f]{0,48})?)?",
         trigger_re=rb"sk_[0-9a-f]{8}", trigger_width=11, zone_re=rb"(?<![A-Za-z0-9])s(?=k|\Z)",
         negs=["disk_" + fake(HEX, 48, "disk") + " is a disk id", "sk_" + fake(HEX, 40, "short")]),
    # Amazon Bedrock API keys: long-term `ABSK` + base64 of `BedrockAPIKey-…`, short-term `bedrock-api-key-` + base64
    _tok("aws-bedrock-api-key", "Amazon Bedrock API key (ABSK…, bedrock-api-key-…)", ["absk", "bedrock-api-key-"],
         rb"(?:ABSK|bedrock-api-key-)[A-Za-z0-9+/]{40,}={0,2}",
         "ABSKQmVkcm9ja0FQSUtleS1" + fake(B64, 120, "bedrock"), keep=4, cont=rb"[A-Za-z0-9+/=_\-]", max_len=4096,
         viable=rb"(?:ABSK|bedrock-api-key-)[A-Za-z0-9+/]*",
         pos=[("export AWS_BEARER_TOKEN_BEDROCK=bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t" + fake(B64, 200, "bedrock-st"),
               "YmVkcm9jay5hbWF6b25hd3MuY29t" + fake(B64, 200, "bedrock-st"))],
         negs=["ABSK is not a word", "bedrock-api-key-docs"]),
    _tok("twilio-api-key", "Twilio API key SID (SK + 32 hex)", [], rb"SK[0-9a-fA-F]{32}(?![A-Za-z0-9])",
         "SK" + fake(HEX, 32, "twilio"), keep=2, cont=rb"[A-Za-z0-9]", viable=rb"S(?:K[0-9a-fA-F]{0,32})?",
         trigger_re=rb"SK[0-9a-fA-F]{8}", trigger_width=10, zone_re=rb"(?<![A-Za-z0-9])S(?=K|\Z)",
         negs=["SKU 1234", "SKIPPED 3 tests"]),
    # `kubeadm token create` prints the token alone, `kubeadm token list` in a table: no key names it
    _tok("kubeadm-bootstrap-token", "Kubernetes bootstrap tokens (kubeadm: 6 + `.` + 16 lower-case letters and digits; "
         "the part after the dot is the secret)", [],
         rb"(?<![A-Za-z0-9._\-])[a-z0-9]{6}\.(?P<s>[a-z0-9]{16})(?![A-Za-z0-9_.\-])", fake(LOWER_DIGITS, 14, "kubeadm") + "9z",
         ctx="k8x2m4.{s}", boundary=False, cont=rb"[A-Za-z0-9_.\-]",
         validate=lambda s: sum(c in b"0123456789" for c in s) >= 2 and sum(c > 57 for c in s) >= 2,
         trigger_re=rb"\b[a-z0-9]{6}\.[a-z0-9]{16}", trigger_width=23,
         zone_re=rb"(?<![A-Za-z0-9_.\-])[a-z0-9]{6}\.(?=[a-z0-9]{0,16}(?:\Z|[^A-Za-z0-9_.\-]))",
         # (an idle release masks once 4 characters with a digit follow the dot: `config.yaml` typed is not one)
         idle_head=rb"[a-z0-9]{6}\.(?=[a-z0-9]{0,3}[0-9])[a-z0-9]{4}",
         negs=["github.com", "config.applicationname", "abc123.0123456789abcdef.example.com",
               "backup.tar.gz", "see README.md", "node-1.cluster1234567890ab"]),
    _tok("npm-token", "npm access token (npm_)", ["npm_"], rb"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])",
         "npm_" + fake(ALNUM, 36, "npm"), keep=4, cont=rb"[A-Za-z0-9_]", viable=rb"npm_[A-Za-z0-9]{0,36}",
         negs=["npm_config_cache=/tmp/npm"]),
    _tok("pypi-token", "PyPI API token (pypi-AgEIcHlwaS5vcmc…)", ["pypi-"], rb"pypi-Ag[A-Za-z0-9_\-]{60,}",
         "pypi-AgEIcHlwaS5vcmc" + fake(URLSAFE, 120, "pypi"), keep=5, max_len=400, viable=rb"pypi-(?:A(?:g[A-Za-z0-9_\-]*)?)?",
         negs=["pip install pypi-simple"]),
    _tok("jwt", "JSON Web Token (eyJ….….…)", ["eyj"],
         rb"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*", JWT, ctx="Authorization token {s} end",
         keep=3, cont=rb"[A-Za-z0-9_\-.=]", max_len=8192, viable=rb"eyJ[A-Za-z0-9_\-.=]*",
         negs=["eyJhbGciOiJIUzI1NiJ9 alone is only a header"]),
    _tok("digitalocean-token", "DigitalOcean personal/OAuth/refresh token (dop_v1_, doo_v1_, dor_v1_)",
         ["dop_v1_", "doo_v1_", "dor_v1_"], rb"do[por]_v1_[a-f0-9]{64}", "dop_v1_" + fake(HEX, 64, "do"), keep=7,
         cont=rb"[A-Za-z0-9_]", viable=rb"do[por]_v1_[a-f0-9]{0,64}"),
    _tok("databricks-token", "Databricks personal access token (dapi + 32 hex)", ["dapi"],
         rb"dapi[a-f0-9]{32}(?:-[0-9])?(?![A-Za-z0-9])", "dapi" + fake(HEX, 32, "dapi"), keep=4,
         viable=rb"dapi[a-f0-9]{0,32}", negs=["dapin is not a word"]),
    _tok("shopify-token", "Shopify access/shared-secret/custom-app token (shpat_, shpss_, shpca_, shppa_)",
         ["shpat_", "shpss_", "shpca_", "shppa_"], rb"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}",
         "shpat_" + fake(HEX, 32, "shopify"), keep=6, cont=rb"[A-Za-z0-9_]", viable=rb"shp(?:at|ss|ca|pa)_[a-fA-F0-9]*"),
    _tok("dockerhub-pat", "Docker Hub personal / organisation access token (dckr_pat_, dckr_oat_)",
         ["dckr_pat_", "dckr_oat_"], rb"dckr_[po]at_[A-Za-z0-9_\-]{20,}", "dckr_pat_" + fake(URLSAFE, 27, "dckr"), keep=9,
         viable=rb"dckr_[po]at_[A-Za-z0-9_\-]*"),
    _tok("aws-ecr-login-password", "Amazon ECR login password (`aws ecr get-login-password`: base64 of {\"payload\":…)",
         ["eyjwyxlsb2fkijoi"], rb"eyJwYXlsb2FkIjoi[A-Za-z0-9+/]{100,}={0,2}", "eyJwYXlsb2FkIjoi" + fake(B64, 1200, "ecr"),
         ctx="{s}", keep=0, cont=rb"[A-Za-z0-9+/=]", max_len=8192, viable=rb"eyJwYXlsb2FkIjoi[A-Za-z0-9+/=]*"),
    _tok("cloudflare-origin-ca-key", "Cloudflare Origin CA key (v1.0-<24 hex>-<146 hex>)", ["v1.0-"],
         rb"(?<![A-Za-z0-9.])v1\.0-(?P<s>[a-f0-9]{24}-[a-f0-9]{146})(?![A-Za-z0-9])",
         fake(HEX, 24, "cfo1") + "-" + fake(HEX, 146, "cfo2"), ctx="CF_ORIGIN_CA_KEY=v1.0-{s}", boundary=False,
         cont=rb"[a-z0-9.\-]", max_len=200, negs=["release v1.0-beta.2", "v1.0-" + fake(HEX, 24, "cfo3")]),
    _tok("jfrog-reference-token", "JFrog reference token (base64 of reftkn:01:…)", ["cmvmdgtu"],
         rb"cmVmdGtuOjAx[A-Za-z0-9]{40,60}(?![A-Za-z0-9+/])", "cmVmdGtuOjAxOjE3" + fake(ALNUM, 48, "jfrog"), keep=0,
         cont=rb"[A-Za-z0-9+/=]", viable=rb"cmVmdGtu(?:O(?:j(?:A(?:x[A-Za-z0-9]{0,60})?)?)?)?"),
    _tok("age-secret-key", "age encryption secret key (AGE-SECRET-KEY-1…)", ["age-secret-key-1"],
         rb"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
         "AGE-SECRET-KEY-1" + fake("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58, "age"), keep=16,
         cont=rb"[A-Za-z0-9\-]", viable=rb"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{0,58}"),
    _tok("vault-token", "HashiCorp Vault service/batch token (hvs., hvb.)", ["hvs.", "hvb."],
         rb"hv[sb]\.[A-Za-z0-9_\-]{24,}", "hvs." + fake(URLSAFE, 24, "vault"), keep=4, cont=rb"[A-Za-z0-9_\-.]",
         viable=rb"hv[sb]\.[A-Za-z0-9_\-]*"),
    _tok("grafana-token", "Grafana service-account / cloud token (glsa_, glc_)", ["glsa_", "glc_"],
         rb"(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2})",
         "glsa_" + fake(ALNUM, 32, "glsa") + "_" + fake(HEX, 8, "glsa2"), keep=5, cont=rb"[A-Za-z0-9_+/=]",
         viable=rb"(?:glsa_[A-Za-z0-9_]*|glc_[A-Za-z0-9+/=]*)", negs=["glc_ is a prefix"]),
    _tok("newrelic-key", "New Relic user / ingest API key (NRAK-, NRII-)", ["nrak-", "nrii-"],
         rb"NR(?:AK|II)-[A-Z0-9]{27}(?![A-Za-z0-9])", "NRAK-" + fake(UPPER_DIGITS, 27, "nrak"), keep=5,
         cont=rb"[A-Za-z0-9\-]", viable=rb"NR(?:AK|II)-[A-Z0-9]{0,27}"),
    _tok("postman-api-key", "Postman API key (PMAK-)", ["pmak-"], rb"PMAK-[a-f0-9]{24}-[a-f0-9]{34}",
         "PMAK-" + fake(HEX, 24, "pmak1") + "-" + fake(HEX, 34, "pmak2"), keep=5, viable=rb"PMAK-[a-f0-9\-]{0,59}"),
    _tok("linear-api-key", "Linear API key (lin_api_)", ["lin_api_"], rb"lin_api_[A-Za-z0-9]{40}",
         "lin_api_" + fake(ALNUM, 40, "linear"), keep=8, cont=rb"[A-Za-z0-9_]", viable=rb"lin_api_[A-Za-z0-9]{0,40}"),
    # (Notion's older `secret_…` tokens have a regex trigger: a `secret_` literal would shadow the `secret` one
    # that SECRET_KEY=… needs, since the scan takes the longest literal at a position; the regex chain is apart.)
    _tok("notion-secret-token", "Notion internal integration token, older form (secret_ + 43)", [],
         rb"secret_[A-Za-z0-9]{43}(?![A-Za-z0-9_])", "secret_" + fake(ALNUM, 43, "notion-secret"), keep=7,
         cont=rb"[A-Za-z0-9_]", viable=rb"s(?:e(?:c(?:r(?:e(?:t(?:_[A-Za-z0-9]{0,43})?)?)?)?)?)?",
         trigger_re=rb"secret_[A-Za-z0-9]{43}", trigger_width=50,
         # (a candidate still arriving, or a whole one inside the zone: the zone is as wide as the widest trigger)
         zone_re=rb"(?<![A-Za-z0-9_])s(?=(?:e(?:c(?:r(?:e(?:t(?:_[A-Za-z0-9]{0,43})?)?)?)?)?)?(?:\Z|[^A-Za-z0-9_]))",
         idle_head=rb"secret_",
         negs=["see secret_access_key in the docs", "secret_" + fake(ALNUM, 42, "short") + " is too short"]),
    _tok("notion-token", "Notion integration token (ntn_)", ["ntn_"],
         rb"ntn_[A-Za-z0-9]{46}(?![A-Za-z0-9_])", "ntn_" + fake(ALNUM, 46, "ntn"), keep=4,
         cont=rb"[A-Za-z0-9_]", viable=rb"ntn_[A-Za-z0-9]{0,46}"),
    # (`ATATT3xFfGF0` + base64url + `=` + an 8-hex checksum: the `=` is inside the token, so its class is too)
    _tok("atlassian-api-token", "Atlassian API token (ATATT3…=<8 hex>)", ["atatt3"], rb"ATATT3[A-Za-z0-9_\-=]{100,}",
         "ATATT3xFfGF0" + fake(URLSAFE, 170, "atatt") + "=" + fake(HEX, 8, "atatt-crc").upper(), ctx="echo {s}",
         keep=6, cont=rb"[A-Za-z0-9_\-=]", viable=rb"ATATT3[A-Za-z0-9_\-=]*", negs=["ATATT3 is the prefix"]),
    _tok("square-token", "Square access token / application secret (sq0atp-, sq0csp-)", ["sq0atp-", "sq0csp-"],
         rb"sq0(?:atp-[A-Za-z0-9_\-]{22}|csp-[A-Za-z0-9_\-]{43})", "sq0atp-" + fake(URLSAFE, 22, "square"), keep=7,
         viable=rb"sq0(?:atp|csp)-[A-Za-z0-9_\-]*"),
    _tok("mapbox-secret-token", "Mapbox secret token (sk.eyJ…)", ["sk.eyj"],
         rb"sk\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{20,}", "sk.eyJ1Ijoi" + fake(URLSAFE, 20, "mb1") + "." +
         fake(URLSAFE, 22, "mb2"), keep=3, cont=rb"[A-Za-z0-9_\-.]", viable=rb"sk\.eyJ[A-Za-z0-9_\-.]*"),
    _tok("doppler-token", "Doppler token (dp.pt., dp.st., dp.sa., dp.ct., dp.scim., dp.audit.)",
         ["dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."],
         # service tokens may name their config: `dp.st.prd.…`, `dp.st.dev_personal.…`
         rb"dp\.(?:pt|st|sa|ct|scim|audit)\.(?:[A-Za-z0-9_\-]{1,40}\.)?[A-Za-z0-9]{40,44}(?![A-Za-z0-9])",
         "dp.pt." + fake(ALNUM, 43, "doppler"), keep=6, cont=rb"[A-Za-z0-9_.\-]",
         viable=rb"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9_.\-]*",
         negs=["dp.st.prd is the service token prefix"]),
    _tok("square-access-token", "Square production access token (EAAA + 60)", ["eaaa"],
         rb"EAAA[A-Za-z0-9_\-]{60}(?![A-Za-z0-9_\-+/=])", "EAAA" + fake(URLSAFE, 60, "square-eaaa"), keep=4,
         cont=rb"[A-Za-z0-9_\-+/=]", viable=rb"EAAA[A-Za-z0-9_\-]{0,60}",
         negs=["EAAA" + fake(ALNUM, 50, "sq-short"), "EAAA" + fake(ALNUM, 60, "sq-b64") + "+/AAAA"]),
    _tok("braintree-access-token", "PayPal Braintree access token (access_token$production$…$…)",
         ["access_token$production$", "access_token$sandbox$"],
         rb"access_token\$(?:production|sandbox)\$(?P<s>[0-9a-z]{16}\$[0-9a-f]{32})",
         fake("abcdefghijklmnopqrstuvwxyz0123456789", 16, "bt1") + "$" + fake(HEX, 32, "bt2"),
         ctx="BRAINTREE_TOKEN=access_token$production${s}", boundary=False, cont=rb"[A-Za-z0-9$_]", max_len=80,
         viable=rb"access_token\$(?:production|sandbox)\$[0-9a-z$]*"),
    _tok("terraform-cloud-token", "Terraform Cloud / Enterprise API token (….atlasv1.…)", ["atlasv1."],
         rb"atlasv1\.(?P<s>[A-Za-z0-9_=\-]{60,})", fake(URLSAFE, 67, "tfc2"),
         ctx="TFE_TOKEN=" + fake(ALNUM, 14, "tfc1") + ".atlasv1.{s}", boundary=False, cont=rb"[A-Za-z0-9_=\-.]", viable=rb"atlasv1\.[A-Za-z0-9_=\-]*"),
    _tok("pulumi-token", "Pulumi access token (pul-)", ["pul-"], rb"pul-[a-f0-9]{40}(?![A-Za-z0-9])",
         "pul-" + fake(HEX, 40, "pulumi"), keep=4, cont=rb"[A-Za-z0-9\-]", viable=rb"pul-[a-f0-9]{0,40}",
         negs=["pul-request"]),
    _tok("supabase-token", "Supabase access token (sbp_)", ["sbp_"], rb"sbp_[a-f0-9]{40}(?![A-Za-z0-9])",
         "sbp_" + fake(HEX, 40, "supabase"), keep=4, cont=rb"[A-Za-z0-9_]", viable=rb"sbp_[a-f0-9]{0,40}"),
    # A token is a bundle of macaroons joined by commas (`FlyV1 fm2_…,fm2_…`), often 300-700 bytes, more with many
    # caveats. Each member has its own head, but a member without one is masked too: a comma followed by 20+
    # token characters goes on with the bundle (a comma and a space, or a short word, ends it).
    _tok("flyio-token", "Fly.io token / macaroon bundle (fo1_, fm1r_, fm1a_, fm2_; `FlyV1 fm2_…,fm2_…`)",
         ["fo1_", "fm2_", "fm1r_", "fm1a_"],
         rb"f(?:o1|m2|m1[ar])_[A-Za-z0-9_\-+/=]{40,}(?:,[A-Za-z0-9_\-+/=]{20,})*",
         "fm2_" + fake(B64, 300, "fly1") + ",fm2_" + fake(B64, 260, "fly2") + "," + fake(B64, 120, "fly3"),
         ctx="FLY_API_TOKEN=FlyV1 {s}", keep=4, cont=rb"[A-Za-z0-9_\-+/=,]", max_len=4096,
         viable=rb"f(?:o1|m2|m1[ar])_[A-Za-z0-9_\-+/=,]*",
         negs=["fm2_ is the prefix", "the fo1_token_name variable"]),
    _tok("dropbox-token", "Dropbox short-lived access token (sl. or sl.u. + 130 or more)", ["sl."],
         rb"sl\.(?:u\.)?[A-Za-z0-9_\-]{130,}", "sl." + fake(URLSAFE, 138, "dropbox"), keep=3, cont=rb"[A-Za-z0-9_\-.]",
         viable=rb"sl\.(?:u\.)?[A-Za-z0-9_\-]*", negs=["see sl.example.com", "sl.u.example.com"], max_len=4096,
         pos=[("sl.u." + fake(URLSAFE, 1300, "dropbox-u"), "sl.u." + fake(URLSAFE, 1300, "dropbox-u"))]),
    _tok("twitter-bearer-token", "Twitter / X app bearer token (AAAAAAAAAAAAAAAAAAAAA… with %-escapes)",
         ["aaaaaaaaaaaaaaaaaaaaa"],
         # a run of A's is ordinary in base64 of binary data; the URL escapes (%2B, %3D) are what base64 lacks
         rb"A{21,}(?=[A-Za-z0-9%]*%[0-9A-F]{2})[A-Za-z0-9%]{60,}",
         "A" * 22 + fake(ALNUM, 40, "twitter") + "%2B" + fake(ALNUM, 20, "tw2") + "%3D" + fake(ALNUM, 30, "tw3"),
         cont=rb"[A-Za-z0-9%]", viable=rb"A{21,}[A-Za-z0-9%]*", negs=["a" * 30, "A" * 76, "A" * 30 + "B3NzaC1" * 10]),
    _tok("facebook-access-token", "Facebook / Meta access token (EAAB, EAAG … long)", ["eaab", "eaag", "eaad", "eaac"],
         rb"EAA[BCDG][A-Za-z0-9]{90,}", "EAAB" + fake(ALNUM, 160, "facebook"), keep=4, cont=rb"[A-Za-z0-9]",
         viable=rb"EAA[BCDG][A-Za-z0-9]*", negs=["EAAB is a prefix"], max_len=2048,
         pos=[("EAAG" + fake(ALNUM, 400, "facebook-long"), "EAAG" + fake(ALNUM, 400, "facebook-long"))]),
    _tok("telegram-bot-token", "Telegram bot token (<bot id>:AA… 35 characters)", [":aa"],
         rb":AA(?P<s>[A-Za-z0-9_\-]{33})(?![A-Za-z0-9_\-])", fake(URLSAFE, 33, "telegram"),
         ctx="TELEGRAM_BOT=7123456789:AA{s}", boundary=False, cont=rb"[A-Za-z0-9_\-:]",
         viable=rb":AA[A-Za-z0-9_\-]{0,33}"),
    _tok("sentry-dsn-key", "Sentry DSN key (https://<32 hex>@…sentry… or …ingest…)", ["://"],
         rb"://(?P<s>[0-9a-f]{32})(?::[0-9a-f]{32})?@[A-Za-z0-9.\-]*(?:sentry|ingest)[A-Za-z0-9.\-]*",
         fake(HEX, 32, "sentry-dsn"), ctx="dsn https://{s}@o450123.ingest.sentry.io/4504123", boundary=False,
         cont=rb"[A-Za-z0-9:/@.\-]", max_len=200,
         viable=rb"://[0-9a-f]{0,32}(?::[0-9a-f]{0,32})?(?:@[A-Za-z0-9:/@.\-]*)?",
         # (a hex token as the user-info of another host is `token-in-url`'s)
         negs=["https://user@sentry.example.com/1", "https://0123456789abcdef0123456789abcdef.sentry.example.com/x"],
         idle_show_below=8),  # (hex: `http://10.0.0.5`, `http://face…` typed are hosts until they are not hex)
    _tok("password-hash", "Password hashes in crypt(3) form ($1$, $5$, $6$, $2b$, $y$, $argon2…): offline-crackable",
         ["$1$", "$5$", "$6$", "$2a$", "$2b$", "$2y$", "$2x$", "$y$", "$apr1$", "$argon2"],
         rb"\$(?:(?:1|apr1)\$(?=[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}(?![./A-Za-z0-9$]))"
         rb"|[56]\$(?=(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43,86}(?![./A-Za-z0-9$]))"
         rb"|2[abxy]\$(?=\d\d\$[./A-Za-z0-9]{53}(?![./A-Za-z0-9$]))"
         rb"|y\$(?=[./A-Za-z0-9]+\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{43}(?![./A-Za-z0-9$]))"
         rb"|argon2(?:id|i|d)\$(?=v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+))"
         rb"(?P<s>[./A-Za-z0-9$=,+]+)",
         fake(ALNUM, 16, "salt") + "$" + fake(ALNUM + "./", 86, "sha512crypt"),
         ctx="root:$6${s}:19000:0:99999:7:::", boundary=False, cont=rb"[./A-Za-z0-9$=,+]",
         viable=rb"\$(?:1|5|6|2[abxy]|y|apr1|argon2(?:id|i|d)?)\$[./A-Za-z0-9$=,+]*",
         negs=["echo $1$2 done", "cost $5$ total", "price: $6$ each"]),
    DiscordTokenDetector(
         "discord-bot-token", "Discord bot token (base64 user id . timestamp . HMAC)", [],
         rb"[MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38}(?![A-Za-z0-9_\-])",
         cont=rb"[A-Za-z0-9_\-.]",
         viable=rb"[MNO][A-Za-z0-9_\-]{0,25}(?:\.[A-Za-z0-9_\-]{0,6}(?:\.[A-Za-z0-9_\-]{0,38})?)?",
         trigger_re=rb"\.[A-Za-z0-9_\-]{6}\.", trigger_width=8,
         zone_re=rb"(?<![A-Za-z0-9_\-.])[MNO](?=[A-Za-z0-9_\-]{23,25}\.|[A-Za-z0-9_\-.]*\Z)",
         # (the secret is what follows the first dot: before it is the base64 user id, public, which an idle
         # release shows while it is typed, since the trigger is the dot after it)
         positives=[(f"DISCORD_TOKEN={_DISCORD}", _DISCORD.split(".", 1)[1]), (_DISCORD, _DISCORD.split(".", 1)[1])],
         negatives=["MyApplicationNameIsLong.config.yaml", "NODE_ENV_PRODUCTION_SERV.x12345.y", "api.github.com"]),
    _tok("discord-webhook-url", "Discord webhook URL token (/api/webhooks/<id>/<token>)", ["/api/webhooks/"],
         rb"/api/webhooks/[0-9]{17,20}/(?P<s>[A-Za-z0-9_\-]{60,70})(?![A-Za-z0-9_\-])", fake(URLSAFE, 68, "dcw"),
         ctx="https://discord.com/api/webhooks/123456789012345678/{s}", boundary=False, cont=rb"[A-Za-z0-9_\-/]",
         max_len=128, viable=rb"/api/webhooks/[0-9]{0,20}(?:/[A-Za-z0-9_\-]{0,70})?",
         negs=["GET /api/webhooks/123456789012345678 200"]),
    _tok("google-oauth-refresh-token", "Google OAuth refresh token (1//0…)", ["1//0"],
         rb"1//0(?P<s>[A-Za-z0-9_\-]{40,512})", fake(URLSAFE, 100, "g-refresh"), ctx="refresh: 1//0{s}",
         boundary=False, cont=rb"[A-Za-z0-9_\-/]", max_len=520, viable=rb"1//0[A-Za-z0-9_\-]*",
         negs=["ratio 1//0 is undefined"]),
    _tok("firebase-fcm-server-key", "Firebase Cloud Messaging legacy server key (AAAA…:APA91b…)", [":apa91b"],
         rb":APA91b(?P<s>[A-Za-z0-9_\-]{60,})", fake(URLSAFE, 134, "fcm"),
         ctx="FCM_KEY=AAAA" + fake(URLSAFE, 7, "fcm0") + ":APA91b{s}", boundary=False, cont=rb"[A-Za-z0-9_\-:]",
         max_len=400, viable=rb":APA91b[A-Za-z0-9_\-]*"),
    _tok("postgres-scram-hash", "PostgreSQL SCRAM-SHA-256 password verifiers (pg_authid, ALTER ROLE … PASSWORD)",
         ["scram-sha-256$"],
         rb"SCRAM-SHA-256\$[0-9]{1,7}:(?P<s>[A-Za-z0-9+/]{8,}={0,2}\$[A-Za-z0-9+/]{20,}={0,2}:[A-Za-z0-9+/]{20,}={0,2})",
         fake(B64, 22, "scram-salt") + "==$" + fake(B64, 43, "scram-stored") + "=:" + fake(B64, 43, "scram-server") + "=",
         ctx="app | SCRAM-SHA-256$4096:{s} |", boundary=False, cont=rb"[A-Za-z0-9+/=$:\-]", max_len=300),
    _tok("postgres-md5-hash", "PostgreSQL md5 password hashes (md5 + 32 hex: pg_authid, pgbouncer userlist.txt); "
         "in md5 authentication the hash logs in as well as the password", ["md5"],
         rb"md5[0-9a-f]{32}(?![0-9A-Za-z])", "md5" + fake(HEX, 32, "pg-md5"), ctx='"app" "{s}"', keep=3,
         cont=rb"[0-9A-Za-z]", viable=rb"md5[0-9a-f]{0,32}",
         negs=["md5sum app.tar.gz", "md5 " + fake(HEX, 32, "pg-md5-spaced") + "  app.tar.gz", "hmac-md5 ok"]),
    _tok("alibaba-access-key-id", "Alibaba Cloud AccessKey id (LTAI + 12-20)", ["ltai"],
         rb"LTAI[A-Za-z0-9]{12,20}(?![A-Za-z0-9])", "LTAI" + fake(ALNUM, 20, "ali"), keep=4, cont=rb"[A-Za-z0-9]",
         viable=rb"LTAI[A-Za-z0-9]{0,20}", negs=["LTAI is a prefix"]),
    # Azure AD / Entra ID client secrets: 3 characters, a digit, `Q~`, then 31-34. The trigger is `Q~`, four bytes
    # into the secret: those four (about 21 bits of its ~200) stay visible, since holding them back would mean
    # holding every short word at the end of every chunk (and masking it at an idle release); the rest is masked.
    TokenDetector(
         "azure-ad-client-secret", "Azure AD / Entra ID application client secret (xxx8Q~ + 31-34)", ["q~"],
         rb"(?<=[A-Za-z0-9_~.]{3}[0-9])(?<![A-Za-z0-9_~.\-]....)Q~(?P<s>[A-Za-z0-9_~.\-]{31,34})(?![A-Za-z0-9_~\-])",
         boundary=False, cont=rb"[A-Za-z0-9_~.\-]", max_len=64,
         positives=[("az login --service-principal -u " + _uuid("az-app") + " -p " + _AZ_HEAD + "Q~" + _AZ_BODY
                     + " --tenant " + _uuid("az-tenant"), _AZ_BODY),
                    ('{"clientSecret": "' + _AZ_HEAD + "Q~" + _AZ_BODY + '"}', _AZ_BODY),
                    (_AZ_HEAD + "Q~" + _AZ_BODY, _AZ_BODY)],
         negatives=["cd ~/x && echo Q~", "ab8Q~" + fake(ALNUM, 34, "az-neg"), "abc8Q~short",
                    "abcdQ~" + fake(ALNUM, 34, "az-neg2")]),
    # k3s join token: `K10` + the CA certificate's sha256 + `::` + `user:password` (`server:…`, `node:…`)
    TokenDetector(
         "k3s-token", "k3s server / agent join token (K10<ca hash>::server:<password>, ::node:)", ["k10"],
         rb"K10(?P<s>[0-9a-f]{64}::[A-Za-z0-9_.\-]{1,64}:[A-Za-z0-9_.~+/=\-]{6,})",
         cont=rb"[A-Za-z0-9_.~+/=:\-]", max_len=400,
         viable=rb"K10[0-9a-f]{0,64}(?:::?[A-Za-z0-9_.\-]{0,64}(?::[A-Za-z0-9_.~+/=\-]*)?)?",
         positives=[("K10" + _K3S, _K3S), ("curl -sfL https://get.k3s.io | K3S_URL=https://10.0.0.1:6443 K3S_TOKEN=K10"
                                          + _K3S + " sh -", _K3S),
                    ("$ cat /var/lib/rancher/k3s/server/node-token\nK10" + _K3S_NODE + "\n", _K3S_NODE)],
         negatives=["K10 is a ski", "K10" + fake(HEX, 64, "k3s-ca") + " alone"]),
    _tok("openshift-oauth-token", "OpenShift OAuth access token (sha256~ + 43)", ["sha256~"],
         rb"sha256~[A-Za-z0-9_\-]{43}(?![A-Za-z0-9_\-])", "sha256~" + fake(URLSAFE, 43, "openshift"),
         ctx="Your API token is {s}", keep=7, cont=rb"[A-Za-z0-9_\-~]", viable=rb"sha256~[A-Za-z0-9_\-]{0,43}",
         negs=["image@sha256:" + fake(HEX, 64, "digest"), "sha256~ is the prefix", "sha256~" + fake(URLSAFE, 40, "os-short")]),
    # (base64 of `{"k":"<32 alnum>","n":"<name>","id":<n>}`; the JWT trigger `eyJ` starts JWT headers, never these)
    _tok("grafana-api-key", "Grafana legacy API key (base64 JSON eyJrIjoi…)", ["eyjrijoi"],
         rb"eyJrIjoi[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=])", _GRAFANA_LEGACY, keep=8, cont=rb"[A-Za-z0-9+/=]",
         viable=rb"eyJrIjoi[A-Za-z0-9+/=]*", negs=[base64.b64encode(b'{"k":"v"}').decode()]),
    # a key carried in a URL or form body (`ssl_key=-----BEGIN%20EC%20PRIVATE%20KEY-----%0AMHc…`): the body, to
    # the END marker or the end of the encoded run
    _tok("url-encoded-private-key", "URL-encoded PEM private key (-----BEGIN%20…PRIVATE%20KEY-----%0A…)",
         ["-----begin%20", "-----begin+"],
         rb"-----BEGIN(?:%20|\+)(?:[A-Z0-9]+(?:%20|\+)){0,3}PRIVATE(?:%20|\+)KEY(?:(?:%20|\+)BLOCK)?-----"
         rb"(?P<s>[A-Za-z0-9%+/=]{16,})", fake(B64, 64, "pem-urlenc").replace("/", "%2F").replace("+", "%2B"),
         ctx="key=-----BEGIN%20RSA%20PRIVATE%20KEY-----%0A{s}%0A-----END%20RSA%20PRIVATE%20KEY-----&x=1",
         boundary=False, cont=rb"[A-Za-z0-9%+/=\-]", max_len=16384,
         pos=[("cert=-----BEGIN+PRIVATE+KEY-----%0A" + fake(B64, 48, "pem-plus") + "%0A-----END+PRIVATE+KEY-----",
               "%0A" + fake(B64, 48, "pem-plus") + "%0A")],
         negs=["-----BEGIN%20CERTIFICATE-----%0AMIIC" + fake(B64, 40, "cert-urlenc")]),
]


def _prefixed(id: str, desc: str, prefixes: list[str], body: bytes, sample_body: str, *, flags: int = 0,
              negs: tuple[str, ...] = (), validate=None, cont: bytes = rb"[A-Za-z0-9_\-.=+/]",
              viable: bytes | None = None, max_len: int = 512, **idle: int) -> TokenDetector:
    """A token that is a fixed prefix and a body of a known shape (the common case of vendor tokens)."""
    alts = b"|".join(re.escape(p.encode()) for p in prefixes)
    token = prefixes[0] + sample_body
    return TokenDetector(
        # (`(?<!_)`: a head inside a longer name is not one: `pk_live_…` holds no Mollie `live_` key)
        id, desc, [p.lower() for p in prefixes], b"(?<!_)(?:" + alts + b")" + body + rb"(?![A-Za-z0-9_\-])",
        exact=tuple(prefixes),  # the pattern is case-sensitive: so is its trigger
        keep=min(len(p) for p in prefixes), cont=cont,
        viable=b"(?:" + alts + b")" + (viable or cont + b"*"), max_len=max_len, flags=flags, validate=validate, **idle,
        # the samples' secret is the part after the prefix: the prefix is public (and may be in the label)
        positives=[(f"token: {token}", sample_body), (token, sample_body)], negatives=list(negs))


# Vendor tokens with a distinctive prefix (the shapes gitleaks and the vendors' own docs give).
TOKEN_DETECTORS += [
    _prefixed("tailscale-key", "Tailscale auth/API/OAuth key (tskey-…)", ["tskey-"],
              rb"(?:auth|api|client|scim|webhook)-[A-Za-z0-9]{6,}-[A-Za-z0-9]{16,}",
              "auth-k" + fake(ALNUM, 11, "ts1") + "-" + fake(ALNUM, 33, "ts2")),
    _prefixed("groq-api-key", "Groq API key (gsk_)", ["gsk_"], rb"[A-Za-z0-9]{52}", fake(ALNUM, 52, "groq")),
    _prefixed("replicate-api-token", "Replicate API token (r8_)", ["r8_"], rb"[A-Za-z0-9]{37}", fake(ALNUM, 37, "r8")),
    _prefixed("perplexity-api-key", "Perplexity API key (pplx-)", ["pplx-"], rb"[A-Za-z0-9]{48}",
              fake(ALNUM, 48, "pplx")),
    _prefixed("xai-api-key", "xAI API key (xai-)", ["xai-"], rb"[A-Za-z0-9]{70,90}", fake(ALNUM, 80, "xai")),
    _prefixed("langsmith-api-key", "LangSmith API key (lsv2_pt_, lsv2_sk_)", ["lsv2_pt_", "lsv2_sk_"],
              rb"[a-f0-9]{32}_[a-f0-9]{10}", fake(HEX, 32, "ls1") + "_" + fake(HEX, 10, "ls2")),
    _prefixed("pinecone-api-key", "Pinecone API key (pcsk_)", ["pcsk_"], rb"[A-Za-z0-9]{4,8}_[A-Za-z0-9]{50,80}",
              fake(ALNUM, 5, "pc1") + "_" + fake(ALNUM, 63, "pc2")),
    _prefixed("sentry-auth-token", "Sentry organisation/user auth token (sntrys_, sntryu_)", ["sntrys_", "sntryu_"],
              rb"[A-Za-z0-9+/=_]{40,}", "eyJpYXQiOjE3" + fake(ALNUM, 60, "sntry")),
    _prefixed("figma-token", "Figma personal access token (figd_)", ["figd_"], rb"[A-Za-z0-9_\-]{40}",
              fake(URLSAFE, 40, "figd")),
    _prefixed("bitbucket-app-password", "Bitbucket app password / access token (ATBB, ATCTT)", ["ATBB", "ATCTT3"],
              rb"[A-Za-z0-9_=.\-]{28,}", fake(ALNUM, 32, "atbb")),
    _prefixed("contentful-token", "Contentful personal access token (CFPAT-)", ["CFPAT-"], rb"[A-Za-z0-9_\-]{43}",
              fake(URLSAFE, 43, "cfpat")),
    _prefixed("dynatrace-token", "Dynatrace API token (dt0c01.…)", ["dt0c01."], rb"[A-Z0-9]{24}\.[A-Z0-9]{64}",
              fake(UPPER_DIGITS, 24, "dt1") + "." + fake(UPPER_DIGITS, 64, "dt2")),
    _prefixed("harness-token", "Harness personal/service access token (pat.…, sat.…)", ["pat.", "sat."],
              rb"[A-Za-z0-9_\-]{22}\.[a-f0-9]{24}\.[A-Za-z0-9]{20}",
              fake(URLSAFE, 22, "h1") + "." + fake(HEX, 24, "h2") + "." + fake(ALNUM, 20, "h3"), idle_min_body=4),
    _prefixed("hubspot-token", "HubSpot private app token (pat-na1-, pat-eu1-)", ["pat-na1-", "pat-eu1-"],
              rb"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}",
              "-".join(fake(HEX, n, f"hs{n}{i}") for i, n in enumerate((8, 4, 4, 4, 12)))),
    _prefixed("planetscale-token", "PlanetScale token / password (pscale_tkn_, pscale_pw_, pscale_oauth_)",
              ["pscale_tkn_", "pscale_pw_", "pscale_oauth_"], rb"[A-Za-z0-9_=.\-]{32,64}", fake(URLSAFE, 43, "ps")),
    _prefixed("prefect-api-key", "Prefect API key (pnu_)", ["pnu_"], rb"[A-Za-z0-9]{36}", fake(ALNUM, 36, "pnu")),
    _prefixed("readme-api-key", "ReadMe API key (rdme_)", ["rdme_"], rb"[a-z0-9]{70}",
              fake("abcdefghijklmnopqrstuvwxyz0123456789", 70, "rdme")),
    _prefixed("rubygems-api-key", "RubyGems API key (rubygems_)", ["rubygems_"], rb"[a-f0-9]{48}", fake(HEX, 48, "rg")),
    _prefixed("scalingo-token", "Scalingo API token (tk-us-)", ["tk-us-"], rb"[A-Za-z0-9_\-]{48}",
              fake(URLSAFE, 48, "scal")),
    _prefixed("brevo-api-key", "Brevo / Sendinblue API or SMTP key (xkeysib-, xsmtpsib-)", ["xkeysib-", "xsmtpsib-"],
              rb"[a-f0-9]{64}-[A-Za-z0-9]{16}", fake(HEX, 64, "sib1") + "-" + fake(ALNUM, 16, "sib2")),
    _prefixed("typeform-token", "Typeform personal access token (tfp_)", ["tfp_"], rb"[A-Za-z0-9_\-.=]{40,64}",
              fake(URLSAFE, 59, "tfp")),
    _prefixed("easypost-api-key", "EasyPost production/test API key (EZAK, EZTK)", ["EZAK", "EZTK"],
              rb"[A-Za-z0-9]{54}", fake(ALNUM, 54, "ezak")),
    _prefixed("flutterwave-secret-key", "Flutterwave secret / encryption key (FLWSECK-, FLWSECK_TEST-)",
              ["FLWSECK-", "FLWSECK_TEST-", "FLWSECK_TEST"], rb"[a-hA-H0-9]{12,32}(?:-X)?", fake(HEX, 32, "flw") + "-X"),
    _prefixed("frameio-token", "Frame.io API token (fio-u-)", ["fio-u-"], rb"[A-Za-z0-9_\-=]{64}",
              fake(URLSAFE, 64, "fio")),
    _prefixed("duffel-token", "Duffel API token (duffel_live_, duffel_test_)", ["duffel_live_", "duffel_test_"],
              rb"[A-Za-z0-9_\-=]{43}", fake(URLSAFE, 43, "duffel")),
    _prefixed("shippo-token", "Shippo API token (shippo_live_, shippo_test_)", ["shippo_live_", "shippo_test_"],
              rb"[a-f0-9]{40}", fake(HEX, 40, "shippo")),
    _prefixed("buildkite-token", "Buildkite API access token (bkua_)", ["bkua_"], rb"[a-f0-9]{40}", fake(HEX, 40, "bk")),
    _prefixed("circleci-token", "CircleCI personal API token (CCIPAT_)", ["CCIPAT_"], rb"[A-Za-z0-9]{20,24}_[a-f0-9]{40}",
              fake(ALNUM, 22, "cci1") + "_" + fake(HEX, 40, "cci2")),
    _prefixed("netlify-token", "Netlify personal access token (nfp_)", ["nfp_"], rb"[A-Za-z0-9]{36,40}",
              fake(ALNUM, 36, "nfp")),
    _prefixed("sonarqube-token", "SonarQube / SonarCloud user, project and analysis tokens (squ_, sqp_, sqa_)",
              ["squ_", "sqp_", "sqa_"], rb"[a-f0-9]{40}", fake(HEX, 40, "sonar")),
    _tok("jenkins-secret", "Jenkins encrypted secrets (`{AQAAAB…}` in config.xml and credentials.xml): "
         "anyone with the controller's master key reads them", ["{aqaaab"],
         rb"\{AQAAAB(?P<s>[A-Za-z0-9+/]{20,}={0,2})\}", fake(B64, 60, "jenkins-secret"), boundary=False,
         cont=rb"[{}A-Za-z0-9+/=]", viable=rb"\{(?:A(?:Q(?:A(?:A(?:A(?:B[A-Za-z0-9+/]*={0,2})?)?)?)?)?)?",
         ctx="  <value>{{AQAAABAAAAAw{s}=}}</value>", negs=["{AQAAAB}", "echo {AQAAAB,x}"]),
    _tok("juniper-encrypted-password", "Juniper `$9$` encrypted passwords (reversible)", ["$9$"],
         rb"\$9\$(?P<s>[A-Za-z0-9./\-]{8,})", fake(ALNUM + "./-", 32, "junos"), boundary=False,
         ctx='set system root-authentication encrypted-password "$9${s}"', cont=rb"[$A-Za-z0-9./\-]"),
    _tok("dovecot-plain-password", "Plain-text passwords in Dovecot / Cyrus passwd files (`{PLAIN}…`)",
         ["{plain}", "{clear}", "{cleartext}"], rb"\{(?:PLAIN|CLEAR|CLEARTEXT)\}(?P<s>[^\s:]+)", PASSWORD,
         ctx="jdoe:{{PLAIN}}{s}::::::", boundary=False, cont=rb"[^\s:]"),
    _tok("maven-master-password", "Maven settings-security.xml master password (`<master>{…}</master>`)",
         ["<master>{"], rb"<master>\{(?P<s>[A-Za-z0-9+/=]{16,})\}", fake(B64, 43, "mvn-master") + "=",
         ctx="<settingsSecurity>\n  <master>{{{s}}}</master>", boundary=False, cont=rb"[<>{}A-Za-z0-9+/=]"),
    _tok("openvpn-inline-auth", "OpenVPN inline `<auth-user-pass>` credentials (the password line)", ["<auth-user-pass>"],
         rb"<auth-user-pass>\r?\n[^\r\n<]*\r?\n(?P<s>[^\r\n<]+)", PASSWORD,
         ctx="<auth-user-pass>\njdoe\n{s}\n</auth-user-pass>", boundary=False, cont=rb"(?:<auth-user-pass>)?[^<]",
         max_len=600),
    _prefixed("render-api-key", "Render API key (rnd_)", ["rnd_"], rb"[A-Za-z0-9]{32}", fake(ALNUM, 32, "rnd")),
    # (the body is the secret: a `v` typed at a prompt is not held back waiting for a `vcp_` head)
    _tok("vercel-token", "Vercel personal / integration / app / API token (vcp_, vci_, vca_, vcr_, vck_)",
         ["vcp_", "vci_", "vca_", "vcr_", "vck_"],
         rb"(?<![A-Za-z0-9])vc[pikar]_(?P<s>[A-Za-z0-9]{24,})(?![A-Za-z0-9_\-])",
         fake(ALNUM, 56, "vercel"), ctx="deploy --token vcp_{s} --prod", boundary=False, cont=rb"[A-Za-z0-9_\-]", max_len=300,
         negs=["vcr_cassette_dir = tests/fixtures"]),
    _prefixed("onepassword-service-token", "1Password service account token (ops_eyJ…: base64url JSON, ~850 long)",
              ["ops_eyJ"], rb"[A-Za-z0-9+/=_\-]{100,2000}", fake(URLSAFE, 860, "ops"), max_len=2100),
    _prefixed("heroku-api-key", "Heroku API key, new format (HRKU-)", ["HRKU-"], rb"[A-Za-z0-9_\-]{58,64}",
              fake(URLSAFE, 60, "hrku")),
    _prefixed("posthog-personal-key", "PostHog personal API key (phx_)", ["phx_"], rb"[A-Za-z0-9]{43}",
              fake(ALNUM, 43, "phx")),
    _prefixed("jfrog-api-key", "JFrog Artifactory API key (AKCp…)", ["AKCp"], rb"[A-Za-z0-9]{69}", fake(ALNUM, 69, "akcp")),
    _prefixed("clojars-token", "Clojars deploy token (CLOJARS_)", ["CLOJARS_"], rb"[a-z0-9]{60}",
              fake("abcdefghijklmnopqrstuvwxyz0123456789", 60, "clojars")),
    _prefixed("defined-networking-key", "Defined Networking API key (dnkey-)", ["dnkey-"],
              rb"[a-z0-9=_\-]{26}-[a-z0-9=_\-]{52}", fake("abcdefghijklmnopqrstuvwxyz0123456789", 26, "dn1") + "-"
              + fake("abcdefghijklmnopqrstuvwxyz0123456789", 52, "dn2")),
    _prefixed("adobe-client-secret", "Adobe client secret (p8e-)", ["p8e-"], rb"[A-Za-z0-9]{32}", fake(ALNUM, 32, "p8e")),
    _prefixed("supabase-secret-key", "Supabase secret API key (sb_secret_)", ["sb_secret_"], rb"[A-Za-z0-9_\-]{30,}",
              fake(URLSAFE, 40, "sbs")),
    _prefixed("sourcegraph-token", "Sourcegraph access token (sgp_)", ["sgp_"], rb"(?:[a-f0-9]{16}_)?[a-f0-9]{40}",
              fake(HEX, 16, "sg1") + "_" + fake(HEX, 40, "sg2")),
    _prefixed("infracost-api-key", "Infracost API key (ico-)", ["ico-"], rb"[A-Za-z0-9]{32}", fake(ALNUM, 32, "ico")),
    _prefixed("nuget-api-key", "NuGet API key (oy2 + 43 lower-case letters and digits)", ["oy2"], rb"[a-z0-9]{43}",
              fake(LOWER_DIGITS, 43, "nuget"), validate=lambda s: _letters_and_digits(s[3:]),
              negs=("oy2" + "abcdefghij" * 4 + "abc",)),
    _prefixed("crates-io-token", "crates.io API token (cio + 32)", ["cio"], rb"[A-Za-z0-9]{32}", fake(ALNUM, 32, "cio"),
              validate=lambda s: _letters_and_digits(s[3:]), negs=("ciocarlie_ciocarlie_ciocarlie_x", "cio_config")),
    _prefixed("plaid-access-token", "Plaid access token (access-sandbox-, access-development-, access-production- + UUID)",
              ["access-production-", "access-development-", "access-sandbox-"],
              rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", _uuid("plaid"),
              negs=("access-production-cluster", "public-sandbox-" + _uuid("plaid-public"))),
    _tok("teams-webhook-url", "Microsoft Teams / Power Automate incoming webhook URL secret path",
         ["webhook.office.com/webhookb2/"],
         rb"webhook\.office\.com/webhookb2/(?P<s>[A-Za-z0-9@\-]{20,}/IncomingWebhook/[A-Za-z0-9]{20,}/[A-Za-z0-9\-]{20,}"
         rb"(?:/[A-Za-z0-9_\-]{20,})?)",
         fake(HEX, 36, "tw1") + "@" + fake(HEX, 36, "tw2") + "/IncomingWebhook/" + fake(HEX, 32, "tw3") + "/"
         + fake(HEX, 36, "tw4"), ctx="https://acme.webhook.office.com/webhookb2/{s}", boundary=False,
         cont=rb"[A-Za-z0-9@/_\-.]", max_len=400, viable=rb"webhook\.office\.com/webhookb2/[A-Za-z0-9@/_\-]*"),
    _prefixed("paseto-token", "PASETO tokens (v1-v4 `local` encrypted and `public` signed bearer tokens)",
              ["v1.local.", "v2.local.", "v3.local.", "v4.local.", "v1.public.", "v2.public.", "v3.public.", "v4.public."],
              rb"[A-Za-z0-9_\-]{40,}(?:\.[A-Za-z0-9_\-]+)?", fake(URLSAFE, 90, "paseto")),
    _prefixed("woocommerce-key", "WooCommerce REST API consumer key / secret (ck_, cs_ + 40 hex)", ["ck_", "cs_"],
              rb"[a-f0-9]{40}", fake(HEX, 40, "woo"), negs=("cs_" + "a" * 12,), cont=rb"[A-Za-z0-9_]", idle_min_body=8),
    _prefixed("bip32-extended-private-key", "BIP32 extended private keys (xprv, tprv, yprv, zprv: a wallet's master key)",
              ["xprv", "tprv", "yprv", "zprv"], rb"[1-9A-HJ-NP-Za-km-z]{100,112}",
              fake("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", 107, "xprv")),
    _prefixed("infisical-token", "Infisical service tokens (st.<id>.<secret>)", ["st."],
              rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[a-f0-9]{32}\.[a-f0-9]{32}",
              _uuid("infisical") + "." + fake(HEX, 32, "inf1") + "." + fake(HEX, 32, "inf2"), idle_min_body=8),
    _prefixed("portainer-api-key", "Portainer API access token (ptr_)", ["ptr_"], rb"[A-Za-z0-9+/=_\-]{40,50}",
              fake(ALNUM, 44, "ptr")),
    _tok("rancher-token", "Rancher API token (token-xxxxx:<secret>)", ["token-"],
         rb"token-[a-z0-9]{5}:(?P<s>[a-z0-9]{54})(?![A-Za-z0-9_\-])", fake(LOWER_DIGITS, 54, "rch2"),
         ctx="RANCHER_TOKEN=token-" + fake(LOWER_DIGITS, 5, "rch1") + ":{s}", boundary=False, cont=rb"[A-Za-z0-9_\-:]",
         viable=rb"token-[a-z0-9]{0,5}(?::[a-z0-9]{0,54})?", idle_min_body=8),
    _prefixed("fireworks-api-key", "Fireworks AI API key (fw_)", ["fw_"], rb"[A-Za-z0-9]{24}", fake(ALNUM, 24, "fw"), cont=rb"[A-Za-z0-9_]",
              idle_min_body=8),
    _prefixed("cerebras-api-key", "Cerebras API key (csk-)", ["csk-"], rb"[a-z0-9]{48}", fake(LOWER_DIGITS, 48, "csk")),
    _prefixed("anyscale-api-key", "Anyscale API key (esecret_)", ["esecret_"], rb"[a-z0-9]{26}",
              fake(LOWER_DIGITS, 26, "anyscale")),
    _prefixed("voyage-api-key", "Voyage AI API key (pa-)", ["pa-"], rb"[A-Za-z0-9_\-]{43}", fake(URLSAFE, 43, "voyage"),
              validate=lambda s: sum(c in b"0123456789" for c in s) >= 2, idle_min_body=8),
    _prefixed("runpod-api-key", "RunPod API key (rpa_)", ["rpa_"], rb"[A-Z0-9]{40}", fake(UPPER_DIGITS, 40, "runpod")),
    _prefixed("nvidia-api-key", "NVIDIA NGC / build.nvidia.com API key (nvapi-)", ["nvapi-"], rb"[A-Za-z0-9_\-]{64}",
              fake(URLSAFE, 64, "nvapi")),
    _prefixed("tencent-secret-id", "Tencent Cloud SecretId (AKID + 32)", ["AKID"], rb"[A-Za-z0-9]{32}",
              fake(ALNUM, 32, "akid"), validate=lambda s: sum(c in b"0123456789" for c in s) >= 2),
    _prefixed("gcp-hmac-access-id", "Google Cloud Storage HMAC key access id (GOOG1 + 56-61)", ["GOOG1"],
              rb"[A-Z0-9]{50,70}", fake(UPPER_DIGITS, 56, "goog1")),
    _prefixed("digitalocean-spaces-key", "DigitalOcean Spaces access key (DO00 + 16)", ["DO00"], rb"[A-Z0-9]{16}",
              fake(UPPER_DIGITS, 16, "do00"), validate=lambda s: sum(c in b"0123456789" for c in s) >= 2),
    _prefixed("scaleway-access-key", "Scaleway access key (SCW + 17)", ["SCW"], rb"[A-Z0-9]{17}",
              fake(UPPER_DIGITS, 17, "scw"), validate=lambda s: sum(c in b"0123456789" for c in s) >= 2),
    _tok("salesforce-access-token", "Salesforce access / session token (00D<org id>!<token>)", ["00D"],
         rb"(?<![A-Za-z0-9])00D[A-Za-z0-9]{12,15}!(?P<s>[A-Za-z0-9._]{80,})(?![A-Za-z0-9._])", fake(ALNUM, 96, "sf2"),
         ctx="Access Token     00D" + fake(ALNUM, 12, "sf1") + "!{s}", boundary=False, cont=rb"[A-Za-z0-9._!]",
         max_len=512, viable=rb"00D[A-Za-z0-9]{0,15}(?:![A-Za-z0-9._]*)?"),
    _prefixed("mollie-api-key", "Mollie / GoCardless live API keys (live_ + 30-48)", ["live_"], rb"[A-Za-z0-9]{30,48}",
              fake(ALNUM, 30, "mollie"), validate=lambda s: sum(c in b"0123456789" for c in s) >= 2, cont=rb"[A-Za-z0-9_]",
              idle_min_body=8),
    _prefixed("elastic-cloud-api-key", "Elastic Cloud API key (essu_)", ["essu_"], rb"[A-Za-z0-9+/=]{60,}",
              fake(B64, 80, "essu")),
    _prefixed("clickup-api-token", "ClickUp personal API token (pk_<user id>_<32>)", ["pk_"], rb"[0-9]{4,12}_[A-Z0-9]{32}",
              "34792597_" + fake(UPPER_DIGITS, 32, "clickup"), idle_min_body=8),
    _prefixed("launchdarkly-key", "LaunchDarkly SDK, mobile and API access keys (sdk-, mob-, api- + UUID)",
              ["sdk-", "mob-", "api-"], rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", _uuid("ld-sdk"),
              cont=rb"[A-Za-z0-9\-]",
              viable=rb"[0-9a-f]{0,8}(?:-[0-9a-f]{0,4}(?:-[0-9a-f]{0,4}(?:-[0-9a-f]{0,4}(?:-[0-9a-f]{0,12})?)?)?)?",
              idle_min_body=8, idle_show_below=14),  # (`api-7d9f8b6c5-x2k4p`, a pod name, typed: a key needs a whole UUID)
    _prefixed("bitbucket-dc-token", "Bitbucket Data Center HTTP access token (BBDC-)", ["BBDC-"], rb"[A-Za-z0-9+/]{40,50}",
              fake(B64, 44, "bbdc")),
    _prefixed("youtrack-token", "YouTrack permanent token (perm:)", ["perm:"],
              rb"[A-Za-z0-9+/=]{4,}\.[A-Za-z0-9+/=\-]{4,}\.[A-Za-z0-9]{20,}",
              fake(B64, 12, "yt1") + "." + fake(B64, 12, "yt2") + "." + fake(ALNUM, 30, "yt3"), cont=rb"[A-Za-z0-9_\-.=+/:]"),
    _prefixed("packagist-token", "Packagist API tokens (packagist_uut_, _ouk_, _oat_)",
              ["packagist_uut_", "packagist_ouk_", "packagist_oat_"], rb"[A-Za-z0-9]{60,80}", fake(ALNUM, 68, "packagist")),
    _prefixed("databricks-oauth-secret", "Databricks service-principal OAuth secret (dose + 32 hex)", ["dose"],
              rb"[a-f0-9]{32}", fake(HEX, 32, "dose"), cont=rb"[A-Za-z0-9]", idle_min_body=8),
    _prefixed("dbt-cloud-token", "dbt Cloud service / personal token (dbtc_, dbtu_)", ["dbtc_", "dbtu_"],
              rb"[A-Za-z0-9_\-]{40,64}", fake(URLSAFE, 50, "dbtc")),
    _prefixed("neon-api-key", "Neon API key (napi_)", ["napi_"], rb"[a-z0-9]{64}", fake(LOWER_DIGITS, 64, "neon")),
    _prefixed("fauna-secret", "Fauna database secret (fnA…)", ["fnA"], rb"[A-Za-z0-9_\-]{37}", fake(URLSAFE, 37, "fauna")),
    _prefixed("honeybadger-token", "Honeybadger personal auth token (hbp_)", ["hbp_"], rb"[A-Za-z0-9]{36}",
              fake(ALNUM, 36, "hbp")),
    _prefixed("honeycomb-api-key", "Honeycomb ingest / configuration keys (hcaik_, hcxik_, hcxlk_, hcamk_)",
              ["hcaik_", "hcxik_", "hcxlk_", "hcamk_"], rb"[a-z0-9]{40,70}", fake(LOWER_DIGITS, 58, "hcaik")),
    _prefixed("axiom-token", "Axiom API / personal tokens (xaat-, xapt- + UUID)", ["xaat-", "xapt-"],
              rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", _uuid("axiom")),
    _prefixed("coralogix-key", "Coralogix send-your-data / API keys (cxtp_, cxup_)", ["cxtp_", "cxup_"],
              rb"[A-Za-z0-9]{30}", fake(ALNUM, 30, "cxtp")),
    _prefixed("paddle-api-key", "Paddle Billing API key (pdl_live_apikey_, pdl_sdbx_apikey_)",
              ["pdl_live_apikey_", "pdl_sdbx_apikey_"], rb"[a-z0-9]{20,32}_[A-Za-z0-9]{16,32}_[A-Za-z0-9]{2,6}",
              fake(LOWER_DIGITS, 26, "pdl1") + "_" + fake(ALNUM, 22, "pdl2") + "_" + fake(ALNUM, 3, "pdl3")),
    _prefixed("checkout-sandbox-key", "Checkout.com sandbox secret key (sk_sbox_)", ["sk_sbox_"], rb"[a-z0-9]{26}",
              fake(LOWER_DIGITS, 26, "cko")),
    _prefixed("twitch-oauth-token", "Twitch chat OAuth token (oauth: + 30)", ["oauth:"], rb"[a-z0-9]{30}",
              fake(LOWER_DIGITS, 30, "twitch"), validate=lambda s: sum(c in b"0123456789" for c in s) >= 2,
              cont=rb"[A-Za-z0-9:]", idle_min_body=8),
    _prefixed("backblaze-application-key", "Backblaze B2 application key (K00n + 27)", ["K001", "K002", "K003", "K004",
              "K005"], rb"[A-Za-z0-9+/]{27}", fake(B64, 27, "b2")),
    _prefixed("exoscale-api-key", "Exoscale API key (EXO + 24 hex)", ["EXO"], rb"[0-9a-f]{24}", fake(HEX, 24, "exo"), idle_min_body=8),
    _prefixed("gitlab-feature-flag-token", "GitLab feature-flags client token (glffct-)", ["glffct-"],
              rb"[A-Za-z0-9_\-]{20}", fake(URLSAFE, 20, "glffct")),
    _prefixed("cloudflare-tunnel-token", "Cloudflare Tunnel token (`cloudflared service install eyJhIjoi…`)", ["eyJhIjoi"],
              rb"[A-Za-z0-9+/=_\-]{60,}", fake(B64, 120, "cftunnel")),
    _prefixed("airtable-token", "Airtable personal access token (pat<14>.<64 hex>)", ["pat"],
              rb"[A-Za-z0-9]{14}\.[a-f0-9]{64}", fake(ALNUM, 14, "airt") + "." + fake(HEX, 64, "airt2"),
              cont=rb"[A-Za-z0-9.]", idle_min_body=15),  # (`pathological…`: the 14 characters before the dot are the token's id)
    _tok("private-key-der-base64", "Private keys as one line of base64 DER with no PEM armour (PKCS#8 RSA / EC / "
         "Ed25519, PKCS#1 RSA, PKCS#12 keystores)", [],
         rb"(?<![A-Za-z0-9+/])(?:MII[A-Za-z0-9+/]{3}IBADANBgkqhkiG9w0BAQEFAASC|MIG[A-Za-z0-9+/]{2}AgEAMBMGByqGSM49AgEG"
         rb"|MC4CAQAwBQYDK2VwBCIEI|MII[A-Za-z0-9+/]{3}IBAAKC[AQg]|MII[A-Za-z0-9+/]{3}IBAzCC)[A-Za-z0-9+/]{40,}={0,2}"
         rb"(?![A-Za-z0-9+/=])",
         "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" + fake(B64, 200, "der"), ctx="JWT_SIGNER={s}", boundary=False,
         cont=rb"[A-Za-z0-9+/=]", max_len=16384, keep=0,
         trigger_re=rb"MII[A-Za-z0-9+/]{3}IBADANBgkqhkiG9w0BAQEFAASC|MIG[A-Za-z0-9+/]{2}AgEAMBMGByqGSM49AgEG"
                    rb"|MC4CAQAwBQYDK2VwBCIEI|MII[A-Za-z0-9+/]{3}IBAAKC[AQg]|MII[A-Za-z0-9+/]{3}IBAzCC",
         trigger_width=40, zone_re=rb"(?<![A-Za-z0-9+/])M(?=[IC]|\Z)",
         negs=["MIIBszCCAVmgAwIBAgIUfakecertificate" + "A" * 40, "MIT License"]),
    # curl's `-c` cookie jar: domain, subdomains, path, secure, expiry, name, value (tab-separated)
    _tok("cookie-jar-value", "Cookie values in Netscape / curl cookie-jar files", ["\ttrue\t", "\tfalse\t"],
         rb"\t(?:TRUE|FALSE)\t[^\t\r\n]*\t(?:TRUE|FALSE)\t[0-9]{1,12}\t[^\t\r\n]+\t(?P<s>[^\t\r\n]{8,})",
         fake(ALNUM, 32, "cookiejar"), ctx=".example.com\tTRUE\t/\tTRUE\t1735689600\tsessionid\t{s}", boundary=False,
         cont=rb"[^\r\n]", max_len=4200, negs=["name\tTRUE\tactive\n"]),
    # SSLKEYLOGFILE (NSS key log): with it anyone can decrypt a captured TLS session
    _tok("tls-key-log-secret", "TLS session secrets in SSLKEYLOGFILE lines (CLIENT_RANDOM, *_TRAFFIC_SECRET_*)",
         ["client_random ", "traffic_secret", "exporter_secret "],
         rb"(?:CLIENT_RANDOM|TRAFFIC_SECRET(?:_[0-9]+)?|EXPORTER_SECRET) [0-9a-fA-F]{64} (?P<s>[0-9a-fA-F]{64,128})",
         fake(HEX, 96, "keylog"), ctx="CLIENT_RANDOM " + fake(HEX, 64, "keylog-random") + " {s}", boundary=False,
         cont=rb"[A-Za-z0-9_ ]", max_len=300),
    _tok("mysql-native-password-hash", "MySQL mysql_native_password hashes (`*` + 40 hex, authentication_string)", [],
         rb"(?<![A-Za-z0-9*])\*(?P<s>[0-9A-F]{40})(?![0-9A-Fa-f])", fake("0123456789ABCDEF", 40, "mysql-hash"),
         ctx="IDENTIFIED WITH mysql_native_password AS '*{s}'", boundary=False, cont=rb"[*0-9A-Fa-f]",
         trigger_re=rb"\*[0-9A-F]{40}", trigger_width=41,
         zone_re=rb"(?<![A-Za-z0-9*])\*(?=[0-9A-F]{0,40}(?:\Z|[^0-9A-Fa-f]))", idle_head=rb"\*[0-9A-F]{40}",
         negs=["*" + "ab" * 20 + " lower-case"]),
    _tok("composer-github-oauth", "Composer auth.json GitHub OAuth tokens (`\"github-oauth\": {\"github.com\": \"…\"}`)",
         ['"github-oauth"'], rb'"github-oauth"\s*:\s*\{\s*"[^"\n]{1,100}"\s*:\s*"(?P<s>[A-Za-z0-9_]{20,255})"',
         fake(HEX, 40, "composer"), ctx='{{\n  "github-oauth": {{\n    "github.com": "{s}"\n  }}\n}}', boundary=False,
         cont=rb'[^}]', max_len=600),
    _tok("minisign-secret-key", "minisign / signify secret keys (the base64 line after `untrusted comment: … secret key`)",
         ["untrusted comment:"],
         rb"untrusted comment:[^\r\n]*secret key[ \t]*\r?\n(?P<s>[A-Za-z0-9+/]{40,}={0,2})", fake(B64, 140, "minisign"),
         ctx="untrusted comment: minisign encrypted secret key\n{s}", boundary=False,
         cont=rb"(?:untrusted comment:[^\r\n]*\r?\n)?[A-Za-z0-9+/=]", max_len=600,
         negs=["untrusted comment: minisign public key 1234\nRWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"]),
    _tok("chat-webhook-url", "Chat and automation webhook URL secrets (Mattermost, Zapier, IFTTT, Feishu / Lark, "
         "WeCom, DingTalk)", ["/hooks/", "/with/key/", "/open-apis/bot/v2/hook/", "/cgi-bin/webhook/send?key="],
         rb"(?:/hooks/(?:catch/[0-9]+/)?|/with/key/|/open-apis/bot/v2/hook/|/cgi-bin/webhook/send\?key=)"
         rb"(?P<s>[A-Za-z0-9_\-]{6,}(?:/[A-Za-z0-9_\-]+)?)",
         fake(LOWER_DIGITS, 26, "mattermost"), ctx="https://chat.example.com/hooks/{s}", boundary=False,
         cont=rb"[A-Za-z0-9_\-/?=]", validate=lambda s: sum(c in b"0123456789" for c in s) >= 2,
         negs=["see /hooks/ for the list", "git config core.hooksPath .git/hooks/pre-commit"], idle_show_below=16),
]


def _url_hold(v: bytes, ts: int, te: int, avail: int) -> int | None:
    """While a URL arrives, only what follows `user:` in its authority could be a password (not a port and a
    path: `host:8080/…`)."""
    m = _URL_USER.match(v, te, avail)
    if m is None or _PORT_PATH.match(v, m.end(), avail):
        return None
    return m.end()


_URL_USER = re.compile(rb"[^\s:/@?#]{0,128}:")
_PORT_PATH = re.compile(rb"[0-9]*[/?#]")


_USERINFO_TOKEN_SO_FAR = re.compile(rb"[A-Za-z0-9_\-]{0,256}(?:\Z|@)")


def _userinfo_token_hold(v: bytes, ts: int, te: int, avail: int) -> int | None:
    """While a URL arrives, a token alone in its user-info can only be a run of token characters from `://`,
    still arriving or ended by `@`: a host name's first `.` or `:` (or a path's `/`) ends the chance."""
    return te if _USERINFO_TOKEN_SO_FAR.match(v, te, avail) else None


def _after_blanks(v: bytes, ts: int, te: int, avail: int) -> int:
    """Where the value after a context word starts (past its spaces): what to hold while it arrives."""
    while te < avail and v[te] in b" \t":
        te += 1
    return te


# While a line naming Mailchimp arrives: where a key could start, a whole one (`")` after it, the line not yet
# ended) or the end of one still arriving (`<hex>`, `<32 hex>-u`, `-us1`)
_MAILCHIMP_HOLD = re.compile(rb"(?<![A-Za-z0-9])(?:[0-9a-f]{32}-us[0-9]{1,2}(?![A-Za-z0-9])"
                             rb"|[0-9a-f]{1,32}(?:-(?:u(?:s[0-9]{0,2})?)?)?\Z)")


def _mailchimp_hold(v: bytes, ts: int, te: int, avail: int) -> int | None:
    m = _MAILCHIMP_HOLD.search(v, te, avail)
    return m.start() if m is not None else None


_AZDO_PAT = fake("abcdefghijklmnopqrstuvwxyz234567", 52, "azdo-pat")
CONTEXT_DETECTORS: list[Detector] = [
    ContextDetector(
        # `https://<PAT>@dev.azure.com/org/…` (Azure DevOps), `https://<40 hex>@github.com/…` (legacy GitHub tokens):
        # a token alone as the user-info, no `user:` before it
        "token-in-url", "A token alone as a URL's user-info (https://<token>@host/…)", ["://"],
        rb"://(?P<s>[A-Za-z0-9_\-]{20,256})@(?=\Z|[A-Za-z0-9][A-Za-z0-9\-]*(?:[.:/]|\Z))", max_len=300,
        hold=_userinfo_token_hold, validate=lambda s: not_placeholder(s) and _letters_and_digits(s),
        value_class=rb"[A-Za-z0-9_\-]",
        positives=[(f"git clone https://{_AZDO_PAT}@dev.azure.com/org/proj/_git/repo", _AZDO_PAT),
                   ("origin\thttps://" + fake(HEX, 40, "legacy-gh") + "@github.com/o/r.git (fetch)",
                    fake(HEX, 40, "legacy-gh"))],
        negatives=["ssh://git@github.com/o/r.git", "https://example.org/path", "https://deploy-bot-for-production@ci.example.org/"],
        idle_show_below=20,  # a host name being typed after `https://`; such a token is 20 or more
    ),
    ContextDetector(
        "password-in-url", "Password in a URL's user-info (scheme://user:password@host)", ["://"],
        # the password runs to the authority's last `@` (`p@ss` is sloppy, and common)
        # (`#`, `?` and `/` belong in it percent-encoded, but passwords pasted raw are common: a port and a path
        # before the `@` (`host:8080/a/@b`) is not taken for one)
        # (to the last `@` first, `#` and `@` in it: `postgres:7aN@1Kl#4B@localhost/app`; else one with `/` or `?`)
        rb"://[^\s:/@?#\"']{0,128}:(?P<s>[^\s/?\"']{1,256}|(?![0-9]*[/?#])[^\s\"'@]{1,256})"
        rb"@(?=[^\s@/?#\"']*(?:[/?#\s\"']|\Z))", max_len=512,
        hold=_url_hold, value_class=rb"[^\s\"'@]", flags=0,
        # `postgresql://user:password@localhost/db`, `mysql://USER:PASS@HOST/DB` in docs are the field names
        validate=lambda s: not_placeholder(s) and s.lower() not in (b"password", b"pass", b"passwd", b"pwd", b"pw"),
        positives=[(f"DATABASE_URL=postgres://app:{PASSWORD}@db.internal:5432/app", PASSWORD),
                   ("git clone https://x-access-token:s3cr3t-" + fake(ALNUM, 12, "u") + "@git.example.com/r.git",
                    "s3cr3t-" + fake(ALNUM, 12, "u")),
                   ("mongodb+srv://admin:" + fake(ALNUM, 6, "u2") + "#9?x/" + fake(ALNUM, 6, "u3") + "@c0.mongodb.net/db",
                    fake(ALNUM, 6, "u2") + "#9?x/" + fake(ALNUM, 6, "u3"))],
        negatives=["http://example.com:8080/path", "https://user@example.com/", "postgres://app:****@db/app",
                   "postgresql://user:password@localhost/db", "mysql://USER:PASS@HOST/DB",
                   "redis://:${REDIS_PASSWORD}@cache:6379", "https://example.com:8443/users/@bob/posts",
                   "see http://host:8080/#/login?next=@me"],
        idle_show_digits=5,  # a port being typed after `host:`
    ),
    ContextDetector(
        "bearer-token", "Bearer tokens (`Bearer <token>` in headers and logs)", ["bearer"],
        rb"bearer[ \t]+(?P<s>[A-Za-z0-9\-._~+/]{16,}=*(?::[0-9a-f]{32}(?![A-Za-z0-9]))?)", max_len=8192,
        validate=lambda s: _mixed(s) and not_placeholder(s), value_class=rb"[A-Za-z0-9\-._~+/=:]",
        positives=[("curl -H 'Authorization: Bearer " + fake(URLSAFE, 40, "bearer") + "'", fake(URLSAFE, 40, "bearer"))],
        negatives=["Use Bearer authentication for the API", "bearer token <redacted>"],
    ),
    ContextDetector(
        "okta-api-token", "Okta API token (`SSWS <token>` in Authorization headers)", ["ssws"],
        rb"ssws[ \t]+(?P<s>[A-Za-z0-9_\-]{40,44})(?![A-Za-z0-9_\-])", max_len=256, boundary=True,
        value_class=rb"[A-Za-z0-9_\-]", hold=_after_blanks,
        positives=[("curl -H 'Authorization: SSWS 00" + fake(URLSAFE, 40, "okta") + "'", "00" + fake(URLSAFE, 40, "okta"))],
        negatives=["SSWS tokens are documented here"],
    ),
    ContextDetector(
        # `<32 hex>-us<N>`: the data-centre suffix comes after the secret, so a bare key cannot be told apart while
        # it streams (every hex run would be held); the word `mailchimp` before it on the line is the trigger
        "mailchimp-api-key", "Mailchimp API key (32 hex + `-us<N>`) on a line naming Mailchimp", ["mailchimp"],
        rb"mailchimp[^\n]{0,100}?(?<![A-Za-z0-9])(?P<s>[0-9a-f]{32}-us[0-9]{1,2})(?![A-Za-z0-9])", max_len=200,
        hold=_mailchimp_hold, value_class=rb"[0-9a-fus\-]",
        positives=[("MailchimpSDK.initialize(\"" + fake(HEX, 32, "mailchimp") + "-us6\")", fake(HEX, 32, "mailchimp") + "-us6"),
                   ("mailchimp: " + fake(HEX, 32, "mailchimp2") + "-us21", fake(HEX, 32, "mailchimp2") + "-us21")],
        negatives=["mailchimp list id " + fake(HEX, 10, "mc-list"), "mailchimp: " + fake(HEX, 32, "mc3") + " campaign"],
    ),
    ContextDetector(
        "authorization-header", "Authorization header values (Basic, Bearer, Token, Digest, …)", ["authorization"],
        rb"authorization(?:\\?[\"']?[ \t]*[:=][ \t]*\\?[\"']?[ \t]*"
        rb"(?:(?:basic|bearer|token|apikey|sso-key|key)[ \t]+(?P<s1>[^\s\"'\\,`]{4,})"
        rb"|(?:digest|negotiate|ntlm|aws4-hmac-sha256|hmac|signature)[ \t]+(?P<s2>[^\r\n\"'\\]{4,})"
        # any other scheme (`Splunk <uuid>`, `Zoho-oauthtoken 1000.…`, `GenieKey …`, `DeepL-Auth-Key …`, `OAuth …`):
        # a word, then a credential with a digit in it
        rb"|[A-Za-z][A-Za-z0-9_\-]{1,30}[ \t]+(?P<s5>(?=[^\s\"'\\,`]*[0-9])[^\s\"'\\,`]{8,})"
        rb"|(?P<s3>[^\s\"'\\,`]{8,}))"
        # a header set by a directive, no colon: nginx `proxy_set_header Authorization "Basic …";`
        rb"|[ \t]+[\"']?(?:basic|token)[ \t]+(?P<s4>[A-Za-z0-9+/=._\-]{8,}))", max_len=8192,
        positives=[("Authorization: Basic " + base64.b64encode(b"admin:" + PASSWORD.encode()).decode(),
                    base64.b64encode(b"admin:" + PASSWORD.encode()).decode()),
                   ('{"headers": {"Authorization": "token ' + fake(HEX, 40, "authz") + '"}}', fake(HEX, 40, "authz")),
                   ('proxy_set_header Authorization "Basic ' + base64.b64encode(b"admin:" + PASSWORD.encode()).decode()
                    + '";', base64.b64encode(b"admin:" + PASSWORD.encode()).decode()),
                   ("-H 'Authorization: Splunk " + _uuid("splunk-hec") + "'", _uuid("splunk-hec")),
                   ("Authorization: Zoho-oauthtoken 1000." + fake(HEX, 32, "zoho") + "." + fake(HEX, 32, "zoho2"),
                    "1000." + fake(HEX, 32, "zoho") + "." + fake(HEX, 32, "zoho2"))],
        negatives=["Authorization: required for this endpoint", "authorization failed for user bob",
                   "Authorization basic auth is disabled",
                   "Authorization: Bearer <redacted>"],
    ),
    ContextDetector(
        "session-cookie", "Cookie and Set-Cookie header values (session ids, auth cookies)", ["cookie"],
        rb"cookie\\?[\"']?[ \t]*(?::|(?<=cookie)[ \t]*=[ \t]*[\"'])[ \t]*(?:[^=;\s]+=(?P<s1>[^;\r\n\"']+)(?:;[ \t]*[^=;\s]+=(?P<s2>[^;\r\n\"']+))?"
        rb"(?:;[ \t]*[^=;\s]+=(?P<s3>[^;\r\n\"']+))?(?:;[ \t]*[^=;\s]+=(?P<s4>[^;\r\n\"']+))?)",
        max_len=8192, value_class=rb"[^;\s\"']",
        validate=lambda s: not_placeholder(s) and len(s) >= 8 and not re.match(
            rb"(?i)(?:/|\d{1,2} \w{3} |\w{3}, |(?:lax|strict|none)\Z|\.?[a-z0-9\-]+\.[a-z]{2,}\Z|\d+\Z)", s),
        positives=[("Set-Cookie: sessionid=" + fake(ALNUM, 32, "cookie") + "; Path=/; HttpOnly",
                    fake(ALNUM, 32, "cookie")),
                   ("Cookie: _ga=GA1; PHPSESSID=" + fake(HEX, 26, "php"), fake(HEX, 26, "php"))],
        negatives=["cookie: none", "This site uses cookie banners: accept them"],
    ),
    ContextDetector(
        "azure-storage-account-key", "Azure Storage account key in a connection string (AccountKey=)",
        ["accountkey="], rb"accountkey=(?P<s>[A-Za-z0-9+/]{20,}={0,2})", value_class=rb"[A-Za-z0-9+/=]",
        validate=not_placeholder,
        # the key the Azurite emulator documents for everyone is masked too: it is what a real key looks like
        positives=[("DefaultEndpointsProtocol=https;AccountName=fakeacct;AccountKey=" + fake(B64, 86, "azkey")
                    + "==;EndpointSuffix=core.windows.net", fake(B64, 86, "azkey") + "=="),
                   ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtl"
                    "CDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;",
                    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")],
        negatives=["AccountKey=<your key>"],
    ),
    ContextDetector(
        "azure-shared-access-key", "Azure Service Bus / Event Hubs / IoT shared access key (SharedAccessKey=)",
        ["sharedaccesskey="], rb"sharedaccesskey=(?P<s>[A-Za-z0-9+/]{20,}={0,2})", value_class=rb"[A-Za-z0-9+/=]",
        positives=[("Endpoint=sb://fake.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey="
                    + fake(B64, 43, "sas") + "=", fake(B64, 43, "sas") + "=")],
    ),
    ContextDetector(
        "vault-unseal-key", "HashiCorp Vault unseal / recovery keys (`vault operator init` output)",
        ["unseal key", "recovery key"],
        rb"(?:unseal|recovery) key(?: [0-9]{1,2})?:[ \t]*(?P<s>[A-Za-z0-9+/]{20,}={0,2})(?![A-Za-z0-9+/=])", max_len=256,
        value_class=rb"[A-Za-z0-9+/=]", hold=_after_blanks,
        positives=[("Unseal Key 1: " + fake(B64, 44, "unseal1") + "\nUnseal Key 2: " + fake(B64, 44, "unseal2") + "\n",
                    fake(B64, 44, "unseal2")), ("Recovery Key 3: " + fake(B64, 44, "rec3"), fake(B64, 44, "rec3"))],
        negatives=["Unseal Key 1: [MASKED]", "Vault initialized with 5 key shares and a key threshold of 3. Please "
                   "securely distribute the key shares printed above.", "Unseal Progress  1/3"],
    ),
    ContextDetector(
        "ldif-password", "Base64 userPassword values in LDIF (`userPassword:: e1NTSEF9…`, `ldapsearch` output)",
        ["userpassword::"], rb"userpassword::[ \t]*(?P<s>[A-Za-z0-9+/]{8,}={0,2})", max_len=512,
        value_class=rb"[A-Za-z0-9+/=]", hold=_after_blanks,
        positives=[("dn: uid=bob,ou=people,dc=example,dc=com\nuserPassword:: "
                    + base64.b64encode(b"{SSHA}" + hashlib.sha1(b"ldif").digest()).decode() + "\n",
                    base64.b64encode(b"{SSHA}" + hashlib.sha1(b"ldif").digest()).decode())],
        negatives=["userPassword:: "],
    ),
    ContextDetector(
        "wireguard-preshared-key", "WireGuard PresharedKey (wg-quick / wg showconf)", ["presharedkey"],
        rb"presharedkey[ \t]*=[ \t]*(?P<s>[A-Za-z0-9+/]{42,43}=)", max_len=128, value_class=rb"[A-Za-z0-9+/=]",
        hold=_after_blanks,
        positives=[("[Peer]\nPublicKey = " + fake(B64, 43, "wgpub") + "=\nPresharedKey = " + fake(B64, 43, "wgpsk")
                    + "=\nAllowedIPs = 10.0.0.0/24\n", fake(B64, 43, "wgpsk") + "=")],
        negatives=["PresharedKey = (none)", "  preshared key: (hidden)"],
    ),
    ContextDetector(
        "oracle-jdbc-password", "Password in an Oracle JDBC URL (jdbc:oracle:thin:user/password@host)", ["jdbc:oracle:"],
        rb"jdbc:oracle:(?:thin|oci8?):(?P<u>[^/@\s:\"']{1,128})/(?P<s>[^@\s\"']{1,256})@", max_len=512,
        value_class=rb"[^@\s\"']",
        positives=[("url=jdbc:oracle:thin:scott/" + PASSWORD + "@db.example.com:1521/ORCL", PASSWORD)],
        negatives=["jdbc:oracle:thin:@db.example.com:1521/ORCL", "jdbc:oracle:thin:@//db:1521/svc"],
    ),
    ContextDetector(
        "ldap-password-hash", "Salted/unsalted SHA and MD5 password hashes in LDAP/htpasswd form ({SSHA}…, {SHA}…)",
        ["{sha}", "{ssha}", "{sha256}", "{ssha256}", "{sha384}", "{ssha384}", "{sha512}", "{ssha512}", "{md5}",
         "{smd5}"], rb"\{S?(?:SHA(?:256|384|512)?|MD5)\}(?P<s>[A-Za-z0-9+/]{20,}={0,2})", max_len=256,
        value_class=rb"[A-Za-z0-9+/=]",
        positives=[("admin:{SHA}" + base64.b64encode(hashlib.sha1(b"fake").digest()).decode(),
                    base64.b64encode(hashlib.sha1(b"fake").digest()).decode()),
                   ("userPassword: {SSHA}" + base64.b64encode(hashlib.sha1(b"fake2").digest() + b"salt").decode(),
                    base64.b64encode(hashlib.sha1(b"fake2").digest() + b"salt").decode())],
        negatives=["the {SHA} scheme is weak", "password_scheme = {SSHA}"],
    ),
    ContextDetector(
        "azure-sas-token", "Azure shared access signature (`sig=` in a SAS URL or token)", ["sig="],
        rb"sig=(?P<s>[A-Za-z0-9%+/=]{16,})", value_class=rb"[A-Za-z0-9%+/=]",
        positives=[("https://fake.blob.core.windows.net/c/b?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01&sig="
                    + fake(ALNUM, 40, "sig") + "%3D", fake(ALNUM, 40, "sig") + "%3D")],
        negatives=["the config sig=short"], idle_min_body=4,
    ),
]


def _url_secret(s: bytes) -> bool:
    """A signature or code is generated: letters and digits both (not `code=download-page`)."""
    return not_placeholder(s) and any(c in b"0123456789" for c in s) and any(c in _LETTERS for c in s)


_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_URL_VALUE = rb"[A-Za-z0-9%_\-.~+/=]"
_AMZ_QS = ("https://fake-bucket.s3.us-east-1.amazonaws.com/report.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
           "&X-Amz-Credential=ASIA" + fake(UPPER_DIGITS, 16, "amz-cred") + "%2F20300101%2Fus-east-1%2Fs3%2Faws4_request"
           "&X-Amz-Date=20300101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=")
_AMZ_SIG = fake(HEX, 64, "amz-sig")
_GOOG_SIG = fake(HEX, 512, "goog-sig")
_CF_SIG = fake(URLSAFE + "~", 172, "cf-sig")
_AZFN_CODE = fake(URLSAFE, 54, "azfn") + "=="
_OAUTH_CODE = "4/0A" + fake(URLSAFE, 60, "oauth-code")
_STR = rb"[\"'][^\"'\n]{0,256}[\"'][ \t]*,[ \t]*"  # a string argument and its comma
_CODE_PW = fake(ALNUM, 12, "code-pw") + "!4"
CONTEXT_DETECTORS.append(ContextDetector(
    # Hard-coded credentials passed by position, where no key names them: Python requests/smtplib, Java JDBC,
    # PHP PDO/mysqli.
    "code-credential-argument", "Passwords passed by position in code (HTTPBasicAuth(u, p), auth=(u, p), "
    ".login(u, p), setPassword(p), DriverManager.getConnection(url, u, p), new PDO(dsn, u, p), mysqli(h, u, p))",
    ["httpbasicauth(", "auth=(", ".login(", "setpassword(", "set_password(", "getconnection(", "new pdo(",
     "mysqli(", "mysqli_connect(", "passwordauthentication(", "credentials.basic(", "usernamepasswordcredentials(",
     "networkcredential(", "setbasicauth(", "basicauth(", ".password(", "curlopt_userpwd", "->connect(",
     "add_password(", "btoa(", "basicawscredentials(", "newstaticcredentials(", "aws.credentials(",
     "pymysql.connect(", "mysqldb.connect(", "mysql.connector.connect(", "setproperty(", "setenv(", "client("],
    rb"(?:httpbasicauth\(|auth=\(|\.login\(|passwordauthentication\(|credentials\.basic\(|usernamepasswordcredentials\("
    rb"|networkcredential\(|setbasicauth\(|basicauth\()[ \t]*" + _STR + rb"[\"'](?P<s1>[^\"'\n]{3,256})[\"']"
    rb"|(?:set_?password|\.password)\([ \t]*[\"'](?P<s2>[^\"'\n]{3,256})[\"']"
    rb"|(?:getconnection\(|new[ \t]pdo\(|mysqli(?:_connect)?\(|->connect\(|(?:pymysql|mysqldb|mysql\.connector)\.connect\()"
    rb"[ \t]*" + _STR + _STR
    + rb"[\"'](?P<s3>[^\"'\n]{3,256})[\"']"
    # `curl_setopt($ch, CURLOPT_USERPWD, "user:PW")`, `btoa('user:PW')`
    rb"|(?:curlopt_userpwd[ \t]*,[ \t]*|btoa\([ \t]*)[\"'][^\"':\n]{1,64}:(?P<s4>[^\"'\n]{3,256})[\"']"
    # urllib `add_password(realm, uri, user, PW)`
    rb"|add_password\((?:[^,\n]{1,256},){2}[ \t]*" + _STR + rb"[\"'](?P<s5>[^\"'\n]{3,256})[\"']"
    # AWS SDK credentials from literals: `new BasicAWSCredentials("AKIA…", "SECRET")`, Go `NewStaticCredentials`
    rb"|(?:basicawscredentials\(|newstaticcredentials\(|aws\.credentials\()[ \t]*" + _STR
    + rb"[\"'](?P<s6>[A-Za-z0-9/+=]{20,256})[\"']"
    # `System.setProperty("db.password", "PW")`, `os.Setenv("API_TOKEN", "PW")`: a secret-named property set
    rb"|(?:setproperty|setenv)\([ \t]*[\"'][^\"'\n]{0,64}(?:passw|secret|token|api[_.\-]?key|private[_.\-]?key)"
    rb"[^\"'\n]{0,64}[\"'][ \t]*,[ \t]*[\"'](?P<s7>[^\"'\n]{3,256})[\"']"
    # Twilio `Client("AC<32 hex>", "<auth token>")` (the account SID, then its auth token)
    rb"|client\([ \t]*[\"']AC[0-9a-f]{32}[\"'][ \t]*,[ \t]*[\"'](?P<s8>[0-9a-f]{32})[\"']", max_len=1024,
    value_class=rb"[^\"'\n]",
    positives=[(f'requests.get(url, auth=("admin", "{_CODE_PW}"))', _CODE_PW),
               (f"r = requests.get(url, auth=HTTPBasicAuth('admin', '{_CODE_PW}'))", _CODE_PW),
               (f'server.login("alerts@example.com", "{_CODE_PW}")', _CODE_PW),
               (f'ds.setPassword("{_CODE_PW}");', _CODE_PW),
               (f'System.setProperty("db.password", "{_CODE_PW}");', _CODE_PW),
               (f'os.Setenv("GITHUB_TOKEN", "{_CODE_PW}")', _CODE_PW),
               (f'DriverManager.getConnection("jdbc:mysql://db/app", "root", "{_CODE_PW}");', _CODE_PW),
               (f'$pdo = new PDO("mysql:host=db;dbname=app", "root", "{_CODE_PW}");', _CODE_PW),
               (f'$conn = new mysqli("localhost", "root", "{_CODE_PW}", "app");', _CODE_PW),
               (f'new PasswordAuthentication("jdoe", "{_CODE_PW}".toCharArray())', _CODE_PW),
               (f'Credentials.basic("jdoe", "{_CODE_PW}")', _CODE_PW),
               (f'new UsernamePasswordCredentials("jdoe","{_CODE_PW}")', _CODE_PW),
               (f'.username("app").password("{_CODE_PW}")', _CODE_PW),
               (f'req.SetBasicAuth("jdoe", "{_CODE_PW}")', _CODE_PW),
               (f'curl_setopt($ch, CURLOPT_USERPWD, "jdoe:{_CODE_PW}");', _CODE_PW),
               (f'my $dbh = DBI->connect($dsn, "app", "{_CODE_PW}");'.replace("$dsn", '"dbi:Pg:db=app"'), _CODE_PW),
               (f"mgr.add_password(None, url, 'jdoe', '{_CODE_PW}')", _CODE_PW),
               (f"const auth = 'Basic ' + btoa('jdoe:{_CODE_PW}');", _CODE_PW),
               (f'credentials.NewStaticCredentials("{AWS_ID}", "{AWS_SECRET}", "")', AWS_SECRET),
               ('client = Client("AC' + fake(HEX, 32, "tw-sid") + '", "' + fake(HEX, 32, "tw-token") + '")',
                fake(HEX, 32, "tw-token"))],
    negatives=['requests.get(url, auth=(user, password))', 'ds.setPassword(System.getenv("DB_PASSWORD"));',
               'System.setProperty("java.net.preferIPv4Stack", "true");', 'os.Setenv("TOKEN_TTL", os.Getenv("X"))',
               'server.login(user, os.environ["SMTP_PASSWORD"])', 'new PDO($dsn, $user, $pass);',
               'ds.setPassword("");'],
))
CONTEXT_DETECTORS.append(ContextDetector(
    "url-key-parameter", "Generated values of a bare `key=` parameter in a URL query (`?key=…&`)", ["?key=", "&key="],
    rb"[?&]key=(?P<s>[A-Za-z0-9_\-]{20,256})(?![A-Za-z0-9_\-])", max_len=300, value_class=rb"[A-Za-z0-9_\-]",
    validate=lambda s: not_placeholder(s) and sum(c in b"0123456789" for c in s) >= 2 and any(c > 96 for c in s),
    positives=[("https://api.example.io/data?key=" + fake(ALNUM, 32, "urlkey") + "&format=json", fake(ALNUM, 32, "urlkey"))],
    negatives=["https://example.com/search?key=value&x=1", "GET /cache?key=users_profile_page_list"]))
_SQL_PW = fake(ALNUM, 14, "sql-pw") + "#7"
CONTEXT_DETECTORS.append(ContextDetector(
    # Agents create database users: MySQL `IDENTIFIED BY '…'` (also `IDENTIFIED WITH plugin BY '…'`), PostgreSQL
    # `CREATE|ALTER ROLE|USER … [WITH] [LOGIN] [ENCRYPTED] PASSWORD '…'`. A quoted `''` is a quote inside.
    "sql-password", "Passwords in SQL statements (IDENTIFIED BY '…', WITH PASSWORD '…')",
    ["identified by", "identified with", "password '", 'password "', "sp_addlogin ", "password('", "password for "],
    rb"(?:sp_addlogin[ \t]+'[^'\n]{1,128}'[ \t]*,[ \t]*|(?<==[ \t])password\(|(?<==)password\("
    rb"|identified[ \t]+(?:with[ \t]+[A-Za-z0-9_]+[ \t]+)?by[ \t]+(?:password[ \t]+)?"
    rb"|(?<=set )password[ \t]+for[ \t]+[^\s=]{1,160}[ \t]+=[ \t]*"  # MySQL's `SET PASSWORD FOR u = '…'`
    rb"|(?:(?<=with )|(?<=login )|(?<=ncrypted )|(?<=superuser )|(?<=createdb ))password[ \t]+)"
    rb"(?:'(?P<s>(?:[^'\\\n]|''|\\.){1,256})'|\"(?P<s2>(?:[^\"\\\n]|\"\"|\\.){1,256})\")", max_len=512,
    value_class=rb"[^'\"\n]",
    positives=[(f"CREATE USER 'app'@'%' IDENTIFIED BY '{_SQL_PW}';", _SQL_PW),
               (f"ALTER USER app WITH PASSWORD '{_SQL_PW}';", _SQL_PW),
               (f"CREATE ROLE app LOGIN PASSWORD '{_SQL_PW}'", _SQL_PW),
               (f"ALTER USER 'root'@'localhost' IDENTIFIED WITH mysql_native_password BY '{_SQL_PW}';", _SQL_PW),
               (f'CREATE USER "app"@"%" IDENTIFIED BY "{_SQL_PW}";', _SQL_PW),  # MySQL takes either quote
               (f"SET PASSWORD FOR 'app'@'%' = '{_SQL_PW}';", _SQL_PW)],  # (`SET PASSWORD = '…'` is a key's value)
    negatives=["Enter the password 'twice' to confirm", "IDENTIFIED BY PASSWORD is deprecated",
               "ALTER USER app WITH PASSWORD NULL;"],
))
CONTEXT_DETECTORS.append(ContextDetector(
    # Presigned URLs carry their credential in the query: anyone with the URL has the object until it expires.
    # `X-Amz-Security-Token=` is a `token` key (token-assignment). A value ends at `&`, `#`, a quote or a blank.
    "url-signature", "Signatures and codes in signed URLs (X-Amz-Signature=, X-Goog-Signature=, CloudFront / SigV2 "
    "Signature=, Azure Functions and OAuth code=)", ["x-amz-signature=", "x-goog-signature=", "signature=", "code="],
    rb"(?:x-amz-signature=|x-goog-signature=|(?:(?<=[?&;])|(?<=\\u0026))signature=)(?P<s1>" + _URL_VALUE + rb"{16,})"
    rb"|(?:(?<=[?&;])|(?<=\\u0026))code=(?P<s2>" + _URL_VALUE + rb"{20,})", max_len=4096,
    validate=_url_secret, value_class=_URL_VALUE,
    positives=[(_AMZ_QS + _AMZ_SIG, _AMZ_SIG), (_AMZ_QS + _AMZ_SIG + "#x", _AMZ_SIG),
               ("curl 'https://storage.googleapis.com/fake-bucket/o.bin?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Date="
                "20300101T000000Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host&X-Goog-Signature=" + _GOOG_SIG + "'", _GOOG_SIG),
               ("https://d111111abcdef8.cloudfront.net/video.mp4?Expires=1900000000&Signature=" + _CF_SIG
                + "&Key-Pair-Id=K" + fake(UPPER_DIGITS, 13, "cf-kp"), _CF_SIG),
               ('{"url": "https://fake.s3.amazonaws.com/k?X-Amz-Date=20300101T000000Z\\u0026X-Amz-Signature=' + _AMZ_SIG
                + '"}', _AMZ_SIG),
               ("https://fake-fn.azurewebsites.net/api/HttpTrigger?code=" + _AZFN_CODE, _AZFN_CODE),
               ("GET /api/orders?clientId=default&code=" + _AZFN_CODE + " HTTP/1.1", _AZFN_CODE),
               ("Location: https://app.example.com/oauth/callback?state=af0ifjsldkj&amp;code=" + _OAUTH_CODE + "&scope=email",
                _OAUTH_CODE)],
    negatives=["exit code=1 status_code=200", "https://example.com/?code=download-page-for-users",
               "https://github.com/search?q=x&type=code", "signature=valid", "zipcode=12345678901234567890abcd",
               "X-Amz-SignedHeaders=host&X-Amz-Signature=<signature>"], idle_min_body=4
))


# --- the key-value family ---------------------------------------------------------------------------
REJECT_LAST = frozenset(
    b"file files path paths dir url uri id ids name names type types length len count expiry expires expiration "
    b"endpoint endpoints policy policies hint required prompt reset field label env ref refs min max enabled "
    b"disabled timeout ttl limit size mode format header version usage source provider store manager arn index "
    b"lifetime duration validity rotation strength regex pattern command cmd method algorithm alg kind helper "
    b"location secretref namespace mount prefix suffix template hash salt rounds iterations age days "
    b"at in on by before after created updated changed encryption encoding scheme schemes complexity history strategy "
    b"rule rules requirements validator validators reuse accessor backend backends engine driver plugin "
    # LDAP password-policy state (`pwdChangedTime`, `pwdFailureTime`, `pwdPolicySubentry`, `pwdAttribute`, …)
    b"time times timestamp date subentry attribute interval failure failures lockout warning idle success quality "
    # systemd `PassEnvironment=`, OIDC `token_issuer:`, an SSM parameter's path (`ACCESS_KEY_ID_PARAM=/prod/…`)
    b"environment issuer audience param parameter "
    # `PasswordLastUsed`, `password_enabled`, `token_endpoint_auth_methods_supported`, `PASSWORD_HASHERS`,
    # postfix `smtp_sasl_password_maps`, Jenkins `passwordVariable`, `credential_process`, `adminPasswordKey` (the
    # name of a key in a Secret, not its value)
    b"used supported methods hashers maps map variable var process seconds secs minutes hours millis "
    # the special tokens of a tokenizer config (`eos_token`, `mask_token`)
    b"eos bos cls sep unk pad mask".split()
)
REJECT_ANY = frozenset(b"tokenizer tokenizers tokenize tokenized public publickey pubkey secretary secretaries "
                       b"secretariat secretion secretive secretly secretsmanager secretmanager bypass compass surpass trespass "
                       # Stripe's publishable keys are meant for browsers; a checksum key names a digest
                       b"publishable checksum "
                       # systemd `LoadCredential=name:path`, reCAPTCHA's public site key
                       b"load site "
                       b"websocket instrumentation credentialstore "
                       # Vault agent injector annotations name a path (`agent-inject-secret-db: database/creds/api`)
                       b"inject".split())
# idempotency tokens (`ClientToken`, `ClientRequestToken`), the WebSocket handshake nonce, Azure Application Insights'
# public instrumentation key, git's `credential.credentialStore`
_REJECT_NORM = frozenset(b"clienttoken clientrequesttoken idempotencytoken secwebsocketkey secwebsocketaccept "
                         b"instrumentationkey credentialstore credentialcredentialstore".split())
# Paging and change-feed cursors are opaque but not credentials (`nextPageToken`, `NextToken`, `continuationToken`,
# `syncToken`, MongoDB's `resumeToken`)
_CURSOR_WORDS = frozenset(b"next page paging pagination continuation sync resume cursor marker".split())


# `tokens` counts words for a language model (`max_tokens`, `prompt_tokens`) unless it says which credentials
_SECRET_TOKENS = frozenset(b"access refresh auth api bearer session oauth bot personal service deploy app github gitlab "
                           b"slack npm pypi registration runner".split())


def _key_filter(norm: bytes, parts: list[bytes]) -> bool:
    if not parts or parts[-1] in REJECT_LAST or any(p in REJECT_ANY for p in parts) or norm in _REJECT_NORM:
        return False
    if norm.endswith((b"passwordkey", b"secretkeyref", b"tokenkey")) and len(parts) > 2:
        return False  # `adminPasswordKey: postgres-password`: which key of a Secret holds it
    if parts[-1] == b"token" and any(p in _CURSOR_WORDS for p in parts):
        return False
    if b"tokens" in parts:
        i = parts.index(b"tokens")
        return i > 0 and parts[i - 1] in _SECRET_TOKENS
    return True


# Values that are no secret whatever the key: a documented default to replace, a word standing for one.
_STAND_IN = frozenset(b"changeme change_me change-me changeit replaceme replace_me replace-me placeholder fixme todo "
                      b"tbd notsecret not-a-secret example sample password".split())
# `${{ secrets.X }}` (CI), `@db.password@` (Maven filtering), `XXXXX-XXXXX` (documented dummies),
# `(known after apply)`, `(sensitive value)` (Terraform)
_STAND_IN_RE = re.compile(rb"#\{[^}]*\}#?\Z|__[A-Z0-9_]+__\Z|@@[A-Za-z0-9_.]+@@\Z|\$__\w+\{[^}]*\}\Z|\[[A-Za-z]{2,12}\]\Z|"
                          rb"(?:\xe2\x80\xa2){3,}[A-Za-z0-9]{0,6}\Z|\$\w+(?:::\w+)+\Z|@[A-Z_][A-Z0-9_]*\Z|\$\{\{.*\}\}\Z|%\{[^}]*\}\Z|@[A-Za-z0-9_.\-]+@\Z|[Xx*]+(?:[-_ .][Xx*]+)*\Z|\([a-z][a-z ]*\)\Z")
_CODE_STMT = re.compile(rb"\**&?(?:\([A-Za-z_][\w \t*]*\))?[A-Za-z_$@][\w.$@\->\[\]]*;\Z|[0-9]{1,6};\Z|\(.*\);\Z")
_SOURCE_FILE = re.compile(rb"[\w\-/]+\.(?:c|h|o|cc|cpp|hpp|go|py|js|ts|rb|java|sh|exe|so|a|mk|dll|class|jar)\Z")
_CODE_VALUE = re.compile(rb"(?:[A-Za-z_$@][\w.$\->]*|[0-9]{1,6}|true|false|null|None),\Z")
_KEBAB_NAME = re.compile(rb"[a-z]+(?:-[a-z0-9]+)+\Z")  # `my-secret-name`, `db-credentials`: a resource's name


_STAND_IN_HEADS = frozenset(b"$%@Xx*(#_[\xe2")
_B64_VALUE = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_TLDS = frozenset(b"com io org net dev co cloud app sh".split())
_VERSION_HEADS = frozenset(b"0123456789^~<>=!v")
_VERSION_OR_DATE = re.compile(
    rb"(?:[\^~<>=!]=?|==)?v?\d{1,5}(?:\.\d{1,5}){1,3}(?:[-+][0-9A-Za-z.\-]{1,20})?\Z"
    rb"|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?\Z")
_TEST_HEADS = frozenset(b"tfdmsbpeTFDMSBPE")
_CMDLET = re.compile(rb"[A-Z][a-z]+-[A-Z][A-Za-z]+\Z")  # PowerShell `Read-Host`, `Get-Credential`
_TEST_VALUE = re.compile(rb"(?i)(?:(?:test|fake|dummy|mock|my|sample|example|placeholder|stub)(?:[-_][a-z]+)*"
                         rb"|testing|foo|bar|baz|qux|foobar|secret|dummy|pass)\Z")
# Upper-case words joined by `_` or `-`, one of them saying "put yours here" (`REPLACE_WITH_YOUR_KEY`,
# `YOUR_TOKEN_HERE`, `CHANGE_ME_PLEASE`). Letters only: a generated password has digits in its groups.
_STAND_IN_WORDS = re.compile(
    rb"(?:[A-Z]+[_\-])*(?:YOUR|REPLACE|INSERT|CHANGE|CHANGEME|HERE|EXAMPLE|PLACEHOLDER|DUMMY|FAKE|TODO|FIXME|SAMPLE"
    rb"|ENTER|REDACTED|LOGGING|SPECIFIED)(?:[_\-][A-Z]+)*\Z")  # (Ansible's `NOT_LOGGING_PASSWORD`)
_UPPER = frozenset(range(65, 91))
_ENUM = re.compile(rb"[a-z]+(?:\|[a-z]+)+\Z")  # `true|false`: the choices a documented setting takes
_STAND_IN_LEN = max(len(w) for w in _STAND_IN)
_FINGERPRINT = re.compile(rb"(?:SHA256:[A-Za-z0-9+/]{43}=?|MD5:(?:[0-9a-f]{2}:){15}[0-9a-f]{2})\Z")
_PATH = re.compile(rb"(?:/[A-Za-z0-9_.@:\-]+)+/?\Z")
_DRIVE = re.compile(rb"[A-Za-z]:\\")


_FILLER = re.compile(rb"[xX]{12,}|\*{4,}")


def _dsn_value(value: bytes, quoted: bool) -> bool:
    """A DSN that carries a credential: a user-info (`https://<key>@…`, `user:pass@`) or a password field, not a
    bare host and database (PDO's `mysql:host=…;dbname=…`) nor a format string (`%s:%s@%s`)."""
    low = value.lower()
    return (b"%s" not in value and b"example" not in low
            and (b"@" in value or b"password=" in low or b"pwd=" in low or b"secret" in low or b"key=" in low))


def _value_sane(value: bytes, quoted: bool) -> bool:
    """Not a stand-in (`changeme`) and, unquoted, not prose or another field (`password updated successfully`,
    `Pass: 12 Fail: 0`, `credsStore: desktop`): what every key rule asks of a value. (On the key-value hot
    path: the common value is decided by two byte tests.)"""
    if not value or (value[0] in _STAND_IN_HEADS and _STAND_IN_RE.match(value)):
        return False
    if len(value) <= 32:
        if value[0] in _VERSION_HEADS and (_VERSION_OR_DATE.match(value) is not None):
            return False  # `"jsonwebtoken": "^9.0.2"`, `tiktoken==0.5.1`, `NPM_TOKEN  2024-05-01` (a version or a date)
        if value[0] in _TEST_HEADS and _TEST_VALUE.match(value):
            return False  # `test-api-key`, `fake-token`, `dummy`, moto's `testing`, `foo`
    if not quoted and value[0] in _UPPER and b"-" in value and _CMDLET.match(value):
        return False  # `$password = Read-Host -AsSecureString`
    if len(value) <= _STAND_IN_LEN and value.lower() in _STAND_IN:
        return False
    if value[-1] in _UPPER and value.isupper() and _STAND_IN_WORDS.match(value):
        return False  # `YOUR_TOKEN_HERE`
    if b"|" in value and _ENUM.match(value):
        return False
    if (b"xxxx" in value or b"XXXX" in value or b"****" in value) and _FILLER.search(value):
        return False  # `sk-xxxxxxxxxxxxxxxx`, `ghp_************`: a documented stand-in
    if quoted:
        return True
    if (value[-1] == 59 and _CODE_STMT.match(value)) or (value[-1] == 44 and _CODE_VALUE.match(value)):
        return False  # `status = pass;`, `secret: 42,`: a statement or an object literal in source code
    if value[:2] == b"# " or value[-4:] in (b"/tcp", b"/udp") or (b"." in value and _SOURCE_FILE.match(value)):
        return False  # a comment; `kpasswd  464/tcp` (/etc/services); `cred.exe : cred.c` (a Makefile rule)
    if value[0] in b"SM" and _FINGERPRINT.match(value):
        return False  # `ssh-key: SHA256:…`: a public key's fingerprint
    if b" " not in value and b"\t" not in value:
        return True
    words = value.split()
    if b"." in value and all(_SOURCE_FILE.match(w) for w in words):
        return False  # `secret.o: secret.c secret.h` (a Makefile rule's prerequisites)
    if any(w.endswith(b":") for w in words) or b" = " in value:
        return False
    if len(words) < 2:
        return True
    # prose: words and counts (`3 rotated, 0 failed`, `password updated successfully`)
    plain = [w.rstrip(b",.;") for w in words]
    return not (all(w.isalpha() or w.isdigit() for w in plain) and any(len(w) >= 3 and w.isalpha() for w in plain))


def _not_path(value: bytes, quoted: bool) -> bool:
    """`PWD=/home/alice`, `password_file: ./pw`: a path is no password (nor is `C:\\Users\\bob`)."""
    if value[0] == 47:  # `/`: a path, unless it reads as base64 (`/u3+7Q…`, `/Kcp68cUlMJ4/H06fD6R…`)
        if _PATH.match(value) is None:
            return True
        # a path names something: a lower-case word (`/run/secrets/db`), a dot, `_` or `-` (`/etc/app.key`)
        return not any(c in value for c in b"._-@:") and not any(p.isalpha() and p.islower() for p in value.split(b"/"))
    return not (value.startswith((b"~/", b"./", b"../", b"http://", b"https://", b"unix:"))
                or (value[1:2] == b":" and _DRIVE.match(value)) or (value[0] == 36 and b"/" in value))


def _password_value(value: bytes, quoted: bool) -> bool:
    # (`password: md5`, `password: scram-sha-256`: the method, in pg_hba-like settings)
    return _value_sane(value, quoted) and _not_path(value, quoted) and value.lower() not in _AUTH_WORDS


_LOWER = frozenset(b"abcdefghijklmnopqrstuvwxyz")


def _secret_value(value: bytes, quoted: bool) -> bool:
    """Not a resource's name: `my-secret-name`, a Secrets Manager name `prod/db-AbCdEf`."""
    if not _value_sane(value, quoted):
        return False
    if b"-" not in value:
        return True
    if value[0] in _LOWER and _KEBAB_NAME.match(value):
        return False
    return not (value[-7:-6] == b"-" and _SM_NAME.match(value))


def _credential_value(value: bytes, quoted: bool) -> bool:
    return (_value_sane(value, quoted) and not (value[0] in _LOWER and b"-" in value and _KEBAB_NAME.match(value))
            and _not_path(value, quoted))


# The name part of a Secrets Manager ARN (`…:secret:prod/db-AbCdEf`: a name and a 6-character suffix)
_SM_NAME = re.compile(rb"(?=[^\s]*(?:/|-[^\s]*-))[A-Za-z0-9_+=.@/\-]{1,512}-[A-Za-z0-9]{6}\Z")


def _has(*words: bytes):
    def accepts(norm: bytes, parts: list[bytes]) -> bool:
        return _key_filter(norm, parts) and any(w in norm for w in words)

    return accepts


# authentication schemes and methods: what an `auth:` setting names when it holds no secret
_AUTH_WORDS = frozenset(b"basic digest bearer ntlm negotiate kerberos gssapi oauth oauth2 oidc saml ldap password token "
                        b"plain login md5 scram-sha-256 scram-sha-1 trust peer ident cert tls mtls iam jwt apikey api_key "
                        b"anonymous sasl header query cookie session enabled disabled".split())
_UPSTREAM_PASS = frozenset(b"proxypass fastcgipass uwsgipass scgipass grpcpass memcachedpass".split())  # nginx


def _password_key(norm: bytes, parts: list[bytes]) -> bool:
    if not _key_filter(norm, parts):
        return False
    if any(w in norm for w in (b"password", b"passwd", b"passphrase", b"pswd", b"passcode")):
        return True
    if norm in _UPSTREAM_PASS:
        return False
    return (norm.endswith((b"pass", b"pwd", b"psk", b"bindpw", b"rootpw")) or b"pass" in parts or b"pwd" in parts
            or b"psk" in parts or (b"pw" in parts and len(parts) >= 2))  # (`DB_PW`)


# a name of words and short numbers (`ldap-corp-01`, `ci-deploy`): a resource named in a setting, not a token
# (and the generated suffixes Kubernetes adds: `kube-api-access-x2k4p`, `api-7d9f8b6c5-x2k4p`)
_RESOURCE_NAME = re.compile(rb"(?:[a-z]{2,}|[0-9]{1,3})(?:-(?:[a-z]{2,}|[0-9]{1,3}))+(?:-[a-z0-9]{8,10})?(?:-[a-z0-9]{5})?")
_AWS_SECRET = re.compile(rb"[A-Za-z0-9/+=]{40}\Z")
_GENERATED = re.compile(rb"[A-Za-z0-9+/=_\-.:~!@#%^&*]{12,}\Z")


def _generated(value: bytes, quoted: bool) -> bool:
    """Looks made by a machine, not a name: 12+ bytes, no spaces, a digit or symbol among letters (`signing_key:
    Zx8f14e45fce9a`, not `sort_key: created_at`), not a path, URL or reference."""
    if not _GENERATED.match(value) or value.startswith((b"/", b"./", b"~", b"http:", b"https:", b"file:")):
        return False
    others = len(value.translate(None, _LETTERS))
    letters = len(value) - others
    return letters >= 2 and others >= 2 and not value.replace(b"_", b"").replace(b"-", b"").isalpha()


_RANDOM_TOKEN = re.compile(rb"[A-Za-z0-9+_\-][A-Za-z0-9+/_\-]{15,199}={0,2}\Z")
_WORDISH = re.compile(rb"[A-Z][a-z]{3,}|[a-z]{4,}")
_HEXISH = re.compile(rb"[0-9a-fA-F]{32,}\Z")


def _random_token(value: bytes, quoted: bool) -> bool:
    """Random-looking enough that a key named just `key` holds a secret: letters of both cases and a digit or
    symbol, not mostly words (`MyKey_2024_Version`, `uploads/AbC123`); lower-case letters and digits alternating
    often in 20+ characters (not `feature2024flag`); 32+ hex. Not a host name, a UUID or a `:` id."""
    if not _RANDOM_TOKEN.match(value) or _UUIDISH.match(value) and b"-" in value or b"//" in value:
        return False
    digits = sum(c in b"0123456789" for c in value)
    if _HEXISH.match(value):
        return 2 <= digits < len(value) - 2
    if any(65 <= c <= 90 for c in value):
        if b"/" in value and _DIGITS_SEGMENT.search(value):
            return False  # `logs/2024/01/…`: an object's path
        return (any(97 <= c <= 122 for c in value) and (digits > 0 or any(c in b"+/=" for c in value))
                and sum(m.end() - m.start() for m in _WORDISH.finditer(value)) * 100 <= len(value) * 35)
    return b"/" not in value and len(value) >= 20 and len(_DIGIT_RUN.findall(value)) >= 3


_DIGIT_RUN = re.compile(rb"[0-9]+")
_DIGITS_SEGMENT = re.compile(rb"(?:\A|/)[0-9]+(?:/|\Z)")


def _key_named(norm: bytes, parts: list[bytes]) -> bool:
    """`SIGNING_KEY`, `encryptionKey`, `x-hmac-key`, `WEBHOOK_HMAC`: a compound name ending in `key` (a bare `key`
    is too common), `pat` or `hmac`;
    Consul's gossip key `encrypt`."""
    if norm in (b"encrypt", b"key1", b"key2"):  # (Consul's gossip key; Azure's `key1` / `key2` pairs)
        return True
    return len(parts) >= 2 and parts[-1] in (b"key", b"pat", b"hmac") and _key_filter(norm, parts) and parts[-2] not in (
        b"foreign", b"sort", b"partition", b"cache", b"public", b"pub", b"hash", b"range", b"row",
        b"object", b"idempotency", b"lookup", b"map", b"dict", b"group", b"routing", b"shard", b"unique",
        b"gpg", b"pgp", b"gnupg",  # (`GPG_KEY=A035C8…` in Python images is a key's fingerprint)
        # ids and the public search-only keys of Algolia / Meilisearch front ends
        b"dedup", b"dedupe", b"etag", b"correlation", b"trace", b"request", b"message", b"event", b"search")


_UUIDISH = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z|[0-9a-fA-F]{32,}\Z")


def _kv(id: str, desc: str, accepts, key: str, value: str, negs=(), value_ok=None, pos=(), words=False) -> KeyRule:
    pos = ((f"{key}={value}", value), (f'  "{key}": "{value}",', value), (f"{key}: {value}", value),
           (f"export {key}='{value}'", value), (f"[default]\n{key} = {value}\n", value), *pos)
    if words:  # the value is words by nature (a recovery phrase)
        return KeyRule(id, desc, accepts, value_ok or (lambda v, q: True), pos, tuple(negs))
    if value_ok is None or value_ok in (_password_value, _secret_value, _credential_value):
        return KeyRule(id, desc, accepts, value_ok or _value_sane, pos, tuple(negs))
    return KeyRule(id, desc, accepts, lambda v, q: _value_sane(v, q) and value_ok(v, q), pos, tuple(negs))


KEY_RULES = [
    _kv("aws-secret-access-key", "AWS secret access key (credentials file, env, JSON)",
        lambda n, p: _key_filter(n, p) and (b"secretaccesskey" in n or n == b"awssecretkey"),
        "aws_secret_access_key", AWS_SECRET, value_ok=lambda v, q: bool(_AWS_SECRET.match(v))),
    _kv("aws-session-token", "AWS session / security token",
        lambda n, p: n in (b"awssessiontoken", b"sessiontoken", b"awssecuritytoken", b"securitytoken"),
        "AWS_SESSION_TOKEN", AWS_SESSION),
    _kv("twilio-auth-token", "Twilio auth token (TWILIO_AUTH_TOKEN)",
        lambda n, p: b"twilio" in n and b"token" in n, "TWILIO_AUTH_TOKEN", fake(HEX, 32, "twilio-auth")),
    KeyRule("gcp-service-account-private-key", "GCP service-account JSON `private_key` (the PEM inside it)",
            lambda n, p: n == b"privatekey", lambda v, q: q and v.startswith(b"-----BEGIN"),
            (('{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
              + fake(B64, 64, "gcpsa") + '\\n-----END PRIVATE KEY-----\\n", "client_email": "x@y.iam.gserviceaccount.com"}',
              fake(B64, 64, "gcpsa")),), ()),
    _kv("password-assignment", "Values of password-named keys (password, passwd, pwd, pass, passphrase)",
        _password_key, "DB_PASSWORD", PASSWORD, value_ok=_password_value,
        pos=[(f"Driver={{ODBC Driver 18 for SQL Server}};Server=db;UID=sa;PWD={PASSWORD};", PASSWORD),
             (f"spring.datasource.password={PASSWORD}", PASSWORD), (f"PGPASSWORD={PASSWORD} psql -h db", PASSWORD),
             (f"Password={PASSWORD};", PASSWORD),
             ('{"user": "app", "password": "Tr0\\"' + PASSWORD + '"}', PASSWORD),  # an escaped quote inside
             ("passwords:\n  - " + fake(ALNUM, 16, "pw-list") + "\n  - '" + PASSWORD + "'\n", PASSWORD),
             ("db_password = '''" + PASSWORD + "'''", PASSWORD), ('password = """\n' + PASSWORD + '\n"""\n', PASSWORD),
             ("ldap_bind_pw = " + PASSWORD, PASSWORD)],
        negs=["password: ********", "PASSWORD_FILE=/run/secrets/db", "Error: invalid password: too short",
              "PWD=/home/alice", "OLDPWD=/tmp", "password = get_password()", "password=<redacted>",
              "if password == user.password:", "tests passed=12 failed=0", "password: ${DB_PASSWORD}",
              "password: changeme", "passwd: password updated successfully", "passwords: 3 rotated, 0 failed", "Pass: 12 Fail: 0", "bypass: enabled-for-ci",
              "PWD=C:\\Users\\bob", "proxy_pass http://backend;", "password_encryption = scram-sha-256",
              "db.password=@db.password@", "password = (known after apply)", "password: example",
              "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}", "NODE_AUTH_TOKEN=XXXXX-XXXXX-XXXXX-XXXXX",
              "      status_pass = pass;", "    char *password = buf;", "  secret: 42,", "auth.required=true|false",
              "private_key\t= $dir/private/cakey.pem", "kpasswd\t\t464/tcp", "secret = # disable PBM",
              "secret = $insta::secret", "  passphrase: 'sample',"]),
    _kv("secret-id-assignment", "Secret ids that are credentials: Consul ACL `SecretID`, Vault AppRole `secret_id`",
        lambda n, p: n.endswith(b"secretid") and n not in (b"awssecretid",), "SecretID", _uuid("consul-secret-id"),
        value_ok=lambda v, q: _UUIDISH.match(v) is not None,
        pos=[("secret_id             " + _uuid("approle"), _uuid("approle"))],
        negs=['"SecretId": "prod/db"', "secret_id_accessor    " + _uuid("accessor"), "SecretId: arn:aws:secretsmanager:x"]),
    _kv("client-secret-assignment", "OAuth client secrets (client_secret, clientSecret)",
        _has(b"clientsecret"), "client_secret", fake(URLSAFE, 32, "clientsecret")),
    _kv("secret-assignment", "Values of secret-named keys (secret, secret_key, SECRET_KEY_BASE, …)",
        _has(b"secret"), "SECRET_KEY", fake(ALNUM, 50, "secretkey"),
        value_ok=_secret_value,
        negs=["secretName: db-credentials", "secret_ref=vault/path", "secret: null", "secretary: Alice",
              "secret: my-secret-name", "existingSecret: postgres-auth", "SECRET_BACKEND=vault", "self.secret = secret",
              'secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"']),
    _kv("token-assignment", "Values of token-named keys (token, access_token, refresh_token, authToken, auth)",
        lambda n, p: _key_filter(n, p) and (b"token" in n or n in (b"auth", b"authkey", b"masterauth", b"bwsession")
                                             or p[-1] in (b"auth", b"authkey")
                                             or n.endswith((b"authtok", b"erlangcookie", b"sonarlogin", b"honeycombteam",
                                                            b"initialmanagement", b"authident"))
                                             # Bundler's per-host credentials: `BUNDLE_GEMS__EXAMPLE__COM=user:token`
                                             or (len(p) >= 3 and p[0] == b"bundle" and p[-1] in _TLDS)
                                             or n in (b"sessionid", b"sessionkey", b"phpsessid", b"jsessionid",
                                                      b"connectsid")),
        "access_token",
        fake(URLSAFE, 40, "access_token"),
        value_ok=lambda v, q: v.lower() not in _AUTH_WORDS and (q or _RESOURCE_NAME.fullmatch(v) is None),
        pos=[("ldap_default_authtok = " + PASSWORD, PASSWORD), ("mvn sonar:sonar -Dsonar.login=" + fake(HEX, 40, "sonar-login"),
              fake(HEX, 40, "sonar-login")), ("VAULT_TOKEN=s.Xy12AbCdEfGhIjKlMnOpQrSt", "s.Xy12AbCdEfGhIjKlMnOpQrSt"), ("RABBITMQ_ERLANG_COOKIE=" + fake(UPPER_DIGITS, 20, "ec"),
              fake(UPPER_DIGITS, 20, "ec"))],
        negs=["max_tokens=4096", "token_type: Bearer", '"prompt_tokens": 1234567,', "tokens: [hello, world]", "tokenizer=gpt2", "TOKENIZERS_PARALLELISM=false", "auth: basic",
              "auth_method: password", "token = settings.GITHUB_TOKEN", "token: s.accessTokenForTheUserX",
              "auth: ldap-corp-01", "level=warn component=auth: token=expired"]),
    _kv("api-key-assignment", "Values of API-key-named keys (api_key, apiKey, x-api-key)", _has(b"apikey"),
        "api_key", fake(HEX, 32, "api_key"),
        pos=[('{"api_keys": ["' + fake(HEX, 32, "api_key_1") + '", "' + fake(HEX, 32, "api_key_2") + '"]}',
              fake(HEX, 32, "api_key_2")),
             ('  "apiKeys": [\n    "' + fake(HEX, 32, "api_key_3") + '",\n    "' + fake(HEX, 32, "api_key_4") + '"\n  ],',
              fake(HEX, 32, "api_key_4"))]),
    _kv("access-key-assignment", "Values of access-key-named keys (access_key, accessKey)", _has(b"accesskey"),
        "ACCESS_KEY", fake(ALNUM, 32, "access_key"), negs=["access_key_id: AKIA0000"]),
    _kv("private-key-assignment", "Values of private-key-named keys (private_key, privateKey)",
        lambda n, p: _key_filter(n, p) and (b"privatekey" in n or n == b"clientkeydata"),  # (a kubeconfig's key)
        "private_key", fake(B64, 44, "private_key"), value_ok=_password_value,
        pos=[("    client-key-data: " + fake(B64, 200, "kubeconfig-key") + "=", fake(B64, 200, "kubeconfig-key") + "=")],
        negs=["private_key = /etc/ssl/private/server.key", "private_key\t= $dir/private/cakey.pem"]),
    _kv("dsn-assignment", "Values of DSN-named keys (SENTRY_DSN, DATABASE_DSN): URLs that carry a key",
        lambda n, p: _key_filter(n, p) and b"dsn" in p, "SENTRY_DSN",
        "https://" + fake(HEX, 32, "sentry") + "@o4504.ingest.sentry.io/4504", value_ok=_dsn_value,
        negs=["DSN=mysql:host=localhost;dbname=app;charset=utf8mb4", 'dsn = "mysql://%s:%s@%s/%s" % (user, pw, host, db)',
              "Sentry.init({ dsn: 'https://examplePublicKey@o0.ingest.sentry.io/0' })"]),
    _kv("mnemonic-assignment", "Wallet recovery phrases (MNEMONIC, SEED_PHRASE, recovery_phrase)",
        lambda n, p: _key_filter(n, p) and (b"mnemonic" in n or b"seedphrase" in n or b"recoveryphrase" in n),
        "MNEMONIC", "legal winner thank year wave sausage worth useful legal winner thank yellow", words=True),
    _kv("key-assignment", "Generated-looking values of keys named `…_key` or `…_pat` (SIGNING_KEY, encryptionKey, "
        "APP_KEY, x-hmac-key, AZURE_DEVOPS_PAT)", _key_named, "SIGNING_KEY", fake(ALNUM, 40, "signing_key"),
        value_ok=lambda v, q: _generated(v, q) or (len(v) >= 20 and _random_token(v, q)),  # (one digit in 32 letters)
        negs=["sort_key: created_at", "PRIMARY_KEY=id", "cache_key=user:profile", "public_key: ssh-ed25519",
              "ssh_key=/home/alice/.ssh/id_ed25519.pub", "license_key: TRIAL", "encrypt: true", "primary_key: id",
              "primaryKey: user_id,tenant_id",
              "GPG_KEY=" + fake(HEX, 40, "gpg").upper(), "  dedup_key: " + fake(HEX, 32, "dedup"),
              "ALGOLIA_SEARCH_KEY=" + fake(HEX, 32, "algolia-search")],
        pos=[('  "encrypt": "' + fake(B64, 43, "consul") + '=",', fake(B64, 43, "consul") + "="),
             ("WEBHOOK_HMAC=" + fake(HEX, 64, "webhook-hmac"), fake(HEX, 64, "webhook-hmac")),
             ('  "primaryKey": "' + fake(B64, 43, "az-primary") + '=",', fake(B64, 43, "az-primary") + "=")]),
    _kv("bare-key-assignment", "Random-looking values of a key named just `key` (`key = \"…\"`, `\"key\": \"…\"`): "
        "mixed-case letters and digits, or 32+ hex", lambda n, p: n == b"key", "key", fake(ALNUM, 32, "bare-key"),
        value_ok=_random_token,
        negs=["key: app.kubernetes.io/name", '"Key": "logs/2024/01/01/app-3f2a9c1e.gz"', "key = MyKey_2024_Version",
              "key: user:1234", "key = HELLO_WORLD_2", "key: feature-flag-2024", '"key": "welcome_message"',
              "key: " + _uuid("bare-key-uuid"), "key = ${API_KEY}", "key: node-role.kubernetes.io/control-plane"],
        pos=[("key = " + fake(HEX, 32, "bare-key-hex"), fake(HEX, 32, "bare-key-hex")),
             ('key = "' + fake(LOWER_DIGITS, 24, "bare-key-b36") + '"', fake(LOWER_DIGITS, 24, "bare-key-b36"))]),
    _kv("docker-config-assignment", "Registry credentials: `.dockerconfigjson` / `.dockercfg` values (base64 of "
        "`{\"auths\": …}`) outside a Kubernetes Secret's `data:`",
        lambda n, p: n in (b"dockerconfigjson", b"dockercfg"), ".dockerconfigjson",
        base64.b64encode(b'{"auths":{"ghcr.io":{"auth":"' + base64.b64encode(b"bob:" + PASSWORD.encode())
                         + b'"}}}').decode(),
        value_ok=lambda v, q: len(v) >= 16 and _B64_VALUE.fullmatch(v) is not None,
        negs=[".dockerconfigjson: |", 'kubernetes.io/dockerconfigjson: "true"']),
    _kv("kms-plaintext-data-key", "The plaintext data key `aws kms generate-data-key` returns (`\"Plaintext\": \"…\"`)",
        lambda n, p: n == b"plaintext", "Plaintext", fake(B64, 43, "kms") + "=",
        value_ok=lambda v, q: len(v) >= 24 and _B64_VALUE.fullmatch(v) is not None,
        negs=['"plaintext": "hello world"', "plaintext: true"]),
    _kv("signing-salt-assignment", "Generated values of salt, signing and encryption keys (PASSWORD_SALT, "
        "WEBHOOK_SIGNING, DATA_ENCRYPTION)", lambda n, p: len(p) >= 2 and p[-1] in (b"salt", b"signing", b"encryption"),
        "PASSWORD_SALT", fake(HEX, 32, "salt"), value_ok=lambda v, q: len(v) >= 16 and _generated(v, q),
        negs=["password_encryption = scram-sha-256", "DATA_ENCRYPTION=enabled", "ENCRYPTION=aes-256-gcm"]),
    _kv("pagerduty-routing-key", "PagerDuty Events v2 routing / integration keys (32 hex)",
        lambda n, p: n.endswith((b"routingkey", b"integrationkey")), "PAGERDUTY_ROUTING_KEY", fake(HEX, 32, "pd"),
        value_ok=lambda v, q: len(v) == 32 and all(c in b"0123456789abcdef" for c in v),
        negs=["routing_key: orders.created"]),
    _kv("credential-assignment", "Values of credential-named keys (credential, credentials, creds; also long options: "
        "`--src-creds user:pass`)",
        _has(b"credential", b"creds"), "DB_CREDENTIALS", fake(ALNUM, 24, "creds"),
        value_ok=_credential_value,
        negs=["credential.helper=store", "docker-credential-helpers: credsStore: desktop",
              "credentialsSecret: cloud-credentials", "//srv/share /mnt cifs credentials=/root/.smbcred,uid=1000 0 0"]),
]
KEY_LITERALS = ["bindpw", "rootpw", "_pw=", "_pw =", "_pw:", '_pw"', "_salt", "_signing", "_encryption", "routing_key",
                "routingkey", "integration_key", "integrationkey", "bw_session", "honeycomb-team", "initial_management",
                "sessionid", "session_id", "phpsessid", "jsessionid", "connect.sid", 'key1"', 'key2"', "key1:", "key2:",
                "plaintext", "authident", "bundle_", "erlang_cookie", "erlangcookie", 'encrypt"', "encrypt=", "encrypt =", "encrypt:",
                "pass", "pwd", "pswd", "psk=", "psk:", 'psk"', "psk'", "psk ", "_key", "-key", "key=", "key =", "key:",
                'key"', "key'", "_pat=", "_pat:", '_pat"', "secret", "token", "auth", "apikey", "api_key", "api-key", "accesskey",
                "access_key", "access-key", "privatekey", "private_key", "private-key", "credential", "creds", "dsn",
                "mnemonic", "dockerconfigjson", "dockercfg", "seed_phrase", "seedphrase", "recovery_phrase", "_hmac", "sonar.login",
                # labels of words: `API key: …`, `Private key: 0x…` (`Secret key`, `Access token` start with a
                # literal already)
                "api key", "private key", "access key", "master key", "signing key", "encryption key"]
KEY_FAMILY = KeyValueFamily(KEY_LITERALS, KEY_RULES)

_PEM_BODY = "\n".join(fake(B64, 64, f"pem{i}") for i in range(4))
PEM = PemDetector(infos_=[
    Info("private-key-pem", "PEM private keys (RSA, EC, DSA, PKCS#8, encrypted), BEGIN to END",
         ((f"-----BEGIN RSA PRIVATE KEY-----\n{_PEM_BODY}\n-----END RSA PRIVATE KEY-----\n", _PEM_BODY),),
         ("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN PUBLIC KEY-----")),
    Info("private-key-openssh", "OpenSSH private keys, BEGIN to END",
         ((f"-----BEGIN OPENSSH PRIVATE KEY-----\n{_PEM_BODY}\n-----END OPENSSH PRIVATE KEY-----", _PEM_BODY),),
         ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFake user@host",)),
    Info("private-key-pgp", "PGP private key blocks, BEGIN to END",
         ((f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{_PEM_BODY}\n-----END PGP PRIVATE KEY BLOCK-----", _PEM_BODY),),
         ("-----BEGIN PGP SIGNATURE-----",)),
    Info("private-key-ssh2", "SSH2 (RFC 4716, ssh.com / Tectia) encrypted private keys, BEGIN to END",
         ((f'---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: "rsa-key-20260101"\n{_PEM_BODY}\n'
           "---- END SSH2 ENCRYPTED PRIVATE KEY ----\n", _PEM_BODY),),
         ('---- BEGIN SSH2 PUBLIC KEY ----\nComment: "rsa-key"\nAAAAB3NzaC1yc2EAAAADAQABAAABAQ\n---- END SSH2 PUBLIC KEY ----',)),
])

K8S = K8sSecretDataDetector(
    positives=[("apiVersion: v1\ndata:\n  password: " + base64.b64encode(PASSWORD.encode()).decode()
                + "\n  tls.key: " + base64.b64encode(b"fake-key-material-" + fake(ALNUM, 20, "k").encode()).decode()
                + "\nkind: Secret\n", base64.b64encode(PASSWORD.encode()).decode()),
               ('{\n  "data": {\n    "token": "' + base64.b64encode(b"fake-token-" + fake(ALNUM, 16, "t").encode()).decode()
                + '"\n  },\n  "kind": "Secret"\n}', base64.b64encode(b"fake-token-" + fake(ALNUM, 16, "t").encode()).decode())],
    negatives=["apiVersion: v1\ndata:\n  mode: production\n  level: info\nkind: ConfigMap\n",
               "apiVersion: v1\ndata:\n  config.yaml: bG9nbGV2ZWw6IGluZm8K\n  PORT: 8080\nkind: ConfigMap\n",
               "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  SEED: QUJDRA==\n",
               "metadata:\n  name: web\n  namespace: default\n"],
)
CARDS = CardDetector(
    positives=[(f"card: {CARD_VISA} exp 12/30", CARD_VISA), (f"pan={CARD_MC}", CARD_MC), (CARD_AMEX, CARD_AMEX),
               ("Maestro 6759485724200392003", "6759485724200392003"),  # 19 digits, and grouped 4-4-4-4-3
               ("card: 6759 4857 2420 0392 003", "6759 4857 2420 0392 003"), ("Mir 2200 0000 0000 0004", "2200 0000 0000 0004")],
    negatives=["order 4111 1111 1111 1112 (bad checksum)", "ts=1714567890123 id=1234567890123456",
               "2024-05-01 12:34:56.789", "phone +1 555 123 4567", "version 4.111.1111.1111"],
)


@lru_cache(maxsize=4096)  # names come from the output stream, so the cache is bounded
def _xml_key_ok(name: bytes) -> bool:
    parts = key_parts(name.replace(b":", b"."))
    norm = b"".join(parts)
    return any(rule.accepts(norm, parts) for rule in KEY_RULES if rule.id not in ("gcp-service-account-private-key",))


XML = XmlSecretDetector(
    ["pass", "pwd", "secret", "token", "apikey", "api_key", "api-key", "accesskey", "access_key", "privatekey",
     "private_key", "credential"], _xml_key_ok,
    positives=[("<password>" + PASSWORD + "</password>", PASSWORD),
               ('<property name="db.password" value="' + PASSWORD + '"/>', PASSWORD),
               ("<property>\n  <name>fs.s3a.secret.key</name>\n  <value>" + AWS_SECRET + "</value>\n</property>",
                AWS_SECRET),
               ("<server><id>x</id><password>" + PASSWORD + "</password></server>", PASSWORD),
               ('<add key="DbPassword" value="' + PASSWORD + '" />', PASSWORD),
               ('<entry key="db.password">' + PASSWORD + "</entry>", PASSWORD),
               ("<AdministratorPassword>\n  <Value>" + PASSWORD + "</Value>\n  <PlainText>true</PlainText>", PASSWORD),
               ("<password><![CDATA[" + PASSWORD + "]]></password>", PASSWORD)],
    negatives=["<password>${env.DB_PASSWORD}</password>", "<passwordPolicy>strict</passwordPolicy>",
               '<property name="password.length" value="12"/>', "<tokenType>Bearer</tokenType>",
               "<secret>***</secret>", '<add key="PasswordMinLength" value="12" />', '<entry key="user">bob</entry>'],
)

NAME_VALUE = NameValueSecretDetector(
    lambda name: _xml_key_ok(name.rsplit(b"/", 1)[-1]),
    positives=[("env:\n  - name: DB_PASSWORD\n    value: " + PASSWORD + "\n  - name: LOG_LEVEL\n    value: info\n", PASSWORD),
               ('{"Parameter": {"Name": "/prod/db/password", "Type": "SecureString", "Value": "' + PASSWORD + '"}}',
                PASSWORD),
               ('"environment": [{"name": "API_TOKEN", "value": "' + fake(ALNUM, 24, "nv") + '"}]', fake(ALNUM, 24, "nv")),
               ('{"db_password": {"sensitive": true, "type": "string", "value": "' + PASSWORD + '"}}', PASSWORD),
               ('{"api_keys": {"sensitive": true, "type": ["list", "string"], "value": ["' + fake(ALNUM, 32, "nv1")
                + '", "' + fake(ALNUM, 32, "nv2") + '"]}}', fake(ALNUM, 32, "nv2")),
               ('{\n  "api_keys": {\n    "sensitive": true,\n    "value": [\n      "' + fake(ALNUM, 32, "nv3")
                + '",\n      "' + fake(ALNUM, 32, "nv4") + '"\n    ]\n  }\n}\n', fake(ALNUM, 32, "nv4")),
               ('[\n  {\n    "creationTime": "2024-01-01T00:00:00+00:00",\n    "keyName": "key1",\n    "permissions": "FULL",\n'
                '    "value": "' + fake(B64, 86, "az-key1") + '=="\n  }\n]', fake(B64, 86, "az-key1") + "=="),
               ('{"db_passwords": {"sensitive": true, "value": {"app": "' + PASSWORD + '", "ro": "x' + PASSWORD + '"}}}',
                "x" + PASSWORD)],
    negatives=["env:\n  - name: LOG_LEVEL\n    value: debug\n", '{"name": "replicas", "value": "3"}',
               "  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef: {name: db, key: password}\n",
               '{"name": "password_policy", "value": "strict"}', '{"keyName": "cache-ttl", "value": "300"}'],
)

URL_ENCODED = UrlEncodedSecretDetector(
    lambda key: KEY_FAMILY._rules_for(key)[0],
    positives=[("POST /login body=username%3Dbob%26password%3D" + fake(ALNUM, 14, "urlenc-pw") + "%21 200",
                fake(ALNUM, 14, "urlenc-pw") + "%21"),
               ("POST /login body=" + quote("user=bob&password=" + quote(PASSWORD, safe=""), safe=""),
                quote(quote(PASSWORD, safe=""), safe="")),
               ("GET /search?q=%7B%22api_key%22%3A%22" + fake(HEX, 32, "urlenc") + "%22%7D HTTP/1.1",
                fake(HEX, 32, "urlenc")),
               ("state=client_id%3Dweb%26client_secret%3D" + fake(URLSAFE, 32, "urlenc-cs") + "&next=/",
                fake(URLSAFE, 32, "urlenc-cs")),
               ('payload=%7B%22user%22%3A%20%22bob%22%2C%20%22password%22%3A%20%22' + quote(PASSWORD) + '%22%7D',
                quote(PASSWORD))],
    negatives=["redirect=%2Flogin%3Fnext%3D%252Fhome", "sig=AbCd%3D%3D&x=1", "q=password%3D",
               "filter=token%3Dnull%26page%3D2", "q=%7B%22password%22%3A%22%22%7D",
               "next=%2Freset%3Fpassword%3D%24%7BPASSWORD%7D"],
)

PIPED = PipedPasswordDetector(
    positives=[("echo '" + PASSWORD + "' | sudo -S apt-get update", PASSWORD),
               ("  501  echo " + fake(ALNUM, 14, "piped") + " | sudo -S -u root systemctl restart app",
                fake(ALNUM, 14, "piped")),
               ("echo 'deploy:" + PASSWORD + "' | chpasswd", PASSWORD),
               ('echo "' + fake(ALNUM, 20, "piped-docker") + '" | docker login registry.example.com -u bob --password-stdin',
                fake(ALNUM, 20, "piped-docker")),
               ("printf '%s\\n' '" + PASSWORD + "' | passwd --stdin app", PASSWORD),
               ("sudo -S systemctl restart nginx <<< '" + PASSWORD + "'", PASSWORD),
               ("$ id\nuid=0(root)\n$ sudo -S systemctl restart nginx <<< '" + PASSWORD + "'", PASSWORD)],
    negatives=["echo $PASSWORD | sudo -S true", 'echo "$DB_PASS" | docker login -u bob --password-stdin',
               "echo hello | tee out.txt", 'echo "$USER:$NEW_PW" | chpasswd', "echo 'app:<password>' | chpasswd", "cat pw.txt | sudo -S true",
               "echo done; sudo -S true", "grep -c x <<< 'abc'", "echo ***** | sudo -S ls"],
)

CLI = CliPasswordDetector(
    positives=[("mysql  1234  0.0 /usr/bin/mysql -uroot -p" + PASSWORD + " app", PASSWORD),
               ("sshpass -p " + PASSWORD + " ssh host", PASSWORD),
               ("pg_dump --password " + PASSWORD + " db", PASSWORD),
               ("machine api.example.com login alice password " + PASSWORD, PASSWORD),
               ("curl -fsS -u deploy:" + PASSWORD + " https://api.example.com/v1", PASSWORD),
               ("docker login -u bot -p " + PASSWORD + " registry.example.com", PASSWORD),
               ("vault login --token " + fake(URLSAFE, 28, "cli-tok") + "1 -x", fake(URLSAFE, 28, "cli-tok") + "1"),
               ("root  812  python app.py --db-password " + PASSWORD + " --port 8080", PASSWORD),
               ('"Cmd": ["redis-server", "--requirepass", "' + PASSWORD + '"]', PASSWORD),
               ("keytool -importkeystore -srcstorepass " + PASSWORD + " -deststorepass " + PASSWORD + "x", PASSWORD),
               ("mysqldump -u root -p'" + PASSWORD + "' app", PASSWORD),
               ("mongosh -u admin -p " + PASSWORD + " --authenticationDatabase admin", PASSWORD),
               ("ldapsearch -x -D cn=admin,dc=example,dc=com -w " + PASSWORD + " -b dc=example,dc=com", PASSWORD),
               ("sqlcmd -S db -U sa -P " + PASSWORD + " -Q 'select 1'", PASSWORD),
               ("ipmitool -I lanplus -H 10.0.0.9 -U admin -P " + PASSWORD + " power status", PASSWORD),
               ("rabbitmqctl change_password admin " + PASSWORD, PASSWORD),
               ("htpasswd -bc /etc/nginx/.htpasswd admin " + PASSWORD, PASSWORD),
               ("smbclient //fs/share -U admin%" + PASSWORD, PASSWORD),
               ("xfreerdp /u:admin /p:" + PASSWORD + " /v:10.0.0.5", PASSWORD),
               ("sqlplus -s scott/" + PASSWORD + "@db.example.com:1521/ORCL", PASSWORD),
               ("openssl enc -aes-256-cbc -k " + PASSWORD + " -in a -out b", PASSWORD),
               ('poll mail.example.com protocol imap user "joe" password "' + PASSWORD + '"', PASSWORD),
               ("    user admin insecure-password " + PASSWORD, PASSWORD),
               ("mysqladmin -u root password '" + PASSWORD + "'", PASSWORD),
               ("rocommunity " + PASSWORD + " 10.0.0.0/8", PASSWORD),
               ("createUser monitor SHA " + PASSWORD + " AES " + PASSWORD + "x", PASSWORD),
               ("snmpwalk -v3 -l authPriv -u mon -a SHA -A " + PASSWORD + " -x AES -X " + PASSWORD + "y host",
                PASSWORD),
               ("snmpget -v2c -c " + PASSWORD + " 10.0.0.1 sysName.0", PASSWORD),
               ("aws ssm put-parameter --name /prod/db --value '" + PASSWORD + "' --type SecureString", PASSWORD),
               ("mc alias set prod https://s3.example.com minio " + PASSWORD, PASSWORD),
               ("net user svc_backup " + PASSWORD + " /add", PASSWORD),
               ("listen stats\n    stats auth admin:" + PASSWORD, PASSWORD),
               ("[smtp.gmail.com]:587 alerts@example.com:" + PASSWORD, PASSWORD),
               ("zip -r -P " + PASSWORD + " backup.zip /srv/data", PASSWORD),
               ("7z a -p" + PASSWORD + " -mhe=on backup.7z /srv", PASSWORD),
               ("az login --service-principal -u app -p " + PASSWORD + " --tenant t", PASSWORD),
               ("gh secret set DB_PASSWORD --body '" + PASSWORD + "'", PASSWORD),
               ("az keyvault secret set --vault-name kv --name db --value " + PASSWORD, PASSWORD),
               ("pulumi config set --secret dbPassword " + PASSWORD, PASSWORD),
               ("ssh-keygen -t ed25519 -N '" + PASSWORD + "' -f key", PASSWORD),
               ("twine upload -u ci -p " + PASSWORD + " dist/*", PASSWORD),
               ("lftp -u deploy," + PASSWORD + " sftp://host", PASSWORD),
               ("expdp system/" + PASSWORD.replace("&", "x") + "@prod schemas=HR", PASSWORD.replace("&", "x")),
               ("mysqlsh --uri root:" + PASSWORD + "@localhost:3306", PASSWORD),
               ("net use Z: \\\\fs01\\share " + PASSWORD + " /user:CORP\\jdoe", PASSWORD),
               ("$pw = ConvertTo-SecureString '" + PASSWORD + "' -AsPlainText -Force", PASSWORD),
               ("wpa_passphrase HomeWiFi " + PASSWORD, PASSWORD),
               ('reg add "HKLM\\Winlogon" /v DefaultPassword /t REG_SZ /d "' + PASSWORD + '" /f', PASSWORD),
               ("127.0.0.1:6379> AUTH default " + PASSWORD, PASSWORD),
               ("user app on >" + PASSWORD + " ~app:* +@read", PASSWORD),
               ("sentinel auth-pass mymaster " + PASSWORD, PASSWORD),
               ("username admin privilege 15 password 0 " + PASSWORD, PASSWORD),
               ("tacacs-server host 10.0.0.5 key 7 02050D4808095E731F1A5C", "02050D4808095E731F1A5C"),
               ("snmp-server community " + PASSWORD + " RW", PASSWORD),
               (" ip ospf message-digest-key 1 md5 " + PASSWORD, PASSWORD),
               ("rootpw --plaintext " + PASSWORD, PASSWORD),
               ("cache_peer parent.corp parent 3128 0 no-query login=proxy:" + PASSWORD, PASSWORD),
               ("etcdctl --endpoints=https://10.0.0.1:2379 --user root:" + PASSWORD + " get /registry", PASSWORD),
               ("rclone config create s3 s3 provider Minio access_key_id ak secret_access_key " + PASSWORD, PASSWORD),
               ("IPSec gateway vpn.corp\nIPSec secret " + PASSWORD, PASSWORD),
               ("npm config set //registry.corp/:_authToken " + PASSWORD, PASSWORD),
               ("    DefaultPassword    REG_SZ    " + PASSWORD, PASSWORD),
               ("subprocess.run(['mysql', '-u', 'root', '-p" + PASSWORD.replace("&", "x") + "', 'app'])",
                PASSWORD.replace("&", "x"))],
    negatives=["mytool --token $TOKEN", "mytool --token-file /run/token", "kubectl --token ./token.txt",
               "gh auth --secret example --x", "mysql -u root -p app", "mkdir -p /tmp/x", "find . -print", "tests pass on CI",
               "docker run -p 8080:80 nginx", "curl -u alice https://example.com",
               "htpasswd -c /etc/nginx/.htpasswd admin", "ldapsearch -x -W -D cn=admin -b dc=x", "sqlplus / as sysdba",
               "mongo --quiet --eval 'db.stats()'", "openssl req -new -key k.pem -out x.csr", "rabbitmqctl list_users",
               "app --db-password-file /run/secrets/db", "app --password $DB_PASSWORD", "sqlcmd -S db -E -Q 'select 1'",
               "auth_basic_user_file /etc/nginx/.htpasswd;",
               "Failed password for invalid user admin from 10.0.0.1 port 22 ssh2", "use password sha256 hashing",
               "the password reset3 flow", "Password: ", "net user joe /delete", "net user joe *",
               "snmpget -v 2c localhost sysName.0", "stats auth admin", "relay=smtp.gmail.com[142.250.1.1]:587, delay=1",
               "connect to [2a00:1450::1]:587: Connection timed out", "zip -r backup.zip /srv/data",
               "gh secret set DB_PASSWORD < file.txt", "ssh-keygen -t ed25519 -N '' -f key", "unzip -l x.zip",
               "7z x -p backup.7z", "    ProductName    REG_SZ    Windows 10 Pro", "turn the feature on >5 times", "https://x/?login=joe&x=1", "127.0.0.1:6379> AUTH", "aws ssm get-parameter --name /prod/db --with-decryption"],
)

_PEM_B64 = base64.b64encode(f"-----BEGIN RSA PRIVATE KEY-----\n{_PEM_BODY}\n-----END RSA PRIVATE KEY-----\n".encode()).decode()
PEM_BASE64 = Base64PrivateKeyDetector(
    positives=[("  tls.key: " + _PEM_B64, _PEM_B64[15:]), ("TLS_KEY=" + _PEM_B64, _PEM_B64[15:]),
               ("\n".join(_PEM_B64[i : i + 76] for i in range(0, len(_PEM_B64), 76)) + "\n", _PEM_B64[15:76])],
    negatives=["  tls.crt: " + base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n").decode()],
)

def _keytab(seed: str) -> bytes:
    """A keytab's shape with fake content: one entry, principal HTTP/web.example.com@EXAMPLE.COM, an AES-256 key."""
    comps = [b"HTTP", b"web.example.com"]
    body = len(comps).to_bytes(2, "big") + (11).to_bytes(2, "big") + b"EXAMPLE.COM"
    body += b"".join(len(c).to_bytes(2, "big") + c for c in comps)
    key = hashlib.sha256(seed.encode()).digest()
    body += (1).to_bytes(4, "big") + (1700000000).to_bytes(4, "big") + b"\x02" + (18).to_bytes(2, "big")
    body += len(key).to_bytes(2, "big") + key
    return b"\x05\x02" + len(body).to_bytes(4, "big") + body


_KEYTAB_B64 = base64.b64encode(_keytab("kt1")).decode()
KEYTAB = KeytabBase64Detector(
    positives=[("KRB5_KEYTAB_B64=" + _KEYTAB_B64, _KEYTAB_B64[6:]), ("  krb5.keytab: " + _KEYTAB_B64, _KEYTAB_B64[6:])],
    negatives=["BQIAAAB is a prefix", "BQIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],
)
_OVPN_BODY = "\n".join(fake(HEX, 32, f"ovpn{i}") for i in range(16))
OPENVPN = OpenVpnKeyDetector(
    positives=[("#\n# 2048 bit OpenVPN static key\n#\n-----BEGIN OpenVPN Static key V1-----\n" + _OVPN_BODY
                + "\n-----END OpenVPN Static key V1-----\n", _OVPN_BODY),
               ("<tls-crypt>\n-----BEGIN OpenVPN Static key V1-----\n" + _OVPN_BODY
                + "\n-----END OpenVPN Static key V1-----\n</tls-crypt>\n", _OVPN_BODY)],
    negatives=["-----BEGIN OpenVPN is how the key file starts"],
)
_WP_STAND_INS = frozenset(b"password_here username_here database_name_here put your unique phrase here".split(b" "))
DIRECTIVES = DirectiveSecretDetector(
    _xml_key_ok,
    lambda v: not_placeholder(v) and _value_sane(v, False) and _not_path(v, False) and v.lower() not in _WP_STAND_INS
    and v.lower() != b"put your unique phrase here" and not v.startswith((b"$", b"[MASKED")),
    positives=[("SetEnv DB_PASS " + PASSWORD, PASSWORD), ("  fastcgi_param DB_PASSWORD " + PASSWORD + ";", PASSWORD),
               ("ENV DB_PASSWORD " + PASSWORD, PASSWORD),
               ("    proxy_set_header X-Api-Key " + fake(ALNUM, 32, "dir-hdr") + ";", fake(ALNUM, 32, "dir-hdr")),
               ('RequestHeader set X-API-Key "' + fake(ALNUM, 32, "dir-hdr2") + '"', fake(ALNUM, 32, "dir-hdr2")),
               ("    http-request set-header X-Api-Key " + fake(ALNUM, 32, "dir-hdr3"), fake(ALNUM, 32, "dir-hdr3")),
               ("        header_up X-Api-Key " + fake(ALNUM, 32, "dir-hdr4"), fake(ALNUM, 32, "dir-hdr4")),
               ("/bin/sh -c #(nop)  ENV API_TOKEN " + fake(ALNUM, 32, "dir-tok"), fake(ALNUM, 32, "dir-tok")),
               ("define( 'DB_PASSWORD', '" + PASSWORD + "' );", PASSWORD),
               ("define('SECURE_AUTH_SALT', '" + fake(ALNUM + "!@#%^&*()-_[]{}<>~`+=,.;:/?|", 64, "wp-salt") + "');",
                fake(ALNUM + "!@#%^&*()-_[]{}<>~`+=,.;:/?|", 64, "wp-salt"))],
    negatives=["define( 'DB_PASSWORD', 'password_here' );", "define( 'AUTH_KEY',         'put your unique phrase here' );",
               "define('DB_NAME', 'wordpress');", "SetEnv APP_ENV production",
               "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;", "proxy_set_header X-Api-Key $api_key;", "ENV DB_PASSWORD_FILE /run/secrets/db",
               "    checksum/secret: " + fake(HEX, 64, "helm-checksum"), "python -m venv env && source env/bin/activate",
               "fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;"],
)
_PPK_BODY = "\n".join(fake(B64, 64, f"ppk{i}") for i in range(3))
PUTTY = PuttyPrivateKeyDetector(
    positives=[("PuTTY-User-Key-File-3: ssh-rsa\nEncryption: none\nPublic-Lines: 1\nAAAAB3NzaC1yc2E\n"
                f"Private-Lines: 3\n{_PPK_BODY}\nPrivate-MAC: " + fake(HEX, 64, "ppkmac") + "\n", _PPK_BODY)],
    negatives=["Private-Lines: see the PuTTY documentation"],
)
PGPASS = PgpassDetector(
    positives=[("db.example.com:5432:app:app_user:" + PASSWORD, PASSWORD), ("*:*:*:postgres:" + PASSWORD, PASSWORD)],
    ntlm_positives=[("Administrator:500:aad3b435b51404eeaad3b435b51404ee:" + fake(HEX, 32, "ntlm") + ":::",
                     fake(HEX, 32, "ntlm"))],
    negatives=["00:1a:2b:3c:4d:5e", "src/app.py:120:def:main:", "localhost:5432:app:user:********",
               "root:*:19000:0:99999:7:::", "daemon:*:19000:0:99999:7:::"],
)

CHPASSWD = CloudInitChpasswdDetector(
    positives=[("#cloud-config\nchpasswd:\n  list: |\n    root:" + PASSWORD + "\n    ubuntu:RANDOM\n  expire: false\n",
                PASSWORD),
               ("chpasswd:\n  expire: true\n  list:\n    - ubuntu:" + fake(ALNUM, 14, "ci-pw") + "\nusers: []\n",
                fake(ALNUM, 14, "ci-pw"))],
    negatives=["chpasswd:\n  list: |\n    root:RANDOM\n    bob:R\n  expire: false\n",
               "chpasswd:\n  expire: false\nruncmd: []\n", "modules: [chpasswd: enabled]"],
)


def _wg_key(seed: str) -> str:
    return fake(B64, 42, seed) + "A="


WG_DUMP = WireGuardDumpDetector(
    positives=[("wg0\t" + _wg_key("wg-priv") + "\t" + _wg_key("wg-pub") + "\t51820\toff", _wg_key("wg-priv")),
               ("wg0\t" + _wg_key("wg-peer") + "\t" + _wg_key("wg-psk") + "\t203.0.113.5:51820\t10.0.0.2/32\t1700000000\t"
                "1024\t2048\toff", _wg_key("wg-psk"))],
    negatives=["wg0\t" + _wg_key("wg-peer3") + "\t(none)\t203.0.113.5:51820\t10.0.0.2/32\t0\t0\t0\toff",
               fake(B64, 76, "wg-b64line"), "name\t" + _wg_key("x1") + "\tnote\tfree text"],
)

_JWK_D = fake(URLSAFE, 342, "jwk-d")
_JWK_K = fake(URLSAFE, 43, "jwk-k")
JWK = JwkPrivateDetector(
    positives=[('{"keys": [{"kty": "RSA", "kid": "k1", "n": "' + fake(URLSAFE, 342, "jwk-n") + '", "e": "AQAB", "d": "'
                + _JWK_D + '"}]}', _JWK_D),
               ('{"alg": "HS256", "k": "' + _JWK_K + '", "kty": "oct"}', _JWK_K)],
    negatives=['{"kty": "RSA", "n": "' + fake(URLSAFE, 342, "jwk-n2") + '", "e": "AQAB"}',
               '{"d": "2024-01-01T00:00:00Z", "p": "page-two-of-the-report"}'],
)

_RSA_TEXT = "\n".join("    " + ":".join(fake(HEX, 30, f"rsa-text{i}")[j : j + 2] for j in range(0, 30, 2)) + ":"
                      for i in range(3))
KEY_TEXT = KeyTextDetector(
    positives=[("Private-Key: (2048 bit, 2 primes)\nprivateExponent:\n" + _RSA_TEXT + "\nprime1:", _RSA_TEXT),
               ("ED25519 Private-Key:\npriv:\n" + _RSA_TEXT + "\npub:", _RSA_TEXT)],
    negatives=["modulus:\n" + _RSA_TEXT + "\npublicExponent: 65537 (0x10001)",
               "the priv: field is empty", "coefficient: 0.25"],
)

_RSA_XML = "".join(f"<{t}>{fake(B64, 43, 'rsa-xml-' + t)}=</{t}>" for t in ("P", "Q", "DP", "DQ", "InverseQ", "D"))
RSA_XML = RsaKeyValueDetector(
    positives=[("<RSAKeyValue><Modulus>" + fake(B64, 171, "rsa-xml-n") + "=</Modulus><Exponent>AQAB</Exponent>"
                + _RSA_XML + "</RSAKeyValue>", _RSA_XML),
               ("<RSAKeyValue>\n  <Modulus>" + fake(B64, 171, "rsa-xml-n2") + "=</Modulus>\n  <Exponent>AQAB</Exponent>\n  "
                + _RSA_XML.replace("><", ">\n  <") + "\n</RSAKeyValue>", _RSA_XML.replace("><", ">\n  <"))],
    negatives=["<RSAKeyValue><Modulus>" + fake(B64, 171, "rsa-xml-pub") + "=</Modulus><Exponent>AQAB</Exponent>"
               "</RSAKeyValue>", "<Exponent>AQAB</Exponent><P>a paragraph</P>"],
)

# Order is priority: when two detectors mask the same bytes, the first names the span.
BUILTIN: list[Detector] = [PEM, OPENVPN, PEM_BASE64, KEYTAB, PUTTY, JWK, *TOKEN_DETECTORS, *CONTEXT_DETECTORS, K8S, CLI, PIPED, KEY_FAMILY, URL_ENCODED, XML,
                           DIRECTIVES,
                           NAME_VALUE, CARDS, PGPASS, WG_DUMP, CHPASSWD, KEY_TEXT, RSA_XML]

def builtin_infos() -> list[Info]:
    return [info for det in BUILTIN for info in det.infos()]


BUILTIN_IDS: tuple[str, ...] = tuple(info.id for info in builtin_infos())
