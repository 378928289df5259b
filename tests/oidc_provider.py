"""A real OpenID provider on 127.0.0.1 for integration tests: the npm package `oidc-provider` under Node.

`start_oidc_provider(...)` runs `tests/oidc/provider.js`, which serves discovery, a JWKS and a token
endpoint with the client-credentials grant, issuing JWT access tokens for one audience. The package is
installed (once) into `tests/oidc/node_modules` from the committed lock file:

    npm ci --prefix tests/oidc --no-audit --no-fund

`.ci/run` runs that; locally the fixture runs it when the folder is missing. Without Node the tests
that need the provider skip, except in CI (`CI` set), where they fail.

Import the `oidc_provider` fixture (session scope) into a test module or a conftest to use it.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

PROVIDER_DIR = Path(__file__).parent / "oidc"
INSTALL_COMMAND = ["npm", "ci", "--prefix", str(PROVIDER_DIR), "--no-audit", "--no-fund"]
DEFAULT_AUDIENCE = "bastion-gateway"
DEFAULT_RESOURCE = "urn:bastion:gateway"


@dataclass(frozen=True)
class OidcClient:
    """A client registered with the provider (client-credentials only). Secrets are test-only."""

    client_id: str
    client_secret: str
    groups: tuple[str, ...] = ()


@dataclass
class OidcProvider:
    """A running provider: its issuer URL, its clients, and a way to get tokens and to stop it."""

    issuer: str
    port: int
    audience: str
    clients: tuple[OidcClient, ...]
    process: subprocess.Popen
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    def token(self, client_id: str | None = None, *, resource: str | None = None, timeout: float = 10.0) -> str:
        """A client-credentials access token (a JWT) for `client_id` (default: the first client)."""
        return self.token_response(client_id, resource=resource, timeout=timeout)["access_token"]

    def token_response(self, client_id: str | None = None, *, resource: str | None = None,
                       timeout: float = 10.0) -> dict:
        client = next(c for c in self.clients if client_id in (None, c.client_id))
        form = {"grant_type": "client_credentials"}
        if resource:
            form["resource"] = resource
        basic = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
        request = urllib.request.Request(
            self.issuer + "/token",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback URL)
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"token request failed: {exc.code} {exc.read()[:500]!r}") from None

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.process.stdin:
                self.process.stdin.close()  # provider.js exits when its stdin ends
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def ensure_installed() -> None:
    """Install oidc-provider into tests/oidc/node_modules from the lock file, unless it is there."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        return
    result = subprocess.run(INSTALL_COMMAND, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(INSTALL_COMMAND)} failed:\n{result.stderr[-2000:]}")


def start_oidc_provider(
    clients: tuple[OidcClient, ...],
    *,
    audience: str = DEFAULT_AUDIENCE,
    resource: str = DEFAULT_RESOURCE,
    ttl: int = 300,
    alg: str = "RS256",
    startup_timeout: float = 20.0,
) -> OidcProvider:
    """Start provider.js on an ephemeral loopback port and wait until it says where it listens."""
    ensure_installed()
    config = {
        "clients": [{"client_id": c.client_id, "client_secret": c.client_secret, "groups": list(c.groups)}
                    for c in clients],
        "audience": audience,
        "resource": resource,
        "ttl": ttl,
        "alg": alg,
    }
    log_fd, log_name = tempfile.mkstemp(prefix="oidc-provider-", suffix=".log")
    env = dict(os.environ, BASTION_TEST_OIDC=json.dumps(config), NODE_ENV="test")
    process = subprocess.Popen(
        ["node", str(PROVIDER_DIR / "provider.js")],
        cwd=PROVIDER_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log_fd,
        env=env,
    )
    os.close(log_fd)
    assert process.stdout is not None
    deadline = time.monotonic() + startup_timeout
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([process.stdout], [], [], max(remaining, 0))
        if not ready:
            process.kill()
            raise RuntimeError(f"oidc-provider did not start:\n{Path(log_name).read_text()[-2000:]}")
        chunk = os.read(process.stdout.fileno(), 4096)
        if not chunk:
            process.wait(timeout=5)
            raise RuntimeError(f"oidc-provider exited:\n{Path(log_name).read_text()[-2000:]}")
        line += chunk
    hello = json.loads(line)
    return OidcProvider(
        issuer=hello["issuer"],
        port=hello["port"],
        audience=audience,
        clients=clients,
        process=process,
        log_path=Path(log_name),
    )


def require_node() -> None:
    """Skip (or, in CI, fail) when Node and npm are not installed."""
    if node_available():
        return
    if os.environ.get("CI"):
        pytest.fail("node and npm are required in CI for the OIDC provider tests")
    pytest.skip("node/npm not installed: the OIDC provider tests need them")


# Test-only client credentials, generated per run.
def _test_secret() -> str:
    return base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """One provider for the session: client `agent-1` (groups ops, deploy) and `agent-2` (no groups)."""
    require_node()
    provider = start_oidc_provider(
        (
            OidcClient("agent-1", _test_secret(), ("ops", "deploy")),
            OidcClient("agent-2", _test_secret()),
        )
    )
    yield provider
    provider.stop()
    provider.log_path.unlink(missing_ok=True)
