"""A gateway killed with SIGKILL mid-session: the next start marks the session interrupted, repairs its
recording, and the file plays in asciinema and verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from bastion.audit import verify
from bastion.clock import FakeClock
from bastion.recording.asciicast import parse
from bastion.store.db import Store
from bastion.store.sessions import get_session, mark_interrupted
from tests.recording.asciinema_check import ASCIINEMA, asciinema_cat, asciinema_play

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from bastion.clock import SystemClock
    from bastion.recording.recorder import Recorder, recording_path
    from bastion.store.db import Store
    from bastion.store.sessions import start_session

    root, db = Path(sys.argv[1]), Path(sys.argv[2])
    clock = SystemClock()
    store = Store.open(db, clock=clock)
    started = clock.now()
    path = recording_path(root, "crash-1", started)
    start_session(store, id="crash-1", user="alice", auth_method="publickey", client_addr="127.0.0.1:1",
                  target="web-1", account="deploy", kind="shell", command=None, started_at=started,
                  recording_path=str(path.relative_to(root)))
    rec = Recorder.open(path, width=80, height=24, started_at=started, command=None, title="alice on web-1",
                        env={"TERM": "xterm"}, clock=clock)
    rec.output("last words: é\\r\\n".encode())
    rec.flush()
    rec.output(b"lost in the buffer")  # never flushed: a crash loses at most one flush interval
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_restart_after_kill_9(tmp_path: Path) -> None:
    root, db = tmp_path / "recordings", tmp_path / "audit.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.run([sys.executable, "-c", CHILD, str(root), str(db)], env=env, cwd=REPO,
                           capture_output=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()

    store = Store.open(db, clock=FakeClock())
    assert mark_interrupted(store, at=store.clock.now(), recordings_root=root) == ["crash-1"]
    row = get_session(store, "crash-1")
    assert row is not None and row["status"] == "interrupted" and row["recording_sha256"]
    path = root / row["recording_path"]
    with open(path, "rb") as f:
        _, events = parse(f)
    assert [(c, d) for _, c, d in events] == [("o", "last words: é\r\n"), ("m", "session interrupted")]
    if ASCIINEMA:
        assert asciinema_cat(path) == "last words: é\r\n".encode()
        asciinema_play(path)
    report = verify(store, root)
    assert report.ok, report.problems
    store.close()
