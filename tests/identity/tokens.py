"""Test doubles for OIDC: an issuer that mints JWTs from generated keys and serves its JWKS.

Every key here is generated at test time; nothing is a real credential.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

# Key generation is the slow part (RSA ~50 ms): make a few once and reuse them.
_RSA_POOL: list[RSAKey] = []
_EC_POOL: list[ECKey] = []


def rsa_key(index: int = 0) -> RSAKey:
    while len(_RSA_POOL) <= index:
        _RSA_POOL.append(RSAKey.generate_key(2048, auto_kid=True))
    return _RSA_POOL[index]


def ec_key(index: int = 0) -> ECKey:
    while len(_EC_POOL) <= index:
        _EC_POOL.append(ECKey.generate_key("P-256", auto_kid=True))
    return _EC_POOL[index]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class FakeIssuer:
    """An identity provider double: its URL, its published keys, and a fetch that can be broken."""

    issuer: str
    keys: list[Any]
    reachable: bool = True
    fetched: list[str] = field(default_factory=list)

    @property
    def jwks_uri(self) -> str:
        return self.issuer + "/jwks"

    def jwks(self) -> dict:
        return {"keys": [dict(k.as_dict(private=False), use="sig") for k in self.keys]}

    async def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        if not self.reachable:
            raise OSError("connection refused")
        if url == self.issuer + "/.well-known/openid-configuration":
            return json.dumps({"issuer": self.issuer, "jwks_uri": self.jwks_uri}).encode()
        if url == self.jwks_uri:
            return json.dumps(self.jwks()).encode()
        raise OSError(f"404 {url}")

    def mint(self, claims: dict, *, key: Any = None, alg: str | None = None, header: dict | None = None) -> str:
        key = key or self.keys[0]
        alg = alg or ("RS256" if isinstance(key, RSAKey) else "ES256")
        full_header = {"alg": alg, "kid": key.kid, "typ": "at+jwt"} | (header or {})
        return jwt.encode(full_header, {"iss": self.issuer} | claims, key, algorithms=[alg])


def unsigned_token(claims: dict) -> str:
    """A token with `alg: none` and an empty signature."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


def hmac_token_with_public_key(claims: dict, public_key: RSAKey, *, as_pem: bool = True) -> str:
    """The classic algorithm-confusion forgery: HS256 keyed with the issuer's *public* key."""
    secret = public_key.as_pem(private=False) if as_pem else json.dumps(public_key.as_dict(private=False)).encode()
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": public_key.kid}).encode())
    payload = b64url(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"
