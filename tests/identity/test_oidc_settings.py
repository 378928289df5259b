"""validate_issuer_settings: defaults filled in one place, every fault named by its config key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion.errors import ConfigError
from bastion.identity.oidc import OidcIssuerSettings, validate_issuer_settings

PATH = "oidc.issuers[0]"
BASE = {"issuer": "https://idp.example.test", "audience": "bastion-gateway"}


def test_minimal_settings_get_the_documented_defaults():
    settings = validate_issuer_settings(dict(BASE), PATH)
    assert settings == OidcIssuerSettings(issuer="https://idp.example.test", audience="bastion-gateway")
    assert settings.discovery is True and settings.jwks_file is None
    assert settings.algorithms == ("RS256", "ES256")
    assert (settings.clock_skew, settings.user_claim, settings.groups_claim) == (30.0, "sub", "groups")


def test_full_settings_round_trip(tmp_path: Path):
    raw = BASE | {
        "jwks_file": "keys/jwks.json",
        "algorithms": ["ES256", "EdDSA"],
        "clock_skew": 60,
        "user_claim": "email",
        "groups_claim": None,
        "required_claims": {"client_id": None, "env": ["prod"]},
        "jwks_cache_seconds": 120,
        "jwks_min_refresh_interval": 5,
    }
    settings = validate_issuer_settings(raw, PATH, base_dir=tmp_path)
    assert settings.discovery is False
    assert settings.jwks_file == tmp_path / "keys/jwks.json"
    assert settings.algorithms == ("ES256", "EdDSA")
    assert settings.groups_claim is None
    assert settings.required_claims == {"client_id": None, "env": ["prod"]}
    assert (settings.jwks_cache_seconds, settings.jwks_min_refresh_interval) == (120.0, 5.0)


@pytest.mark.parametrize(
    "change, key, reason",
    [
        ({"algorithms": ["none"]}, "algorithms", "never accepted"),
        ({"algorithms": ["RS256", "NONE"]}, "algorithms", "never accepted"),
        ({"algorithms": ["HS256"]}, "algorithms", "HMAC"),
        ({"algorithms": ["RS256", "hs512"]}, "algorithms", "HMAC"),
        ({"algorithms": ["RS1"]}, "algorithms", "unknown algorithm"),
        ({"algorithms": []}, "algorithms", "at least one"),
        ({"algorithms": [256]}, "algorithms", "list of algorithm names"),
        ({"clock_skew": 61}, "clock_skew", "between 0 and 60"),
        ({"clock_skew": -1}, "clock_skew", "between 0 and 60"),
        ({"clock_skew": "30s"}, "clock_skew", "number of seconds"),
        ({"issuer": None}, "issuer", "is required"),
        ({"issuer": "ftp://idp.example.test"}, "issuer", "https:// URL"),
        ({"issuer": "http://idp.example.test"}, "issuer", "must use https"),
        ({"issuer": "https://idp.example.test/?x=1"}, "issuer", "query or fragment"),
        ({"audience": ""}, "audience", "non-empty string"),
        ({"audience": None}, "audience", "is required"),
        ({"jwks_file": "k.json", "discovery": True}, "jwks_file", "cannot be combined"),
        ({"discovery": False}, "jwks_file", "required when discovery is false"),
        ({"discovery": "yes"}, "discovery", "true or false"),
        ({"required_claims": ["groups"]}, "required_claims", "must map"),
        ({"required_claims": {"x": {"nested": 1}}}, "required_claims.x", "string, number"),
        ({"jwks_cache_seconds": 0}, "jwks_cache_seconds", "at least 1"),
        ({"jwks_min_refresh_interval": 900}, "jwks_min_refresh_interval", "between 0 and 300"),
        ({"userclaim": "sub"}, "userclaim", "unknown key"),
    ],
)
def test_invalid_settings_name_the_key(change, key, reason):
    raw = {k: v for k, v in (BASE | change).items() if v is not None or k not in ("issuer", "audience")}
    with pytest.raises(ConfigError) as info:
        validate_issuer_settings(raw, PATH)
    message = str(info.value)
    assert message.startswith(f"{PATH}.{key}:"), message
    assert reason in message


def test_loopback_http_issuer_is_allowed():
    for issuer in ("http://127.0.0.1:8080", "http://localhost:9000/realms/x", "http://[::1]:8080"):
        assert validate_issuer_settings(BASE | {"issuer": issuer}, PATH).issuer == issuer


def test_settings_built_directly_still_refuse_forgeable_algorithms():
    with pytest.raises(ConfigError, match="HMAC"):
        OidcIssuerSettings(issuer="https://idp.example.test", audience="a", algorithms=("HS256",))
    with pytest.raises(ConfigError, match="none"):
        OidcIssuerSettings(issuer="https://idp.example.test", audience="a", algorithms=("none",))


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4))
def test_any_accepted_algorithm_list_is_asymmetric(algorithms):
    try:
        settings = validate_issuer_settings(BASE | {"algorithms": algorithms}, PATH)
    except ConfigError:
        return
    assert all(alg[:2] in ("RS", "PS", "ES", "Ed") for alg in settings.algorithms)
