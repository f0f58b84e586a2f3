"""``ncms report build`` and ``ncms report list`` through the real command (found by its entry
point), on SQLite and PostgreSQL: each build a new revision with its PDF, statistics, manifest
and package; a refusal is one line."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile

import pytest

from ncms.db import session_scope

from .test_indicators import A, _province


@pytest.fixture
def province(engine):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        _province(session)
    return engine


def test_build_makes_a_revision_with_its_files(cli, province, settings) -> None:  # type: ignore[no-untyped-def]
    done = cli("report", "build", "--kind", "quarterly", "--period", "2011-Q2")
    assert done.exit_code == 0, done.output
    assert "built quarterly report 2011-Q2 of the province (zh), revision 1" in done.output
    folder = settings.reports_dir / "quarterly/2011-Q2/province/zh/r1"
    pdf = folder / "ncms-520000-quarterly-2011-Q2-zh.pdf"
    assert pdf.is_file() and pdf.read_bytes()[:5] == b"%PDF-"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    names = {f["name"] for f in manifest["files"]}
    assert {pdf.name, "enrolment.csv", "enrolment.xml", "supervision_by_rule_520122.csv"} <= names
    package = next(folder.glob("ncms-520000-quarterly-2011-Q2-zh-r1-*.zip"))
    with zipfile.ZipFile(package) as zf:
        assert {pdf.name, "manifest.json"} <= set(zf.namelist())
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "贵州省新型农村合作医疗运行情况季度报告" in text and "2011年第二季度" in text

    again = cli("report", "build", "--kind", "quarterly", "--period", "2011-Q2")
    assert again.exit_code == 0, again.output
    assert re.search(r"revision 2, superseding run \d+", again.output)
    assert (settings.reports_dir / "quarterly/2011-Q2/province/zh/r2" / pdf.name).is_file()

    county = cli("report", "build", "--kind", "annual", "--period", "2011", "--county", A, "--lang", "en")
    assert county.exit_code == 0, county.output
    assert (settings.reports_dir / f"annual/2011/{A}/en/r1/ncms-{A}-annual-2011-en.pdf").is_file()

    listed = cli("report", "list")
    assert listed.exit_code == 0, listed.output
    lines = [line.split() for line in listed.output.splitlines()[1:]]
    assert [(line[1], line[2], line[3], line[4], line[5], line[6]) for line in lines] == [  # the latest period first
        ("quarterly", "2011-Q2", "province", "zh", "r2", "done"),
        ("quarterly", "2011-Q2", "province", "zh", "r1", "done"),
        ("annual", "2011", A, "en", "r1", "done")]
    only = cli("report", "list", "--kind", "annual")
    assert len(only.output.splitlines()) == 2


@pytest.mark.parametrize("args, message", [
    (["--kind", "quarterly", "--period", "2011-07"], "a quarterly report is for a quarter"),
    (["--kind", "annual", "--period", "2011-Q5"], "--period: '2011-Q5' is not a period"),
    (["--kind", "annual", "--period", "2011", "--county", "999999"], "999999"),
])
def test_a_report_that_cannot_be_is_refused_in_one_line(  # type: ignore[no-untyped-def]
        cli, province, args, message) -> None:
    done = cli("report", "build", *args)
    assert done.exit_code != 0
    assert message in done.output and "Traceback" not in done.output


def test_list_says_how_to_build_when_nothing_is(cli, engine) -> None:  # type: ignore[no-untyped-def]
    done = cli("report", "list")
    assert done.exit_code == 0 and "ncms report build --kind quarterly" in done.output
