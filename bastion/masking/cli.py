"""`bastion mask`: stream stdin through the masker exactly as the gateway does.

Reads whatever the pipe delivers (os.read on fd 0), writes what the masker releases at once, calls
`release_idle()` after the profile's idle time without input, and `finish()` at EOF. `--explain` prints
one `detector offset length` line per hit on stderr (never the secret).
"""

from __future__ import annotations

import os
import selectors
import stat
import sys
from pathlib import Path

import click
import yaml

from bastion.errors import MaskingConfigError, MaskingError
from bastion.masking.profiles import ProfileSet, build_profiles
from bastion.masking.stream import MaskHit, StreamMasker


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of each top-level key (for file:line errors)."""


def load_policy_masking(directory: Path) -> ProfileSet:
    """Profiles from the `masking:` sections of the `*.yaml` files in `directory`."""
    sections = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except (OSError, yaml.YAMLError) as exc:
            raise MaskingConfigError(f"{path}: cannot read policy file: {exc}") from exc
        if not isinstance(data, dict) or "masking" not in data:
            continue
        line = 1
        if node is not None and isinstance(node, yaml.MappingNode):
            for key, _value in node.value:
                if key.value == "masking":
                    line = key.start_mark.line + 1
        sections.append((str(path), line, data["masking"]))
    return build_profiles(sections)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


@click.command("mask")
@click.option("--profile", "profile_name", default=None, help="Masking profile name (default: the default profile).")
@click.option("--policy-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Read masking profiles from the masking: sections of *.yaml policy files here.")
@click.option("--explain", is_flag=True, help="List hits (detector, offset, length) on stderr.")
def mask(profile_name: str | None, policy_dir: Path | None, explain: bool) -> None:
    """Mask secrets in stdin and write the result to stdout, streaming, as the gateway does."""
    try:
        profiles = load_policy_masking(policy_dir) if policy_dir else build_profiles([])
        profile = profiles.get(profile_name) if profile_name else profiles.default()
    except MaskingConfigError as exc:
        raise click.ClickException(str(exc)) from exc

    def on_hit(hit: MaskHit) -> None:
        if explain:
            sys.stderr.write(f"{hit.detector} {hit.offset} {hit.length}\n")
            sys.stderr.flush()

    masker = StreamMasker(profile, on_hit=on_hit)
    fd_in, fd_out = sys.stdin.fileno(), sys.stdout.fileno()
    sys.stdout.flush()
    sel = selectors.DefaultSelector()
    # A regular file (`bastion mask < file`) is always readable and epoll refuses it: no idle waits there.
    waits = not stat.S_ISREG(os.fstat(fd_in).st_mode)
    if waits:
        sel.register(fd_in, selectors.EVENT_READ)
    try:
        while True:
            timeout = masker.idle_release if masker.held else None
            if waits and not sel.select(timeout):
                _write_all(fd_out, masker.release_idle())
                continue
            chunk = os.read(fd_in, 65536)
            if not chunk:
                break
            _write_all(fd_out, masker.feed(chunk))
        _write_all(fd_out, masker.finish())
    except MaskingError as exc:
        raise click.ClickException(f"output stopped: {exc}") from exc
    except BrokenPipeError:
        pass
    finally:
        sel.close()


def main() -> None:  # pragma: no cover - `python -m bastion.masking.cli`
    mask()


if __name__ == "__main__":  # pragma: no cover
    main()
