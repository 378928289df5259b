"""A throw-away real OpenSSH sshd on 127.0.0.1, with keys generated for the test run.

When the tests run as root (CI), the target account is a dedicated unprivileged user with /bin/sh
(created once), so the target's shell start-up is plain and the gateway never logs in as root.
Otherwise the current user is the target account.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncssh

TARGET_ACCOUNT = "bastiontgt"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_private_key(path: Path, key: asyncssh.SSHKey) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.export_private_key())
    path.with_name(path.name + ".pub").write_bytes(key.export_public_key())
    return path


def ensure_target_account() -> str:
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam(TARGET_ACCOUNT)
    except KeyError:
        # '*' (not '!') as the password: no password login, but the account is not "locked", which
        # sshd without PAM would refuse even for key logins.
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", "--password", "*", TARGET_ACCOUNT],
                       check=True, capture_output=True)
    return TARGET_ACCOUNT


@dataclass
class Sshd:
    host: str
    port: int
    account: str
    host_key: asyncssh.SSHKey          # the target's real host key (pin this)
    client_key_path: Path              # a private key the target accepts for `account`
    workdir: Path
    process: subprocess.Popen

    @property
    def host_key_line(self) -> str:
        return self.host_key.export_public_key().decode().strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_sshd(max_sessions: int = 10) -> Sshd:
    if not Path(SSHD).exists():
        raise RuntimeError("OpenSSH sshd is not installed (apt-get install openssh-server)")
    account = ensure_target_account()
    # World-readable directory: sshd reads authorized_keys as the target account.
    workdir = Path(tempfile.mkdtemp(prefix="bastion-sshd-"))
    workdir.chmod(0o755)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    write_private_key(workdir / "host_ed25519", host_key)
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key_path = write_private_key(workdir / "client_ed25519", client_key)
    auth = workdir / "authorized_keys"
    auth.write_bytes(client_key.export_public_key())
    auth.chmod(0o644)
    Path("/run/sshd").mkdir(exist_ok=True)
    port = free_port()
    config = workdir / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {workdir / 'host_ed25519'}\n"
        f"PidFile {workdir / 'sshd.pid'}\nAuthorizedKeysFile {auth}\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\nAllowTcpForwarding no\nX11Forwarding no\n"
        f"MaxSessions {max_sessions}\nMaxStartups 200:30:400\nLogLevel ERROR\nPrintMotd no\n"
        "AcceptEnv LANG LC_* TERM BASTION_*\nSubsystem sftp internal-sftp\n"
    )
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                               stderr=open(workdir / "sshd.log", "wb"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {(workdir / 'sshd.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError("sshd did not start listening")
    return Sshd("127.0.0.1", port, account, host_key.convert_to_public(), client_key_path, workdir, process)
