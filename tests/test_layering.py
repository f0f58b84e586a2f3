"""The direction of imports (design: ``ncms`` never imports ``gateway``, ``reports`` or ``dags``):
the console reaches ``reports`` through entry points (``ncms.commands``, ``ncms.reports``), never
by name; checked on the source, and on an interpreter that has loaded the web app and the CLI."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT = re.compile(r"^\s*(?:from|import)\s+(reports|gateway|dags)\b", re.M)


def test_no_module_of_ncms_imports_gateway_reports_or_dags() -> None:
    found = [f"{p.relative_to(ROOT)}: {m.group(0).strip()}" for p in (ROOT / "ncms").rglob("*.py")
             for m in IMPORT.finditer(p.read_text(encoding="utf-8"))]
    assert found == []


def test_the_console_and_the_command_load_without_reports() -> None:
    code = ("import sys; from ncms.config import load_settings; from ncms.web import create_app; "
            "from ncms.cli import main; create_app(load_settings({}, data_dir='/nonexistent-r2'), {}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('reports', 'gateway', 'dags')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
