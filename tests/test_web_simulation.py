"""The scheme simulation page and its exports (docs/simulation.md, "The page"): who may simulate
which county, a candidate that cannot be read said next to its box, and the figures of the page,
the PDF and the workbook those ``simulate`` computes for the same inputs (the hand-computed
county of tests/test_simulation.py). SQLite and PostgreSQL."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from ncms.simulation import CURRENT, parse_candidates_text, simulate

from .test_simulation import CANDIDATES, A, B, county  # noqa: F401 - fixture: 开阳县 2015, twelve claims
from .webauth import OTHER_COUNTY, add_accounts, csrf_token, sign_in

FIRST, SECOND = CANDIDATES.split("  - name: ")[1:]  # the two candidates, one per box


def candidate_text(block: str) -> str:
    """One candidate of CANDIDATES as a file of its own (one named scheme, not a list)."""
    lines = ("name: " + block).splitlines()
    return "\n".join([lines[0], *(line[4:] for line in lines[1:])]) + "\n"


@pytest.fixture
def simulated(app, loaded_engine, county: Session):  # type: ignore[no-untyped-def]
    county.commit()  # the page reads through its own connection
    add_accounts(loaded_engine)
    return county


def signed_in_as(app, name: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert sign_in(client, name).status_code == 302
    return client


def post(client, url: str = "/simulation/", **fields):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/simulation/").get_data(as_text=True))
    data = {"csrf_token": token, "county": "520121", "base_year": "2015", "per_head": "", "growth": "",
            "text_1": candidate_text(FIRST), "text_2": candidate_text(SECOND), **fields}
    return client.post(url, data=data, content_type="multipart/form-data")


def figures(html: str, county: str, key: str) -> list[str]:
    row = re.search(rf'<table class="data comparison" id="comparison-{county}">.*?<tr data-figure="{key}"[^>]*>(.*?)</tr>',
                    html, re.S)
    assert row, f"no row {key}"
    return [re.sub(r"<[^>]+>|\s+", " ", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def test_the_candidates_read_as_the_command_reads_them() -> None:
    assert [c.name for c in parse_candidates_text(candidate_text(FIRST))] == [A]
    assert [c.name for c in parse_candidates_text(candidate_text(SECOND))] == [B]


def test_who_may_simulate_which_county(app, simulated) -> None:  # type: ignore[no-untyped-def]
    assert signed_in_as(app, "ministry").get("/simulation/").status_code == 403
    officer = signed_in_as(app, "officer")
    page = officer.get("/simulation/").get_data(as_text=True)
    assert f'value="{OTHER_COUNTY}"' not in page and 'value=""' not in page.split('id="s-county"')[1].split("</select>")[0]
    assert officer.get(f"/simulation/?county={OTHER_COUNTY}").status_code == 404
    assert post(officer, county=OTHER_COUNTY).status_code == 404  # another county: not found
    assert post(officer, "/simulation/export.pdf", county=OTHER_COUNTY).status_code == 404
    assert post(officer, "/simulation/export.xlsx", county=OTHER_COUNTY).status_code == 404
    assert post(officer, county="").status_code == 200  # their own county (no data of theirs here)
    anonymous = app.test_client().get("/simulation/")
    assert anonymous.status_code == 302 and "/sign-in" in anonymous.headers["Location"]


def test_a_candidate_that_cannot_be_read_is_said_next_to_its_box(app, simulated) -> None:  # type: ignore[no-untyped-def]
    auditor = signed_in_as(app, "auditor")
    bad = candidate_text(SECOND).replace('ratio: "0.45"', 'ratio: "1.45"')
    html = post(auditor, text_2=bad).get_data(as_text=True)
    box = html.split('id="candidate-2"')[1].split("</fieldset>")[0]
    assert 'class="field-error"' in box and "inpatient.municipal.ratio must be in (0, 1]" in box
    assert "候选方案无法读取" in box  # the page's language: Chinese by default
    assert 'class="field-error"' not in html.split('id="candidate-1"')[1].split("</fieldset>")[0]
    assert 'id="comparison-520121"' not in html
    english = post(auditor, "/simulation/?lang=en", text_1="name: x\nannual_cap: [", text_2="").get_data(as_text=True)
    assert "This candidate cannot be read" in english and "not valid YAML" in english
    none = post(auditor, "/simulation/?lang=zh_Hans_CN", text_1="", text_2="").get_data(as_text=True)
    assert "至少填写一个候选方案" in none.split('id="candidate-1"')[1].split("</fieldset>")[0]


def test_the_page_shows_what_simulate_computes(app, simulated) -> None:  # type: ignore[no-untyped-def]
    (r,) = simulate(simulated, ["520121"], 2015, parse_candidates_text(CANDIDATES), per_head_financing=Decimal("1100"),
                    growth=Decimal("0.05"))
    html = post(signed_in_as(app, "auditor"), "/simulation/?lang=en", per_head="1100", growth="5%").get_data(as_text=True)
    names = [CURRENT, A, B]
    for key, get in [("compensation", lambda o: f"{o.compensation:,.2f}"),
                     ("projected_expenditure", lambda o: f"{o.projected_expenditure:,.2f}"),
                     ("surplus", lambda o: f"{o.surplus:,.2f}"),
                     ("cumulative_surplus", lambda o: f"{o.cumulative_surplus:,.2f}"),
                     ("members_at_cap", lambda o: str(o.members_at_cap)),
                     ("fund_usage_rate", lambda o: f"{o.fund_usage_rate:.2%}")]:
        assert figures(html, "520121", key) == [get(r.outcomes[n]) for n in names], key
    for i, check in enumerate(r.outcomes[CURRENT].checks):
        cells = figures(html, "520121", f"check_{check.code}")
        assert [c.split()[0] for c in cells] == ["pass" if r.outcomes[n].checks[i].passed else "fail" for n in names]
    assert f"{r.next_financing:,.2f}" in html and "Growth assumed: 5.00% (given)" in html
    assert html.count('data-chart="') == 2 and "export.pdf" in html and "export.xlsx" in html
    for m in r.affected:
        assert m.member_no in html and m.name in html


def test_the_exports_hold_the_figures_of_the_page(app, simulated, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import openpyxl

    (r,) = simulate(simulated, ["520121"], 2015, parse_candidates_text(CANDIDATES))
    auditor = signed_in_as(app, "auditor")
    pdf = post(auditor, "/simulation/export.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"
    if shutil.which("pdftotext"):
        (tmp_path / "s.pdf").write_bytes(pdf.data)
        text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "s.pdf"), "-"], capture_output=True,
                              text=True, check=True).stdout
        assert "开阳县" in text and "补偿方案测算" in text
        for name in (CURRENT, A, B):
            o = r.outcomes[name]
            assert f"{o.compensation:,.2f}" in text and f"{o.cumulative_surplus:,.2f}" in text
    workbook = post(auditor, "/simulation/export.xlsx?lang=en")
    assert workbook.status_code == 200 and workbook.data[:2] == b"PK"
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.data))["Comparison"]
    table = {row[0].strip(): row[1:] for row in sheet.iter_rows(min_row=3, values_only=True) if row[0]}
    assert list(sheet.iter_rows(min_row=2, max_row=2, values_only=True))[0][1:4] == ("Current scheme", A, B)
    assert [Decimal(str(v)).quantize(Decimal("0.01")) for v in table["Compensation of the base year's claims"][:3]] \
        == [r.outcomes[n].compensation for n in (CURRENT, A, B)]
    assert list(table["Members reaching the annual cap"][:3]) == [r.outcomes[n].members_at_cap for n in (CURRENT, A, B)]
    assert [round(v, 4) for v in table["Fund usage rate"][:3]] == \
        [float(r.outcomes[n].fund_usage_rate) for n in (CURRENT, A, B)]


def test_a_candidate_named_like_a_formula_stays_text(app, simulated) -> None:  # type: ignore[no-untyped-def]
    import openpyxl

    text = candidate_text(FIRST).replace(f"name: {A}", 'name: "=HYPERLINK(1)"')
    workbook = post(signed_in_as(app, "auditor"), "/simulation/export.xlsx", text_1=text)
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.data)).worksheets[0]
    assert "'=HYPERLINK(1)" in [c for row in sheet.iter_rows(values_only=True) for c in row]


def test_every_county_at_once(app, simulated) -> None:  # type: ignore[no-untyped-def]
    results = simulate(simulated, None, 2015, parse_candidates_text(CANDIDATES))
    auditor = signed_in_as(app, "auditor")
    html = post(auditor, "/simulation/?lang=en", county="").get_data(as_text=True)
    assert re.findall(r'<section class="simulation-result" id="result-(\d+)"', html) == [r.county_code for r in results]
    for r in results:
        assert figures(html, r.county_code, "compensation") == [f"{o.compensation:,.2f}" for o in r.outcomes.values()]
    workbook = post(auditor, "/simulation/export.xlsx", county="")
    assert "filename*=UTF-8''scheme-simulation-province-2015.xlsx" in workbook.headers["Content-Disposition"]
