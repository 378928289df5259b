"""Files a download writes, so a later command on the same line that runs one is seen as running the download.

`curl -o /tmp/i.sh URL && sh /tmp/i.sh` is `curl URL | sh` in two steps. `written_files(program, args,
redirects)` lists the paths a downloader writes what it fetched to: its output option (`curl -o F`,
`wget -O F`, `aria2c -o F`), the remote name (`curl -O URL`, plain `wget URL`: the URL's last path part), a
`> F` redirect of its output, and the local destination of `scp`/`rsync`. Pure: no I/O.
"""

from __future__ import annotations

from typing import Iterable
from urllib.parse import urlsplit

# program -> (options whose value is the output file, options that save under the URL's own name)
_OUTPUT_OPTIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "curl": (frozenset({"-o", "--output"}), frozenset({"-O", "--remote-name", "--remote-name-all"})),
    "wget": (frozenset({"-O", "--output-document"}), frozenset()),
    "aria2c": (frozenset({"-o", "--out"}), frozenset()),
    "fetch": (frozenset({"-o", "--output"}), frozenset()),
    "http": (frozenset({"-o", "--output"}), frozenset()),
    "https": (frozenset({"-o", "--output"}), frozenset()),
    "xh": (frozenset({"-o", "--output"}), frozenset()),
    "lwp-download": (frozenset(), frozenset()),
}
DOWNLOADERS = frozenset(_OUTPUT_OPTIONS) | {"scp", "rsync", "tftp", "ftp", "nc", "ncat", "netcat", "socat"}


def written_files(program: str, args: Iterable[str], redirect_targets: Iterable[str]) -> list[str]:
    """Paths `program args > redirect_targets` fills with downloaded content (as written, not normalised)."""
    if program not in DOWNLOADERS:
        return []
    args = list(args)
    out = [t for t in redirect_targets if t and t != "/dev/null"]
    if program in ("scp", "rsync"):
        operands = [a for a in args if not a.startswith("-")]
        if len(operands) >= 2 and ":" not in operands[-1]:
            dest = operands[-1]
            out.append(dest)  # a file, or a directory the sources land in:
            out.extend(dest.rstrip("/") + "/" + src.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
                       for src in operands[:-1])
        return out
    with_value, remote_name = _OUTPUT_OPTIONS.get(program, (frozenset(), frozenset()))
    urls = [a for a in args if "://" in a]
    saves_by_url = program in ("wget", "lwp-download")
    named = False  # an output option names the file (even `-O -`: then nothing is saved by URL)
    for i, a in enumerate(args):
        name, eq, value = a.partition("=")
        if a in with_value and i + 1 < len(args):
            out.append(args[i + 1])
            named = True
        elif eq and name in with_value:
            out.append(value)
            named = True
        elif len(a) > 2 and a[0] == "-" and a[1] != "-" and any("-" + c in with_value for c in a[1:]):
            named = True
            # a cluster of short flags ending in one that takes a value: `-o/tmp/x`, `-qO/tmp/x`, `-sSo` F
            k = next(k for k, c in enumerate(a[1:], 1) if "-" + c in with_value)
            if k + 1 < len(a):
                out.append(a[k + 1:])
            elif i + 1 < len(args):
                out.append(args[i + 1])
        elif a in remote_name or (a.startswith("-") and not a.startswith("--") and "O" in a[1:]
                                  and program == "curl"):
            saves_by_url = True
    if program == "lwp-download" and len(urls) == 1:
        operands = [a for a in args if not a.startswith("-") and "://" not in a]
        if operands:
            return out + operands[-1:]
    if saves_by_url and not named:
        out.extend(_remote_name(u) for u in urls)
    return [p for p in out if p and p != "-"]


def _remote_name(url: str) -> str:
    path = urlsplit(url).path
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name or "index.html"
