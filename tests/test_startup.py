"""Start-up of the ``ncms`` command: each command imports what it needs and no more.

Every command used to import scikit-learn, polars and pyarrow before parsing its arguments
(2.5 s for ``ncms --help``, 6.6 s under load). These tests run the command in a child process,
as an operator or a DAG task would, and check the names of the modules it loaded: a check on
what is imported, not on time, so a busy machine cannot fail or pass it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import ROOT
from .packages import county_database

# The child runs the real command, then lists every module it loaded (even when click exits).
CHILD = """
import sys
from ncms.cli import main
try:
    main(sys.argv[1:], prog_name="ncms")
finally:
    print("MODULES " + " ".join(sorted(sys.modules)), file=sys.stderr)
"""

NEVER = ("sklearn", "scipy", "flask", "weasyprint")  # not for any command that does not use them
NOT_FOR_HELP = (*NEVER, "polars", "pyarrow", "numpy", "paramiko")

COMMANDS = ["db", "users", "tokens", "ingest", "etl", "monitor", "findings", "indicators", "scheme", "synth", "demo", "serve",
            "doctor", "report"]  # report: reports.cli's, found through the ncms.commands entry point


def ncms(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``ncms ARGS`` in a child process: the finished process and the top-level packages it imported."""
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300)
    listed = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")]
    assert listed, f"ncms {' '.join(args)} listed no modules:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done, {name.split(".")[0] for name in listed[-1].split()[1:]}


def test_every_command_is_listed_by_the_help() -> None:
    done, _ = ncms("--help")
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)


@pytest.mark.parametrize("args", [["--help"], *[[command, "--help"] for command in COMMANDS],
                                  ["ingest", "status", "--help"], ["monitor", "run", "--help"],
                                  ["findings", "list", "--help"], ["findings", "export", "--help"],
                                  ["report", "build", "--help"], ["report", "list", "--help"]],
                         ids=lambda args: " ".join(args))
def test_help_imports_no_heavy_library(args: list[str]) -> None:
    done, imported = ncms(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Usage: ncms" in done.stdout
    assert sorted(imported & set(NOT_FOR_HELP)) == []


def test_etl_of_a_county_imports_no_model_nor_web_library(settings, loaded_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``ncms etl COUNTY`` as the DAG's task and the operator run it: an extraction, then a run
    with nothing new, on the provincial database of this test."""
    county = "520121"
    source = f"sqlite:///{tmp_path / f'{county}.db'}"
    county_database(source, county, seed=3, claims=300)
    base = ["--data-dir", str(settings.data_dir), "--database-url", settings.database_url,
            "--config-dir", str(settings.config_dir)]
    env = {f"NCMS_SOURCE_{county}": source}

    for expected in (" 0 refused", "0 batch(es), 0 rows read"):  # the extraction, then nothing new
        done, imported = ncms(*base, "etl", county, env=env)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert expected in done.stdout
        assert sorted(imported & set(NEVER)) == []


def test_findings_are_taken_out_without_the_model_nor_polars(settings, loaded_engine) -> None:  # type: ignore[no-untyped-def]
    """``ncms findings list|export`` read rows: no data-frame library, no scikit-learn, not even
    to check a rule's code."""
    base = ["--data-dir", str(settings.data_dir), "--database-url", settings.database_url,
            "--config-dir", str(settings.config_dir)]
    for args in (["list", "--rule", "care_after_death", "--county", "520122"], ["export", "--format", "json"]):
        done, imported = ncms(*base, "findings", *args)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert sorted(imported & {*NEVER, "polars", "pyarrow"}) == []
