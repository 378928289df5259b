"""The policy set in force, with reload that never leaves the gateway without a policy.

`PolicyHolder.reload()` loads the directory again: on success the new set replaces the old one and
`policy.loaded` is reported; on any error the previous set stays in force and `policy.reload_failed`
is reported with every `file:line: reason`. `watch()` polls file names, mtimes and sizes (hot reload);
SIGHUP wiring belongs to the caller, which just calls `reload()`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

from bastion.errors import PolicyLoadError
from bastion.policy.evaluate import PolicySet, load_policy_set
from bastion.policy.parse import policy_files

EventSink = Callable[[str, dict], None]


class PolicyHolder:
    """Holds the current `PolicySet` for one policy directory."""

    def __init__(self, directory: Path, on_event: EventSink) -> None:
        self.directory = Path(directory)
        self._on_event = on_event
        self._current: PolicySet = PolicySet.empty(f"no policy loaded yet ({self.directory})")
        self._fingerprint: tuple = ()
        self._loaded_once = False
        self.reload()

    @property
    def current(self) -> PolicySet:
        return self._current

    def _stat(self) -> tuple:
        out = []
        for path in policy_files(self.directory):
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((path.name, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def reload(self) -> bool:
        """Load the directory again; keep the old set on error. True when the new set is in force."""
        self._fingerprint = self._stat()
        try:
            new = load_policy_set(self.directory)
        except PolicyLoadError as exc:
            if not self._loaded_once:
                # Nothing valid was ever loaded: deny everything, saying why.
                self._current = PolicySet.empty("policy failed to load: " + "; ".join(exc.errors))
            self._on_event("policy.reload_failed", {"errors": list(exc.errors),
                                                    "kept_version": self._current.version})
            return False
        self._current = new
        self._loaded_once = new.empty_reason is None
        self._on_event("policy.loaded", {"version": new.version, "files": list(new.files),
                                         "empty_reason": new.empty_reason})
        return True

    def changed(self) -> bool:
        """Did any policy file appear, disappear or change since the last load?"""
        return self._stat() != self._fingerprint

    async def watch(self, interval: float = 1.0) -> None:
        """Poll for changes forever (cancel the task to stop); reload when something changed."""
        while True:
            await asyncio.sleep(interval)
            if self.changed():
                self.reload()
