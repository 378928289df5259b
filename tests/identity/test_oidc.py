"""OidcValidator against tokens minted here from generated keys: claims, algorithms, key rotation, outages."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.clock import FakeClock
from bastion.identity.oidc import JwksUnavailable, OidcIssuerSettings, OidcValidator, TokenInvalid
from tests.identity.tokens import FakeIssuer, ec_key, hmac_token_with_public_key, rsa_key, unsigned_token

ISSUER = "https://idp.example.test"
AUDIENCE = "bastion-gateway"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def idp() -> FakeIssuer:
    return FakeIssuer(ISSUER, [rsa_key(0)])


def make_validator(idp: FakeIssuer, clock: FakeClock, **overrides) -> OidcValidator:
    issuer_settings = OidcIssuerSettings(issuer=idp.issuer, audience=AUDIENCE, **overrides)
    return OidcValidator([issuer_settings], clock=clock, fetch=idp.fetch)


def claims(clock: FakeClock, **extra) -> dict:
    now = int(clock.now())
    return {"sub": "agent-7", "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 300, "jti": "tok-1"} | extra


async def refused(validator: OidcValidator, token: str, match: str) -> TokenInvalid:
    with pytest.raises(TokenInvalid, match=match) as info:
        await validator.validate(token)
    # INVARIANT: no part of the token is ever echoed back (it is a bearer credential).
    for part in token.split("."):
        if len(part) > 8:
            assert part not in str(info.value)
    return info.value


# --- accepted tokens -------------------------------------------------------------------------------
async def test_valid_rs256_token_names_user_groups_and_expiry(idp, clock):
    validator = make_validator(idp, clock)
    token = idp.mint(claims(clock, groups=["ops", "deploy", "ops"]))
    identity = await validator.validate(token)
    assert identity.user == "agent-7"
    assert identity.groups == ("ops", "deploy")  # de-duplicated, order kept
    assert identity.issuer == ISSUER
    assert identity.token_id == "tok-1"
    assert identity.expires_at == clock.now() + 300
    assert identity.claims["aud"] == AUDIENCE
    assert idp.fetched == [ISSUER + "/.well-known/openid-configuration", ISSUER + "/jwks"]


async def test_issuer_claim_selects_among_several_issuers_and_es256_works(clock):
    rsa_idp = FakeIssuer("https://rsa.example.test", [rsa_key(0)])
    ec_idp = FakeIssuer("https://ec.example.test", [ec_key(0)])

    async def fetch(url: str) -> bytes:
        return await (rsa_idp if url.startswith(rsa_idp.issuer) else ec_idp).fetch(url)

    validator = OidcValidator(
        [
            OidcIssuerSettings(issuer=rsa_idp.issuer, audience=AUDIENCE, algorithms=("RS256",)),
            OidcIssuerSettings(issuer=ec_idp.issuer, audience=AUDIENCE, algorithms=("ES256",), user_claim="email"),
        ],
        clock=clock,
        fetch=fetch,
    )
    ec_identity = await validator.validate(ec_idp.mint(claims(clock, email="bot@example.test")))
    assert (ec_identity.user, ec_identity.issuer) == ("bot@example.test", ec_idp.issuer)
    assert (await validator.validate(rsa_idp.mint(claims(clock)))).issuer == rsa_idp.issuer
    # Signed by the EC issuer's key but claiming to come from the RSA issuer: wrong keys, refused.
    forged = ec_idp.mint(claims(clock, iss=rsa_idp.issuer))
    await refused(validator, forged, "algorithm 'ES256' is not accepted")


async def test_audience_may_be_a_list(idp, clock):
    validator = make_validator(idp, clock)
    identity = await validator.validate(idp.mint(claims(clock, aud=["other-api", AUDIENCE])))
    assert identity.user == "agent-7"


# --- time claims -----------------------------------------------------------------------------------
async def test_expired_token_refused_after_skew_only(idp, clock):
    validator = make_validator(idp, clock, clock_skew=30)
    token = idp.mint(claims(clock))
    clock.advance(300 + 29)
    assert (await validator.validate(token)).user == "agent-7"  # within skew
    clock.advance(2)
    await refused(validator, token, "token expired")


async def test_not_yet_valid_token_refused(idp, clock):
    validator = make_validator(idp, clock, clock_skew=30)
    now = int(clock.now())
    await refused(validator, idp.mint(claims(clock, nbf=now + 120)), "not valid yet")
    assert (await validator.validate(idp.mint(claims(clock, nbf=now + 20)))).user == "agent-7"


async def test_token_issued_in_the_future_refused(idp, clock):
    validator = make_validator(idp, clock, clock_skew=10)
    await refused(validator, idp.mint(claims(clock, iat=int(clock.now()) + 600, nbf=None)), "issued in the future")


async def test_token_without_exp_refused(idp, clock):
    validator = make_validator(idp, clock)
    token_claims = claims(clock)
    del token_claims["exp"]
    await refused(validator, idp.mint(token_claims), "no 'exp' claim")
    await refused(validator, idp.mint(claims(clock, exp="tomorrow")), "'exp' is not a number")


# --- issuer and audience ---------------------------------------------------------------------------
async def test_wrong_audience_refused(idp, clock):
    validator = make_validator(idp, clock)
    await refused(validator, idp.mint(claims(clock, aud="some-other-api")), "audience does not include")
    no_aud = claims(clock)
    del no_aud["aud"]
    await refused(validator, idp.mint(no_aud), "audience does not include")


async def test_wrong_issuer_refused_before_any_fetch(idp, clock):
    validator = make_validator(idp, clock)
    stranger = FakeIssuer("https://evil.example.test", [rsa_key(1)])
    await refused(validator, stranger.mint(claims(clock)), "is not a configured issuer")
    from joserfc import jwt

    no_iss = jwt.encode({"alg": "RS256", "kid": rsa_key(0).kid}, claims(clock), rsa_key(0))
    await refused(validator, no_iss, "no 'iss' claim")
    assert idp.fetched == []  # an unknown issuer costs us nothing


async def test_token_signed_by_a_stranger_with_the_right_issuer_refused(idp, clock):
    validator = make_validator(idp, clock)
    stranger_key = rsa_key(1)
    forged = idp.mint(claims(clock), key=stranger_key)
    await refused(validator, forged, "not among the keys")
    # Same, but reusing the real key id: the signature check catches it.
    forged_kid = idp.mint(claims(clock), key=stranger_key, header={"kid": rsa_key(0).kid})
    await refused(validator, forged_kid, "signature does not verify")


async def test_tampered_payload_refused(idp, clock):
    validator = make_validator(idp, clock)
    header, payload, signature = idp.mint(claims(clock)).split(".")
    import base64

    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["sub"] = "root"
    evil_payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    await refused(validator, f"{header}.{evil_payload}.{signature}", "signature does not verify")


async def test_key_embedded_in_the_token_header_is_ignored(idp, clock):
    # jwk / jku / x5u headers point at keys the attacker controls; only the issuer's JWKS counts.
    attacker = rsa_key(1)
    header = {"jwk": attacker.as_dict(private=False), "jku": "https://evil.example.test/jwks", "kid": rsa_key(0).kid}
    validator = make_validator(idp, clock)
    await refused(validator, idp.mint(claims(clock), key=attacker, header=header), "signature does not verify")
    assert all(url.startswith(ISSUER) for url in idp.fetched)


# --- algorithms ------------------------------------------------------------------------------------
async def test_alg_none_refused(idp, clock):
    validator = make_validator(idp, clock)
    await refused(validator, unsigned_token(claims(clock, iss=ISSUER)), "alg 'none'")


@pytest.mark.parametrize("as_pem", [True, False], ids=["pem-secret", "jwk-json-secret"])
async def test_hs256_signed_with_the_public_key_refused(idp, clock, as_pem):
    validator = make_validator(idp, clock, algorithms=("RS256", "ES256"))
    forged = hmac_token_with_public_key(claims(clock, iss=ISSUER), rsa_key(0), as_pem=as_pem)
    await refused(validator, forged, "'HS256' is not accepted")


async def test_algorithm_outside_the_configured_list_refused(clock):
    idp = FakeIssuer(ISSUER, [rsa_key(0), ec_key(0)])
    validator = make_validator(idp, clock, algorithms=("RS256",))
    await refused(validator, idp.mint(claims(clock), key=ec_key(0)), "'ES256' is not accepted")
    assert (await validator.validate(idp.mint(claims(clock)))).user == "agent-7"


async def test_alg_header_that_mismatches_the_key_type_refused(idp, clock):
    # An RS256 key presented under an ES256 header: no EC key has that kid, so nothing verifies.
    validator = make_validator(idp, clock)
    header_lie = idp.mint(claims(clock), header={"alg": "RS256"}).split(".")
    import base64

    es_header = base64.urlsafe_b64encode(
        json.dumps({"alg": "ES256", "kid": rsa_key(0).kid}).encode()
    ).rstrip(b"=").decode()
    await refused(validator, ".".join([es_header, *header_lie[1:]]), "not among the keys")


# --- key rotation and outages ----------------------------------------------------------------------
async def test_unknown_kid_triggers_rate_limited_refetch_then_rotation_works(idp, clock):
    validator = make_validator(idp, clock, jwks_min_refresh_interval=10, jwks_cache_seconds=300)
    assert (await validator.validate(idp.mint(claims(clock)))).user == "agent-7"
    jwks_fetches = lambda: idp.fetched.count(idp.jwks_uri)  # noqa: E731
    assert jwks_fetches() == 1

    # The provider rotates to a new key. A token with the new kid arrives within the refresh
    # interval of the last fetch: refused without asking the provider again.
    new_key = rsa_key(2)
    idp.keys = [rsa_key(0), new_key]
    rotated = idp.mint(claims(clock), key=new_key)
    clock.advance(5)
    await refused(validator, rotated, "not among the keys")
    assert jwks_fetches() == 1

    # Once the interval has passed, the unknown kid makes us refetch, and the token is accepted.
    clock.advance(6)
    assert (await validator.validate(rotated)).user == "agent-7"
    assert jwks_fetches() == 2

    # A burst of tokens with junk kids right after costs no further request.
    for i in range(5):
        await refused(validator, idp.mint(claims(clock), key=rsa_key(1), header={"kid": f"junk-{i}"}), "not among")
    assert jwks_fetches() == 2
    # Old key still published: still accepted from the cache.
    assert (await validator.validate(idp.mint(claims(clock)))).user == "agent-7"
    assert jwks_fetches() == 2


async def test_unreachable_jwks_with_expired_cache_fails_closed(idp, clock):
    validator = make_validator(idp, clock, jwks_cache_seconds=60, jwks_min_refresh_interval=10)
    assert (await validator.validate(idp.mint(claims(clock)))).user == "agent-7"

    idp.reachable = False
    clock.advance(30)  # cache still within its lifetime: the outage goes unnoticed
    assert (await validator.validate(idp.mint(claims(clock)))).user == "agent-7"

    clock.advance(31)  # cache expired and the provider is down: every login fails, saying why
    error = await refused(validator, idp.mint(claims(clock)), "cannot be fetched")
    assert isinstance(error, JwksUnavailable)
    assert "fail until the provider is reachable" in str(error)
    attempts = len(idp.fetched)
    await refused(validator, idp.mint(claims(clock)), "cannot be fetched")
    assert len(idp.fetched) == attempts  # failed moments ago: not retried on every login

    idp.reachable = True
    clock.advance(10)
    assert (await validator.validate(idp.mint(claims(clock)))).user == "agent-7"


async def test_provider_down_from_the_start_fails_closed(idp, clock):
    idp.reachable = False
    validator = make_validator(idp, clock)
    with pytest.raises(JwksUnavailable, match="connection refused"):
        await validator.validate(idp.mint(claims(clock)))


async def test_discovery_document_for_another_issuer_refused(idp, clock):
    async def lying_fetch(url: str) -> bytes:
        if url.endswith("/.well-known/openid-configuration"):
            return json.dumps({"issuer": "https://evil.example.test", "jwks_uri": idp.jwks_uri}).encode()
        return await idp.fetch(url)

    validator = OidcValidator([OidcIssuerSettings(issuer=ISSUER, audience=AUDIENCE)], clock=clock, fetch=lying_fetch)
    with pytest.raises(JwksUnavailable, match="different issuer"):
        await validator.validate(idp.mint(claims(clock)))


async def test_static_jwks_file_is_used_and_reread_on_rotation(idp, clock, tmp_path: Path):
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(idp.jwks()))
    validator = make_validator(idp, clock, discovery=False, jwks_file=jwks_file, jwks_min_refresh_interval=0)
    assert (await validator.validate(idp.mint(claims(clock)))).user == "agent-7"
    idp.keys = [rsa_key(2)]
    jwks_file.write_text(json.dumps(idp.jwks()))
    assert (await validator.validate(idp.mint(claims(clock)))).user == "agent-7"
    assert idp.fetched == []  # no network for a static JWKS


async def test_private_and_symmetric_keys_in_a_jwks_are_ignored(clock):
    # A misconfigured provider publishing an "oct" key must not make HS256 tokens acceptable.
    idp = FakeIssuer(ISSUER, [rsa_key(0)])
    original = idp.jwks

    def jwks_with_oct() -> dict:
        data = original()
        data["keys"].append({"kty": "oct", "k": "c2VjcmV0LXRlc3Qta2V5", "kid": "hmac"})
        return data

    idp.jwks = jwks_with_oct  # type: ignore[method-assign]
    validator = make_validator(idp, clock)
    assert (await validator.validate(idp.mint(claims(clock)))).user == "agent-7"


async def test_concurrent_cold_logins_fetch_keys_once(idp, clock):
    validator = make_validator(idp, clock)
    tokens = [idp.mint(claims(clock, sub=f"agent-{i}")) for i in range(10)]
    identities = await asyncio.gather(*(validator.validate(t) for t in tokens))
    assert [i.user for i in identities] == [f"agent-{i}" for i in range(10)]
    assert idp.fetched.count(idp.jwks_uri) == 1


# --- groups, users and required claims -------------------------------------------------------------
async def test_missing_group_claim_means_no_groups(idp, clock):
    validator = make_validator(idp, clock)
    assert (await validator.validate(idp.mint(claims(clock)))).groups == ()
    assert (await validator.validate(idp.mint(claims(clock, groups="ops")))).groups == ("ops",)
    await refused(validator, idp.mint(claims(clock, groups=[1, 2])), "not a list of strings")


async def test_required_claims(idp, clock):
    validator = make_validator(
        idp, clock, required_claims={"groups": "agents", "client_id": None, "env": ["prod", "eu"]}
    )
    ok = claims(clock, groups=["agents", "ops"], client_id="agent-7", env=["prod", "eu", "x"])
    assert (await validator.validate(idp.mint(ok))).groups == ("agents", "ops")
    missing_groups = dict(ok)
    del missing_groups["groups"]
    await refused(validator, idp.mint(missing_groups), "lacks required claim 'groups'")
    await refused(validator, idp.mint(ok | {"groups": ["ops"]}), "'groups' does not have the required value")
    no_client = dict(ok)
    del no_client["client_id"]
    await refused(validator, idp.mint(no_client), "lacks required claim 'client_id'")
    await refused(validator, idp.mint(ok | {"env": ["prod"]}), "'env' does not have the required value")


async def test_missing_user_claim_refused(idp, clock):
    validator = make_validator(idp, clock, user_claim="preferred_username")
    await refused(validator, idp.mint(claims(clock)), "no usable user claim 'preferred_username'")
    identity = await validator.validate(idp.mint(claims(clock, preferred_username="deploy-bot")))
    assert identity.user == "deploy-bot"


@pytest.mark.parametrize(
    "token, reason",
    [
        ("", "empty token"),
        ("not-a-jwt", "three dot-separated parts"),
        ("a.b.c.d.e", "encrypted"),
        ("@@@.###.$$$", "malformed JWT"),
        ("W10.W10.", "not a JSON object"),  # "[]" header and payload
        ("x" * 20000, "longer than"),
    ],
)
async def test_malformed_tokens_refused(idp, clock, token, reason):
    with pytest.raises(TokenInvalid, match=reason):
        await make_validator(idp, clock).validate(token)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,40}"))
def test_arbitrary_input_only_ever_raises_token_invalid(text):
    idp = FakeIssuer(ISSUER, [rsa_key(0)])
    validator = make_validator(idp, FakeClock())
    with pytest.raises(TokenInvalid):
        asyncio.run(validator.validate(text))
