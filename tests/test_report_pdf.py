"""The report's PDF read back with poppler (pdftotext, pdffonts, pdfimages): the figures of
every table printed as the content holds them, no missing glyph (every character of the text is
in the one embedded typeface, Noto Sans CJK SC), the period and page numbers in every footer, a
long table's header repeated on each page it spans, charts drawn as vectors; in Chinese and
English, on SQLite and PostgreSQL."""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from ncms.reference import read_province
from reports.content import ReportContent, build_content
from reports.pdf import Layout, money, percent, render_pdf

from .conftest import CONFIG_DIR
from .test_indicators import A, B, _province
from .test_report_content import review_and_packages

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                reason="poppler-utils not installed (make system-packages)")
NOTO = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def pdftotext(pdf: Path, *, page: int | None = None, layout: bool = True) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", *(["-layout"] if layout else []), *pages, str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


@cache
def noto_sc_cmap() -> frozenset[int]:
    from fontTools.ttLib import TTCollection

    for font in TTCollection(str(NOTO)).fonts:
        if font["name"].getDebugName(1) == "Noto Sans CJK SC":
            return frozenset(font.getBestCmap())
    raise AssertionError(f"{NOTO} holds no Noto Sans CJK SC")


@pytest.fixture
def annual(session) -> ReportContent:  # type: ignore[no-untyped-def]
    _province(session)
    review_and_packages(session)
    return build_content(session, "annual", "2011", province=read_province(CONFIG_DIR), today=date(2012, 1, 20),
                         generated_at=datetime(2012, 1, 20, 8, tzinfo=timezone.utc))


@pytest.fixture(params=["zh", "en"])
def printed(request, annual, tmp_path) -> tuple[ReportContent, str, Path]:  # type: ignore[no-untyped-def]
    pdf = tmp_path / f"annual-{request.param}.pdf"
    render_pdf(annual, pdf, lang=request.param)
    return annual, request.param, pdf


def test_every_table_row_is_printed_as_the_content_holds_it(printed) -> None:  # type: ignore[no-untyped-def]
    content, lang, pdf = printed
    text = pdftotext(pdf)
    layout = Layout(content, lang)
    for table in content.tables:
        assert table.title[lang] in text, table.key
        shown = [c for c in table.columns if c.key != "county"]
        at = {c.key: i for i, c in enumerate(table.columns)}
        for row in table.rows:
            total = row[0] == content.province_code or row[0] == "total"
            cells = [layout.cell(c, row[at[c.key]], total) for c in shown]
            pattern = r"\s+".join(re.escape(cell) for cell in cells)
            assert re.search(pattern, text), f"{table.key}: {cells} not printed on one line"


def test_the_figures_read_as_worked_out_by_hand(annual, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pdf = tmp_path / "annual.pdf"
    render_pdf(annual, pdf)
    text = " ".join(pdftotext(pdf, layout=False).split())
    assert "贵州省新型农村合作医疗基金监管年度报告" in text and "2011年度" in text
    # the summary: 4 members of 1,500 (0.27 %); 12,120 yuan raised = 1.21 万元; 8,565 paid = 0.86 万元;
    # usage 8,565 / 12,120 = 70.67 % against 8 months of 12; A's deficit warning; 5 findings, 3 pushed,
    # 1 determined, 500 yuan to recover (0.05 万元), 200 back (0.02 万元); B two months behind
    for phrase in ["参合人数 4 人，参合率 0.27%", "本期筹资 1.21 万元", "本期补偿支出 0.86 万元",
                   "当年基金使用率 70.67%（时间进度 66.67%）", "开阳县（超支预警）", "本期监控发现疑点 5 条，已推送县区 3 条，认定违规 1 条",
                   "应追回 0.05 万元，已追回 0.02 万元", "息烽县（滞后 2 期）", "开阳县（未接收）"]:
        assert phrase in text, phrase
    assert (money(Decimal("4750.00"), per_case=True), money(Decimal("8565.00")), percent(Decimal("0.4459"))) == (
        "4,750.00", "0.86", "44.59")


def test_no_missing_glyph_and_one_embedded_typeface(printed) -> None:  # type: ignore[no-untyped-def]
    _, _, pdf = printed
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows, fonts
    for row in rows:
        name, embedded = row[0], row[-5]
        assert re.fullmatch(r"[A-Z]{6}\+Noto-Sans-CJK-SC(-Bold)?", name), f"a font fallen back to: {name}"
        assert embedded == "yes", f"{name} not embedded"
    text = pdftotext(pdf, layout=False)
    missing = sorted({ch for ch in text if not ch.isspace() and ord(ch) not in noto_sc_cmap()})
    assert not missing, f"characters without a glyph in Noto Sans CJK SC: {missing}"
    assert "\ufffd" not in text


def test_every_page_but_the_cover_names_the_period_and_its_number(printed) -> None:  # type: ignore[no-untyped-def]
    _, lang, pdf = printed
    pages = page_count(pdf)
    period = "2011年度" if lang == "zh" else "2011"
    assert pages >= 6
    assert not re.search(rf"\d\s*/\s*{pages}", pdftotext(pdf, page=1, layout=False))  # the cover
    for n in range(2, pages + 1):
        text = pdftotext(pdf, page=n, layout=False)
        assert re.search(rf"^{n}\s*/\s*{pages}$", text.strip("\f \n"), re.M), f"page {n}: no page number"
        assert period in text, f"page {n}: no period in the footer"


def test_the_contents_give_each_chapters_page(printed) -> None:  # type: ignore[no-untyped-def]
    content, lang, pdf = printed
    contents = pdftotext(pdf, page=2, layout=False)
    county = content.county_names[B][lang]
    for title in ([("基金监管", None), ("分县情况", None), (county, None)] if lang == "zh"
                  else [("Fund supervision", None), ("Counties", None), (county, None)]):
        line = next((l for l in contents.splitlines() if title[0] in l), None)
        assert line is not None, title
        page = int(re.search(r"(\d+)\s*$", line).group(1))
        assert title[0] in pdftotext(pdf, page=page), f"{title[0]} is not on page {page} as the contents say"


def test_a_long_table_repeats_its_header_on_every_page(annual, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rules = annual.table("supervision_by_rule")
    many = tuple((f"rule_{n:03d}", *rules.rows[0][1:]) for n in range(140)) + rules.rows[-1:]
    long = dataclasses.replace(annual, tables=tuple(dataclasses.replace(t, rows=many) if t.key == rules.key else t
                                                  for t in annual.tables))
    pdf = tmp_path / "long.pdf"
    render_pdf(long, pdf)
    on = [n for n in range(1, page_count(pdf) + 1) if "rule_" in pdftotext(pdf, page=n)]
    assert len(on) >= 3, on
    assert on == list(range(on[0], on[-1] + 1))
    for n in on:
        head = pdftotext(pdf, page=n)
        first_row = next(i for i, line in enumerate(head.splitlines()) if "rule_" in line)
        assert "疑点数" in "\n".join(head.splitlines()[:first_row]), f"page {n}: the table's header is not repeated"
    text = pdftotext(pdf)
    assert all(f"rule_{n:03d}" in text for n in range(140))


def test_charts_are_vectors_with_their_words_in_the_text(printed) -> None:  # type: ignore[no-untyped-def]
    _, lang, pdf = printed
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert len(images.strip().splitlines()) == 2, f"raster images in the PDF:\n{images}"  # the list's header alone
    text = pdftotext(pdf, layout=False)
    words = (["图1", "逐月筹资与补偿支出", "当月筹资", "基金使用率与时间进度", "涉及金额居前的监控规则"] if lang == "zh"
             else ["Figure 1.", "Financing and compensation by month", "Fund usage against time elapsed"])
    for word in words:
        assert word in text, word


def test_a_countys_report_in_english(session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _province(session)
    content = build_content(session, "quarterly", "2011-Q2", A, province=read_province(CONFIG_DIR))
    pdf = tmp_path / "county.pdf"
    render_pdf(content, pdf, lang="en")
    text = " ".join(pdftotext(pdf, layout=False).split())
    assert "Kaiyang, Guizhou: NCMS operations report, quarterly" in text and "Q2 2011" in text
    assert "Counties" not in text and "息烽县" not in text and "Xifeng" not in text
    assert "Municipal" in text and "10,000.00" in text  # stay 3's cost, at the city hospital


@pytest.mark.parametrize("text, zh, en", [
    ("2011-12", "2011年12月", "December 2011"), ("2011-11", "2011年11月", "November 2011"),
    ("2011-01", "2011年1月", "January 2011"), ("2011-Q4", "2011年第四季度", "Q4 2011"), ("2011", "2011年度", "2011")])
def test_every_period_is_named_in_both_languages(text, zh, en) -> None:  # type: ignore[no-untyped-def]
    from ncms.indicators import Period
    from reports.pdf import period_name

    period = Period.parse(text)
    content = ReportContent({"month": "monthly", "quarter": "quarterly", "year": "annual"}[period.kind], period,
                            "520000", "贵州省", None, datetime(2012, 1, 20, tzinfo=timezone.utc), "0", ())
    assert (period_name(content, "zh"), period_name(content, "en")) == (zh, en)


def test_chapters_and_sections_past_ten_are_numbered_in_chinese() -> None:
    from reports.pdf import cn_number

    assert [cn_number(n) for n in (1, 7, 10, 11, 12, 20, 21, 99)] == [
        "一", "七", "十", "十一", "十二", "二十", "二十一", "九十九"]
