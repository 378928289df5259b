"""The one error tree. Each class says when it is raised.

Foreign exceptions are wrapped with context (`raise StoreError(...) from exc`) so callers catch
`BastionError` subclasses, never library internals.
"""

from __future__ import annotations


class BastionError(Exception):
    """Root of every error bastion raises on purpose."""


# --- configuration -------------------------------------------------------------------------------
class ConfigError(BastionError):
    """bastion.yaml (or its embedded defaults) is invalid; the message names the key and the fault."""


# --- policy ----------------------------------------------------------------------------------------
class PolicyError(BastionError):
    """The policy engine cannot produce a decision (the command must then not run)."""


class PolicyLoadError(PolicyError):
    """A policy file is malformed. `errors` holds one `file:line: reason` string per fault."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors) if self.errors else "policy failed to load")


class ShellParseError(PolicyError):
    """A command line could not be parsed as shell; the command is treated as opaque."""


# --- masking ---------------------------------------------------------------------------------------
class MaskingError(BastionError):
    """The masker cannot do its job; the session's output must stop (fail closed)."""


class MaskingConfigError(MaskingError):
    """A masking profile or custom pattern is invalid (bad regex, catastrophic backtracking, unknown detector)."""


# --- recording and storage -------------------------------------------------------------------------
class RecordingError(BastionError):
    """A session recording cannot be opened or written."""


class StoreError(BastionError):
    """The SQLite audit store cannot be opened, migrated or written."""


class AuditChainBroken(StoreError):
    """`audit verify` found a broken hash link or an altered recording."""


# --- sessions and upstream -------------------------------------------------------------------------
class AuthError(BastionError):
    """A caller failed to authenticate. Messages never reveal which users or targets exist."""


class TargetError(BastionError):
    """The requested target is unknown or not allowed for this user."""


class UpstreamError(BastionError):
    """The target could not be reached or refused us (unreachable, timeout, host key mismatch, auth)."""


class HostKeyMismatch(UpstreamError):
    """The target presented a host key that is not the pinned one (fingerprints kept for the audit)."""

    def __init__(self, message: str, *, expected: str = "", presented: str = "") -> None:
        super().__init__(message)
        self.expected = expected
        self.presented = presented


# --- approvals and identity ------------------------------------------------------------------------
class ApprovalError(BastionError):
    """The approval store cannot record or resolve a request; the held command does not run."""


class IdentityError(BastionError):
    """A token, certificate or TOTP code is invalid, expired or replayed."""
