"""Public-key and OpenSSH user-certificate trust for callers.

Plain keys are compared against the user's configured keys. Certificates are trusted through
authorized-keys `cert-authority` lines that name the user as the only acceptable principal, so
asyncssh refuses wrong-principal, principal-less and expired certificates (FIELD-NOTES: a CA trusted
through `validate_ca_key` would accept a certificate with no principals for any user).
"""

from __future__ import annotations

import asyncssh

# Forwarding permits in a certificate are ignored anyway (the gateway refuses side channels), but
# saying so in the trust line keeps asyncssh from ever considering them.
_CA_OPTIONS = "cert-authority,no-port-forwarding,no-agent-forwarding,no-X11-forwarding"


def certificate_trust(user: str, ca_keys: tuple[asyncssh.SSHKey, ...]) -> asyncssh.SSHAuthorizedKeys | None:
    """Authorized-keys entries accepting certificates from `ca_keys` for principal `user` only."""
    if not ca_keys:
        return None
    lines = [
        f'{_CA_OPTIONS},principals="{user}" {key.export_public_key("openssh").decode().strip()}'
        for key in ca_keys
    ]
    return asyncssh.import_authorized_keys("\n".join(lines) + "\n")


def key_matches(key: asyncssh.SSHKey, allowed: tuple[asyncssh.SSHKey, ...]) -> bool:
    """Whether `key` is one of the user's configured public keys (compared by public key blob)."""
    blob = key.public_data
    return any(candidate.public_data == blob for candidate in allowed)
