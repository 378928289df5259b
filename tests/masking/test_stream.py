"""StreamMasker behaviour: chunk-exactness, idle release, ANSI, binary, PEM blocks, styles, hits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.masking.detectors import builtin_infos, fake
from bastion.masking.profiles import MaskingProfile
from bastion.masking.stream import HOLD_BOUND, MaskHit, StreamMasker
from tests.masking.conftest import mask_chunks, mask_whole, split_at

SAMPLES = [(t.encode(), s.encode()) for i in builtin_infos() for t, s in i.positives]
B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
FILLERS = [b"ls -la\r\n", b"\x1b[32m", b"\x1b[0m", b"hello world ", b"$ ", b"caf\xc3\xa9 ", b"\xff\xfe\x00",
           b"2026-05-01 12:00:00 INFO ok ", b"token ", b"pass", b"gh", b"-----BEG", b"sk-", b"4111 ", b"\x1b[K"]

pieces = st.lists(
    st.one_of(st.sampled_from(range(len(SAMPLES))).map(lambda i: ("s", i)),
              st.sampled_from(FILLERS).map(lambda f: ("f", f)),
              st.binary(max_size=12).map(lambda b: ("f", b))),
    min_size=1, max_size=6,
)


def build(parts: list) -> tuple[bytes, list[bytes]]:
    data, secrets = [], []
    for kind, x in parts:
        if kind == "s":
            text, secret = SAMPLES[x]
            data.append(text)
            secrets.append(secret)
        else:
            data.append(x)
        data.append(b"\n")
    return b"".join(data), secrets


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=pieces, cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=12))
def test_any_chunking_equals_whole_text_and_never_leaks(parts: list, cuts: list[int]) -> None:
    data, secrets = build(parts)
    whole = mask_whole(data)
    for s in secrets:
        assert s not in whole
    assert mask_chunks(split_at(data, cuts)) == whole


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=pieces)
def test_one_byte_chunks_equal_whole_text(parts: list) -> None:
    data, _ = build(parts)
    assert mask_chunks([data[i : i + 1] for i in range(len(data))]) == mask_whole(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=pieces, cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=8),
       idles=st.lists(st.booleans(), max_size=9))
def test_idle_release_splits_never_leak(parts: list, cuts: list[int], idles: list[bool]) -> None:
    data, secrets = build(parts)
    m = StreamMasker(MaskingProfile())
    out = []
    for i, chunk in enumerate(split_at(data, cuts)):
        out.append(m.feed(chunk))
        if i < len(idles) and idles[i]:
            out.append(m.release_idle())
    out.append(m.finish())
    result = b"".join(out)
    for s in secrets:
        assert s not in result
        # not even in two harmless-looking halves: no 8-byte window of the secret survives
        for k in range(0, max(1, len(s) - 8)):
            window = s[k : k + 8]
            if len(window) == 8 and window not in data.replace(s, b""):
                assert window not in result


def test_idle_release_masks_a_token_in_progress_and_its_rest() -> None:
    m = StreamMasker(MaskingProfile())
    assert m.feed(b"$ echo ghp_abc") == b"$ echo "
    assert m.release_idle() == b"[MASKED:github-pat-classic]"
    assert m.feed(b"defXYZ123 done\n") == b" done\n"
    m2 = StreamMasker(MaskingProfile())
    assert m2.feed(b"export DB_PASSWORD=hu") == b"export DB_PASSWORD="
    assert m2.release_idle() == b"[MASKED:password-assignment]"
    assert m2.feed(b"nter2\n") + m2.finish() == b"\n"


def test_idle_release_inside_a_wrapped_base64_private_key_shows_none_of_it() -> None:
    # `base64 key.pem` wrapped at 76 columns, an idle pause on its second line or in its encoded armour line
    key = base64.b64encode(b"-----BEGIN RSA PRIVATE KEY-----\n" + fake(B64_CHARS, 600, "idle-b64").encode()
                           + b"\n-----END RSA PRIVATE KEY-----\n")
    data = b"\n".join(key[i : i + 76] for i in range(0, len(key), 76)) + b"\n"
    for cut in (20, 40, 100, 300):
        m = StreamMasker(MaskingProfile())
        out = m.feed(data[:cut]) + m.release_idle() + m.feed(data[cut:]) + m.finish()
        assert out == b"LS0tLS1CRUdJTiB[MASKED:private-key-base64]\n", cut


def test_idle_release_shows_a_public_trigger_prefix_and_masks_the_rest() -> None:
    m = StreamMasker(MaskingProfile())
    assert m.feed(b"x gh") == b"x "
    assert m.release_idle() == b"gh"
    rest = m.feed(b"p_" + b"Q" * 36 + b" ok\n") + m.finish()
    assert b"QQQQ" not in rest and rest.endswith(b" ok\n")


@pytest.mark.parametrize("typed", [
    b"Mount /dev/sda1", b"echo Nothing", b"Okay then", b"kubectl get secret db -o yaml", b"SK12",
    b"key-value store", b"curl -s https://example.org", b"mysql -u root", b"cio test", b"dapi",
])
def test_words_typed_one_key_at_a_time_with_idle_releases_between_are_echoed_unchanged(typed: bytes) -> None:
    # A pty echoes each keystroke alone and waits longer than the idle release before the next: a word
    # that only begins like a secret's weak head (`M…` of a Discord token, `s…` of `secret_…`, `key-`
    # before a hex body, the flags after `curl`) must not be masked in the echo.
    m = StreamMasker(MaskingProfile())
    out = b"".join(m.feed(typed[i : i + 1]) + m.release_idle() for i in range(len(typed)))
    assert out + m.feed(b"\r\n") + m.finish() == typed + b"\r\n"


def test_a_password_typed_after_a_flag_with_idle_releases_is_still_masked() -> None:
    for line, secret in [(b"curl -u bob:Zk29xLq7Mp https://x", b"Zk29xLq7Mp"), (b"mysql -u root -pS3cret99x", b"S3cret99x")]:
        m = StreamMasker(MaskingProfile())
        out = b"".join(m.feed(line[i : i + 1]) + m.release_idle() for i in range(len(line)))
        out += m.feed(b"\r\n") + m.finish()
        assert not any(secret[i : i + 3] in out for i in range(len(secret) - 2)), out


def test_plain_typing_and_prompts_are_not_held() -> None:
    m = StreamMasker(MaskingProfile())
    outs = [m.feed(bytes([ch])) for ch in b"cat -v\r\n"]
    # only a '-' at the start of a word waits (it could begin `-----BEGIN`), and only until the next byte
    # (so do letters that start a token prefix, `c` for `CFPAT-`, `l` for `lin_api_`, `v` for PASETO's `v4.local.`;
    # echo releases them at once)
    assert outs == [b"", b"ca", b"t", b" ", b"", b"-", b"v\r", b"\n"]
    assert m.held == 0
    assert m.feed(b"alice@web-1:~$ ") == b"alice@web-1:~$ "
    assert m.held == 0
    assert m.feed(b"Password: ") == b"Password: "


def test_held_is_bounded_and_released_when_bytes_cannot_start_a_secret() -> None:
    m = StreamMasker(MaskingProfile())
    out = m.feed(b"x ghp_")
    assert out == b"x " and m.held == 4
    out = m.feed(b"!! no secret\n")
    assert out == b"ghp_!! no secret\n" and m.held == 0
    m = StreamMasker(MaskingProfile())
    m.feed(b"password: " + b"a" * 100_000)  # a value that never ends
    assert m.held <= HOLD_BOUND


def test_benign_corpus_is_byte_identical() -> None:
    sha = hashlib.sha1(b"x").hexdigest()
    corpus = b"\n".join([
        b"commit " + sha.encode() + b" Merge branch 'main'",
        str(uuid.UUID(int=0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0)).encode(),
        b"image: nginx@sha256:" + hashlib.sha256(b"nginx").hexdigest().encode(),
        b'"integrity": "sha512-' + base64.b64encode(hashlib.sha512(b"pkg").digest()) + b'"',
        base64.b64encode(b"The quick brown fox jumps over the lazy dog, again and again and again."),
        b"password: ********", b"token: <redacted>", b"api_key: ${API_KEY}", b"secret = [REDACTED]",
        b"drwxr-xr-x  2 alice staff  4096 May  1 12:00 .ssh",
        b"-rw-------  1 alice staff  1675 May  1 12:00 id_rsa",
        b"2026-05-01T12:00:00.123Z INFO request GET /api/v1/tokens status=200 latency_ms=12",
        b"def login(user, password):\n    token = make_token(user)\n    return token",
        b"if password == user.password:\n    secret = None",
        b"const apiKey = process.env.API_KEY;",
        b"Error: invalid password: too short",
        b"PWD=/home/alice", b"max_tokens=4096", b"tests passed=12 failed=0",
        b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB9nY2xvY2FsLWtleS1mb3ItdGVzdHM alice@laptop",
        b"Total: 4111 items, 1111 skipped", b"phone: +1 (555) 123-4567",
        b"\x1b[01;34mbin\x1b[0m  \x1b[01;32mrun.sh\x1b[0m",
    ]) + b"\n"
    assert mask_whole(corpus) == corpus
    assert mask_chunks(split_at(corpus, range(0, len(corpus), 3))) == corpus


# Ordinary output that names secrets without holding one: versions, dates, ids, placeholders, settings.
NOT_SECRETS = [
    '"dependencies": {\n  "jsonwebtoken": "^9.0.2",\n  "@aws-sdk/credential-providers": "^3.400.0"\n}',
    "tiktoken==0.5.1\ngoogle-auth==2.23.0\nsecretstorage==3.3.3",
    "NAME                   UPDATED\nNPM_TOKEN              2024-05-01\nDB_PASSWORD            2024-04-30T09:12:44Z",
    "AWS_SECRET_ACCESS_KEY\t2024-04-30T09:12:44Z\nNPM_TOKEN\t2024-05-01T10:00:00Z",
    '"ClientToken": "terraform-20240501101112",\n{"ClientRequestToken": "Console-CreateStack-7f59"}',
    '{"User": {"UserName": "ci", "PasswordLastUsed": "2024-05-01T10:11:12Z"}}',
    '"eos_token": "[SEP]",\n"mask_token": "[MASK]"',
    "credential.helper=store\ncredential.https://github.com.helper=!/usr/bin/gh auth git-credential\n"
    "credential.credentialstore=secretservice",
    "[profile prod]\ncredential_process = /usr/local/bin/aws-vault export --format=json prod",
    "password: '%env(DATABASE_PASSWORD)%'\nsecret: '%env(APP_SECRET)%'",
    "password: '#{DbPassword}#'\napi_key: __API_KEY__\npassword=@@DB_PASSWORD@@\npassword = $__env{DB_PASSWORD}",
    'export ANTHROPIC_API_KEY="sk-ant-..."\nAPI key: sk-...Ab3f\ntoken=****************a1b2',
    "STRIPE_SECRET_KEY=sk_live_\u2026\nPassword: \u2022\u2022\u2022\u2022\u2022\u2022\u2022\u2022",
    'token: "***REDACTED***"',
    'TEST_API_KEY = "test-api-key"\nFAKE_TOKEN = "fake-token"\napi_key=\'foo\'\nAWS_SECRET_ACCESS_KEY=testing',
    "mysql -u root -p[password] dbname\ncurl -u username:password https://api.example.com",
    'docker login -u "$USER" -p "$TOKEN" registry',
    "$password = Read-Host -AsSecureString\n$token = $env:GITHUB_TOKEN",
    'password: ENV.fetch("DB_PASSWORD") { "" }',
    "withCredentials([usernamePassword(credentialsId: 'db', usernameVariable: 'U', passwordVariable: 'DB_PASS')])",
    "PASSWORD_HASHERS = ['django.contrib.auth.hashers.Argon2PasswordHasher']",
    "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd",
    '"token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"]',
    "adminPasswordKey: postgres-password\nexistingSecretPasswordKey: redis-password",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "APPLICATIONINSIGHTS_CONNECTION_STRING=InstrumentationKey=" + str(uuid.UUID(int=7)) + ";IngestionEndpoint=https://x/",
    "DSN=mysql:host=localhost;dbname=app;charset=utf8mb4",
    " rolname  | rolpassword_set\n----------+----------------\n app      | t\n(1 row)",
    "grep -i 'api_key=' app.log",
    "internal/auth/token.go:31:2: declared and not used\nsrc/password.rs:12:5: unused variable",
    "    TokenExpirationSeconds:  3607",
    "    vault.hashicorp.com/agent-inject-secret-db: database/creds/api",
    '    "refresh_token": new_refresh,',
    'client_secret = sm.get_secret_value(SecretId=ARN)["SecretString"]',
    "        self.api_key = api_key or settings.API_KEY",
    '$password = $request->input("password");',
    '{"db": {"sensitive": true, "type": "string", "value": "(sensitive value)"}}',
    "date -d 2024-05-01; curl http://10.0.0.5:8080/health; kubectl logs api-7d9f8b6c5-x2k4p",
    "STRIPE_PUBLISHABLE_KEY=pk_live_51HqLyjWDarjtT1zdp7dcXYZabc123DEF456ghi789JKL",
    "password2 = forms.CharField(label='Confirm password')",
]


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_output_that_names_secrets_without_holding_one_is_unchanged(text: str) -> None:
    data = text.encode() + b"\n"
    assert mask_whole(data) == data


def test_binary_and_invalid_utf8_pass_through() -> None:
    data = bytes(range(256)) * 64 + b"\xc3\x28\xa0\xa1\xe2\x28\xa1"
    assert mask_whole(data) == data
    secret = b"ghp_" + b"Z9" * 18
    out = mask_whole(b"\xff\xfe" + secret + b"\x00\xc3\xa9")
    assert out == b"\xff\xfe[MASKED:github-pat-classic]\x00\xc3\xa9"


def _random_bytes(rnd: random.Random, n: int) -> bytes:
    return bytes(rnd.getrandbits(8) for _ in range(n))


def test_secret_key_names_that_occur_by_chance_in_binary_data_mask_nothing() -> None:
    # Compressed or random streams (`tar cz`, images) hold `pwd=` or `psk:` every few hundred MiB; a
    # masker that took the binary bytes after them for a value corrupted such a transfer.
    rnd = random.Random(4)
    keys = [b"pwd", b"PSK", b"pass", b"dsn", b"token", b"Secret", b"api_key", b"auth"]
    parts = []
    for i in range(600):
        parts.append(_random_bytes(rnd, 40))
        parts.append(keys[i % len(keys)] + rnd.choice([b"=", b":", b"\":\"", b" = "]) + _random_bytes(rnd, 40))
    data = b"".join(parts)
    assert mask_whole(data) == data
    assert mask_chunks(split_at(data, range(0, len(data), 7))) == data


def test_a_value_of_binary_bytes_is_not_a_secret_but_a_text_one_among_them_is() -> None:
    assert mask_whole(b"password=\x9c\x03\xfe\x81\xaa\x17\n") == b"password=\x9c\x03\xfe\x81\xaa\x17\n"
    assert mask_whole(b"\x8b\xf1\x02psk: \xc3(\xa0\xa1\n") == b"\x8b\xf1\x02psk: \xc3(\xa0\xa1\n"
    # strings in a binary file are NUL-terminated: the text between NULs is still judged
    out = mask_whole(b"\x7fELF\x02\x01\x00\x00db_password=Tr0ub4dor&3x\x00\x00\x00")
    assert out == b"\x7fELF\x02\x01\x00\x00db_password=[MASKED:password-assignment]\x00\x00\x00"
    # a UTF-8 password is text
    assert mask_whole("password=pässwörd-42\n".encode()) == b"password=[MASKED:password-assignment]\n"


def test_nul_separated_environment_masks_each_value_and_nothing_after_it() -> None:
    environ = b"PATH=/usr/bin\x00DB_PASSWORD=hunter2xyz\x00HOME=/root\x00API_TOKEN=ab12cd34ef56\x00"
    assert mask_whole(environ) == (b"PATH=/usr/bin\x00DB_PASSWORD=[MASKED:password-assignment]\x00HOME=/root"
                                   b"\x00API_TOKEN=[MASKED:token-assignment]\x00")
    assert mask_chunks([environ[i : i + 1] for i in range(len(environ))]) == mask_whole(environ)


def test_ansi_around_and_inside_a_secret() -> None:
    secret = "ghp_" + fake("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 36, "ansi")
    around = b"\x1b[31m" + secret.encode() + b"\x1b[0m\n"
    assert mask_whole(around) == b"\x1b[31m[MASKED:github-pat-classic]\x1b[0m\n"
    inside = b"token " + secret[:10].encode() + b"\x1b[K" + secret[10:].encode() + b"\x1b[0m\n"
    out = mask_whole(inside)
    assert out == b"token [MASKED:github-pat-classic]\x1b[0m\n"
    grep = b"password=\x1b[01;31m\x1b[Khunter22\x1b[m\x1b[K\n"
    assert mask_whole(grep) == b"password=\x1b[01;31m\x1b[K[MASKED:password-assignment]\x1b[m\x1b[K\n"
    # grep --color highlights the match inside a secret: the colour changes are kept after the mask, so
    # the terminal is not left red (the text between them is masked all the same)
    coloured = b"token " + secret[:8].encode() + b"\x1b[01;31m" + secret[8:20].encode() + b"\x1b[0m" + secret[20:].encode() + b"\n"
    assert mask_whole(coloured) == b"token [MASKED:github-pat-classic]\x1b[01;31m\x1b[0m\n"
    # a colourised private key (bat, grep --color): its colour changes survive, its lines do not
    pem = (b"\x1b[33m-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\x1b[0m\n"
           b"\x1b[33mMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\x1b[0m\nafter\n")
    assert mask_whole(pem) == b"\x1b[33m[MASKED:private-key-pem]\x1b[0m\x1b[33m\x1b[0m\nafter\n"
    for data in (around, inside, grep, coloured, pem):
        assert mask_chunks([data[i : i + 1] for i in range(len(data))]) == mask_whole(data)


def test_utf8_around_a_secret_is_never_cut() -> None:
    data = "clé=é password=hunter22 ✓ café\n".encode()
    out = mask_whole(data)
    out.decode("utf-8")  # still valid UTF-8
    assert out == "clé=é password=[MASKED:password-assignment] ✓ café\n".encode()


PEM_BODY = "\n".join(fake("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 64, f"b{i}") for i in range(6))


def test_pem_block_masked_begin_to_end_in_any_chunking() -> None:
    data = (f"before\n-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\nafter\n").encode()
    whole = mask_whole(data)
    assert whole == b"before\n[MASKED:private-key-pem]\nafter\n"
    for step in (1, 2, 5, 13, 64):
        assert mask_chunks([data[i : i + step] for i in range(0, len(data), step)]) == whole


def test_openssh_and_unterminated_blocks() -> None:
    data = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n-----END OPENSSH PRIVATE KEY-----\n".encode()
    assert mask_whole(data) == b"[MASKED:private-key-openssh]\n"
    m = StreamMasker(MaskingProfile())
    out = m.feed(b"-----BEGIN PRIVATE KEY-----\n" + PEM_BODY.encode())
    assert out == b"[MASKED:private-key-pem]"
    assert m.held == 0  # block bytes are swallowed, not held
    assert m.release_idle() == b""
    assert m.feed(b"\nmore secret lines\n") == b""
    assert m.finish() == b""


def test_pem_block_after_a_held_block_is_masked_however_it_arrives() -> None:
    # A private key inside a Kubernetes `stringData:` block (or right after a `data:` line): the block
    # holds output until it ends, so the BEGIN line is seen before the key block can be entered. The
    # key must not leak when the stream arrives line by line, cut after the BEGIN line, or is released
    # while idle.
    key = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"
    indented = key.replace("\n", "\n    ")
    ghp = "ghp_" + "Ab1" * 12
    for data in (f"apiVersion: v1\nstringData:\n  tls.key: |\n    {indented}\nkind: Secret\n{ghp}\n".encode(),
                 f"data:\n{key}\nafter {ghp}\n".encode()):
        whole = mask_whole(data)
        body_line = PEM_BODY.split("\n")[1].encode()
        assert body_line not in whole and ghp.encode() not in whole and b"[MASKED:private-key-pem]" in whole
        lines = data.splitlines(keepends=True)
        assert mask_chunks(lines) == whole
        cut = data.index(b"-----BEGIN") + 31
        assert mask_chunks([data[:cut], data[cut:]]) == whole
        for at in (cut, data.index(body_line) + 5, len(data) - 3):
            m = StreamMasker(MaskingProfile())
            out = m.feed(data[:at]) + m.release_idle() + m.feed(data[at:]) + m.finish()
            for line in PEM_BODY.split("\n"):
                assert line[8:16].encode() not in out
            assert ghp.encode()[8:16] not in out


def test_token_run_on_past_its_shape_is_masked_at_any_split() -> None:
    # Shapes with no end guard (`dop_v1_` + 64 hex, `AIza` + 35, `shpat_` + 32 hex, age keys) also match
    # when the token runs on; a cut inside the run must not decide "no secret" early.
    for text in (b"dop_v1_" + b"3f1c0b35" * 8 + b"private_key x\n", b"AIza" + b"Ab1_-" * 7 + b"ZZZ more\n",
                 b"shpat_" + b"0123456789abcdef" * 2 + b"xyz more\n",
                 b"AGE-SECRET-KEY-1" + b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" * 2 + b"q more\n"):
        whole = mask_whole(text)
        assert whole.startswith(b"[MASKED:")
        for k in range(1, len(text)):
            assert mask_chunks([text[:k], text[k:]]) == whole


def _long_secret_lines() -> list[bytes]:
    # Each secret is longer than its detector's longest window (8 KiB for a value, a bearer token or a JWT,
    # 1 KiB for a connection-string key, 256 bytes for most tokens): the tail must be masked too.
    rng = random.Random(11)
    body = lambda n: "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))
    jwt_head = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=").decode()
    return [f"{line}\n".encode() for line in (
        "DB_PASSWORD=" + body(9000),
        '{"token": "' + body(9000) + '", "ok": 1}',
        "Authorization: Bearer " + body(9000),
        "jwt " + jwt_head + "." + body(9000) + "." + body(43) + " done",
        "xoxb-" + body(900) + " sent",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + body(3000) + ";EndpointSuffix=x",
    )]


def test_secrets_longer_than_any_window_are_masked_to_their_end() -> None:
    for line in _long_secret_lines():
        out = mask_whole(line)
        assert b"[MASKED:" in out, line[:40]
        assert len(out) < 200, (line[:40], out[:200])  # no tail of it is left
        assert b"[MASKED:" in out.rstrip(b"\n")[-80:]  # ...and the replacement is near the end of the line


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, 5), cuts=st.lists(st.integers(1, 9200), max_size=6),
       idle=st.booleans())
def test_a_secret_longer_than_its_window_is_masked_whole_at_any_split(which: int, cuts: list[int], idle: bool) -> None:
    line = _long_secret_lines()[which]
    whole = mask_whole(line)
    chunks = split_at(line, cuts)
    assert mask_chunks(chunks) == whole
    if idle:  # idle releases between chunks: more may be masked, but nothing of the secret shows
        m = StreamMasker(MaskingProfile())
        out = b"".join(m.feed(c) + m.release_idle() for c in chunks) + m.finish()
        assert len(out) < 300 and b"[MASKED:" in out


def test_gcp_service_account_json() -> None:
    body = PEM_BODY.replace("\n", "\\n")
    data = ('{"type": "service_account", "private_key_id": "0123abcd", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
            + body + '\\n-----END PRIVATE KEY-----\\n", "client_email": "x@p.iam.gserviceaccount.com"}\n').encode()
    out = mask_whole(data)
    assert PEM_BODY.split("\n")[0].encode() not in out
    assert b'"client_email": "x@p.iam.gserviceaccount.com"' in out


def test_kubernetes_secret_yaml() -> None:
    pw = base64.b64encode(b"s3cr3t-pass").decode()
    crt = base64.b64encode(b"-----BEGIN CERTIFICATE-----fake").decode()
    data = (f"apiVersion: v1\ndata:\n  password: {pw}\n  tls.crt: {crt}\nkind: Secret\nmetadata:\n"
            f"  name: db\ntype: Opaque\n").encode()
    out = mask_whole(data)
    assert pw.encode() not in out and crt.encode() not in out
    assert b"kind: Secret\nmetadata:\n  name: db\n" in out


def test_replacement_styles() -> None:
    secret = b"ghp_" + b"Ab1" * 12
    text = b"t=" + secret + b"\n"
    assert mask_whole(text, MaskingProfile(replacement="fixed", replacement_text="***")) == b"t=***\n"
    assert mask_whole(text, MaskingProfile(replacement="keep-prefix")) == "t=ghp_…\n".encode()
    same = mask_whole(text, MaskingProfile(replacement="same-length"))
    assert same == b"t=" + b"*" * len(secret) + b"\n"
    assert mask_whole(b"password=hunter22\n", MaskingProfile(replacement="keep-prefix")) == "password=…\n".encode()


def test_hits_report_offsets_and_hmac_never_the_secret() -> None:
    hits: list[MaskHit] = []
    key = b"server-key"
    m = StreamMasker(MaskingProfile(), hmac_key=key, on_hit=hits.append)
    data = b"hello\npassword=hunter22\n"
    m.feed(data[:12])
    m.feed(data[12:])
    m.finish()
    assert hits == [MaskHit("password-assignment", 15, 8, hmac.new(key, b"hunter22", hashlib.sha256).hexdigest())]
    hits.clear()
    m = StreamMasker(MaskingProfile(), on_hit=hits.append)
    m.feed(b"x ghp_" + b"Q" * 36 + b"\n")
    m.finish()
    assert hits == [MaskHit("github-pat-classic", 2, 40, None)]


def test_profile_can_turn_detectors_off() -> None:
    only_cards = MaskingProfile(detectors=frozenset({"credit-card"}))
    assert mask_whole(b"password=hunter22 4111111111111111\n", only_cards) == b"password=hunter22 [MASKED:credit-card]\n"


@pytest.mark.parametrize("text, secret", [
    (b"log: Bearer abcDEF123456ghiJKL789xyz", b"abcDEF123456ghiJKL789xyz"),
    (b"Cookie: theme=dark; session=abcDEF123456ghiJKL789", b"abcDEF123456ghiJKL789"),
    (b"MNEMONIC=legal winner thank year wave sausage worth useful legal winner thank yellow",
     b"legal winner thank year wave sausage worth useful legal winner thank yellow"),
    # A Discord token's head is one letter (`M`, `N`, `O`): until its `.timestamp.` has arrived it reads as a
    # word (`Mount`), and an idle release shows it. Its first part is the bot's user id in base64 (public);
    # the HMAC after the second dot is the secret, and no part of it leaks.
    (b"x MgltsboypQ3Upm0JfnmSUpiJ.1CctUm.Ca08xJo-dWNJX0PdPhF0Zu959bCirey9vgUQUz",
     b"Ca08xJo-dWNJX0PdPhF0Zu959bCirey9vgUQUz"),
])
def test_an_idle_release_in_the_middle_of_a_value_leaks_no_part_of_it(text: bytes, secret: bytes) -> None:
    start = text.index(secret)
    for cut in range(start + 1, len(text)):
        m = StreamMasker(MaskingProfile())
        out = m.feed(text[:cut]) + m.release_idle() + m.feed(text[cut:] + b"\n") + m.finish()
        pieces = [secret[i : i + 6] for i in range(len(secret) - 5)]
        assert not any(p in out for p in pieces if b" " not in p), (cut, out)


def test_key_names_inside_a_masked_value_are_not_masked_again() -> None:
    # each would cost a window-long scan: a line of them made the masker quadratic (minutes per MiB)
    m = StreamMasker(MaskingProfile())
    out = m.feed(b"a_token=" * 3000 + b"\n") + m.finish()
    assert out.count(b"[MASKED:") <= 4 and b"a_token=a_token" not in out


def test_a_long_pgpass_line_cut_anywhere_is_masked() -> None:
    # The password comes after `host:port:db:user:`, which can be far longer than the end-of-chunk zone:
    # the regex chain goes back to the start of the line still arriving.
    password = b"S3cr3t" + fake("abcdefghijkmnopqrstuvwxyz23456789", 14, "pgpass").encode()
    line = (b"replica-07.db.eu-west-1.internal.example.com:5432:production_billing:billing_app:"
            + password + b"\n")
    data = b"$ cat ~/.pgpass\n" + line + b"localhost:5432:*:postgres:" + password[::-1] + b"\n"
    whole = mask_whole(data)
    assert password not in whole and b"[MASKED:pgpass-password]" in whole
    for cut in range(1, len(data)):
        assert mask_chunks([data[:cut], data[cut:]]) == whole, cut
    assert mask_chunks([data[i : i + 7] for i in range(0, len(data), 7)]) == whole


def test_a_secret_between_two_private_key_blocks_is_masked() -> None:
    # The regex chain had read past the first block's start; the hits it saw there were not evaluated, and
    # must be read again once the block's END line is passed (a card number leaked whole).
    block = b"-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n"
    data = block + b"card: 4111 1111 1111 1111 exp 12/30\n" + block
    whole = mask_whole(data)
    assert whole == (b"[MASKED:private-key-pem]\ncard: [MASKED:credit-card] exp 12/30\n"
                     b"[MASKED:private-key-pem]\n")
    for cut in range(1, len(data)):
        assert mask_chunks([data[:cut], data[cut:]]) == whole, cut


@pytest.mark.parametrize("text, secret", [
    # a symmetric JWK's `"k"` is judged by the `"kty"` after it: released before that arrives, it is masked
    (b'{"alg": "HS256", "k": "BbuQ59YEy9yg95pLB3DKtxZarViBKpldejBtmMcMcU5", "kty": "oct"}',
     b"BbuQ59YEy9yg95pLB3DKtxZarViBKpldejBtmMcMcU5"),
    # quoted directive values hold `;`, `{`, blanks: the whole value so far is masked, and the rest to its quote
    (b"define('SECURE_AUTH_SALT', '3(X{lYyA:5r)^!q|DX3%T^4ZI{ND(u4F{;[U@xe[(IpxKB78PmGYJ');",
     b"3(X{lYyA:5r)^!q|DX3%T^4ZI{ND(u4F{;[U@xe[(IpxKB78PmGYJ"),
    (b'SetEnv DB_PASS "Tr0ub4dor 3-bI89mB; x"', b"Tr0ub4dor 3-bI89mB; x"),
    # an OpenVPN static key is a block like a PEM key: an idle release inside it swallowed nothing
    (b"<tls-crypt>\n-----BEGIN OpenVPN Static key V1-----\ncf5327ad22b3194b777e935cd0f068f5\n"
     b"0816c7949772fea4d1237398d67ece32\n-----END OpenVPN Static key V1-----\n</tls-crypt>",
     b"cf5327ad22b3194b777e935cd0f068f5\n0816c7949772fea4d1237398d67ece32"),
])
def test_an_idle_release_before_a_value_is_judged_leaks_no_part_of_it(text: bytes, secret: bytes) -> None:
    assert secret not in mask_whole(text + b"\n")
    pieces = [secret[i : i + 6] for i in range(len(secret) - 5)]
    for cut in range(1, len(text)):
        m = StreamMasker(MaskingProfile())
        out = m.feed(text[:cut]) + m.release_idle() + m.feed(text[cut:] + b"\n") + m.finish()
        assert not any(p in out for p in pieces), (cut, out)


def test_a_name_before_a_terraform_output_object_does_not_hide_its_secret() -> None:
    # `key:` on the line before made the name-value detector judge the object by that name, not its own key
    text = b'key: \n{"db_password": {"sensitive": true, "type": "string", "value": "Tr0ub4dor&3-bI89mB"}}\n'
    assert b"Tr0ub4dor" not in mask_whole(text)


@pytest.mark.parametrize("text, secret, kept", [
    # a window title and a hyperlink reach the terminal and whoever reads the stream: their text is masked
    (b"\x1b]0;deploy GITHUB_TOKEN=ghp_" + b"Q" * 36 + b"\x07alice@web-1:~$ ", b"Q" * 36, b"\x07alice@web-1:~$ "),
    (b"\x1b]8;;https://ci:Tr0ub4dor3x@git.example.com/app\x1b\\repo\x1b]8;;\x1b\\ ok", b"Tr0ub4dor3x",
     b"@git.example.com/app\x1b\\repo\x1b]8;;\x1b\\ ok"),
])
def test_text_inside_osc_sequences_is_masked_and_the_sequence_kept(text: bytes, secret: bytes, kept: bytes) -> None:
    whole = mask_whole(text + b"\n")
    assert secret not in whole and whole.endswith(kept + b"\n")
    for cut in range(1, len(text)):
        assert mask_chunks([text[:cut], text[cut:] + b"\n"]) == whole, cut


def test_an_osc_introducer_holds_nothing_back() -> None:
    # it once held up to 512 bytes as a possible title, and an idle release sent them unscanned
    m = StreamMasker(MaskingProfile())
    token = b"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"
    out = m.feed(b"\x1b]\n" + token[:20])
    out += m.release_idle() + m.feed(token[20:] + b"\n") + m.finish()
    assert token[6:14] not in out and token[-8:] not in out and out.startswith(b"\x1b]\n")
    m = StreamMasker(MaskingProfile())
    assert m.feed(b"\x1b]0;make all ") == b"\x1b]0;make all "


def test_a_host_name_typed_after_https_is_echoed_but_a_token_user_info_is_masked_in_any_chunking() -> None:
    typed = b"git clone https://github.com/o/r"
    m = StreamMasker(MaskingProfile())
    out = b"".join(m.feed(typed[i : i + 1]) + m.release_idle() for i in range(len(typed)))
    assert out + m.finish() == typed
    token = fake("abcdefghijklmnopqrstuvwxyz234567", 52, "azdo-stream")
    line = f"git clone https://{token}@dev.azure.com/org/p/_git/r".encode()  # no newline: EOF ends it
    for cut in range(1, len(line)):
        assert mask_chunks(split_at(line, [cut])) == line.replace(token.encode(), b"[MASKED:token-in-url]")


@pytest.mark.parametrize("text, secret", [
    ("origin\thttps://8a88d6a857e51036e9220208b5bb22825cfd082e@github.com/o/r.git (fetch)\n",
     "8a88d6a857e51036e9220208b5bb22825cfd082e"),
    ("Administrator:500:aad3b435b51404eeaad3b435b51404ee:4e267c372e5f2a6c4019d2f6e4e5825b:::\n",
     "4e267c372e5f2a6c4019d2f6e4e5825b"),
    ("<AdministratorPassword>\n  <Value>Tr0ub4dor&3-bI89mB</Value>\n", "Tr0ub4dor&3-bI89mB"),
    ("k8x2m4.wu5hfp9siuqtu29z\n", "fp9siuqtu29z"),
])
def test_one_idle_release_anywhere_leaks_no_secret(text: str, secret: str) -> None:
    data = text.encode()
    for k in range(1, len(data)):
        m = StreamMasker(MaskingProfile())
        out = m.feed(data[:k]) + m.release_idle() + m.feed(data[k:]) + m.finish()
        assert secret.encode() not in out, k


@pytest.mark.parametrize("line, secret, kept", [
    (b"export DB_PASSWORD=Tr0ub4dor3xKq\r\n", b"Tr0ub4dor3xKq", b"]\r\n"),
    (b'curl -H "X-Api-Key: b016abcdef0123456789" https://api.example.com/\r\n', b"b016abcdef0123456789",
     b'" https://api.example.com/\r\n'),
])
def test_typing_a_value_inside_a_line_masks_it_and_keeps_the_rest_of_the_line(line: bytes, secret: bytes,
                                                                              kept: bytes) -> None:
    m = StreamMasker(MaskingProfile())
    out = b"".join(m.feed(bytes([c])) + m.release_idle() for c in line) + m.finish()
    assert secret[:8] not in out and out.endswith(kept)
