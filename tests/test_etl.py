"""ETL from a centralised county's database: MariaDB as the county's, the provincial database
on SQLite and PostgreSQL. Extracts take the package path, so what is checked here is the
mapping, the windows and the watermark: dirty rows refused (not crashes), nothing lost or
doubled when the extraction dies at any point, and nothing re-read when nothing changed."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
import yaml

from ncms.config import ConfigError
from ncms.db import session_scope
from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.ingest.etl import EtlError, read_watermark, run_etl
from ncms.ingest.mapping import load_mapping, parse_mapping
from ncms.ingest.status import timeliness
from ncms.models import Batch, BatchSource, Claim, ClaimItem, Enrolment, FundFinancing, Member, RejectedRow

from .conftest import CONFIG_DIR
from .packages import county_database, national_id

COUNTY = "520121"  # vendor A: pinyin tables, YYYYMMDD dates, fen, numeric codes
HOSPITAL = "520121300001"


# --- the mapping file ---------------------------------------------------------------------

def _mapping(**records):  # type: ignore[no-untyped-def]
    return {"county": COUNTY, "source": {"env": "X"}, "records": records}


def test_every_shipped_mapping_reads_and_names_its_etl_county() -> None:
    province = yaml.safe_load((CONFIG_DIR / "province.yaml").read_text(encoding="utf-8"))
    etl_counties = sorted(c["code"] for c in province["counties"] if c["mode"] == "etl")
    assert sorted(p.stem for p in (CONFIG_DIR / "mappings").glob("*.yaml")) == etl_counties
    for county in etl_counties:
        mapping = load_mapping(CONFIG_DIR, county)
        assert mapping.streams == ("member", "enrolment", "claim", "financing")
        assert mapping.source_env == f"NCMS_SOURCE_{county}"


@pytest.mark.parametrize("raw, message", [
    ({"county": COUNTY, "records": {"financing": {}}}, "source: needs env"),
    ({"county": COUNTY, "source": {"env": "X", "password": "secret"}, "records": {}}, "never the connection"),
    (_mapping(claims={"table": "T"}), "records.claims: no such record type"),
    (_mapping(financing={"table": "T", "query": "SELECT 1", "watermark": "W"}), "either table or query"),
    (_mapping(financing={"table": "T", "columns": {}}), "watermark names the column"),
    (_mapping(financing={"table": "T", "watermark": "W", "columns": {"year": "ND", "month": "YF", "amount": "JE"}}),
     "required fields not mapped: source"),
    (_mapping(financing={"table": "T", "watermark": "W", "columns": {"year": "ND", "month": "YF", "source": "L",
                                                                      "amount": "JE", "colour": "C"}}),
     "columns.colour: no such field of financing"),
    (_mapping(financing={"table": "T", "watermark": "W", "columns": {"year": "ND", "month": "YF", "amount": "JE",
                                                                      "source": {"column": "L", "lookup": "x"}}}),
     "columns.source"),
    (_mapping(claim_item={"table": "T", "columns": {n: n.upper() for n in RECORD_SCHEMAS["claim_item"].specs()}}),
     "claim_item needs claim"),
    (_mapping(claim_item={"table": "T", "watermark": "W",
                          "columns": {n: n.upper() for n in RECORD_SCHEMAS["claim_item"].specs()}}),
     "windowed by its claim's watermark"),
])
def test_a_wrong_mapping_is_refused_with_the_place_named(raw, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="x.yaml") as caught:
        parse_mapping(raw, Path("x.yaml"), COUNTY)
    assert message in str(caught.value)


def test_translation_of_codes_dates_and_fen_passes_what_it_cannot_translate() -> None:
    record = parse_mapping(_mapping(claim={
        "table": "T", "watermark": "W", "columns": {
            "claim_id": "ID", "kind": {"column": "LB", "codes": {"1": "outpatient", "2": "inpatient"}},
            "member_no": "M", "national_id": "S", "institution_code": "J",
            "admission_date": {"column": "RY", "date": "%Y%m%d"}, "settlement_date": "JS",
            "diagnosis_code": "Z", "total_amount": {"column": "F", "fen": True},
            "eligible_amount": {"column": "F", "fen": True}, "compensated_amount": {"value": "0.00"}}}),
        Path("x.yaml"), COUNTY).records["claim"]
    source = pl.DataFrame({"ID": ["a", "b", "c"], "LB": ["1", "2", "7"], "M": ["m"] * 3, "S": ["s"] * 3,
                           "J": ["j"] * 3, "RY": ["20110304", "20111345", None],
                           "JS": pl.Series(["2011-03-05"] * 3).str.to_date(),
                           "Z": ["J18"] * 3, "F": ["12345", "-5", "12x"]})
    out = record.translate(source)
    assert out.columns == list(RECORD_SCHEMAS["claim"].specs())
    assert out["kind"].to_list() == ["outpatient", "inpatient", "7"]  # unknown code: refused by the screen
    assert out["admission_date"].to_list() == ["2011-03-04", "20111345", None]  # does not parse: kept
    assert out["settlement_date"].to_list() == ["2011-03-05"] * 3  # a DATE column needs no format
    assert out["total_amount"].to_list() == ["123.45", "-0.05", "12x"]
    assert out["compensated_amount"].to_list() == ["0.00"] * 3
    assert out["discharge_date"].to_list() == [None] * 3  # not mapped
    assert all(dtype == pl.String for dtype in out.dtypes)


# --- a vendor's database on MariaDB -----------------------------------------------------------

VENDOR_TABLES = """
CREATE TABLE XNH_CHRY (GRBM VARCHAR(32), HBM VARCHAR(32), SFZH CHAR(18), XM VARCHAR(32), YHZGX CHAR(2),
  XZ VARCHAR(32), CUN VARCHAR(32), SWRQ CHAR(8), XH BIGINT PRIMARY KEY) CHARACTER SET gbk;
CREATE TABLE XNH_CHDJ (GRBM VARCHAR(32), CHND INT, JFJE BIGINT, DJRQ CHAR(8), GXSJ DATETIME,
  KEY (GXSJ)) CHARACTER SET gbk;
CREATE TABLE XNH_JSXX (JSDH VARCHAR(32) PRIMARY KEY, JZLB CHAR(1), GRBM VARCHAR(32), SFZH CHAR(18),
  JGBM VARCHAR(20), RYRQ CHAR(8), CYRQ CHAR(8), JSRQ CHAR(8), ZDBM VARCHAR(10), ZFY BIGINT, KBFY BIGINT,
  BCJE BIGINT, ZZBZ CHAR(1), ZFBZ CHAR(1), GXSJ DATETIME, KEY (GXSJ)) CHARACTER SET gbk;
CREATE TABLE XNH_FYMX (JSDH VARCHAR(32), MXXH INT, XMBM VARCHAR(20), XMMC VARCHAR(64), FYLB CHAR(2),
  SL DECIMAL(10,3), DJ BIGINT, JE BIGINT, PRIMARY KEY (JSDH, MXXH)) CHARACTER SET gbk;
CREATE TABLE XNH_CZDZ (ND INT, YF INT, ZJLY CHAR(1), JE BIGINT, XH BIGINT PRIMARY KEY) CHARACTER SET gbk
"""
# rare characters that exist in GBK but not in GB2312, as county registers have them
NAMES = {"M01": "龙堃", "M02": "喆垚", "M03": "张三", "M04": "李四", "M05": "王五"}


def _person(no: str, n: int) -> tuple:  # type: ignore[type-arg]
    return (no, "H" + no, national_id(f"52012119800101{n:03d}"), NAMES[no], "01", "双流镇", "三合村", None, n)


def _claim(cid: str, member: tuple, stamp: str, **kw: str) -> dict[str, object]:  # type: ignore[type-arg]
    row = dict(JSDH=cid, JZLB="2", GRBM=member[0], SFZH=member[2], JGBM=HOSPITAL, RYRQ="20110301",
               CYRQ="20110305", JSRQ="20110306", ZDBM="J18.9", ZFY=3000, KBFY=3000, BCJE=1200, ZZBZ="N",
               ZFBZ="N", GXSJ=stamp)
    row.update(kw)
    return row


def _insert(conn: sa.Connection, table: str, rows: list) -> None:  # type: ignore[type-arg]
    if not rows:
        return
    if isinstance(rows[0], dict):
        names = list(rows[0])
        values = [tuple(r[n] for n in names) for r in rows]
        columns = f" ({', '.join(names)})"
    else:
        values, columns = rows, ""
    marks = ", ".join(["%s"] * len(values[0]))
    conn.exec_driver_sql(f"INSERT INTO {table}{columns} VALUES ({marks})", values)


@pytest.fixture
def county_db(mariadb_url: str):  # type: ignore[no-untyped-def]
    """Vendor A's tables in MariaDB (GBK), a few clean rows and one dirty row of each kind."""
    engine = sa.create_engine(mariadb_url)
    people = [_person(no, n) for n, no in enumerate(NAMES, 1)]
    dirty_id = ("M06", "HM06", people[0][2][:17] + ("0" if people[0][2][17] != "0" else "1"), "赵六", "01",
                None, None, None, 6)
    unknown_relation = ("M07", "HM07", national_id("52012119800107001"), "钱七", "07", None, None, None, 7)
    claims = [
        _claim("C1", people[0], "2011-03-06 09:00:00"),
        _claim("C2", people[1], "2011-03-06 09:00:00", JZLB="1", CYRQ=None, ZFY=550, KBFY=550, BCJE=0),
        _claim("C3", people[2], "2011-03-07 10:00:00", JSRQ="20111345"),  # impossible date
        _claim("C4", people[3], "2011-03-08 11:00:00", ZFY=-500, KBFY=0, BCJE=0),  # negative fen
        _claim("C5", people[4], "2011-03-09 12:00:00", JZLB="3"),  # unknown kind code
    ]
    items = [("C1", 1, "110900001", "床位费", "06", Decimal("2"), 1000, 2000),
             ("C1", 2, "86900134000015", "阿莫西林胶囊", "01", Decimal("1"), 1000, 1000),
             ("C2", 1, "250101001", "血细胞分析", "03", Decimal("1"), 550, 550),
             ("C3", 1, "250101001", "血细胞分析", "03", Decimal("1"), 3000, 3000),
             ("C5", 1, "250101001", "血细胞分析", "07", Decimal("1"), 3000, 3000)]
    with engine.begin() as conn:
        for statement in VENDOR_TABLES.split(";"):
            conn.exec_driver_sql(statement)
        _insert(conn, "XNH_CHRY", people + [dirty_id, unknown_relation])
        _insert(conn, "XNH_CHDJ", [(p[0], 2011, 3000, "20101215", "2010-12-15 08:00:00") for p in people])
        _insert(conn, "XNH_JSXX", claims)
        _insert(conn, "XNH_FYMX", items)
        _insert(conn, "XNH_CZDZ", [(2011, 1, "2", 1_000_000_00, 1), (2011, 1, "8", 5_00, 2)])
    yield engine
    engine.dispose()


@pytest.fixture
def province(loaded_engine, settings):  # type: ignore[no-untyped-def]
    settings.ensure_dirs()
    return loaded_engine


def rejected(engine) -> set[tuple]:  # type: ignore[no-untyped-def,type-arg]
    with engine.connect() as conn:
        return set(conn.execute(sa.select(RejectedRow.record_type, RejectedRow.code, RejectedRow.value)).all())


def test_a_vendor_database_is_extracted_translated_and_dirty_rows_refused(province, settings, county_db) -> None:  # type: ignore[no-untyped-def]
    url = county_db.url.render_as_string(hide_password=False)
    result = run_etl(province, settings, COUNTY, url=url)

    assert [b.status.value for b in result.batches] == ["partial", "loaded", "partial", "partial"]
    assert (result.rows_read, result.rows_rejected) == (7 + 5 + 5 + 5 + 2, 2 + 3 + 2 + 1)
    with session_scope(province) as s:
        names = dict(s.execute(sa.select(Member.member_no, Member.name)).all())
        assert names == NAMES  # GBK in the county, the same characters here
        claims = {c.source_id: c for c in s.scalars(sa.select(Claim))}
        assert sorted(claims) == ["C1", "C2"]
        assert claims["C1"].total_amount == Decimal("30.00") and claims["C1"].kind.value == "inpatient"
        assert claims["C2"].kind.value == "outpatient" and claims["C2"].discharge_date is None
        assert s.scalar(sa.select(sa.func.count()).select_from(ClaimItem)) == 3
        assert s.scalar(sa.select(sa.func.count()).select_from(Enrolment)) == 5
        assert [f.amount for f in s.scalars(sa.select(FundFinancing))] == [Decimal("1000000.00")]
        assert {b.source for b in s.scalars(sa.select(Batch))} == {BatchSource.ETL}
    refused = rejected(province)
    assert {(t, c) for t, c, _ in refused} == {
        ("member", "national_id"), ("member", "not_in_list"), ("claim", "not_date"), ("claim", "out_of_range"),
        ("claim", "not_in_list"), ("claim_item", "claim_rejected"), ("claim_item", "not_in_list"),
        ("financing", "not_in_list")}
    # an untranslatable vendor code reaches the county's receipt as the county wrote it
    assert {("member", "not_in_list", "07"), ("claim", "not_in_list", "3"), ("claim", "not_date", "20111345"),
            ("claim", "out_of_range", "-5.00"), ("claim_item", "not_in_list", "07"),
            ("financing", "not_in_list", "8")} <= refused
    assert all(b.receipt and b.receipt.exists() for b in result.batches)
    assert result.watermarks == {"member": "7", "enrolment": "2010-12-15 08:00:00",
                                 "claim": "2011-03-09 12:00:00", "financing": "2"}
    with session_scope(province) as s:  # how current the county is: its claims' settlement, not the run's day
        status = next(st for st in timeliness(s) if st.county_code == COUNTY)
    assert (status.batches, status.last_period_end, status.missing_sequences) == (4, date(2011, 3, 6), [])


def test_only_what_changed_is_extracted_again(province, settings, county_db) -> None:  # type: ignore[no-untyped-def]
    url = county_db.url.render_as_string(hide_password=False)
    run_etl(province, settings, COUNTY, url=url)

    again = run_etl(province, settings, COUNTY, url=url)
    assert again.batches == [] and again.watermarks["claim"] == "2011-03-09 12:00:00"

    with county_db.begin() as conn:  # the county corrects C3 and adds C6
        conn.exec_driver_sql("UPDATE XNH_JSXX SET JSRQ = '20110307', GXSJ = '2011-04-01 08:00:00' WHERE JSDH = 'C3'")
        _insert(conn, "XNH_JSXX", [_claim("C6", _person("M01", 1), "2011-04-01 08:00:00", ZFY=1000, KBFY=1000)])
    changed = run_etl(province, settings, COUNTY, url=url)
    assert [b.rows_read for b in changed.batches] == [2 + 1]  # two claims, C3's item
    with session_scope(province) as s:
        assert sorted(s.scalars(sa.select(Claim.source_id))) == ["C1", "C2", "C3", "C6"]
    assert changed.watermarks["claim"] == "2011-04-01 08:00:00"


def test_a_backfill_reads_its_range_and_leaves_the_watermark(province, settings, county_db) -> None:  # type: ignore[no-untyped-def]
    url = county_db.url.render_as_string(hide_password=False)
    run_etl(province, settings, COUNTY, url=url)
    with county_db.begin() as conn:  # changed without moving the update time: only a backfill sees it
        conn.exec_driver_sql("UPDATE XNH_JSXX SET BCJE = 1500 WHERE JSDH = 'C1'")
    backfill = run_etl(province, settings, COUNTY, url=url, streams=("claim",),
                       since="2011-03-06 00:00:00", until="2011-03-06 23:59:59")
    assert [b.rows_read for b in backfill.batches] == [2 + 3]  # C1, C2 and their items only
    assert read_watermark(province, COUNTY, "claim") == "2011-03-09 12:00:00"
    with session_scope(province) as s:
        assert s.scalar(sa.select(Claim.compensated_amount).where(Claim.source_id == "C1")) == Decimal("15.00")
    full = run_etl(province, settings, COUNTY, url=url, streams=("claim",), full=True)
    assert sum(b.rows_read for b in full.batches) == 5 + 5


def test_a_time_range_skips_the_sequence_streams(province, settings, county_db) -> None:  # type: ignore[no-untyped-def]
    """``ncms etl --since/--until`` are update times: a member number is not one."""
    url = county_db.url.render_as_string(hide_password=False)
    result = run_etl(province, settings, COUNTY, url=url, since="2010-12-01 00:00:00", until="2011-03-06 23:59:59")
    assert [b.rows_read for b in result.batches] == [5, 2 + 3]  # enrolments; C1, C2 and their items
    assert result.watermarks == {"enrolment": None, "claim": None}  # member, financing: sequences, skipped
    with session_scope(province) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(FundFinancing)) == 0


# --- changes the watermark alone would miss ----------------------------------------------------

def _later(stamp: str, seconds: int) -> str:
    from datetime import datetime, timedelta
    return (datetime.fromisoformat(stamp) + timedelta(seconds=seconds)).isoformat(sep=" ")


def _claims(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(Claim.source_id, sa.func.count()).group_by(Claim.source_id)).all())


def test_a_change_committed_at_the_watermark_is_extracted_once(province, settings, county_db) -> None:  # type: ignore[no-untyped-def]
    url = county_db.url.render_as_string(hide_password=False)
    mark = run_etl(province, settings, COUNTY, url=url).watermarks["claim"]
    overlap = load_mapping(CONFIG_DIR, COUNTY).records["claim"].overlap
    assert overlap > 0  # the default, for update times

    with county_db.begin() as conn:  # committed after the extract, in its last second or just before
        _insert(conn, "XNH_JSXX", [_claim("C7", _person("M01", 1), mark),
                                   _claim("C8", _person("M02", 2), _later(mark, 1 - overlap)),
                                   _claim("C9", _person("M03", 3), _later(mark, -overlap - 1))])
        _insert(conn, "XNH_FYMX", [("C7", 1, "250101001", "血细胞分析", "03", Decimal("1"), 3000, 3000)])
        conn.exec_driver_sql("UPDATE XNH_JSXX SET JZLB = '2' WHERE JSDH = 'C5'")  # corrected in the same second
    again = run_etl(province, settings, COUNTY, url=url)

    assert [b.rows_read for b in again.batches] == [3 + 2]  # C5, C7, C8 and the items of C5 and C7
    assert again.watermarks["claim"] == mark
    claims = _claims(province)
    assert set(claims) == {"C1", "C2", "C5", "C7", "C8"} and set(claims.values()) == {1}  # C9: older than the overlap
    with session_scope(province) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ClaimItem).where(ClaimItem.claim_id == sa.select(
            Claim.id).where(Claim.source_id == "C7").scalar_subquery())) == 1
    assert run_etl(province, settings, COUNTY, url=url).batches == []  # the boundary re-read, nothing sent


def test_a_wrong_overlap_or_change_is_refused() -> None:
    columns = {"year": "ND", "month": "YF", "source": "L", "amount": "JE"}
    for record, message in [({"overlap": -1, "watermark": "W"}, "overlap: -1 is not allowed; allowed: a whole number"),
                            ({"change": "compare", "watermark": "W"}, "remove watermark"),
                            ({"change": "diff"}, "change: 'diff' is not allowed; allowed: watermark"),
                            ({"change": "compare", "overlap": 5}, "only with a watermark")]:
        with pytest.raises(ConfigError, match=message):
            parse_mapping(_mapping(financing={"table": "T", "columns": columns, **record}), Path("x.yaml"), COUNTY)


def test_the_overlap_steps_back_in_the_watermark_s_own_form() -> None:
    from ncms.ingest.etl import step_back

    mapping = load_mapping(CONFIG_DIR, COUNTY)
    claim, member = mapping.records["claim"], mapping.records["member"]
    assert step_back(mapping, claim, "2011-03-09 12:00:30") == "2011-03-09 11:59:30"
    assert step_back(mapping, claim, "2011-03-09T00:00:30") == "2011-03-08T23:59:30"  # SQLite text compares
    assert step_back(mapping, member, "7") == "7"  # a sequence: no overlap unless asked
    assert step_back(mapping, replace(member, overlap=5), "7") == "2"
    assert step_back(mapping, claim, "20110309") == "20110308"  # YYYYMMDD text: a day
    with pytest.raises(ConfigError, match="records.claim: the watermark value '20110309120000' .* set overlap: 0"):
        step_back(mapping, claim, "20110309120000")


@pytest.fixture
def compared_members(tmp_path, settings):  # type: ignore[no-untyped-def]
    """A copy of config/ whose vendor-A member register is compared whole (change: compare)."""
    from dataclasses import replace

    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    path = config / "mappings" / f"{COUNTY}.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    member = raw["records"]["member"]
    del member["watermark"], member["watermark_kind"]
    member["change"] = "compare"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return replace(settings, config_dir=config)


def _new_member_in_an_old_household(county_db) -> None:  # type: ignore[no-untyped-def]
    """The county registers M08 with a low number (before every other), enrols it, and renames M03."""
    with county_db.begin() as conn:
        _insert(conn, "XNH_CHRY", [("M08", "HM01", national_id("52012120100101008"), "龙小", "03", None, None, None,
                                    0)])
        _insert(conn, "XNH_CHDJ", [("M08", 2011, 3000, "20110110", "2011-01-10 08:00:00")])
        conn.exec_driver_sql("UPDATE XNH_CHRY SET XM = '张叁' WHERE GRBM = 'M03'")


def test_a_register_compared_whole_sends_new_and_changed_members_only(province, compared_members, county_db) -> None:  # type: ignore[no-untyped-def]
    url = county_db.url.render_as_string(hide_password=False)
    first = run_etl(province, compared_members, COUNTY, url=url)
    assert first.batches[0].rows_read == 7 and first.watermarks["member"] is None

    _new_member_in_an_old_household(county_db)
    again = run_etl(province, compared_members, COUNTY, url=url)

    assert [(b.rows_read, b.rows_rejected) for b in again.batches] == [(2, 0), (1, 0)]  # M08 and M03; M08's enrolment
    with session_scope(province) as s:
        names = dict(s.execute(sa.select(Member.member_no, Member.name)).all())
        assert (names["M08"], names["M03"]) == ("龙小", "张叁")
        assert s.scalar(sa.select(sa.func.count()).select_from(Member)) == len(NAMES) + 1
    assert run_etl(province, compared_members, COUNTY, url=url).batches == []
    resent = run_etl(province, compared_members, COUNTY, url=url, streams=("member",), full=True)
    assert resent.rows_read == 8  # --full sends the whole register again


def test_a_sequence_register_misses_a_low_new_member_and_doctor_says_so(province, settings, county_db) -> None:  # type: ignore[no-untyped-def]
    """What change: compare is for: a sequence watermark passes a member given a low number."""
    from ncms.doctor import OK, WARN, check_county_sources

    url = county_db.url.render_as_string(hide_password=False)
    run_etl(province, settings, COUNTY, url=url)
    env = {"NCMS_SOURCE_520121": url}
    before = {c.name: c for c in check_county_sources(settings, province, env)}
    assert before["county 520121 member watermark"].status == OK

    _new_member_in_an_old_household(county_db)
    run_etl(province, settings, COUNTY, url=url)
    with session_scope(province) as s:
        assert s.scalar(sa.select(Member).where(Member.member_no == "M08")) is None
    assert ("enrolment", "unknown_member", "M08") in rejected(province)
    after = {c.name: c for c in check_county_sources(settings, province, env)}
    warned = after["county 520121 member watermark"]
    assert warned.status == WARN and warned.detail.startswith("1 row(s) of XNH_CHRY with XH at or below 7")
    assert "change: compare" in warned.fix


# --- dying mid-way -------------------------------------------------------------------------

@pytest.fixture
def small_windows(tmp_path, settings):  # type: ignore[no-untyped-def]
    """A copy of config/ whose vendor-A mapping takes windows of 150 rows."""
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    path = config / "mappings" / f"{COUNTY}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("chunk_rows: 200000", "chunk_rows: 150"),
                    encoding="utf-8")
    from dataclasses import replace
    return replace(settings, config_dir=config)


@pytest.fixture
def synthetic_county(mariadb_url):  # type: ignore[no-untyped-def]
    """About 1,000 claims of the synthetic province in vendor A's tables."""
    frames = county_database(mariadb_url, COUNTY, seed=5, claims=6000)
    engine = sa.create_engine(mariadb_url)
    yield engine, frames
    engine.dispose()


def assert_matches_source(engine, frames) -> None:  # type: ignore[no-untyped-def]
    """Every claim, item, member and enrolment of the source is here once, with its values."""
    with engine.connect() as conn:
        claims = pl.DataFrame(conn.execute(sa.select(Claim.source_id, Claim.total_amount, Claim.compensated_amount)).all(),
                              schema=["claim_id", "total_amount", "compensated_amount"], orient="row")
        items = conn.execute(sa.select(sa.func.count(), sa.func.sum(ClaimItem.amount))).one()
        members = conn.execute(sa.select(sa.func.count(sa.distinct(Member.member_no)))).scalar_one()
        enrolments = conn.execute(sa.select(sa.func.count()).select_from(Enrolment)).scalar_one()
    expected = frames["claim"].select("claim_id", "total_amount", "compensated_amount").sort("claim_id")
    got = claims.with_columns(pl.col("total_amount", "compensated_amount").cast(pl.String)).sort("claim_id")
    assert got.to_dicts() == expected.to_dicts()
    assert items[0] == frames["claim_item"].height
    assert items[1] == sum(Decimal(a) for a in frames["claim_item"]["amount"])
    assert members == frames["member"].height and enrolments == frames["enrolment"].height


class Relay:
    """A TCP relay between the extraction and MariaDB that drops every connection once
    ``budget`` bytes have come back from the server: the network failing mid-stream."""

    def __init__(self, target: tuple[str, int], budget: int) -> None:
        self.target, self.budget, self.sent, self.cut = target, budget, 0, False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.open += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, counted: bool) -> None:
        try:
            while data := src.recv(4096):
                dst.sendall(data)
                if counted and not self.cut:
                    self.sent += len(data)
                    if self.sent > self.budget:
                        self.cut = True
                        for sock in self.open:
                            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for sock in self.open:
            sock.close()


def test_a_dropped_connection_loses_nothing_and_a_rerun_completes(province, small_windows, synthetic_county) -> None:  # type: ignore[no-untyped-def]
    source, frames = synthetic_county
    relay = Relay((source.url.host, source.url.port or 3306), budget=150_000)
    url = source.url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    try:
        with pytest.raises(EtlError, match="watermark has not moved"):
            run_etl(province, small_windows, COUNTY, url=url)
    finally:
        relay.close()
    assert relay.cut
    with province.connect() as conn:  # some windows were loaded before the cut, not all
        assert 0 < conn.scalar(sa.select(sa.func.count()).select_from(Batch))
    marks = {s: read_watermark(province, COUNTY, s) for s in ("member", "enrolment", "claim", "financing")}
    assert marks["financing"] is None

    url = source.url.render_as_string(hide_password=False)
    run_etl(province, small_windows, COUNTY, url=url)
    assert_matches_source(province, frames)
    assert run_etl(province, small_windows, COUNTY, url=url).batches == []


CHILD = "import sys; from ncms.cli import main; main(sys.argv[1:])"


def test_a_killed_extraction_rerun_leaves_the_province_equal_to_the_source(province, small_windows, synthetic_county,
                                                                           database_url) -> None:  # type: ignore[no-untyped-def]
    source, frames = synthetic_county
    env = dict(os.environ, NCMS_SOURCE_520121=source.url.render_as_string(hide_password=False))
    args = [sys.executable, "-c", CHILD, "--data-dir", str(small_windows.data_dir), "--database-url", database_url,
            "--config-dir", str(small_windows.config_dir), "etl", COUNTY]
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and child.poll() is None:  # kill once some claims are in
            with province.connect() as conn:
                if conn.scalar(sa.select(sa.func.count()).select_from(Claim)):
                    break
            time.sleep(0.05)
        assert child.poll() is None, "the extraction finished before it could be killed"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    with province.connect() as conn:
        assert 0 < conn.scalar(sa.select(sa.func.count()).select_from(Claim)) < frames["claim"].height

    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_matches_source(province, frames)


# --- a query instead of tables, on a SQLite source ------------------------------------------------

def test_a_query_mapping_and_its_items_query(province, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = sa.create_engine(f"sqlite:///{tmp_path / 'county.db'}")
    person = _person("M01", 1)
    with source.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE js (id TEXT, p TEXT, sfz TEXT, amt TEXT, t TEXT)")
        conn.exec_driver_sql("CREATE TABLE mx (id TEXT, n INTEGER, amt TEXT)")
        conn.exec_driver_sql("INSERT INTO js VALUES ('Q1', 'M01', ?, '8.00', '2011-05-01 10:00:00'),"
                             " ('Q2', 'M01', ?, '2.00', '2011-05-02 10:00:00')", (person[2], person[2]))
        conn.exec_driver_sql("INSERT INTO mx VALUES ('Q1', 1, '5.00'), ('Q1', 2, '3.00'), ('Q2', 1, '2.00')")
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    claim_sql = (f"SELECT id AS claim_id, 'outpatient' AS kind, p AS member_no, sfz AS national_id, "
                 f"'{HOSPITAL}' AS institution_code, '2011-05-01' AS admission_date, "
                 "substr(t, 1, 10) AS settlement_date, 'J06.9' AS diagnosis_code, amt AS total_amount, "
                 "amt AS eligible_amount, '0.00' AS compensated_amount, t AS changed FROM js")
    item_sql = ("SELECT mx.id AS claim_id, n AS line_no, 'D1' AS item_code, 'drug' AS category, '1' AS quantity, "
                "mx.amt AS unit_price, mx.amt AS amount, js.t AS changed FROM mx JOIN js ON js.id = mx.id")
    (config / "mappings" / f"{COUNTY}.yaml").write_text(yaml.safe_dump({
        "county": COUNTY, "source": {"env": "NCMS_SOURCE_520121"},
        "records": {"member": {"table": "XNH_CHRY_NONE", "watermark": "XH", "watermark_kind": "sequence", "columns": {
                        "member_no": "GRBM", "household_no": "HBM", "national_id": "SFZH", "name": "XM"}},
                    "claim": {"query": claim_sql, "watermark": "changed"},
                    "claim_item": {"query": item_sql, "watermark": "changed"}}}, allow_unicode=True), encoding="utf-8")
    with source.begin() as conn:  # the register, for the claims' member check
        conn.exec_driver_sql("CREATE TABLE XNH_CHRY_NONE (GRBM TEXT, HBM TEXT, SFZH TEXT, XM TEXT, XH INTEGER)")
        conn.exec_driver_sql("INSERT INTO XNH_CHRY_NONE VALUES (?, ?, ?, ?, 1)", person[:4])
    from dataclasses import replace
    settings = replace(settings, config_dir=config)

    result = run_etl(province, settings, COUNTY, environ={"NCMS_SOURCE_520121": str(source.url)})
    assert [b.status.value for b in result.batches] == ["loaded", "loaded"]
    with session_scope(province) as s:
        assert sorted(s.scalars(sa.select(Claim.source_id))) == ["Q1", "Q2"]
        assert s.scalar(sa.select(sa.func.sum(ClaimItem.amount))) == Decimal("10.00")
    assert result.watermarks["claim"] == "2011-05-02 10:00:00"


def test_a_county_without_its_database_url_is_told_what_to_set(province, settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="set NCMS_SOURCE_520121 .* connection ncms_source_520121"):
        run_etl(province, settings, COUNTY, environ={})


def test_ncms_etl_all_extracts_every_etl_county(cli, province, settings, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    expected = {}
    for county in ("520121", "520123", "520323"):
        url = f"sqlite:///{tmp_path / f'{county}.db'}"
        expected[county] = county_database(url, county, seed=2)["claim"].height
        monkeypatch.setenv(f"NCMS_SOURCE_{county}", url)
    done = cli("etl", "--all")
    assert done.exit_code == 0, done.output
    assert "3 county(ies) extracted" in done.output and " 0 refused" in done.output.splitlines()[-1]
    with session_scope(province) as s:
        by_county = dict(s.execute(sa.select(Claim.county_code, sa.func.count()).group_by(Claim.county_code)).all())
    assert by_county == expected
    assert cli("etl", "520121", "--full", "--since", "1").exit_code == 2


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_county_database_on_postgresql(province, settings, database_url) -> None:  # type: ignore[no-untyped-def]
    """Vendor C's tables in a PostgreSQL schema (the provincial database's own, here), read
    through a named (server-side) cursor."""
    county = "520323"
    frames = county_database(database_url, county, seed=8)
    result = run_etl(province, settings, county, url=database_url)
    assert result.rows_rejected == 0
    assert result.rows_read == sum(f.height for f in frames.values())
    with session_scope(province) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Claim).where(Claim.county_code == county)) \
            == frames["claim"].height


def test_doctor_checks_every_etl_county_mapping_and_its_database_variable(tmp_path) -> None:
    from ncms.config import load_settings
    from ncms.doctor import FAIL, OK, WARN, check_etl_mappings

    settings = load_settings({}, data_dir=str(tmp_path / "var"), config_dir=str(CONFIG_DIR))
    every = {f"NCMS_SOURCE_{c}": "sqlite://" for c in ("520121", "520123", "520323")}
    assert check_etl_mappings(settings, every).status == OK
    partly = check_etl_mappings(settings, {"NCMS_SOURCE_520121": "sqlite://"})
    assert partly.status == WARN and "NCMS_SOURCE_520123, NCMS_SOURCE_520323" in partly.detail
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    (config / "mappings" / "520123.yaml").unlink()
    from dataclasses import replace
    missing = check_etl_mappings(replace(settings, config_dir=config), every)
    assert missing.status == FAIL and "520123 has no mapping" in missing.detail


def test_a_boundary_row_hashes_as_it_loads_whatever_its_window_types() -> None:
    """A source column of amounts holding both 10587.5 and 9548 reads as floats in a window of
    many rows ("9548.0") and as integers in a window of that row alone ("9548"): the same row
    must hash the same, or the boundary re-read sends it again every run (the demo's 520323)."""
    from ncms.ingest.changes import row_hashes

    names = list(RECORD_SCHEMAS["financing"].specs())
    row = {n: None for n in names} | {"year": "2011", "month": "9", "source": "central"}

    def hashes(*amounts: str, source: str = "central") -> list[str]:
        frame = pl.DataFrame([row | {"amount": a, "source": source} for a in amounts],
                             schema={n: pl.String for n in names})
        return row_hashes(frame, "financing").to_list()

    assert len(set(hashes("9548.0", "9548", "9548.00"))) == 1
    assert len(set(hashes("10587.50", "10587.5"))) == 1
    assert hashes("9548")[0] == hashes("9548", source=" central ")[0]  # a code loads trimmed
    assert len(set(hashes("9548", "9548.5", "954.8", "95480"))) == 4  # a changed amount is a change


def test_ncms_etl_all_and_the_dags_leave_out_a_county_that_sends_packages(cli, province, settings, tmp_path,
                                                                          monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A centralised county with ``delivery: packages`` has no mapping: ``--all`` must not try it."""
    config = tmp_path / "config"
    shutil.copytree(settings.config_dir, config)
    text = (config / "province.yaml").read_text(encoding="utf-8")
    start = text.index('code: "520123"')
    mode = text.index("mode: etl", start)
    (config / "province.yaml").write_text(text[:mode] + "mode: etl\n    delivery: packages" + text[mode + 9:],
                                          encoding="utf-8")
    (config / "mappings" / "520123.yaml").unlink(missing_ok=True)
    for county in ("520121", "520323"):
        url = f"sqlite:///{tmp_path / f'{county}.db'}"
        county_database(url, county, seed=2)
        monkeypatch.setenv(f"NCMS_SOURCE_{county}", url)
    done = cli("--config-dir", str(config), "etl", "--all")
    assert done.exit_code == 0, done.output
    assert "2 county(ies) extracted" in done.output and "520123" not in done.output
    monkeypatch.setenv("NCMS_CONFIG_DIR", str(config))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "dags"))
    sys.modules.pop("_common", None)
    import _common

    try:
        assert [code for code, _ in _common.etl_counties()] == ["520121", "520323"]
    finally:
        sys.modules.pop("_common", None)
