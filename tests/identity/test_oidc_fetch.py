"""http_fetch: the default way keys are fetched — loopback HTTP server, size cap, redirect rules."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
from typing import Iterator

import pytest

from bastion.identity.oidc import _SameSchemeRedirects, http_fetch


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/jwks":
            body = b'{"keys": []}'
        elif self.path == "/huge":
            body = b"x" * (1024 * 1024 + 10)
        elif self.path == "/to-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/jwks")
            self.end_headers()
            return
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


async def test_fetches_a_document(server):
    assert await http_fetch(server + "/jwks") == b'{"keys": []}'


async def test_refuses_documents_over_one_mib(server):
    with pytest.raises(OSError, match="larger than"):
        await http_fetch(server + "/huge")


async def test_errors_surface_as_oserror(server):
    with pytest.raises(OSError):
        await http_fetch(server + "/missing")
    with pytest.raises(OSError):
        await http_fetch(server + "/to-ftp")


async def test_refuses_non_http_urls():
    with pytest.raises(OSError, match="non-HTTP"):
        await http_fetch("file:///etc/passwd")


def test_redirects_never_downgrade_https():
    handler = _SameSchemeRedirects()
    request = urllib.request.Request("https://idp.example.test/jwks")
    with pytest.raises(urllib.error.HTTPError, match="another scheme"):
        handler.redirect_request(request, None, 302, "Found", {}, "http://idp.example.test/jwks")
    followed = handler.redirect_request(request, None, 302, "Found", {}, "https://keys.example.test/jwks")
    assert followed is not None and followed.full_url == "https://keys.example.test/jwks"
