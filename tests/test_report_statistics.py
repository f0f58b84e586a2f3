"""The machine-readable statistics of a report: every XML file validates against the published
XSD, the CSV figures are the indicators module's (and a few worked out by hand), CSV and XML say
the same, and the manifest lists every file with its checksum, size and rows. On the tiny
two-county province of tests/test_indicators.py, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from ncms.indicators import FIELD_NAMES, Period, as_row, indicators
from reports.content import Column, ReportContent, Table, build_content
from reports.statistics import NAMESPACE, SCHEMA, StatisticsError, cell, write_statistics

from .test_indicators import A, B, _province

XSD = etree.XMLSchema(etree.parse(str(SCHEMA)))
WHEN = datetime(2011, 7, 10, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def province(session):  # type: ignore[no-untyped-def]
    _province(session)
    return session


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _written(session, tmp_path: Path, kind: str = "quarterly", period: str = "2011-Q2", county=None):  # type: ignore[no-untyped-def]
    content = build_content(session, kind, period, county, generated_at=WHEN)
    folder = tmp_path / "out"
    return content, folder, write_statistics(content, folder, revision=1, lang="zh")


@pytest.mark.parametrize("kind, period, county", [("quarterly", "2011-Q2", None), ("annual", "2011", None),
                                                  ("monthly", "2011-05", B), ("annual", "2011", A)])
def test_every_xml_file_validates_against_the_published_schema(province, tmp_path, kind, period, county) -> None:  # type: ignore[no-untyped-def]
    content, folder, files = _written(province, tmp_path, kind, period, county)
    xml = sorted(folder.glob("*.xml"))
    assert [p.stem for p in xml] == sorted(t.key for t in content.tables)
    for path in xml:
        document = etree.parse(str(path))
        assert XSD.validate(document), (path.name, XSD.error_log.last_error)
        root = document.getroot()
        assert root.get("period") == period and root.get("kind") == kind and root.get("county") == county
    assert (folder / "statistics.xsd").read_bytes() == SCHEMA.read_bytes()  # published with the files


def test_the_csv_figures_are_the_indicators_modules(province, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content, folder, _ = _written(province, tmp_path)
    table = indicators(province, Period.parse("2011-Q2"))
    expected = {row.county_codes[0]: as_row(row) for row in table.counties}
    expected[content.province_code] = as_row(table.total)
    compared: set[str] = set()
    for t in content.tables:
        if t.section != "province" or t.columns[0].key != "county":
            continue
        kinds = {c.key: c.kind for c in t.columns}
        rows = _csv(folder / f"{t.key}.csv")
        assert [r["county"] for r in rows][:2] == [A, B]  # then the province's total, in most
        for r in rows:
            for key, text in r.items():
                if key in FIELD_NAMES and key not in ("county", "name"):
                    want = expected[r["county"]][key]
                    assert text == ("" if want is None else cell(want, kinds[key], key)), (t.key, r["county"], key)
                    compared.add(key)
    assert len(compared) >= 30, sorted(compared)  # most of the indicators, not a handful
    # ... and worked out by hand (tests/test_indicators.py's claims): Q2 settled claims 3 (A, 4000.00
    # paid, out of the county) and 8, 9 (B, 1500.00 and 25.00)
    by_county = {r["county"]: r for r in _csv(folder / "compensation_by_type.csv")}
    assert (by_county[A]["compensation"], by_county[B]["compensation"]) == ("4000.00", "1525.00")
    assert by_county[content.province_code]["compensation"] == "5525.00"
    assert (by_county[B]["visits"], by_county[B]["stays"]) == ("1", "1")
    care = {r["county"]: r for r in _csv(folder / "out_of_county_care.csv")}
    assert care[A]["out_of_county_stay_share"] == "1.0000" and care[B]["out_of_county_stay_share"] == "0.0000"


def test_the_xml_says_what_the_csv_says(province, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content, folder, _ = _written(province, tmp_path, "annual", "2011")
    ns = {"s": NAMESPACE}
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    for t in content.tables:
        root = etree.parse(str(folder / f"{t.key}.xml")).getroot()
        assert [c.get("key") for c in root.find("s:columns", ns)] == [c.key for c in t.columns]
        assert [c.get("kind") for c in root.find("s:columns", ns)] == [c.kind for c in t.columns]
        xml_rows = [[None if e.get(nil) == "true" else (e.text or None) for e in row]
                    for row in root.find("s:rows", ns)]  # an empty text is an empty CSV cell too
        csv_rows = [[v or None for v in r.values()] for r in _csv(folder / f"{t.key}.csv")]
        assert xml_rows == csv_rows and len(xml_rows) == len(t.rows), t.key
        assert root.find("s:rows", ns).get("count") == str(len(t.rows))
        titles = {e.get("lang"): e.text for e in root.findall("s:title", ns)}
        assert titles == t.title


def test_the_manifest_lists_every_file_with_its_checksum_and_rows(province, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content, folder, files = _written(province, tmp_path)
    assert files[-1].name == "manifest.json"
    manifest = json.loads(files[-1].read_text(encoding="utf-8"))
    listed = {f["name"]: f for f in manifest["files"]}
    on_disk = {p.name for p in folder.iterdir()} - {"manifest.json"}
    assert set(listed) == on_disk == {p.name for p in files[:-1]}
    for name, entry in listed.items():
        data = (folder / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data), name
        if name.endswith(".csv"):
            assert entry["rows"] == len(_csv(folder / name)) == len(content.table(entry["table"]).rows)
    report = manifest["report"]
    assert (report["kind"], report["period"], report["period_start"], report["period_end"]) == \
        ("quarterly", "2011-Q2", "2011-04-01", "2011-06-30")
    assert (report["province"], report["county"], report["revision"], report["language"]) == ("520000", None, 1, "zh")
    assert manifest["platform_version"] == content.platform_version and manifest["supersedes"] is None
    assert manifest["generated_at"] == "2011-07-10T02:00:00Z"


def test_a_correction_names_what_it_supersedes_and_a_pdf_written_first_is_listed(province, tmp_path) -> None:  # type: ignore[no-untyped-def]
    content = build_content(province, "quarterly", "2011-Q2", generated_at=WHEN)
    folder = tmp_path / "r2"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(b"%PDF-1.7 stand-in")
    earlier = {"revision": 1, "package": "ncms-520000-quarterly-2011-Q2-zh-r1-0123abcd.zip", "sha256": "ab" * 32}
    write_statistics(content, folder, revision=2, lang="zh", supersedes=earlier)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["supersedes"] == earlier and manifest["report"]["revision"] == 2
    pdf = next(f for f in manifest["files"] if f["name"] == "report.pdf")
    assert pdf["sha256"] == hashlib.sha256(b"%PDF-1.7 stand-in").hexdigest() and pdf["format"] == "pdf"


def _one_table(columns: tuple[Column, ...], rows: tuple[tuple, ...]) -> ReportContent:  # type: ignore[type-arg]
    table = Table("probe", {"zh": "探针", "en": "Probe"}, columns, rows, "province")
    return ReportContent("monthly", Period.parse("2011-05"), "520000", "贵州省", None, WHEN, "0.0", (table,))


def test_a_column_the_schema_does_not_declare_is_refused_before_anything_is_published(tmp_path) -> None:
    content = _one_table((Column("county", {"zh": "代码", "en": "Code"}, "text"),
                          Column("made_up_figure", {"zh": "?", "en": "?"}, "integer")), (("520121", 3),))
    with pytest.raises(StatisticsError, match=r"probe\.xml: line \d+: .*made_up_figure"):
        write_statistics(content, tmp_path)
    assert not (tmp_path / "manifest.json").exists()


def test_a_value_of_the_wrong_kind_names_the_table_row_and_column(tmp_path) -> None:
    members = Column("members", {"zh": "参合人数", "en": "Members"}, "integer")
    with pytest.raises(StatisticsError, match=r"probe: row 2: members: '12' is not a whole number"):
        write_statistics(_one_table((members,), ((3,), ("12",))), tmp_path)
    with pytest.raises(StatisticsError, match="not an exact decimal"):
        cell(0.5, "rate", "x")
    assert cell(Decimal("1234.5"), "money", "x") == "1234.50" and cell(None, "money", "x") is None
    assert cell(date(2011, 5, 8), "date", "x") == "2011-05-08"


def test_a_figure_that_does_not_exist_is_empty_in_the_csv_and_nil_in_the_xml(tmp_path) -> None:
    content = _one_table((Column("county", {"zh": "代码", "en": "Code"}, "text"),
                          Column("cost_per_stay", {"zh": "次均住院费用", "en": "Cost per stay"}, "money")),
                         (("520121", None), ("520122", Decimal("3000.00"))))
    write_statistics(content, tmp_path)
    assert (tmp_path / "probe.csv").read_bytes() == b"county,cost_per_stay\r\n520121,\r\n520122,3000.00\r\n"
    root = etree.parse(str(tmp_path / "probe.xml")).getroot()
    cells = root.findall(f"{{{NAMESPACE}}}rows/{{{NAMESPACE}}}row/{{{NAMESPACE}}}cost_per_stay")
    assert [c.get("{http://www.w3.org/2001/XMLSchema-instance}nil") for c in cells] == ["true", None]
    assert XSD.validate(etree.parse(str(tmp_path / "probe.xml")))
    broken = replace(content, tables=(replace(content.tables[0], rows=(("5201", Decimal("1.00")),)),))
    with pytest.raises(StatisticsError, match="5201"):  # the schema's county code is six digits
        write_statistics(broken, tmp_path / "again")


def test_the_schema_declares_each_column_of_the_reports_with_its_kind(province) -> None:  # type: ignore[no-untyped-def]
    xs = "{http://www.w3.org/2001/XMLSchema}"
    declared = {e.get("name"): e.get("type") for e in etree.parse(str(SCHEMA)).getroot().findall(f"{xs}element")}
    kind_of = {"xs:string": "text", "s:countyCode": "text", "s:month": "text", "s:level": "text",
               "s:fundWarning": "text", "xs:integer": "integer", "s:money": "money", "s:rate": "rate",
               "xs:date": "date"}
    seen = {}
    for kind, period, county in (("annual", "2011", None), ("monthly", "2011-05", A)):
        for t in build_content(province, kind, period, county).tables:
            seen.update({c.key: c.kind for c in t.columns})
    assert {key: kind_of.get(declared.get(key)) for key in seen} == seen  # a new column: declare it (docs/reports.md)
