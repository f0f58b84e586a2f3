"""Receipts a county can act on: every refused row findable (numbers shown, national IDs
masked, an extract's rows by their key in the county database), every text in Chinese and
English, precise reasons, the same package twice named as such, and spaces around codes and
numbers trimmed the same way everywhere. SQLite and PostgreSQL; MariaDB as the county's
database for the extract."""
from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import re
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from ncms.db import session_scope
from ncms.exchange.messages import (PACKAGE_TEMPLATES, TEMPLATES, Problem, mask_ids_in_text, national_id_reasons,
                                    shown_value)
from ncms.exchange.package import PackageError
from ncms.exchange.schemas import RECORD_SCHEMAS, Manifest
from ncms.ids import mask_national_id
from ncms.ingest import ingest_package
from ncms.ingest.etl import run_etl
from ncms.models import Batch, BatchStatus, Claim, ClaimItem, Enrolment, Member, RejectedRow

from .packages import COUNTY, HOSPITAL, basic, claim, items, member, national_id, package
from .test_etl import COUNTY as ETL_COUNTY
from .test_etl import county_db, province  # noqa: F401 - fixtures: vendor A's database, the province

ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2013, 1, 1)
PERSON_ID = national_id("52012219700101001")  # a valid national ID
OLD_ID = "520122700101001"  # a valid 15-digit first-generation ID (born 1970-01-01)


@pytest.fixture
def load(loaded_engine, settings):  # type: ignore[no-untyped-def]
    settings.ensure_dirs()

    def run(path, **kw):  # type: ignore[no-untyped-def]
        kw.setdefault("today", TODAY)
        kw.setdefault("sender", COUNTY)
        return ingest_package(loaded_engine, settings, path, **kw)
    return run


def receipt_rows(result) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    text = result.receipt.with_suffix(".csv").read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def receipt(result) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return json.loads(result.receipt.read_text(encoding="utf-8"))


# --- 9. what is masked, and what is shown -----------------------------------------------

@pytest.mark.parametrize(("value", "field", "shown"), [
    ("520122399999", "institution_code", "520122399999"),  # an institution code
    ("2024031500000123", "claim_id", "2024031500000123"),  # a 16-digit claim number
    ("52012220240315000712", "claim_id", "52012220240315000712"),  # 20 digits: no ID
    (PERSON_ID[:17] + ("1" if PERSON_ID[17] != "1" else "2"), "member_no", None),  # not valid: a number
    (PERSON_ID, "member_no", mask_national_id(PERSON_ID)),  # a valid ID, whatever the field
    (OLD_ID, "member_no", mask_national_id(OLD_ID)),  # a valid first-generation ID
    ("52012219700101001", "national_id", mask_national_id("52012219700101001")),  # an ID field: always
])
def test_only_national_ids_are_masked(value, field, shown):  # type: ignore[no-untyped-def]
    assert shown_value(value, field) == (value if shown is None else shown)


def test_national_ids_are_masked_inside_texts():
    text = f"MZ01,{PERSON_ID},520122399999,{OLD_ID}x,{OLD_ID}"
    masked = mask_ids_in_text(text)
    assert PERSON_ID not in masked and mask_national_id(PERSON_ID) in masked
    assert "520122399999" in masked and f"{OLD_ID}x" in masked  # a code; a token that is not an ID
    assert masked.endswith(mask_national_id(OLD_ID))
    refusal = PackageError("unreadable_csv", name="claims.csv", reason=f"row 3: {PERSON_ID}")
    assert PERSON_ID not in refusal.message_en + refusal.message_zh


def test_a_receipt_shows_the_numbers_a_county_looks_rows_up_by(load, tmp_path):  # type: ignore[no-untyped-def]
    claims = [claim("C1"), claim("2024031500000123", institution_code="520122399999")]
    enrolments = [dict(member_no="M1", year="2011", contribution="30.00", enrolled_on=None),
                  dict(member_no=PERSON_ID, year="2011", contribution="30.00", enrolled_on=None)]
    result = load(basic(tmp_path / "p.zip", claims=claims, enrolments=enrolments,
                        claim_items=items("C1", "30.00") + items("9999000011112222", "1.00")))
    rows = {r["code"]: r for r in receipt_rows(result)}
    institution = rows["unknown_institution"]
    assert institution["value"] == "520122399999" and "520122399999" in institution["message_zh"]
    assert rows["unknown_claim"]["value"] == "9999000011112222"
    assert "9999000011112222" in rows["unknown_claim"]["message_en"]
    member_row = rows["unknown_member"]  # a member number that is a national ID stays masked
    assert member_row["value"] == mask_national_id(PERSON_ID)
    assert PERSON_ID not in result.receipt.with_suffix(".csv").read_text(encoding="utf-8-sig")


def test_a_refused_csv_line_has_its_national_id_masked(load, tmp_path):  # type: ignore[no-untyped-def]
    good = basic(tmp_path / "good.zip")
    ragged = tmp_path / "ragged.zip"
    _rewrite(good, ragged, "members.csv", lambda text: text + f"M9,HM9,{PERSON_ID},张九,head\n", rows=1)
    result = load(ragged)
    (row,) = receipt_rows(result)
    assert row["code"] == "ragged_row" and PERSON_ID not in row["value"] and mask_national_id(PERSON_ID) in row["value"]
    assert "应为 8 个，实为 5 个" in row["message_zh"] and "expected 8, got 5" in row["message_en"]


def test_an_extract_receipt_names_each_row_by_its_key_in_the_county_database(province, settings,  # noqa: F811
                                                                             county_db):  # noqa: F811
    url = county_db.url.render_as_string(hide_password=False)
    result = run_etl(province, settings, ETL_COUNTY, url=url)
    rows = [r for b in result.batches for r in receipt_rows(b)]
    keys = {(r["record_type"], r["code"]): r["source_key"] for r in rows}
    assert keys[("member", "national_id")] == "XNH_CHRY.GRBM=M06"
    assert keys[("claim", "out_of_range")] == "XNH_JSXX.JSDH=C4"  # the negative amount
    assert keys[("claim_item", "claim_rejected")] == "XNH_FYMX.JSDH=C3;MXXH=1"
    assert keys[("financing", "not_in_list")] == "XNH_CZDZ.ND=2011;YF=1;ZJLY=8"  # the vendor's code, as held
    assert all(r["source_key"] for r in rows)


# --- 10. both languages, everywhere ------------------------------------------------------

FIELD_NAMES = {name for schema in RECORD_SCHEMAS.values() for name in schema.specs()} | set(Manifest().fields)
# technical names a Chinese text may quote: formats, standards, a file and a path
TERMS = {"ZIP", "CSV", "XML", "JSON", "SHA-256", "ICD-10", "YYYY-MM-DD", "YYYYMMDD", "J18", "J18.9", "DTD",
         "CRC", "manifest.json", "GB/T", "X", "UTF-8"}
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")


def english_in(zh: str) -> set[str]:
    """The ASCII words of a Chinese text that are neither field names, codes, TERMS nor a
    quoted value (the character found where a digit belongs)."""
    codes = set(TEMPLATES) | {k.split(".")[0] for k in PACKAGE_TEMPLATES}
    return {w.rstrip(".") for w in WORD.findall(re.sub(r"'[^']*'", "", zh))} - FIELD_NAMES - codes - TERMS


def english_phrase(zh: str) -> str | None:
    """Two ASCII words in a row in a rendered Chinese text: a quoted English sentence (single
    words may be values: a file name, a hash, a path)."""
    found = re.search(r"\b[A-Za-z]{2,}\b[ ,:;]+\b[A-Za-z]{2,}\b", zh)
    return found.group() if found else None


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_no_row_message_in_chinese_quotes_english(key):  # type: ignore[no-untyped-def]
    zh = re.sub(r"\{\w+\}", "", TEMPLATES[key][0])
    assert not english_in(zh), zh


@pytest.mark.parametrize("key", sorted(PACKAGE_TEMPLATES))
def test_no_package_message_in_chinese_quotes_english(key):  # type: ignore[no-untyped-def]
    zh = re.sub(r"\{\w+\}", "", PACKAGE_TEMPLATES[key][0])
    assert not english_in(zh), zh


@pytest.mark.parametrize("value", [
    "52012219700101001", OLD_ID, PERSON_ID[:17] + "A", "99" + PERSON_ID[2:], PERSON_ID[:6] + "19700230" + PERSON_ID[14:],
    PERSON_ID[:17] + ("1" if PERSON_ID[17] != "1" else "2"), PERSON_ID + "\n"])
def test_a_national_id_refusal_is_said_in_chinese(value):  # type: ignore[no-untyped-def]
    problem = Problem("member", "members.csv", 2, "national_id", value, "national_id",
                      spec=RECORD_SCHEMAS["member"].specs()["national_id"])
    zh, en = problem.messages
    assert zh.startswith("身份证号无效：身份证号 ") and not english_in(zh) and not english_phrase(zh), zh
    assert en.startswith("invalid national ID: national ID ")
    assert value.strip() not in zh + en


def test_every_package_refusal_in_the_code_has_words_in_both_languages():
    """Each ``PackageError(...)`` raised in ncms names a template (or its code is one)."""
    unnamed = []
    for path in (ROOT / "ncms").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                     and isinstance(node.value, ast.Constant) for target in node.targets if isinstance(target, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "PackageError":
                key = node.args[1] if len(node.args) > 1 else node.args[0]
                code = key.value if isinstance(key, ast.Constant) else constants.get(getattr(key, "id", None))
                if code not in PACKAGE_TEMPLATES:
                    unnamed.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not unnamed


@pytest.mark.parametrize("break_it", ["checksum", "manifest", "county"])
def test_a_package_refused_as_a_whole_gets_its_reason_in_both_languages(load, tmp_path, break_it):  # type: ignore[no-untyped-def]
    good = basic(tmp_path / "good.zip", seq=7)
    if break_it == "county":
        path = basic(tmp_path / "bad.zip", seq=7, county="520422")
    else:
        path = tmp_path / "bad.zip"
        def spoil(first: str) -> str:  # another hex digit (a checksum that lies), or no hex digit at all
            return ("1" if first == "0" else "0") if break_it == "checksum" else "X"
        _rewrite(good, path, "manifest.json", lambda text: re.sub(
            r'"sha256": "(.)', lambda m: f'"sha256": "{spoil(m.group(1))}', text, count=1))
    result = load(path)
    summary = receipt(result)
    code = {"checksum": "checksum", "manifest": "bad_manifest", "county": "wrong_county"}[break_it]
    assert summary["status"] == "rejected" and summary["error_code"] == code
    assert re.search(r"[\u4e00-\u9fff]", summary["error_zh"]) and not english_phrase(summary["error_zh"])
    assert summary["error_en"] == summary["error"] == result.error and not re.search(r"[\u4e00-\u9fff]",
                                                                                     summary["error_en"])
    # named by the sequence its sender gave it, though it was refused before it was opened
    assert result.receipt.name == f"receipt-{COUNTY}-0007-batch{result.batch_id}.json"
    assert summary["sequence"] == 7


# --- 11. precise reasons ----------------------------------------------------------------------

def test_a_negative_amount_is_out_of_range_and_the_items_of_a_refused_claim_are_claim_rejected(
        load, loaded_engine, tmp_path):  # type: ignore[no-untyped-def]
    path = basic(tmp_path / "p.zip", claims=[claim("C1"), claim("C2", compensated_amount="-12.00")],
                 claim_items=items("C1", "30.00") + items("C2", "10.00", "20.00"))
    result = load(path)
    got = sorted((r["file"], r["line"], r["code"], r["value"]) for r in receipt_rows(result))
    assert got == [("claim_items.csv", "3", "claim_rejected", "C2"), ("claim_items.csv", "4", "claim_rejected", "C2"),
                   ("claims.csv", "3", "out_of_range", "-12.00")]
    with loaded_engine.connect() as conn:
        assert set(conn.execute(sa.select(Claim.source_id)).scalars()) == {"C1"}


def test_a_corrected_claim_refused_keeps_its_old_items(load, loaded_engine, tmp_path):  # type: ignore[no-untyped-def]
    """A correction of a loaded claim that the screen refuses takes its new items with it:
    the old claim keeps its old items (they were neither replaced nor joined to it)."""
    load(basic(tmp_path / "p1.zip"))
    bad = package(tmp_path / "p2.zip", seq=2, claims=[claim("C1", settlement_date="2011-02-01")],
                  claim_items=items("C1", "30.00"))
    result = load(bad)
    assert {r["code"] for r in receipt_rows(result)} == {"date_order", "claim_rejected"}
    with session_scope(loaded_engine) as s:
        c1 = s.scalar(sa.select(Claim).where(Claim.source_id == "C1"))
        assert [i.amount for i in c1.items] == [Decimal("17.00"), Decimal("13.00")]


def test_the_same_package_twice_is_named_as_already_loaded(load, loaded_engine, tmp_path):  # type: ignore[no-untyped-def]
    path = basic(tmp_path / "p1.zip")
    first = load(path)
    with loaded_engine.connect() as conn:
        stamps = conn.execute(sa.select(Claim.source_id, Claim.updated_at)).all()
    second = load(path)
    assert second.status == BatchStatus.REJECTED and second.rows_loaded == 0
    summary = receipt(second)
    assert summary["error_code"] == "already_loaded" and summary["same_as_batch"] == first.batch_id
    assert f"第 {first.batch_id} 批次" in summary["error_zh"] and f"batch {first.batch_id}" in summary["error_en"]
    assert summary["sequence"] == 1 and second.receipt.name.startswith(f"receipt-{COUNTY}-0001-")
    with loaded_engine.connect() as conn:  # nothing touched
        assert conn.execute(sa.select(Claim.source_id, Claim.updated_at)).all() == stamps
        assert conn.scalar(sa.select(sa.func.count()).select_from(Batch)) == 2


def test_sending_a_loaded_package_again_is_no_failure_of_the_command(cli, settings, loaded_engine, tmp_path):
    # type: ignore[no-untyped-def]
    """An operator's or a scheduler's rerun of `ncms ingest FILE` exits 0 (the receipt names
    the batch that loaded it); a package really refused still makes it exit 1."""
    path = basic(tmp_path / "p1.zip")
    assert cli("ingest", str(path), "--county", COUNTY).exit_code == 0
    again = cli("ingest", str(path), "--county", COUNTY)
    assert again.exit_code == 0, again.output
    assert "loaded in full" in again.output
    wrong = cli("ingest", str(package(tmp_path / "p2.zip", seq=2, county="520422")), "--county", COUNTY)
    assert wrong.exit_code == 1 and "1 of 1 package(s) refused" in wrong.output


def test_the_same_package_loads_again_when_it_loaded_only_in_part(load, loaded_engine, tmp_path):  # type: ignore[no-untyped-def]
    """Nothing is lost: an enrolment refused for a member not yet sent passes once the member
    has come, when the very same package is sent again."""
    early = package(tmp_path / "enrol.zip", seq=1,
                    enrolments=[dict(member_no="M3", year="2011", contribution="30.00", enrolled_on=None)])
    assert load(early).status == BatchStatus.PARTIAL
    assert load(package(tmp_path / "members.zip", seq=2, members=[member("M3")])).status == BatchStatus.LOADED
    again = load(early)
    assert again.status == BatchStatus.LOADED and receipt(again)["error_code"] is None
    with loaded_engine.connect() as conn:
        assert conn.execute(sa.select(Enrolment.member_no)).scalars().all() == ["M3"]


# --- 12. spaces around codes and numbers -------------------------------------------------------

def test_padded_codes_and_numbers_load_trimmed(load, loaded_engine, tmp_path):  # type: ignore[no-untyped-def]
    lines = items(" C1", "17.00 ", "\u300013.00") + items("C2", "45.50")
    for line in lines:
        line["item_code"] = "D0001\u3000 "
    path = basic(tmp_path / "p.zip",
                 members=[member("M1", member_no=" M1 ", household_no="HM1\u3000"), member("M2", household_no="HM1")],
                 enrolments=[dict(member_no="M1 ", year=" 2011", contribution="30.00", enrolled_on=None)],
                 claims=[claim("C1") | dict(claim_id="C1 ", member_no="\u3000M1", institution_code=f" {HOSPITAL} ",
                                            diagnosis_code="J18.9\u3000"),
                         claim("C2", member_no="M2", total_amount="45.50", eligible_amount="40.00", referral=" 0")],
                 claim_items=lines)
    result = load(path)
    assert result.status == BatchStatus.LOADED, receipt_rows(result)
    with session_scope(loaded_engine) as s:
        assert set(s.scalars(sa.select(Member.member_no))) == {"M1", "M2"}
        assert s.scalar(sa.select(Enrolment.member_no)) == "M1"
        c1 = s.scalar(sa.select(Claim).where(Claim.source_id == "C1"))
        assert (c1.member_no, c1.diagnosis_code, c1.institution.code) == ("M1", "J18.9", HOSPITAL)
        assert {(i.item_code, i.unmapped) for i in s.scalars(sa.select(ClaimItem))} == {("D0001", False)}


# --- helpers -------------------------------------------------------------------------------------

def _rewrite(src: Path, dst: Path, name: str, change, rows: int = 0) -> None:  # type: ignore[no-untyped-def]
    """A copy of a package with one member changed (and the manifest made to agree with it,
    unless the manifest is the one changed)."""
    with zipfile.ZipFile(src) as archive:
        contents = {info.filename: archive.read(info) for info in archive.infolist()}
    contents[name] = change(contents[name].decode("utf-8")).encode("utf-8")
    if name != "manifest.json":
        manifest = json.loads(contents["manifest.json"])
        entry = next(f for f in manifest["files"] if f["name"] == name)
        entry["sha256"] = hashlib.sha256(contents[name]).hexdigest()
        entry["rows"] += rows
        contents["manifest.json"] = json.dumps(manifest).encode("utf-8")
    with zipfile.ZipFile(dst, "w") as archive:
        for member_name, data in contents.items():
            archive.writestr(member_name, data)
