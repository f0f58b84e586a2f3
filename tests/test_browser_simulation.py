"""The scheme simulation page in a real browser against ``ncms serve`` of the demo province: the
auditor types one candidate and uploads another, simulates 开阳县's 2011, and reads the figures
``simulate`` computes for the same inputs, side by side with the balance rules and two charts
drawn; the PDF of the same form downloads. Screenshots under NCMS_SCREENSHOTS (docs/screenshots:
simulation-zh.png, and simulation-pdf.png, the PDF's first page)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ncms.db import create_engine, session_scope
from ncms.simulation import CURRENT, read_candidates, simulate

from .test_browser import SHOTS, no_serious_accessibility_violations, page, server, shoot, sign_in  # noqa: F401
from .test_simulation import EXAMPLE
from .test_web_simulation import candidate_text

# config/candidate-scheme.example.yaml's two candidates, each on its own (comments left out)
FIRST, SECOND = "\n".join(line for line in EXAMPLE.read_text(encoding="utf-8").splitlines()
                          if not line.lstrip().startswith("#")).split("  - name: ")[1:]

pytestmark = pytest.mark.browser


def test_the_auditor_compares_two_candidates(server, page, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(settings.database_url)
    with session_scope(engine) as s:
        (expected,) = simulate(s, ["520121"], 2011, read_candidates(EXAMPLE))
    A, B = (c.name for c in read_candidates(EXAMPLE))
    engine.dispose()

    sign_in(page, server, "auditor")
    page.goto(server + "simulation/?lang=zh_Hans_CN")
    assert page.locator("h1").inner_text() == "补偿方案测算"
    assert page.locator("nav.menu a[aria-current=page]").inner_text() == "方案测算"
    page.locator("#s-county").select_option("520121")
    assert page.locator("#s-year").input_value() == "2011"  # the newest year with a scheme and claims
    page.locator("#s-text-1").fill(candidate_text(FIRST))
    upload = tmp_path / "candidate-2.yaml"
    upload.write_text(candidate_text(SECOND), encoding="utf-8")
    page.locator("#s-file-2").set_input_files(str(upload))
    page.locator("#simulate").click()
    page.wait_for_load_state()

    table = page.locator("#comparison-520121")
    assert table.locator("thead th").all_inner_texts()[1:] == ["现行方案", A, B]
    for key, get in [("compensation", lambda o: f"{o.compensation:,.2f}"),
                     ("cumulative_surplus", lambda o: f"{o.cumulative_surplus:,.2f}"),
                     ("fund_usage_rate", lambda o: f"{o.fund_usage_rate:.2%}"),
                     ("members_at_cap", lambda o: str(o.members_at_cap))]:
        cells = table.locator(f'tr[data-figure="{key}"] td').all_inner_texts()
        assert cells == [get(expected.outcomes[n]) for n in (CURRENT, A, B)], key
    checks = table.locator('tr[data-figure="check_deficit"] td .tag').all_inner_texts()
    assert checks == ["通过" if expected.outcomes[n].checks[2].passed else "未通过" for n in (CURRENT, A, B)]
    assert page.locator("#s-text-2").input_value() == candidate_text(SECOND)  # the file kept for the exports
    page.wait_for_selector(".simulation-result .chart[data-chart-drawn]")
    assert page.locator(".simulation-result .chart[data-chart-drawn]").count() == 2
    shoot(page, tmp_path, "simulation-zh")
    no_serious_accessibility_violations(page, server)

    with page.expect_download() as download:
        page.locator("#export-pdf").click()
    pdf = tmp_path / "simulation.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert f"{expected.outcomes[A].compensation:,.2f}" in text
    if SHOTS and shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                        str(Path(SHOTS) / "simulation-pdf")], check=True)
    with page.expect_download() as download:
        page.locator("#export-xlsx").click()
    assert download.value.suggested_filename.endswith("-520121-2011.xlsx")
