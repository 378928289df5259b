"""OIDC access-token validation: which issuer, which key, which claims, and who the caller is.

`OidcValidator.validate(token)` turns a JWT from a configured identity provider into an
`OidcIdentity` or raises `TokenInvalid` with a one-line reason. The signature is checked with joserfc
against the issuer's JWKS (fetched through discovery or read from a static file), with the accepted
algorithms pinned per issuer: `none` and HMAC are never accepted, so a token "signed" with the
issuer's public key as an HMAC secret cannot pass. Time claims are checked against the injected
clock with the issuer's skew.

Keys are cached per issuer. An unknown `kid` triggers a refetch (at most once per
`jwks_min_refresh_interval`), so key rotation works without a restart; when the keys cannot be
fetched and the cache has expired, every login fails closed with a message that says so.

Messages never contain the token.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Sequence

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from bastion.clock import Clock
from bastion.errors import ConfigError, IdentityError

# Asymmetric signature algorithms an issuer may be configured with, and the JWK type each needs.
# INVARIANT: no "none" and no HS*: a symmetric algorithm would let anyone holding the issuer's
# *public* key (it is published) mint tokens.
_KEY_TYPES: dict[str, str] = {
    "RS256": "RSA", "RS384": "RSA", "RS512": "RSA",
    "PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
    "ES256": "EC", "ES384": "EC", "ES512": "EC",
    "EdDSA": "OKP",
}
MAX_CLOCK_SKEW = 60.0
_MAX_TOKEN_BYTES = 16 * 1024
_MAX_DOCUMENT_BYTES = 1024 * 1024
_FETCH_TIMEOUT = 5.0

Fetch = Callable[[str], Awaitable[bytes]]


class TokenInvalid(IdentityError):
    """A bearer token was refused: malformed, unknown issuer, bad signature, wrong claims, expired."""


class JwksUnavailable(TokenInvalid):
    """The issuer's keys could not be fetched and the cached ones have expired (fail closed)."""


@dataclass(frozen=True)
class OidcIssuerSettings:
    """One trusted identity provider: where its keys are, what its tokens must say, whom they name.

    `required_claims` maps a claim to the value it must have: a scalar must equal the claim, or be
    one of its elements when the claim is a list; a list must be wholly contained in the claim;
    `None` only requires that the claim is present. Naming the groups claim here makes it required.
    """

    issuer: str
    audience: str
    discovery: bool = True  # fetch {issuer}/.well-known/openid-configuration → jwks_uri
    jwks_file: Path | None = None  # static JWKS instead of discovery
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    clock_skew: float = 30.0
    user_claim: str = "sub"
    groups_claim: str | None = "groups"
    required_claims: dict[str, Any] = field(default_factory=dict)
    jwks_cache_seconds: float = 300.0
    jwks_min_refresh_interval: float = 10.0

    def __post_init__(self) -> None:
        # Checked here too, not only in validate_issuer_settings, so no code path can build an
        # issuer that accepts a forgeable algorithm.
        if not self.algorithms:
            raise ConfigError("algorithms: at least one algorithm is required")
        for alg in self.algorithms:
            if alg.lower() == "none":
                raise ConfigError("algorithms: 'none' is never accepted (unsigned tokens)")
            if alg.upper().startswith("HS"):
                raise ConfigError(f"algorithms: {alg} is refused (HMAC would accept the public key as a secret)")
            if alg not in _KEY_TYPES:
                raise ConfigError(f"algorithms: unknown algorithm {alg!r} (one of {', '.join(_KEY_TYPES)})")
        if not 0 <= self.clock_skew <= MAX_CLOCK_SKEW:
            raise ConfigError(f"clock_skew: must be between 0 and {MAX_CLOCK_SKEW:g} seconds")
        if self.discovery == (self.jwks_file is not None):
            raise ConfigError("discovery/jwks_file: use exactly one of discovery or a static jwks_file")


@dataclass(frozen=True)
class OidcIdentity:
    """Who a validated token names: the user, its groups, and when the token stops being valid."""

    user: str
    groups: tuple[str, ...]
    issuer: str
    token_id: str | None  # the `jti`, for audit records and certificate key ids
    expires_at: float  # the `exp` claim (epoch seconds); the session must not outlive it
    claims: dict


# --- settings --------------------------------------------------------------------------------------
_SETTING_KEYS = {
    "issuer", "audience", "discovery", "jwks_file", "algorithms", "clock_skew", "user_claim",
    "groups_claim", "required_claims", "jwks_cache_seconds", "jwks_min_refresh_interval",
}


def validate_issuer_settings(raw: Mapping[str, Any], path: str, *, base_dir: Path | None = None) -> OidcIssuerSettings:
    """Turn one `oidc.issuers[i]` mapping into settings, or raise ConfigError naming `path.key`.

    A relative `jwks_file` is resolved against `base_dir` (the config file's folder) when given.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: must be a mapping")
    unknown = sorted(set(raw) - _SETTING_KEYS)
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}: unknown key (expected one of {', '.join(sorted(_SETTING_KEYS))})")

    def need_str(key: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = raw.get(key, default)
        if value is None:
            if required:
                raise ConfigError(f"{path}.{key}: is required")
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}.{key}: must be a non-empty string")
        return value.strip()

    def need_number(key: str, default: float, *, low: float, high: float | None = None) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}.{key}: must be a number of seconds")
        if value < low or (high is not None and value > high):
            bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise ConfigError(f"{path}.{key}: must be {bound} seconds")
        return float(value)

    issuer = need_str("issuer", required=True)
    assert issuer is not None
    _check_issuer_url(issuer, f"{path}.issuer")
    audience = need_str("audience", required=True)
    assert audience is not None

    jwks_file_raw = need_str("jwks_file")
    discovery_raw = raw.get("discovery", jwks_file_raw is None)
    if not isinstance(discovery_raw, bool):
        raise ConfigError(f"{path}.discovery: must be true or false")
    if discovery_raw and jwks_file_raw is not None:
        raise ConfigError(f"{path}.jwks_file: cannot be combined with discovery: true")
    if not discovery_raw and jwks_file_raw is None:
        raise ConfigError(f"{path}.jwks_file: is required when discovery is false")
    jwks_file = None
    if jwks_file_raw is not None:
        jwks_file = Path(jwks_file_raw).expanduser()
        if base_dir is not None and not jwks_file.is_absolute():
            jwks_file = base_dir / jwks_file

    algorithms_raw = raw.get("algorithms", list(OidcIssuerSettings.algorithms))
    if isinstance(algorithms_raw, str):
        algorithms_raw = [algorithms_raw]
    if not isinstance(algorithms_raw, list) or not all(isinstance(a, str) for a in algorithms_raw):
        raise ConfigError(f"{path}.algorithms: must be a list of algorithm names")

    groups_claim: str | None = OidcIssuerSettings.groups_claim
    if "groups_claim" in raw:
        groups_claim = need_str("groups_claim")
    required_raw = raw.get("required_claims") or {}
    if not isinstance(required_raw, Mapping) or not all(isinstance(k, str) and k for k in required_raw):
        raise ConfigError(f"{path}.required_claims: must map claim names to required values")
    for name, value in required_raw.items():
        if not _is_claim_requirement(value):
            raise ConfigError(f"{path}.required_claims.{name}: must be a string, number, boolean, list or null")

    cache_seconds = need_number("jwks_cache_seconds", OidcIssuerSettings.jwks_cache_seconds, low=1)
    refresh_interval = need_number(
        "jwks_min_refresh_interval", OidcIssuerSettings.jwks_min_refresh_interval, low=0, high=cache_seconds
    )
    clock_skew = need_number("clock_skew", OidcIssuerSettings.clock_skew, low=0, high=MAX_CLOCK_SKEW)
    user_claim = need_str("user_claim", default=OidcIssuerSettings.user_claim) or "sub"
    try:
        return OidcIssuerSettings(
            issuer=issuer,
            audience=audience,
            discovery=discovery_raw,
            jwks_file=jwks_file,
            algorithms=tuple(algorithms_raw),
            clock_skew=clock_skew,
            user_claim=user_claim,
            groups_claim=groups_claim,
            required_claims=dict(required_raw),
            jwks_cache_seconds=cache_seconds,
            jwks_min_refresh_interval=refresh_interval,
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}.{exc}") from None


def _check_issuer_url(issuer: str, where: str) -> None:
    parts = urllib.parse.urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{where}: must be an https:// URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"{where}: must not have a query or fragment")
    # Keys fetched over plain HTTP could be swapped by anyone on the path; loopback is allowed for
    # tests and for a provider on the same host.
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(f"{where}: must use https (plain http only for a loopback provider)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_claim_requirement(value: Any) -> bool:
    scalar = (str, int, float, bool, type(None))
    return isinstance(value, scalar) or (isinstance(value, list) and all(isinstance(v, scalar) for v in value))


# --- fetching keys ---------------------------------------------------------------------------------
class _SameSchemeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never from https down to http (keys must not arrive in the clear)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        old_scheme = urllib.parse.urlsplit(req.full_url).scheme
        new_scheme = urllib.parse.urlsplit(newurl).scheme
        if new_scheme not in ("http", "https") or (old_scheme == "https" and new_scheme != "https"):
            raise urllib.error.HTTPError(newurl, code, "refusing redirect to another scheme", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameSchemeRedirects)


async def http_fetch(url: str) -> bytes:
    """GET `url` (http or https only) in a worker thread with a 5 s timeout and a 1 MiB cap."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise OSError(f"refusing to fetch a non-HTTP URL: {url}")

    def get() -> bytes:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        with _OPENER.open(request, timeout=_FETCH_TIMEOUT) as response:
            body = response.read(_MAX_DOCUMENT_BYTES + 1)
        if len(body) > _MAX_DOCUMENT_BYTES:
            raise OSError(f"{url}: response larger than {_MAX_DOCUMENT_BYTES} bytes")
        return body

    return await asyncio.to_thread(get)


class _IssuerKeys:
    """The cached JWKS of one issuer and when it may be fetched again. Owned by one validator."""

    def __init__(self, settings: OidcIssuerSettings, fetch: Fetch, clock: Clock) -> None:
        self.settings = settings
        self._fetch = fetch
        self._clock = clock
        self._keys: KeySet | None = None
        self._fetched_at: float | None = None  # monotonic time of the last successful fetch
        self._attempted_at: float | None = None  # monotonic time of the last attempt, good or bad
        self._last_error = ""
        self._jwks_uri: str | None = None
        # One fetch at a time per issuer: a burst of logins with a new kid costs one request.
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str | None, key_type: str) -> list[Any]:
        """Keys that may have signed a token with this `kid` and key type (refetching as allowed)."""
        async with self._lock:
            if not self._fresh():
                await self._refresh()
            keys = self._matching(kid, key_type)
            if keys or kid is None:
                return keys
            # Unknown kid: the provider may have rotated its keys. Refetch, but not more often than
            # the minimum interval, so a stream of junk kids cannot turn us into a request amplifier.
            if self._may_refetch():
                await self._refresh()
                keys = self._matching(kid, key_type)
            return keys

    def _fresh(self) -> bool:
        return self._fetched_at is not None and (
            self._clock.monotonic() - self._fetched_at < self.settings.jwks_cache_seconds
        )

    def _may_refetch(self) -> bool:
        return self._attempted_at is None or (
            self._clock.monotonic() - self._attempted_at >= self.settings.jwks_min_refresh_interval
        )

    async def _refresh(self) -> None:
        stale = not self._fresh()
        if stale and self._last_error and not self._may_refetch():
            # The last attempt failed moments ago: fail closed without hammering the provider.
            raise self._unavailable(self._last_error or "fetch rate limited")
        self._attempted_at = self._clock.monotonic()
        try:
            keys = await self._load()
        except Exception as exc:  # noqa: BLE001 (any failure to get keys means: no fresh keys)
            self._last_error = _describe(exc)
            self._jwks_uri = None  # re-discover next time: the jwks_uri itself may have moved
            if stale:
                raise self._unavailable(self._last_error) from None
            return  # keys still cached and within their lifetime: keep using them
        self._keys = keys
        self._fetched_at = self._clock.monotonic()
        self._last_error = ""

    def _unavailable(self, detail: str) -> JwksUnavailable:
        return JwksUnavailable(
            f"signing keys of issuer {self.settings.issuer} cannot be fetched ({detail}) and no unexpired "
            "cached keys remain; token logins for this issuer fail until the provider is reachable"
        )

    async def _load(self) -> KeySet:
        settings = self.settings
        if settings.jwks_file is not None:
            document = await asyncio.to_thread(settings.jwks_file.read_bytes)
        else:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover()
            document = await self._fetch(self._jwks_uri)
        data = json.loads(document)
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ValueError("JWKS document has no 'keys' list")
        # Only public signing keys are of use; a private or symmetric ("oct") key published by a
        # misconfigured provider is ignored rather than trusted.
        usable = [
            k for k in data["keys"]
            if isinstance(k, dict) and k.get("kty") in ("RSA", "EC", "OKP") and k.get("use", "sig") == "sig"
        ]
        public = [{name: v for name, v in k.items() if name not in ("d", "p", "q", "dp", "dq", "qi")} for k in usable]
        return KeySet.import_key_set({"keys": public})

    async def _discover(self) -> str:
        url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        data = json.loads(await self._fetch(url))
        if not isinstance(data, dict):
            raise ValueError("discovery document is not a JSON object")
        # The document must describe this very issuer (OpenID Connect Discovery 1.0, section 4.3).
        if data.get("issuer") != self.settings.issuer:
            raise ValueError("discovery document names a different issuer")
        jwks_uri = data.get("jwks_uri")
        if not isinstance(jwks_uri, str) or urllib.parse.urlsplit(jwks_uri).scheme not in ("http", "https"):
            raise ValueError("discovery document has no usable jwks_uri")
        return jwks_uri

    def _matching(self, kid: str | None, key_type: str) -> list[Any]:
        if self._keys is None:
            return []
        return [
            key for key in self._keys.keys
            if key.key_type == key_type and (kid is None or key.kid == kid)
        ]


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


# --- validation ------------------------------------------------------------------------------------
class OidcValidator:
    """Validates bearer tokens from the configured issuers; keeps one JWKS cache per issuer."""

    def __init__(
        self,
        issuers: Sequence[OidcIssuerSettings],
        *,
        clock: Clock,
        fetch: Fetch | None = None,
    ) -> None:
        self._clock = clock
        fetch = fetch or http_fetch
        self._issuers = {s.issuer: _IssuerKeys(s, fetch, clock) for s in issuers}
        if len(self._issuers) != len(issuers):
            raise ConfigError("oidc.issuers: the same issuer is configured twice")

    async def validate(self, token: str) -> OidcIdentity:
        """The identity a token proves, or TokenInvalid with a one-line reason (never the token)."""
        header, unverified = _split_unverified(token)
        issuer_name = unverified.get("iss")
        if not isinstance(issuer_name, str):
            raise TokenInvalid("token has no 'iss' claim")
        keys = self._issuers.get(issuer_name)
        if keys is None:
            raise TokenInvalid(f"token issuer {_quote(issuer_name)} is not a configured issuer")
        settings = keys.settings

        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise TokenInvalid("unsigned token (alg 'none') refused")
        if alg not in settings.algorithms:
            raise TokenInvalid(
                f"token algorithm {_quote(alg)} is not accepted for issuer {settings.issuer} "
                f"(accepted: {', '.join(settings.algorithms)})"
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenInvalid("token header 'kid' is not a string")

        candidates = await keys.key_for(kid, _KEY_TYPES[alg])
        if not candidates:
            which = f"key id {_quote(kid)}" if kid is not None else "no key id"
            raise TokenInvalid(f"token signed with {which}, which is not among the keys of issuer {settings.issuer}")
        claims = _verify_signature(token, candidates, alg)
        return self._check_claims(claims, settings)

    def _check_claims(self, claims: dict[str, Any], settings: OidcIssuerSettings) -> OidcIdentity:
        now = self._clock.now()
        skew = settings.clock_skew
        if claims.get("iss") != settings.issuer:
            raise TokenInvalid("token issuer does not match")  # header and payload were re-read after signing
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if settings.audience not in audiences:
            raise TokenInvalid(f"token audience does not include {settings.audience!r}")

        exp = _time_claim(claims, "exp", required=True)
        assert exp is not None
        if now > exp + skew:
            raise TokenInvalid(f"token expired {int(now - exp)} s ago")
        nbf = _time_claim(claims, "nbf")
        if nbf is not None and now + skew < nbf:
            raise TokenInvalid(f"token not valid yet (valid in {int(nbf - now)} s)")
        iat = _time_claim(claims, "iat")
        if iat is not None and now + skew < iat:
            raise TokenInvalid("token issued in the future (check the clocks)")

        for name, required in settings.required_claims.items():
            if name not in claims:
                raise TokenInvalid(f"token lacks required claim {name!r}")
            if required is not None and not _claim_satisfies(claims[name], required):
                raise TokenInvalid(f"token claim {name!r} does not have the required value")

        user = claims.get(settings.user_claim)
        if not isinstance(user, str) or not user.strip():
            raise TokenInvalid(f"token has no usable user claim {settings.user_claim!r}")
        groups = _groups(claims, settings.groups_claim)
        token_id = claims.get("jti")
        return OidcIdentity(
            user=user,
            groups=groups,
            issuer=settings.issuer,
            token_id=token_id if isinstance(token_id, str) and token_id else None,
            expires_at=float(exp),
            claims=dict(claims),
        )


def _split_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and payload of a compact JWS, read without verifying (to pick issuer and key)."""
    if not isinstance(token, str) or not token:
        raise TokenInvalid("empty token")
    if len(token) > _MAX_TOKEN_BYTES:
        raise TokenInvalid(f"token longer than {_MAX_TOKEN_BYTES} bytes")
    token = token.strip()
    parts = token.split(".")
    if len(parts) == 5:
        raise TokenInvalid("encrypted (JWE) tokens are not supported")
    if len(parts) != 3:
        raise TokenInvalid("not a JWT (expected three dot-separated parts)")
    try:
        header = json.loads(_b64url(parts[0]))
        payload = json.loads(_b64url(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise TokenInvalid("malformed JWT (header or payload is not base64url JSON)") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise TokenInvalid("malformed JWT (header or payload is not a JSON object)")
    return header, payload


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _verify_signature(token: str, candidates: list[Any], alg: str) -> dict[str, Any]:
    for key in candidates:
        try:
            # INVARIANT: algorithms pinned to the one configured alg the header named; joserfc then
            # refuses anything else, whatever the header says.
            decoded = jwt.decode(token.strip(), key, algorithms=[alg])
        except JoseError:
            continue
        return dict(decoded.claims)
    raise TokenInvalid("token signature does not verify")


def _time_claim(claims: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise TokenInvalid(f"token has no {name!r} claim")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenInvalid(f"token claim {name!r} is not a number")
    return float(value)


def _claim_satisfies(value: Any, required: Any) -> bool:
    if isinstance(required, list):
        return isinstance(value, list) and all(item in value for item in required)
    if isinstance(value, list):
        return required in value
    return value == required


def _groups(claims: dict[str, Any], groups_claim: str | None) -> tuple[str, ...]:
    if groups_claim is None or claims.get(groups_claim) is None:
        return ()  # missing groups claim: no groups (required_claims makes it mandatory)
    value = claims[groups_claim]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise TokenInvalid(f"token claim {groups_claim!r} is not a list of strings")
    return tuple(dict.fromkeys(g for g in value if g))


def _quote(text: str) -> str:
    """Attacker-chosen text in an error message: quoted, one line, bounded."""
    return repr(text[:80] + ("…" if len(text) > 80 else ""))
