"""The key-value family on structured values: escaped quotes, lists of secrets (JSON, flow, YAML block)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.masking.matchers import closing_quote
from bastion.masking.profiles import MaskingProfile
from bastion.masking.stream import StreamMasker
from tests.masking.conftest import mask_chunks, mask_every_split, mask_whole, split_at

A, B, C = b"k9x8c7v6b5n4m3", b"Tr0ub4dor&3q7", b"c0rrectH0rse9z"

LISTS = [
    b'{"api_keys": ["' + A + b'", "' + B + b'"]}\n',
    b'{"access_tokens":["' + A + b'","' + B + b'"], "user": "bob"}\n',
    b"passwords = ['" + A + b"', '" + B + b"']\n",
    b"api_keys: [" + A + b", " + B + b"]\n",
    b'  "apiKeys": [\n    "' + A + b'",\n    "' + B + b'"\n  ],\n  "n": 1\n',
    b"api_keys:\n  - " + A + b"\n  - '" + B + b"'  # rotated\nname: x\n",
    b"passwords:\n- " + A + b"\n- " + B + b"\n",
    b'{"password": "ab\\"' + A + b'", "secret": "' + B + b'\\\\"}\n',
    b'"{\\"password\\": \\"x\\\\\\"' + A + b'\\"}"\n',  # a JSON document inside a JSON string
]


@pytest.mark.parametrize("text", LISTS)
def test_every_secret_of_a_list_or_an_escaped_string_is_masked_in_any_chunking(text: bytes) -> None:
    whole = mask_whole(text)
    for secret in (A, B):
        if secret in text:
            assert secret not in whole, whole
            assert secret[:6] not in whole and secret[-6:] not in whole, whole
    for cut in range(1, len(text)):
        assert mask_chunks([text[:cut], text[cut:]]) == whole, cut


@pytest.mark.parametrize("text", LISTS)
def test_an_idle_release_inside_a_list_leaks_no_element(text: bytes) -> None:
    for cut in range(1, len(text)):
        m = StreamMasker(MaskingProfile())
        out = m.feed(text[:cut]) + m.release_idle() + m.feed(text[cut:]) + m.finish()
        for secret in (A, B):
            if secret in text:
                pieces = [secret[i : i + 6] for i in range(len(secret) - 5)]
                assert not any(p in out for p in pieces), (cut, out)


@pytest.mark.parametrize("text", [
    b"password_rules: [min_length, upper, digit]\n",
    b"tokens = [get_token(), other]\n",
    b'"prompt_tokens": 1234567,\n',
    b"tokens: [hello, world]\n",
    b"max_tokens=40960\n",
    b'{"secrets": []}\n',
    b'{"passwords": ["********", "<redacted>", "[MASKED:x]"]}\n',
    b"api_keys:\n  - name: ci\n    created: 2026-01-01\n",
    b"password:\n\nnext: value\n",
    b"secrets:\n  - upper\n  - lower\n",
])
def test_lists_of_names_placeholders_and_code_stay(text: bytes) -> None:
    assert mask_whole(text) == text


@pytest.mark.parametrize("text, secret", [
    (b"password:\n  " + A + b"\nnext: 1\n", A),
    (b"db:\n  api_key:\n    '" + B + b"'  # rotated\n", B),
    (b"token:\n\n  \"" + C + b"\"\n", C),
])
def test_a_value_alone_on_the_next_deeper_line_is_masked_in_any_chunking(text: bytes, secret: bytes) -> None:
    out = mask_every_split(text)
    assert secret not in out and b"[MASKED:" in out


@pytest.mark.parametrize("text", [
    b"password:\n  value: 3\n",            # a mapping under the key
    b"Password:\n   Login successful\n",  # prose after a prompt
    b"token:\n  # rotated weekly\n",
    b"secret:\nabc123def\n",              # not deeper than the key
    b"password:\n  ********\n",
])
def test_what_follows_a_bare_key_and_is_not_its_value_stays(text: bytes) -> None:
    assert mask_whole(text) == text


def test_a_list_item_that_is_a_mapping_is_judged_by_its_own_keys() -> None:
    text = b"credentials:\n  - user: app\n    password: " + C + b"\n"
    out = mask_every_split(text)
    assert C not in out and b"user: app" in out


def test_an_unterminated_list_is_masked_to_its_window_and_no_further() -> None:
    out = mask_whole(b'passwords = ["' + A + b'\nls -la\n')
    assert A not in out and out.endswith(b"\nls -la\n")


@pytest.mark.parametrize("text, quote, expected", [
    (b'abc"', b'"', 3),
    (b'a\\"bc"', b'"', 5),            # escaped quote
    (b'a\\\\"bc"', b'"', 3),          # escaped backslash, then the closing quote
    (b"it\\'s'", b"'", 5),
    (b'ab\\\\\\"c\\"', b'\\"', 7),    # one level down: `\\\"` is an escaped quote, `\"` closes
    (b"abc", b'"', -1),
])
def test_closing_quote_skips_escaped_quotes(text: bytes, quote: bytes, expected: int) -> None:
    assert closing_quote(text, quote, 0, len(text)) == expected


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.sampled_from([A, B, C, b"x", b"ok", b"name_one"]), min_size=1, max_size=5),
       pretty=st.booleans(), cuts=st.lists(st.integers(min_value=1, max_value=300), max_size=6))
def test_json_lists_of_secrets_never_leak_in_any_chunking(items: list[bytes], pretty: bool, cuts: list[int]) -> None:
    sep = b",\n    " if pretty else b", "
    body = sep.join(b'"' + x + b'"' for x in items)
    text = b'{"api_tokens": [' + (b"\n    " if pretty else b"") + body + b"]}\n$ "
    whole = mask_whole(text)
    for s in (A, B, C):
        if s in items:
            assert s not in whole
    assert mask_chunks(split_at(text, cuts)) == whole


@pytest.mark.parametrize("text, secret", [
    (b"PASSWORD=!" + B + b"\n", b"!" + B),        # env values may start with YAML's structure bytes
    (b"DB_PASSWORD=*" + A + b"\n", b"*" + A),
    (b"export API_TOKEN=&" + C + b"\n", b"&" + C),
    (b"Secret key: " + A + b"\n", A),               # a label of words ending in a secret noun
    (b"Secret Access Key: " + B + b"\n", B),
    (b"  client secret = \"" + C + b"\"\n", C),
    (b"Your session token: " + A + b" (expires in 1h)\n", A),
])
def test_values_after_labels_and_values_starting_with_symbols_are_masked_in_any_chunking(text: bytes,
                                                                                         secret: bytes) -> None:
    out = mask_whole(text)
    assert secret not in out and b"[MASKED:" in out


@pytest.mark.parametrize("text", [
    b"password: &default_password\n",  # a YAML anchor and an alias are structure, not values
    b"password: *default_password\n",
    b"PASSWORD=********\n",
    b"Invalid secret key: expected 40 characters\n",
    b"The secret token: see the docs\n",
    b"Error reading secret key: /etc/ssl/private/key.pem\n",
])
def test_labels_in_prose_and_yaml_structure_stay(text: bytes) -> None:
    assert mask_whole(text) == text


P1, P2 = b"k#9Lq2;pW_aZ", b"4f1c2b9a8e7d6c5b4a3928170f6e5d4c"
ANNOUNCED = [
    (b"2026-12-01T00:00:00.000000Z 6 [Note] [MY-010454] [Server] A temporary password is generated for "
     b"root@localhost: " + P1 + b"\n", P1),
    (b"The generated password for the elastic built-in superuser is : " + P1 + b"\n", P1),
    (b"Your new password is " + P1 + b".\n", P1),
    (b"Password for the [elastic] user successfully reset.\nNew value: " + P1 + b"\n", P1),
    (b"Please use the following password to proceed to installation:\n\n" + P2 + b"\n\nThis may also be found "
     b"at: /var/jenkins_home/secrets/initialAdminPassword\n", P2),
]


@pytest.mark.parametrize("text, secret", ANNOUNCED)
def test_a_generated_password_announced_in_a_log_is_masked_in_any_chunking(text: bytes, secret: bytes) -> None:
    out = mask_every_split(text)
    assert secret not in out and out.count(b"[MASKED:password-assignment]") == 1


@pytest.mark.parametrize("text, secret", ANNOUNCED)
def test_an_idle_release_inside_an_announced_password_leaks_none_of_it(text: bytes, secret: bytes) -> None:
    at = text.index(secret)
    for cut in range(at - 3, at + len(secret)):
        m = StreamMasker(MaskingProfile())
        out = m.feed(text[:cut]) + m.release_idle() + m.feed(text[cut:]) + m.finish()
        assert secret[:4] not in out and secret[-4:] not in out


@pytest.mark.parametrize("text", [
    b"Your password was changed at 10:00:00Z\n",
    b"The password is incorrect.\n",
    b"password is too short: 5 < 8\n",
    b"Password for user postgres: \n",
    b"Please use the following password to proceed to installation:\n\nPress enter to continue\n",
    b"The password is: ********\n",
])
def test_prose_about_passwords_stays(text: bytes) -> None:
    assert mask_whole(text) == text


@pytest.mark.parametrize("text, secret", [
    (b"aws configure set aws_secret_access_key " + B + b"\n", B),  # a setting's name, a space, its value
    (b"$ git config --global user.password " + A + b"\n", A),
    (b"ngrok config add-authtoken " + C + b"\n", C),
    (b'127.0.0.1:6379> CONFIG GET requirepass\n1) "requirepass"\n2) "' + A + b'"\n', A),  # redis-cli reply
    (b'1) "masterauth"\n2) "' + B + b'"\n3) "maxmemory"\n4) "0"\n', B),
])
def test_settings_given_as_words_and_redis_replies_are_masked_in_any_chunking(text: bytes, secret: bytes) -> None:
    out = mask_every_split(text)
    assert secret not in out and out.count(b"[MASKED:") == 1


@pytest.mark.parametrize("text", [
    b'read -s -p "Password: " PASSWORD\n',  # the quote closes the prompt, it opens no value
    b"aws configure set region us-east-1\n",
    b"git config --global credential.helper store\n",
    b'1) "requirepass"\n2) ""\n',
])
def test_prompts_and_plain_settings_stay(text: bytes) -> None:
    assert mask_whole(text) == text


TABLES = [
    (b" username | password\n----------+----------\n admin    | " + A + b"\n bob      | \n(2 rows)\n\n", [A]),
    (b"+----+----------+------------------+\n| id | username | password         |\n+----+----------+------------------+"
     b"\n|  1 | admin    | " + A + b"   |\n|  2 | bob      | " + B + b"    |\n+----+----------+------------------+"
     b"\n2 rows in set (0.00 sec)\n", [A, B]),
    (b'id,user,password\n1,bob,' + A + b'\n2,"alice, jr","' + B + b'"\n\ndone\n', [A, B]),
    (b"id\tuser\tapi_key\n1\tbob\t" + C + b"\n", [C]),
]


@pytest.mark.parametrize("text, secrets", TABLES)
def test_the_cells_of_a_secret_named_column_are_masked_in_any_chunking(text: bytes, secrets: list[bytes]) -> None:
    out = mask_every_split(text)
    assert not any(s in out for s in secrets) and out.count(b"[MASKED:") == len(secrets)
    assert b"admin" in out or b"bob" in out  # the other columns stay


@pytest.mark.parametrize("text", [
    b"name,password_policy,token_count\na,strict,3\n",
    b"Password, if any, is stored.\nNext, with commas, too.\n",
    b" user | password_changed\n------+-----------------\n bob  | 2026-01-01\n",
])
def test_tables_without_a_secret_column_and_prose_with_commas_stay(text: bytes) -> None:
    assert mask_whole(text) == text


@pytest.mark.parametrize("text, secret", [
    (b': PSK "' + A + b'"\n', A),  # ipsec.secrets
    (b'%any 10.0.0.1 : PSK "' + B + b'"\n', B),
    (b'requirepass "' + C + b'"\n', C),  # the quotes stay outside the mask
])
def test_quoted_two_field_values_are_masked_inside_their_quotes(text: bytes, secret: bytes) -> None:
    out = mask_every_split(text)
    assert secret not in out and out.endswith(b'"[MASKED:password-assignment]"\n')


@pytest.mark.parametrize("text", [
    b"+    api_key: !vault |\n+          $ANSIBLE_VAULT;1.1;AES256\n",  # a YAML tag, in a diff too
    b"INFO auth: token=<nil> user=bob\n",                               # the next key is no value
    b"API_KEY=sk-...\nGITHUB_TOKEN=ghp_\xe2\x80\xa6\nPASSWORD=$$PASSWORD\n",  # a head and an ellipsis, `$$VAR`
    b"interface Creds {\n  password: string;\n  apiKey: string | undefined;\n}\n",  # TypeScript types
    b"type User { id: ID! password: String! token: String }\n",        # GraphQL types
    b'{"nextPageToken": "CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA3bHNhOAoaAwiBAQ", "syncToken": "CPDAlvWDx70CEPDAlvWDx70CGAE="}\n',
    b"STRIPE_PUBLISHABLE_KEY=pk_live_Xk9vQ2mLp7RtZw4eXk9vQ2mL\nchecksum_key=3f9c2e1d7b4f6a0c5e8d9a1b2c3d4e5f\n",
    b"2026-01-01 10:00:00 WARN  Login failed: invalid password for user alice\n",
    b"postgresql://user:password@localhost/db\nmysql://USER:PASS@HOST/DB\n",
    b"Send the header `Authorization: Bearer <token>` with every request.\n",
])
def test_types_tags_cursors_field_names_and_prose_stay(text: bytes) -> None:
    assert mask_whole(text) == text


@pytest.mark.parametrize("text, secret", [
    (b"+DB_PASSWORD=" + A + b"\n", A),  # a line added in a diff
    (b"+  password: " + B + b"\n", B),
    (b"machine api.example.com login bob password " + C + b"\n", C),
])
def test_diff_lines_and_netrc_lines_are_still_masked(text: bytes, secret: bytes) -> None:
    out = mask_whole(text)
    assert secret not in out and b"[MASKED:" in out


def test_a_two_field_line_is_decided_once_a_second_word_arrives() -> None:
    # `password expired for bob` is prose: once ` for` has arrived nothing is held for it any more
    m = StreamMasker(MaskingProfile())
    assert m.feed(b"password expired for") == b"password expired for"
    assert m.release_idle() == b""
    assert m.feed(b" bob\nrequirepass " + A + b"\n") + m.finish() == b" bob\nrequirepass [MASKED:password-assignment]\n"


@pytest.mark.parametrize("text", [
    b"  - Token: gho_*****\n",                                 # shown masked already (`gh auth status`)
    b"OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxx\nGITHUB_TOKEN=ghp_" + b"x" * 36 + b"\nAWS_ACCESS_KEY_ID=AKIA" + b"X" * 16 + b"\n",
    b'PASSWORD="${DB_PASSWORD:?missing}"\n',                   # a reference with a message
    b"PassEnvironment=DB_PASSWORD API_TOKEN\nLoadCredential=tls.key:/etc/ssl/private/site.key\n",  # systemd
    b"token_issuer: https://auth.example.com\nACCESS_KEY_ID_PARAM=/prod/ci/access_key_id\n",
])
def test_stand_ins_references_and_directive_names_stay(text: bytes) -> None:
    assert mask_whole(text) == text


def test_a_php_fpm_env_entry_is_masked() -> None:
    assert mask_whole(b"env[DB_PASSWORD] = " + A + b"\n") == b"env[DB_PASSWORD] = [MASKED:password-assignment]\n"


@pytest.mark.parametrize("line, secret", [
    ("gitlab-runner register --url https://gitlab.com --registration-token AhjQWJvDk9x2LmQ8pRt3 --executor docker",
     "AhjQWJvDk9x2LmQ8pRt3"),
    ("az storage blob upload --account-name st --account-key 6Sqk5W0t67m+EEpKN3TRU0Vnh8X3rSO/blPx== -c b",
     "6Sqk5W0t67m+EEpKN3TRU0Vnh8X3rSO/blPx=="),
    ("aws secretsmanager create-secret --name prod/db --secret-string 'gWJVf%fJtczA43'", "gWJVf%fJtczA43"),
    ("skopeo copy --src-creds ci:m2DV8#g0CJRH65 docker://a docker://b", "m2DV8#g0CJRH65"),
    ("certbot register --eab-kid kid_123 --eab-hmac-key 5uFlJ2cB0plAlbgcHkE_x9 -m a@b", "5uFlJ2cB0plAlbgcHkE_x9"),
])
def test_a_long_option_named_for_a_secret_masks_its_value(line: str, secret: str) -> None:
    _assert_masked_in_any_split(line, secret)


@pytest.mark.parametrize("line", [
    "mytool --api-token $TOKEN --secret-file /run/x", "kubectl --token-file ./t get pods",
    "mytool --secret-name db-credentials --auth-mode login", "helm install --set-file key=./k.pem x",
    "app --password-file /run/secrets/db", "tool --token-type bearer",
])
def test_a_long_option_whose_value_is_a_variable_path_or_name_masks_nothing(line: str) -> None:
    data = line.encode() + b"\n"
    assert mask_every_split(data) == data


@pytest.mark.parametrize("line, secret", [
    ("$ENV{DB_PASSWORD} = 'Xkuif#9aB2qL';", "Xkuif#9aB2qL"),  # Perl
    ("@password ||= 'EdAB9x2LmQ8pRt3'", "EdAB9x2LmQ8pRt3"),  # Ruby
    ('const API_TOKEN: &str = "IEhd9x2LmQ8pRt3Zz";', "IEhd9x2LmQ8pRt3Zz"),  # Rust
    ('{:user "app" :password "V3036#g4Lx5j60"}', "V3036#g4Lx5j60"),  # EDN / Clojure
    ("password: !!str gLXqR^Rs424H36", "gLXqR^Rs424H36"),  # a YAML tag before the value
    ("REGISTRY_PASSWORD ?= ey1fA^gfWyTK11", "ey1fA^gfWyTK11"),  # Makefile
])
def test_assignments_of_other_languages_mask_their_value(line: str, secret: str) -> None:
    _assert_masked_in_any_split(line, secret)


@pytest.mark.parametrize("line", [
    "fn check(token: &str) -> bool {", "(get-in config [:db :password])", "$ENV{DB_PASSWORD} = $ARGV[0];",
])
def test_code_that_only_names_a_secret_is_unchanged(line: str) -> None:
    data = line.encode() + b"\n"
    assert mask_every_split(data) == data


@pytest.mark.parametrize("line, secret", [
    # base64 with one `=` of padding is a value, not the next `key=`
    ("aeg-sas-key: swZQEmgc7rrD4uwdX424F0ziHqiKKfJDWpjrKzK3ywA=", "swZQEmgc7rrD4uwdX424F0ziHqiKKfJDWpjrKzK3ywA="),
    ('npmAuthIdent: "me:2BpRiJu5EWM9ljJo8390UMT7XI3bUul0jrrMdPrp"', "me:2BpRiJu5EWM9ljJo8390UMT7XI3bUul0jrrMdPrp"),
    ("BUNDLE_RUBYGEMS__PKG__GITHUB__COM=46qdyMcy0MkotnrEI4XEKxvPImZhPRGwOuJDdyL7",
     "46qdyMcy0MkotnrEI4XEKxvPImZhPRGwOuJDdyL7"),
    ("set -x DB_PASSWORD 2S2Hc^liwgmQ98", "2S2Hc^liwgmQ98"),
    ("setx DB_PASSWORD RBaoV%yz3Fby39", "RBaoV%yz3Fby39"),
    ("launchctl setenv DB_PASSWORD fABRG%QxTxDh16", "fABRG%QxTxDh16"),
    ("CREATE USER MAPPING FOR app SERVER remote OPTIONS (user 'app', password 'cXQhL^BrQohG55');", "cXQhL^BrQohG55"),
    ('array(2) {\n  ["user"]=>\n  string(3) "app"\n  ["password"]=>\n  string(14) "ovMd1#e8MnIC95"\n}',
     "ovMd1#e8MnIC95"),  # PHP var_dump
])
def test_more_shapes_of_secret_values_are_masked(line: str, secret: str) -> None:
    _assert_masked_in_any_split(line, secret)


@pytest.mark.parametrize("line", ["auth: token=", "BUNDLE_PATH=vendor/bundle", "set -x PATH /usr/local/bin $PATH"])
def test_the_next_key_or_a_setting_is_not_a_value(line: str) -> None:
    data = line.encode() + b"\n"
    assert mask_every_split(data) == data


@pytest.mark.parametrize("table, secret", [
    ("+------------+------------------+\n| API Key    | L2KFWINAZLYB97Y4 |\n| API Secret | w3VoX+9G7DtT2rpB/XOtG6 |\n",
     "w3VoX+9G7DtT2rpB/XOtG6"),
    ("| Field      | Value                            |\n| id         | b8394f6eb2f389f30ee028c123f26b56 |\n"
     "| secret     | WEMsQKrdTeTA9chrNoOojKllWXvKFpRA |\n", "WEMsQKrdTeTA9chrNoOojKllWXvKFpRA"),
    # box-drawing tables (`rich`, `tabulate --tablefmt fancy_grid`)
    ("┏━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━┓\n┃ Key         ┃ Value          ┃\n┡━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━┩\n"
     "│ DB_PASSWORD │ 3LTKwB78P7ZnJq │\n└─────────────┴────────────────┘\n", "3LTKwB78P7ZnJq"),
    ("║ api token ║ Xk92mPq7vLr4Tz ║\n", "Xk92mPq7vLr4Tz"),
])
def test_a_field_value_table_row_masks_a_secret_field(table: str, secret: str) -> None:
    out = mask_every_split(table.encode())
    assert secret.encode() not in out


def test_a_field_value_row_is_not_taken_for_a_table_header() -> None:
    data = b"| secret_name | db-credentials |\n| password_policy | strict |\n| token | expired |\n"
    assert mask_every_split(data) == data


@pytest.mark.parametrize("line, secret", [
    ("DB_PASSWORD=Ab3dEq7fGh7jK9mXz,", "Ab3dEq7fGh7jK9mXz"),
    ("export VERCEL_TOKEN=SQ64GSnmbuKckkvB34VFj0K8;", "SQ64GSnmbuKckkvB34VFj0K8"),
    ("token = SQ64GSnmbuKckkvB34VFj0K8;", "SQ64GSnmbuKckkvB34VFj0K8"),
    ("PASSWORD: Xk92mPq7vLr4,", "Xk92mPq7vLr4"),
])
def test_a_line_value_ending_in_a_list_or_statement_separator_is_masked(line: str, secret: str) -> None:
    out = mask_every_split(line.encode() + b"\n")
    assert secret.encode() not in out and out.endswith(line[-1].encode() + b"\n")


@pytest.mark.parametrize("line, secret, kept", [
    ("SECRET_KEY=q7Zx2Lm9Kd8sPq3vWx note: rotated", "q7Zx2Lm9Kd8sPq3vWx", "note: rotated"),
    ("ANTHROPIC_API_KEY=q7Zx2Lm9Kd8sPq3vWx python agent.py", "q7Zx2Lm9Kd8sPq3vWx", "python agent.py"),
    ("AWS Secret Access Key [None]: oW3+R3EpCYMgrQ5GvKfWA9Ykh4wpzTopbS7kzf0A", "oW3+R3EpCYMgrQ5GvKfWA9Ykh4wpzTopbS7kzf0A",
     "[None]: "),
    ("htpasswd -b .htpasswd admin Tr0ub4dor3xKq\r", "Tr0ub4dor3xKq", "admin "),
])
def test_the_value_alone_is_masked_and_what_follows_it_stays(line: str, secret: str, kept: str) -> None:
    out = mask_every_split(line.encode() + b"\n")
    assert secret.encode() not in out and kept.encode() in out


def _assert_masked_in_any_split(line: str, secret: str) -> None:
    out = mask_every_split(line.encode() + b"\n")
    assert secret.encode() not in out and b"[MASKED:" in out


@pytest.mark.parametrize("line", [
    "config/app.yaml:14:url=https://api.example.com:8443/v1",
    "logs/app.log:3:2024-05-01T12:00:00Z",
    "terraform.tfvars:3:arn=arn:aws:iam::123456789012:role/ci",
    "build.log:1:src/auth.c:42:17: warning: unused variable",
    "build.log:1:auth.c:42:17: warning: unused variable",
])
def test_grep_n_output_is_not_taken_for_a_pgpass_line(line: str) -> None:
    data = line.encode() + b"\n"
    assert mask_every_split(data) == data


def test_a_pgpass_line_still_masks_its_password() -> None:
    out = mask_every_split(b"db.example.com:5432:app:appuser:Zq8vLm3xTr9w\n")
    assert b"Zq8vLm3xTr9w" not in out and out.startswith(b"db.example.com:5432:app:appuser:[MASKED:")


def test_an_escaped_line_end_after_a_key_is_an_empty_value_not_the_rest_of_the_record() -> None:
    data = b'{"log":"Password: \\n","stream":"stdout"}\n{"log":"Enter token:\\r\\n","stream":"stderr"}\n'
    assert mask_every_split(data) == data
    out = mask_every_split(b'{"log":"password=Zq8vLm3xTr9wKp\\n","stream":"stdout"}\n')
    assert b"Zq8vLm3xTr9wKp" not in out and out.endswith(b'\\n","stream":"stdout"}\n')
