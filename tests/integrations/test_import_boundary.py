"""The gateway never imports the agent-framework integrations (they are an optional extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gateway_modules_do_not_import_the_integration():
    probe = (
        "import sys\n"
        "import bastion.service, bastion.gateway, bastion.cli\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('autogen', 'bastion.integrations.')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_pure_parts_import_without_autogen():
    probe = (
        "import sys\n"
        "sys.modules['autogen_core'] = None  # make any import of it fail\n"
        "import bastion.integrations.notices, bastion.integrations.commands\n"
        "import bastion.integrations.connection, bastion.integrations.runner\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr
