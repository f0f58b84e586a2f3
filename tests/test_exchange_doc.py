"""docs/exchange-format.md is generated from the schemas; the committed page must be the current one."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ncms.exchange import doc
from ncms.exchange.messages import TEMPLATES
from ncms.exchange.schemas import LOAD_ORDER, RECORD_SCHEMAS

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "exchange-format.md"
REGENERATE = f"run {doc.COMMAND}"


def test_committed_page_is_the_generated_one():
    assert PAGE.read_text(encoding="utf-8") == doc.render(), REGENERATE


def test_the_command_prints_the_page():
    result = subprocess.run([sys.executable, "-m", "ncms.exchange.doc"], cwd=ROOT, capture_output=True, check=True)
    assert result.stdout.decode("utf-8") == PAGE.read_text(encoding="utf-8"), REGENERATE


def test_every_field_rule_and_code_is_on_the_page():
    page = doc.render()
    for record_type in LOAD_ORDER:
        schema = RECORD_SCHEMAS[record_type]
        for name, spec in schema.specs().items():
            assert f"| `{name}` | {'yes' if spec.required else 'no'} | {spec.allowed} |" in page
        for rule in schema.row_rules:
            assert f"`{rule.code}`" in page
    for code in TEMPLATES:
        assert f"| `{code}` |" in page, code


def test_every_package_refusal_is_documented():
    """The codes raised by the reader and the pipeline, read from their source: a new one needs a line."""
    sources = [ROOT / "ncms/exchange/package.py", ROOT / "ncms/ingest/pipeline.py"]
    raised = {code for path in sources if path.exists()
              for code in re.findall(r'PackageError\(\s*"(\w+)"', path.read_text(encoding="utf-8"))}
    assert raised <= set(doc.PACKAGE_REFUSALS), REGENERATE
    assert {"row_count", "wrong_county"} <= set(doc.PACKAGE_REFUSALS)


def test_worked_example_is_valid_and_adds_up():
    manifest, files = doc.example_package()  # raises if screen() refuses a row
    assert set(files) == {"claims.csv", "claim_items.csv"}
    assert '"sequence": 7' in manifest
    records = doc.example_records()
    totals = dict(records["claim"].select("claim_id", "total_amount").iter_rows())
    for claim_id, total in totals.items():
        items = records["claim_item"].filter(claim_id=claim_id)["amount"].cast(float).sum()
        assert round(items, 2) == float(total)
    assert records["claim"].height == 2
