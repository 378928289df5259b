"""Who a caller is once authenticated, and which target they asked for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the configured user name, its groups and how it proved itself."""

    name: str
    groups: tuple[str, ...]
    source: str  # "publickey" | "certificate" | "oidc", with "+totp" when a TOTP code was given too
    expires_at: float | None = None  # set for token logins: no command is accepted after it
    token_id: str | None = None


@dataclass(frozen=True)
class LoginName:
    """The SSH username split into identity and target: `alice:web-1` (or plain `alice`)."""

    user: str
    target: str | None

    @classmethod
    def parse(cls, username: str) -> "LoginName":
        user, sep, target = username.partition(":")
        return cls(user=user, target=target if sep and target else None)
