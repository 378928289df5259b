"""Which files a downloader writes what it fetched to."""

from __future__ import annotations

import pytest

from bastion.policy.downloads import written_files


@pytest.mark.parametrize("program, args, redirects, expected", [
    ("curl", ["-o", "/tmp/a", "https://x/i"], [], ["/tmp/a"]),
    ("curl", ["--output=/tmp/a", "https://x/i"], [], ["/tmp/a"]),
    ("curl", ["-sSLo", "/tmp/a", "https://x/i"], [], ["/tmp/a"]),
    ("curl", ["-o/tmp/a", "https://x/i"], [], ["/tmp/a"]),
    ("curl", ["-sO", "https://x/dir/i.sh?v=1"], [], ["i.sh"]),
    ("curl", ["-s", "https://x/i"], ["/tmp/out"], ["/tmp/out"]),
    ("curl", ["-s", "https://x/i"], ["/dev/null"], []),
    ("wget", ["https://x/dir/setup.sh"], [], ["setup.sh"]),
    ("wget", ["https://x/"], [], ["index.html"]),
    ("wget", ["-qO/tmp/a", "https://x/i"], [], ["/tmp/a"]),
    ("wget", ["-qO-", "https://x/i"], [], []),
    ("wget", ["--output-document=/tmp/a", "https://x/i"], [], ["/tmp/a"]),
    ("scp", ["host:run.sh", "/tmp/"], [], ["/tmp/", "/tmp/run.sh"]),
    ("scp", ["/local/x", "host:/remote/"], [], []),
    ("rsync", ["-a", "host:/srv/app/deploy.sh", "deploy.sh"], [], ["deploy.sh", "deploy.sh/deploy.sh"]),
    ("ls", ["-o", "x"], [], []),
])
def test_written_files(program: str, args: list[str], redirects: list[str], expected: list[str]) -> None:
    assert written_files(program, args, redirects) == expected
