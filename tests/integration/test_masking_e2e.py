"""Secrets in target output arrive masked at the real ssh client and in the recording, and hits are audited."""

from __future__ import annotations

import json
import random
import re
import string

import asyncssh
import pytest

from bastion.clock import SystemClock
from bastion.store.audit_events import iter_events
from bastion.store.db import Store

pytestmark = pytest.mark.slow


def _secrets() -> dict[str, str]:
    rng = random.Random()
    upper = string.ascii_uppercase + string.digits
    alnum = string.ascii_letters + string.digits
    pem = asyncssh.generate_private_key("ssh-rsa", key_size=2048).export_private_key("pkcs8-pem").decode()
    return {
        "aws_id": "AKIA" + "".join(rng.choice(upper) for _ in range(16)),
        "aws_secret": "".join(rng.choice(alnum + "/+") for _ in range(40)),
        "github": "ghp_" + "".join(rng.choice(alnum) for _ in range(36)),
        "password": "".join(rng.choice(alnum) for _ in range(18)),
        "pem": pem,
    }


def _mask_hits(gateway) -> list[dict]:
    """The `mask.hit` audit events the gateway wrote, as dicts."""
    store = Store.open(gateway.settings.store_path, clock=SystemClock())
    try:
        return [json.loads(e["data"]) if isinstance(e["data"], str) else e["data"]
                for e in iter_events(store) if e["name"] == "mask.hit"]
    finally:
        store.close()


def test_cat_of_secrets_is_masked_for_the_client_and_the_recording(gateway):
    s = _secrets()
    document = (
        f"[default]\naws_access_key_id = {s['aws_id']}\naws_secret_access_key = {s['aws_secret']}\n"
        f"export GITHUB_TOKEN={s['github']}\nDATABASE_URL=postgres://app:{s['password']}@db:5432/app\n"
        f"{s['pem']}"
        "ordinary log line: request served in 12 ms\n"
    ).encode()
    result = gateway.ssh("cat", input=document)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name, secret in s.items():
        body = secret if name != "pem" else secret.splitlines()[5]
        assert body.encode() not in out, f"{name} leaked to the client"
    assert b"ordinary log line: request served in 12 ms" in out
    assert b"[MASKED:" in out
    cast = gateway.recordings()[0].read_bytes()
    for name, secret in s.items():
        body = secret if name != "pem" else secret.splitlines()[5]
        assert body.encode() not in cast, f"{name} leaked to the recording"
    hits = _mask_hits(gateway)
    assert len(hits) >= 4
    assert all(h["stream"] == "stdout" and len(h["digest"]) == 64 for h in hits)
    assert all(s["aws_secret"] not in json.dumps(h) for h in hits)


def test_output_too_dense_to_mask_at_once_arrives_whole_and_masked_beside_another_session(gateway):
    # ~400 KiB where every line holds secrets: the masker takes it a slice per loop turn with the target
    # paused; all of it still arrives, masked and in order, and another session is served meanwhile.
    rng = random.Random(5)
    alnum = string.ascii_letters + string.digits
    tokens = ["ghp_" + "".join(rng.choice(alnum) for _ in range(36)) for _ in range(5000)]
    document = "".join(f"{i:05d} token={t} password=Zx9{t[4:16]}\n" for i, t in enumerate(tokens)).encode()
    dense = gateway.ssh_args("alice:web-1") + ["cat"]
    import subprocess

    proc = subprocess.Popen(dense, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(document)
    proc.stdin.close()
    other = gateway.ssh("echo still-served")
    out = proc.stdout.read() if proc.stdout is not None else b""
    assert proc.wait(timeout=120) == 0
    assert other.returncode == 0 and other.stdout == b"still-served\n"
    lines = out.splitlines()
    assert len(lines) == len(tokens)
    assert [ln[:5] for ln in lines] == [f"{i:05d}".encode() for i in range(len(tokens))]
    assert not any(t[4:].encode() in out for t in tokens)


def test_output_of_a_secret_printing_command_is_masked_whole(gateway):
    # `openssl rand` prints a bare generated secret: no key or head marks it, the command does
    result = gateway.ssh("openssl rand -hex 24")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"[MASKED:secret-command-output]\n"
    cast = gateway.recordings()[0].read_bytes()
    assert b"[MASKED:secret-command-output]" in cast
    assert re.search(rb"[0-9a-f]{48}", cast) is None
    hits = _mask_hits(gateway)
    assert [(h["detector"], h["stream"], h["length"]) for h in hits] == [("secret-command-output", "stdout", 48)]
    assert len(hits[0]["digest"]) == 64
    # the same secret sent to a file instead is not the session's output: the rest of it is shown
    result = gateway.ssh("openssl rand -hex 24 > /dev/null; echo written")
    assert result.stdout == b"written\n"
