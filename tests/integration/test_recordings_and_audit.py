"""Every session leaves a playable recording and closed audit rows; `bastion audit verify` checks both."""

from __future__ import annotations

import json
import subprocess

import pytest

from bastion.recording.asciicast import parse

pytestmark = pytest.mark.slow


def bastion(gw, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bastion", "-c", str(gw.config_path), *args], capture_output=True, text=True,
                          timeout=60)


def test_recordings_play_with_asciinema_and_match_the_output(gateway):
    gateway.ssh("printf 'h\\303\\251llo w\\303\\266rld\\n'; head -c 3000 /dev/urandom")
    gateway.ssh("printf 'second session\\n'")
    casts = gateway.recordings()
    assert len(casts) == 2
    for cast in casts:
        assert cast.relative_to(gateway.workdir / "recordings").parts[0].isdigit()  # YYYY/MM/DD/<id>.cast
        cat = subprocess.run(["asciinema", "cat", str(cast)], capture_output=True, timeout=30)
        assert cat.returncode == 0, cat.stderr
        play = subprocess.run(["asciinema", "play", "-s", "100", str(cast)], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=30)
        assert play.returncode == 0, play.stderr
    texts = []
    for cast in casts:
        _, events = parse(cast.read_bytes().splitlines(keepends=True))
        texts.append("".join(d for _, c, d in events if c == "o"))
    assert any("héllo wörld" in text for text in texts)
    assert any("second session" in text for text in texts)


def test_sessions_cli_answers_who_ran_what(gateway):
    gateway.ssh("exit 4")
    listing = bastion(gateway, "sessions")
    assert listing.returncode == 0, listing.stderr
    assert "alice" in listing.stdout and "web-1" in listing.stdout and "exit 4" in listing.stdout
    row = json.loads(bastion(gateway, "sessions", "--json").stdout.splitlines()[0])
    assert row["user"] == "alice" and row["exit_status"] == 4 and row["status"] == "closed"
    assert row["auth_method"] == "publickey" and row["account"] == gateway.sshd.account
    assert row["bytes_out"] == 0 and len(row["recording_sha256"]) == 64
    shown = bastion(gateway, "sessions", "show", row["id"])
    assert shown.returncode == 0
    assert "exit 4" in shown.stdout and "asciinema play" in shown.stdout
    missing = bastion(gateway, "sessions", "show", "nope")
    assert missing.returncode == 1 and "no session nope" in missing.stderr


def test_audit_verify_passes_then_detects_an_altered_recording(gateway):
    gateway.ssh("echo recorded")
    ok = bastion(gateway, "audit", "verify")
    assert (ok.returncode, ok.stdout.strip()) == (0, "audit verify: ok")
    cast = gateway.recordings()[0]
    data = cast.read_bytes().replace(b"recorded", b"rewrite!")
    cast.write_bytes(data)
    bad = bastion(gateway, "audit", "verify")
    assert bad.returncode == 1
    assert cast.name.removesuffix(".cast") in bad.stderr


@pytest.mark.parametrize("strict", [True, False])
def test_a_recording_that_cannot_be_created_stops_the_command_when_strict(make_gateway, tmp_path, strict):
    """The file is created off the event loop, but still before anything runs on the target."""
    import datetime as dt
    import sqlite3

    gw = make_gateway(extra_config={"recording": {"strict": strict}})
    year = dt.datetime.now(dt.timezone.utc).strftime("%Y")
    (gw.workdir / "recordings").mkdir(exist_ok=True)
    (gw.workdir / "recordings" / year).write_text("a file where the year's directory should be")
    marker = tmp_path / "ran"
    result = gw.ssh(f"echo ran; touch {marker}")
    rows = sqlite3.connect(gw.workdir / "state" / "bastion.sqlite3").execute(
        "SELECT status, recording_path, error FROM sessions").fetchall()
    if strict:
        assert result.returncode == 255
        assert b"recording unavailable; session refused" in result.stderr
        assert result.stdout == b"" and not marker.exists()  # nothing ran on the target
        assert rows == [("failed", None, rows[0][2])] and "recording failed" in rows[0][2]
    else:
        assert result.stdout == b"ran\n"  # (the target account may not write to tmp_path)
        assert rows == [("closed", None, None)]
