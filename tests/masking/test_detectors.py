"""Every built-in detector: its positive samples are masked, its negatives pass through unchanged."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.masking.detectors import BUILTIN, BUILTIN_IDS, TOKEN_DETECTORS, URLSAFE, builtin_infos, fake
from bastion.masking.matchers import Detector
from bastion.masking.profiles import MaskingProfile
from tests.masking.conftest import mask_chunks, mask_whole

INFOS = builtin_infos()
POSITIVES = [(i.id, t, s) for i in INFOS for t, s in i.positives]
NEGATIVES = [(i.id, t) for i in INFOS for t in i.negatives]


def test_at_least_forty_detectors_with_unique_ids_and_samples() -> None:
    assert len(BUILTIN_IDS) >= 40
    assert len(set(BUILTIN_IDS)) == len(BUILTIN_IDS)
    for info in INFOS:
        assert info.description, info.id
        assert info.positives, f"{info.id} has no positive sample"
    assert sum(1 for i in INFOS if i.negatives) >= 25


@pytest.mark.parametrize(("det_id", "text", "secret"), POSITIVES, ids=[f"{p[0]}-{n}" for n, p in enumerate(POSITIVES)])
def test_positive_sample_is_masked_by_its_own_detector(det_id: str, text: str, secret: str) -> None:
    only = MaskingProfile(name="only", detectors=frozenset({det_id}))
    out = mask_whole(text.encode(), only)
    assert secret.encode() not in out
    assert f"[MASKED:{det_id}]".encode() in out
    assert_no_part_left(text.encode(), secret.encode(), out)


def assert_no_part_left(data: bytes, secret: bytes, out: bytes) -> None:
    """Not even part of the secret survives (`PWD=[MASKED]&3-bI89mB;` would pass `secret not in out`):
    no 8-byte piece of it that appears nowhere else in the input is in the output."""
    rest = data.replace(secret, b"")
    for k in range(max(1, len(secret) - 7)):
        piece = secret[k : k + 8]
        if len(piece) == 8 and piece not in rest:
            assert piece not in out, piece


@pytest.mark.parametrize(("det_id", "text", "secret"), POSITIVES, ids=[f"{p[0]}-{n}" for n, p in enumerate(POSITIVES)])
def test_positive_sample_is_masked_by_default_profile_in_any_chunking(det_id: str, text: str, secret: str) -> None:
    data = text.encode()
    whole = mask_whole(data)
    assert secret.encode() not in whole
    assert_no_part_left(data, secret.encode(), whole)
    assert mask_chunks([data[i : i + 1] for i in range(len(data))]) == whole
    assert mask_chunks([data[i : i + 7] for i in range(0, len(data), 7)]) == whole


# a token detector's bare sample (the text is the token alone, ending in the secret), for detectors a literal triggers
BARE_TOKENS = [(d.id, text, sec) for d in TOKEN_DETECTORS if d.trigger_re is None and d.boundary
               for text, sec in d.positives if text.endswith(sec) and not any(c in text for c in " \n\t=:")]


# Known misses: the literal chain takes non-overlapping hits, so a trigger literal the escape's tail starts (`dsn`
# in `\u003dsntrys_…`; the run of `A`s of a Twitter token from the `A` of `%0A`) hides the token's own
ESCAPE_MISSES = {("\\u003d", "sentry-auth-token"), ("%0A", "twitter-bearer-token")}


@pytest.mark.parametrize("escape", ["\\n", "\\t", "\\r", "\\u003d", "\\u0022", "%20", "%0A", "%3D"])
def test_a_token_right_after_an_escape_sequence_is_masked_in_any_chunking(escape: str) -> None:
    # JSON logs (`{"log":"…\nghp_…"}`), URL-encoded text: the escape ends in a letter or digit
    assert len(BARE_TOKENS) >= 100
    for det_id, token, secret in BARE_TOKENS:
        if (escape, det_id) in ESCAPE_MISSES:
            continue
        data = f'{{"log": "line one{escape}{token}{escape}", "stream": "stdout"}}'.encode()
        whole = mask_whole(data)
        assert secret.encode() not in whole, det_id
        assert_no_part_left(data, secret.encode(), whole)
        assert mask_chunks([data[i : i + 5] for i in range(0, len(data), 5)]) == whole, det_id


def test_an_escape_is_no_boundary_inside_a_word() -> None:
    # `\n` right before the head is the escape; a head inside a longer word is still no token
    assert mask_whole(b"xghp_" + b"Ab3" * 12) == b"xghp_" + b"Ab3" * 12


@pytest.mark.parametrize(("det_id", "text"), NEGATIVES, ids=[f"{n[0]}-{k}" for k, n in enumerate(NEGATIVES)])
def test_negative_sample_passes_unchanged(det_id: str, text: str) -> None:
    assert mask_whole(text.encode()) == text.encode()


def test_priority_names_the_specific_detector_over_the_generic_key() -> None:
    out = mask_whole(b"GITHUB_TOKEN=ghp_" + b"Ab3" * 12 + b"\n")
    assert out == b"GITHUB_TOKEN=[MASKED:github-pat-classic]\n"


def test_aws_credentials_file_and_export_credentials_json() -> None:
    from bastion.masking.detectors import AWS_ID, AWS_SECRET, AWS_SESSION

    ini = f"[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n".encode()
    out = mask_whole(ini)
    assert out == (b"[default]\naws_access_key_id = [MASKED:aws-access-key-id]\n"
                   b"aws_secret_access_key = [MASKED:aws-secret-access-key]\n")
    js = (f'{{\n  "Version": 1,\n  "AccessKeyId": "{AWS_ID}",\n  "SecretAccessKey": "{AWS_SECRET}",\n'
          f'  "SessionToken": "{AWS_SESSION}",\n  "Expiration": "2030-01-01T00:00:00+00:00"\n}}\n').encode()
    out = mask_whole(js)
    for s in (AWS_ID, AWS_SECRET, AWS_SESSION):
        assert s.encode() not in out
    assert b'"Expiration": "2030-01-01T00:00:00+00:00"' in out


def test_detector_objects_expose_their_ids() -> None:
    ids = [i for d in BUILTIN for i in d.ids]
    assert sorted(ids) == sorted(BUILTIN_IDS)


SECRET = "Zx9Qw7Lk3Mn8Pv2R"


@pytest.mark.parametrize("text", [
    f"password\t{SECRET}\n",                      # tab-separated table (vault kv get)
    f"password    {SECRET}\nusername    admin\n",
    f"requirepass {SECRET}\n",                    # redis.conf
    f"> X-Api-Key: {SECRET}\r\n",                 # curl -v request headers
    f"curl -H 'X-Api-Key: {SECRET}' https://api.example.com\n",
    f"<password>{SECRET}</password>\n",
    f'<property name="db.password" value="{SECRET}"/>\n',
    "dsn https://0123456789abcdef0123456789abcdef@o4504.ingest.sentry.io/45\n",
    f"db:\n  password: |\n    {SECRET}\n    line2-{SECRET}\n  user: app\n",  # YAML block scalars
    f"secret: >-\n  {SECRET}\n",
    f"    password: str = '{SECRET}'\n",          # a hard-coded default after the annotation
    f"password: str{SECRET}\n",
    # generated `id.secret` tokens are not code references
    "export AIRTABLE_TOKEN=patuj3z9hXfUxZVTn.0123456789abcdef0123456789abcdef\n",
    f"export YC_TOKEN=t1.{SECRET}\n",
    f"os.environ['OPENAI_API_KEY'] = '{SECRET}'\n",  # subscript assignments
    f'app.config["SECRET_KEY"] = "{SECRET}"\n',
    f"export SSHPASS={SECRET}\n",                  # a key that is also a command-line trigger
    "OPENROUTER=sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
    "using sk-0123456789abcdef0123456789abcdef\n",   # lower-case sk- keys (DeepSeek and others)
])
def test_secret_shapes_found_by_probing_are_masked(text: str) -> None:
    out = mask_whole(text.encode(), MaskingProfile())
    assert SECRET.encode() not in out and b"0123456789abcdef0123456789abcdef" not in out, out


@pytest.mark.parametrize("text", [
    "Password    expired\n",
    "password reset link sent\n",
    "def f(password: str) -> None:\n",
    "docker run -p 8080:80 nginx\n",
    "<passwordPolicy>strict</passwordPolicy>\n",
    "script: |\n  echo hi\n",
    "    password: str\n",                         # type annotations (cat models.py)
    "    api_key: Optional[str] = None\n",
    "    token: str = ''\n",
    "token = settings.AWS_S3_TOKEN\n",            # code references, digits and all
    "api_key = self.oauth2Token\n",
    "token = os.environ['TOKEN']\n",
    "permissions:\n  id-token: write\n",           # GitHub Actions
    "    secrets: inherit\n",
    "password: disabled\ntoken=expired\n",
    "set DB_PASSWORD=%DB_PASSWORD%\n",            # a Windows variable
    "  --password PASSWORD   database password\n",  # usage text
    "--password TEXT  Password  [required]\n",
    "pg_dump --no-password app\n",
])
def test_look_alikes_found_by_probing_stay(text: str) -> None:
    assert mask_whole(text.encode(), MaskingProfile()) == text.encode()


@pytest.mark.parametrize("text, secret", [
    ("Driver={ODBC Driver 18};Server=db;UID=app;PWD=Tr0ub4dor&3-bI89mB;\n", "Tr0ub4dor&3-bI89mB"),
    ("Server=db;Password=a9Kx&Qz7Lm2Pw;Database=app\n", "a9Kx&Qz7Lm2Pw"),
])
def test_ampersand_inside_a_connection_string_password_is_part_of_it(text: str, secret: str) -> None:
    out = mask_whole(text.encode(), MaskingProfile())
    assert_no_part_left(text.encode(), secret.encode(), out)


@pytest.mark.parametrize("text, kept", [
    ("GET /cb?token=Zq9xT4mW8rLp2VbN&user=bob HTTP/1.1\n", b"&user=bob HTTP/1.1"),
    ("job --opt password=Zq9xT4mW8rLp2VbN& echo done\n", b"& echo done"),  # a background job
])
def test_ampersand_before_the_next_parameter_or_command_still_ends_the_value(text: str, kept: bytes) -> None:
    out = mask_whole(text.encode(), MaskingProfile())
    assert b"Zq9xT4mW8rLp2VbN" not in out and out.endswith(kept + b"\n"), out



@contextlib.contextmanager
def env_key_skip_off() -> Iterator[None]:
    skippers = [c for c in {type(d) for d in BUILTIN} if c.__dict__.get("none_in_env_key")]
    assert skippers, "no detector uses the env-key skip any more: drop this test"
    for c in skippers:
        c.none_in_env_key = False
    try:
        yield
    finally:
        for c in skippers:
            c.none_in_env_key = True


KEY_WORDS = ["PASSWORD", "SECRET", "TOKEN", "API_KEY", "PASS", "MYSQL", "CURL", "LOGIN", "XML", "PROPERTY",
             "VALUE", "NAME", "REDIS_CLI", "SSHPASS", "DB", "AUTH", "PRIVATE_KEY", "HOME", "PATH"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.tuples(st.lists(st.sampled_from(KEY_WORDS), min_size=1, max_size=4),
                                st.text(st.characters(min_codepoint=33, max_codepoint=126,
                                                      blacklist_characters="([\\"), max_size=40)),
                      min_size=1, max_size=8))
def test_skipping_xml_and_cli_inside_env_keys_changes_nothing(lines: list) -> None:
    """The speed-up that skips detectors which can never match inside a `KEY=value` key must be
    invisible: the same `env` dump masks identically with the skip turned off."""
    data = "".join(f"{'_'.join(words)}={value}\n" for words, value in lines).encode()
    fast = mask_whole(data, MaskingProfile())
    with env_key_skip_off():
        slow = mask_whole(data, MaskingProfile())
    assert fast == slow


_TOKEN_SAMPLES = [(d, s) for d in TOKEN_DETECTORS if d.viable is not None for _t, s in d.positives
                  if d.regex.search(s.encode())]
_TOKEN_SAMPLES.append((next(d for d in TOKEN_DETECTORS if d.id == "slack-token"),
                       "xoxe.xoxp-1-" + "A1b2C3d4E5f6G7h8" * 4))  # a Slack refresh token's two heads


@pytest.mark.parametrize("det, sample", _TOKEN_SAMPLES, ids=[f"{d.id}-{i}" for i, (d, _s) in enumerate(_TOKEN_SAMPLES)])
def test_every_prefix_of_a_token_past_its_trigger_is_viable(det, sample: str) -> None:
    """A token arriving a byte at a time is held while it could still become a match: a prefix that
    `viable` rejects is released, and the rest of the token would then be judged without its head."""
    token = sample.encode()
    m = det.regex.search(token)
    assert m is not None
    token = token[m.start():]
    head = max((len(lit) for lit in det.literals if token.lower().startswith(lit)), default=1)
    for i in range(head, len(token)):
        assert det.viable.fullmatch(token, 0, i) or det.regex.match(token, 0, i), token[:i]
    assert token not in mask_chunks([bytes([c]) for c in sample.encode()])


# --- probe findings: leaks ----------------------------------------------------------------------------
def _fly_bundle() -> str:
    from bastion.masking.detectors import B64, fake

    return "fm2_" + ",fm2_".join(fake(B64, 220, f"fly-bundle{i}") for i in range(3))


def test_fly_bundle_is_masked_whole_past_256_bytes_and_a_comma_space_ends_it() -> None:
    token = _fly_bundle()
    assert len(token) > 600
    text = f"FlyV1 {token}, then the next field\n".encode()
    out = mask_whole(text)
    assert out == b"FlyV1 [MASKED:flyio-token], then the next field\n", out
    assert mask_chunks([text[i : i + 1] for i in range(len(text))]) == out


def test_atlassian_token_checksum_after_the_equals_sign_is_masked_alone_and_in_a_value() -> None:
    from bastion.masking.detectors import HEX, URLSAFE, fake

    token = "ATATT3xFfGF0" + fake(URLSAFE, 180, "atl-probe") + "=" + fake(HEX, 8, "atl-probe-crc").upper()
    for text in (f"echo {token}\n", f"JIRA_API_TOKEN={token}\n", f"curl -u me@example.com:{token} https://x.atlassian.net\n"):
        out = mask_whole(text.encode())
        assert token[-8:].encode() not in out and token[20:40].encode() not in out, out


def test_azure_client_secret_body_is_masked_and_only_its_four_byte_head_shows() -> None:
    from bastion.masking.detectors import ALNUM, fake

    body = fake(ALNUM + "_~.-", 31, "az-31")
    out = mask_whole(f"AZURE_CLIENT_ID=app secret Zk_3Q~{body} tenant t\n".encode())
    assert out == b"AZURE_CLIENT_ID=app secret Zk_3Q~[MASKED:azure-ad-client-secret] tenant t\n"
    # after `az login -p` the whole value is the password, head included
    out = mask_whole(f"az login --service-principal -u app -p Zk_3Q~{body} --tenant t\n".encode())
    assert out == b"az login --service-principal -u app -p [MASKED:cli-password] --tenant t\n"


@pytest.mark.parametrize("text, secret", [
    # X-Amz-Security-Token is a `token` key: the key-value family masks it, up to the next `&`
    ("https://b.s3.amazonaws.com/k?X-Amz-Security-Token=IQoJb3JpZ2luX2VjE" + "Ab9%2F" * 30
     + "&X-Amz-Signature=" + "0f3a" * 16, "IQoJb3JpZ2luX2VjE" + "Ab9%2F" * 30),
    ("https://b.s3.amazonaws.com/k?X-Amz-Security-Token=IQoJb3JpZ2luX2VjE" + "Ab9%2F" * 30
     + "&X-Amz-Signature=" + "0f3a" * 16, "0f3a" * 16),
    # AWS Signature Version 2 (`AWSAccessKeyId=…&Signature=…`)
    ("https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIA0000&Expires=1900000000&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D",
     "vjbyPxybdZaNmGa%2ByT272YEAiv4%3D"),
])
def test_presigned_url_credentials_are_masked(text: str, secret: str) -> None:
    out = mask_whole(text.encode())
    assert_no_part_left(text.encode(), secret.encode(), out)


def test_a_url_value_ends_at_ampersand_hash_and_quote() -> None:
    sig = "a1b2c3d4" * 8
    for tail in ("&x=1", "#frag", "' rest", '" rest', " rest"):
        out = mask_whole(f"'https://h/o?X-Goog-Signature={sig}{tail}".encode())
        assert out.endswith(tail.encode()) and sig.encode() not in out, out


# --- probe findings: false positives ------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "API_KEY=REPLACE_WITH_YOUR_KEY\n", "TOKEN=YOUR_TOKEN_HERE\n", "SECRET=INSERT_SECRET_HERE\n",
    "PASSWORD=CHANGE_ME_PLEASE\n", 'client_secret: "PLACEHOLDER-SECRET"\n', "DB_PASSWORD=DUMMY_PASSWORD\n",
    "pwdChangedTime: 20240101000000Z\n", "pwdFailureTime: 20240101000000Z\npwdFailureTime: 20240102000000Z\n",
    "pwdAccountLockedTime: 20240101000000Z\n", "pwdPolicySubentry: cn=default,ou=policies,dc=example,dc=com\n",
    "pwdGraceUseTime: 20240101000000Z\n", "pwdAttribute: userPassword\n", "pwdLastSuccess: 20240101000000Z\n",
    "pwdMaxIdle: 3600\n", "passwordExpirationTime: 20240101000000Z\n",
])
def test_placeholders_and_ldap_policy_state_stay(text: str) -> None:
    assert mask_whole(text.encode()) == text.encode()


@pytest.mark.parametrize("text, secret", [
    ("PASSWORD=X7K2-Q9ZP-HERE8\n", "X7K2-Q9ZP-HERE8"),        # generated, upper case with digits
    ("PASSWORD=ABCD1234EFGH5678\n", "ABCD1234EFGH5678"),
    ("API_KEY=K3Y_HERE_9QZ7_TODO2\n", "K3Y_HERE_9QZ7_TODO2"),  # a placeholder word among generated groups
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEX\n", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEX"),
    # vendors' documentation keys are public, but a real key pasted over the example looks the same
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("export AWS_SECRET_ACCESS_KEY=je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"),
    ('{"AccessKeyId": "AKIAI44QH8DHBEXAMPLE", "SecretAccessKey": "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"}\n',
     "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"),
    ('{"AccessKeyId": "AKIAI44QH8DHBEXAMPLE"}\n', "AKIAI44QH8DHBEXAMPLE"),
    ("pwdPassword: Zx9Qw7Lk3Mn8Pv2R\n", "Zx9Qw7Lk3Mn8Pv2R"),
    ("ldap_admin_password: Zx9Qw7Lk3Mn8Pv2R\n", "Zx9Qw7Lk3Mn8Pv2R"),
])
def test_look_alikes_of_placeholders_are_still_masked(text: str, secret: str) -> None:
    assert secret.encode() not in mask_whole(text.encode())


def test_kubeadm_certificate_key_on_a_join_command_is_masked() -> None:
    key = fake("0123456789abcdef", 64, "kubeadm-cert-key")
    line = f"kubeadm join 10.0.0.1:6443 --control-plane --certificate-key {key}\n".encode()
    out = mask_whole(line, MaskingProfile())
    assert key.encode() not in out and out.endswith(b"--certificate-key [MASKED:cli-password]\n")


@pytest.mark.parametrize("text", [
    '{"id": 1234567890123456789, "order_id": "4539578763621486"}\n',  # ids
    'node_memory_bytes{x="y"} 4111111111111111\nhttp_requests_total 5555555555554444\n',  # Prometheus samples
    "rx_bytes: 4012888888881881 tx_bytes: 378282246310005\n",  # counters
])
def test_luhn_valid_ids_counters_and_metric_samples_are_not_cards(text: str) -> None:
    assert mask_whole(text.encode(), MaskingProfile()) == text.encode()


@pytest.mark.parametrize("text", ["card: 4111111111111111\n", "card_number 4111111111111111\n",
                                  '{"card_number": "4111111111111111"}\n', "order 4539578763621486 shipped\n"])
def test_a_card_number_without_an_id_or_counter_name_is_still_masked(text: str) -> None:
    out = mask_whole(text.encode(), MaskingProfile())
    assert b"[MASKED:credit-card]" in out and b"1111111111" not in out and b"578763621486" not in out


def test_a_token_longer_than_its_pattern_is_masked_to_its_end_with_no_tail_left() -> None:
    from bastion.masking.detectors import fake

    body = fake("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 61, "age-long")  # three more than an age key has
    text = f"AGE-SECRET-KEY-1{body} next\n".encode()
    assert mask_whole(text) == b"[MASKED:age-secret-key] next\n"
    assert mask_chunks([text[i : i + 7] for i in range(0, len(text), 7)]) == mask_whole(text)


@pytest.mark.parametrize("typed, value", [
    ("$ echo $AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEZ"),
    ('user@host:~$ echo "${DB_PASSWORD}"', "Xy7pQ2mN9vB4"),
    ("$ printenv API_TOKEN", "abcDEF123456ghiJKL"),
    ("$ printf '%s\\n' \"$CLIENT_SECRET\"", "Zq8Lm2Nx7Vb4Kc1"),
])
def test_a_secret_variable_echoed_at_a_prompt_has_its_value_line_masked(typed: str, value: str) -> None:
    text = f"{typed}\r\n{value}\r\n$ ".encode()
    out = mask_whole(text)
    assert value.encode() not in out and out.startswith(typed.encode() + b"\r\n[MASKED:"), out
    assert mask_chunks([text[i : i + 1] for i in range(len(text))]) == out


@pytest.mark.parametrize("text", [
    "$ echo $PASSWORD_FILE\r\n/run/secrets/db\r\n", "$ echo $TOKEN_TTL\r\n3600\r\n",
    "$ echo $SECRET is here\r\nnext line\r\n", "$ echo $HOME\r\n/home/app\r\n",
])
def test_other_echoed_variables_and_values_stay(text: str) -> None:
    assert mask_whole(text.encode()) == text.encode()


def test_a_yaml_binary_block_under_a_secret_key_is_masked_and_a_vault_block_stays() -> None:
    text = b"password: !!binary |\n  WHk3cFEybU45dkI1ZA==\nnext: 2\n"
    assert mask_whole(text) == b"password: !!binary |\n  [MASKED:password-assignment]\nnext: 2\n"
    vault = b"password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  36643662\nnext: 2\n"
    assert mask_whole(vault) == vault


@pytest.mark.parametrize("text, expected", [
    ("wpa_passphrase and any long option named for a secret with a generated value\n",
     "wpa_passphrase and any long option named for a secret with a generated value\n"),
    ("wpa_passphrase MyWifi Xy7pQ2mN9vB4 then more words here\n",
     "wpa_passphrase MyWifi [MASKED:cli-password] then more words here\n"),
    ("sqlplus scott/tiger@db and usr/bin/x\n", "sqlplus scott/[MASKED:cli-password]@db and usr/bin/x\n"),
])
def test_a_command_line_rule_masks_its_one_value_not_every_later_word(text: str, expected: str) -> None:
    assert mask_whole(text.encode()) == expected.encode()


# Found by a red-team probe: values that a placeholder, path or YAML-structure check took for no secret
@pytest.mark.parametrize(("text", "secret"), [
    ('{"password": "%1hwtkzKZuqsbkb7"}', "%1hwtkzKZuqsbkb7"),       # `%` and word characters: no format spec
    ("REDIS_AUTH=%OVYsxrkZJF3qCe7\n", "%OVYsxrkZJF3qCe7"),
    ('{"password": "$Jq8UAnNvXY11PL7"}', "$Jq8UAnNvXY11PL7"),        # `$` and no variable's name
    ("mysql -uroot -p'$HyeIbeUZJIX2LM7' app\n", "$HyeIbeUZJIX2LM7"),
    ("DB_PASSWORD=/Kcp68cUlMJ4/H06fD6RGZA4kGF1QlT4\n", "/Kcp68cUlMJ4/H06fD6RGZA4kGF1QlT4"),  # base64, not a path
    ("DB_PASSWORD={bt55ydcPWzYi9!\n", "{bt55ydcPWzYi9!"),             # after `=` no YAML sign is structure
    ("DB_PASSWORD=|5GRQLVhL8Il19!\n", "|5GRQLVhL8Il19!"),
    ("password: *e9dWLOQffIjR9!\n", "*e9dWLOQffIjR9!"),               # no alias's name
    ("DB_PASSWORD=secret123\n", "secret123"),                         # a weak password is still one
    ('{"log": "DD_APP_KEY=06b8f2074c4a61b1507b4f9e2cb629c04312d3e7\\n", "stream": "stdout"}',
     "06b8f2074c4a61b1507b4f9e2cb629c04312d3e7"),                     # a value ending at a JSON-escaped newline
    ('{"log": "ENCRYPTION_KEY=107KOFKicw4JAjLMVp3yi5OLNqw51NdOPqO4Dp9x\\r\\n"}', "107KOFKicw4JAjLMVp3yi5OLNqw51NdOPqO4Dp9x"),
    ("ya29.c." + fake(URLSAFE, 1000, "ya29-test"), "ya29.c." + fake(URLSAFE, 1000, "ya29-test")),  # no tail left
    ("GPG_PASSPHRASE=correct horse battery staple 42\n", "correct horse battery staple 42"),  # `env` quotes nothing
    ("postgresPassword: !yCxBDTTmf6FgI7C\n", "!yCxBDTTmf6FgI7C"),  # no YAML tag's name
    ("pg_dump 'postgresql://postgres:7aN@1KlA1W0Tl#4B@localhost/app' > x.sql\n", "7aN@1KlA1W0Tl#4B"),  # to the last @
    ("1,Bob,5896541176489986,12/27\n", "5896541176489986"),  # Maestro
    ("DB_PASSWORD=vHxFgc fRoInP\n", "vHxFgc fRoInP"),
])
def test_values_that_only_looked_like_placeholders_are_masked(text: str, secret: str) -> None:
    data = text.encode()
    out = mask_whole(data)
    assert_no_part_left(data, secret.encode(), out)
    assert mask_chunks([data[i : i + 3] for i in range(0, len(data), 3)]) == out


@pytest.mark.parametrize("text", [
    "password: $DB_PASSWORD\n", 'password: "$dbPassword"\n', "password: %s\n", "password: %(pw)s\n",
    'fmt = {"password": "%-12s"}\n', "password_file: /run/secrets/db_password\n", "password: *default\n",
    "password: &pw hunter\n", "token: !Ref MyToken\n", 'CONFIG={"a": 1}\n', "PASSWORD=[MASKED]\n",
    "password=updated successfully\n", "PASSWORD = not set\n",
])
def test_placeholders_references_and_structure_stay(text: str) -> None:
    assert mask_whole(text.encode()) == text.encode()


@pytest.mark.parametrize(("text", "secret"), [
    ("evil-winrm -i 10.0.0.9 -u Administrator -p '^l%i@u#AwSKNsY9Y'\n", "^l%i@u#AwSKNsY9Y"),
    ("evil-winrm -i 10.0.0.9 -u Administrator -H 32ed87bdb5fdc5e9cba88547376818d4\n", "32ed87bdb5fdc5e9cba88547376818d4"),
    ("    Key Content            : ckOgv!*UvGWtTq2O\r\n", "ckOgv!*UvGWtTq2O"),  # netsh wlan show profile key=clear
    ("http --auth bob:ME6ZD#zFSTq8i78B https://api.example.com\n", "bob:ME6ZD#zFSTq8i78B"),
    ("http -a bob:fXXCd#a^-2MMI01V https://api.example.com/v1\n", "fXXCd#a^-2MMI01V"),
])
def test_more_command_line_credentials(text: str, secret: str) -> None:
    out = mask_whole(text.encode())
    assert_no_part_left(text.encode(), secret.encode(), out)
    assert b"[MASKED:cli-password]" in out


# False positives a red-team probe found: a Makefile rule, Ansible's no-log stand-in, an auth method, a fingerprint,
# a projected volume's generated name
@pytest.mark.parametrize("text", [
    "secret.o: secret.c secret.h\n", "token.o: token.c token.h util.h\n",
    'ok: [web02] => {"changed": false, "password": "NOT_LOGGING_PASSWORD"}\n',
    '"password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"\n', "password: md5\n", "password: scram-sha-256\n",
    "ssh-key: SHA256:18kCXvQKa2bHq0zK3c8Jm1x9hXyQ0aP5tR6uV7wZ1eE\n", "token: kube-api-access-x2k4p\n",
])
def test_red_team_false_positives_stay(text: str) -> None:
    assert mask_whole(text.encode()) == text.encode()
