"""Import boundaries: bastion never imports textual; the TUI never imports the gateway."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The pure modules of bastion the TUI may use.
ALLOWED = {"bastion.clock", "bastion.errors", "bastion.recording.asciicast"}


def test_bastion_does_not_import_textual():
    code = ("import sys, pkgutil, importlib, bastion\n"
            "for m in pkgutil.walk_packages(bastion.__path__, 'bastion.'):\n"
            "    if m.name.endswith('__main__'): continue\n"
            "    try: importlib.import_module(m.name)\n"
            "    except Exception: pass\n"
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_tui_imports_only_pure_bastion_modules():
    used: set[str] = set()
    for path in (ROOT / "tui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bastion"):
                used.add(node.module)
            elif isinstance(node, ast.Import):
                used.update(a.name for a in node.names if a.name.startswith("bastion"))
    assert used <= ALLOWED, used - ALLOWED
