"""The TUI's errors: subclasses of bastion's one error tree, each with a one-line message for people."""

from __future__ import annotations

from bastion.errors import AuthError, BastionError


class ReviewClientError(BastionError):
    """Talking to the gateway's `bastion-review` subsystem failed; `str()` is one line fit to print."""


class GatewayUnreachable(ReviewClientError):
    """The gateway could not be reached (refused, timed out, DNS) or the connection dropped."""


class HostKeyUntrusted(ReviewClientError):
    """The gateway's host key is not in the reviewer's known_hosts (or does not match it)."""


class KeyRefused(ReviewClientError, AuthError):
    """The gateway refused the reviewer's key or certificate."""


class NotAReviewer(ReviewClientError, AuthError):
    """The gateway answered `forbidden`: the user is not in the reviewer group."""


class RequestFailed(ReviewClientError):
    """One request got `ok: false`; `code` is the protocol's error code (e.g. `bad_totp`)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{message} ({code})" if message else code)

    def __reduce__(self):  # so copy.copy() works (the client hands each waiter its own instance)
        return (type(self), (self.code, self.message))
