"""The single ingest path end to end, on SQLite and PostgreSQL: load, reload, correct, refuse."""
from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ncms.db import create_engine, session_scope
from ncms.exchange.package import Limits
from ncms.ingest import ingest_package
from ncms.ingest import items as items_module
from ncms.ingest import pipeline
from ncms.ingest.status import timeliness
from ncms.models import (Batch, BatchStatus, Claim, ClaimItem, Enrolment, FundFinancing, Household, Member,
                         RejectedRow)

from .packages import COUNTY, basic, claim, frame, items, member, package

TODAY = date(2013, 1, 1)


@pytest.fixture
def load(loaded_engine, settings):
    settings.ensure_dirs()

    def run(path, **kw):
        kw.setdefault("today", TODAY)
        return ingest_package(loaded_engine, settings, path, **kw)
    return run


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {m.__tablename__: conn.execute(sa.select(sa.func.count()).select_from(m)).scalar_one()
                for m in (Household, Member, Enrolment, Claim, ClaimItem, FundFinancing)}


def test_valid_package_loads_every_record(load, loaded_engine, tmp_path, settings):
    result = load(basic(tmp_path / "p1.zip"), sender=COUNTY)
    assert result.status == BatchStatus.LOADED
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (10, 10, 0)
    assert counts(loaded_engine) == dict(household=1, member=2, enrolment=2, claim=2, claim_item=3, fund_financing=1)
    with session_scope(loaded_engine) as s:
        m1 = s.scalar(sa.select(Member).where(Member.member_no == "M1"))
        assert m1.sex.value == "M" and m1.birth_date.year >= 1970
        c2 = s.scalar(sa.select(Claim).where(Claim.source_id == "C2"))
        assert c2.total_amount == Decimal("45.50") and c2.eligible_amount == Decimal("40.00")
        assert c2.institution.code == "520122300001" and c2.referral is False
        assert [i.unmapped for i in c2.items] == [False]
        batch = s.get(Batch, result.batch_id)
        assert batch.package_seq == 1 and batch.period_end == date(2011, 3, 31) and batch.sha256
    archived = list(settings.archive_dir.rglob("*.zip"))
    assert len(archived) == 1 and archived[0].stem == batch.sha256
    receipt = json.loads(result.receipt.read_text())
    assert receipt["status"] == "loaded" and receipt["rows"] == {"read": 10, "loaded": 10, "rejected": 0}
    assert result.receipt.parent == settings.spool_dir / COUNTY / "outbox"


def test_loading_twice_leaves_one_copy(load, loaded_engine, tmp_path):
    """The same records in a second package (the same package twice: tests/test_receipts.py)."""
    load(basic(tmp_path / "p1.zip"), sender=COUNTY)
    before = counts(loaded_engine)
    with loaded_engine.connect() as conn:
        stamp = conn.execute(sa.select(Claim.updated_at).where(Claim.source_id == "C1")).scalar_one()
    second = load(basic(tmp_path / "p2.zip", seq=2), sender=COUNTY)
    assert second.status == BatchStatus.LOADED
    assert counts(loaded_engine) == before
    with loaded_engine.connect() as conn:  # an unchanged row is not rewritten
        assert conn.execute(sa.select(Claim.updated_at).where(Claim.source_id == "C1")).scalar_one() == stamp


def test_later_package_corrects_and_voids(load, loaded_engine, tmp_path):
    load(basic(tmp_path / "p1.zip"), sender=COUNTY)
    correction = package(tmp_path / "p2.zip", seq=2,
                         claims=[claim("C1", total_amount="20.00", eligible_amount="20.00", compensated_amount="8.00"),
                                 claim("C2", member_no="M2", total_amount="45.50", eligible_amount="40.00", voided="1")],
                         claim_items=items("C1", "20.00"))
    result = load(correction, sender=COUNTY)
    assert result.status == BatchStatus.LOADED
    with session_scope(loaded_engine) as s:
        c1 = s.scalar(sa.select(Claim).where(Claim.source_id == "C1"))
        assert c1.total_amount == Decimal("20.00") and [i.amount for i in c1.items] == [Decimal("20.00")]
        c2 = s.scalar(sa.select(Claim).where(Claim.source_id == "C2"))
        assert c2.voided is True and len(c2.items) == 1  # sent without items: its items stay
    assert counts(loaded_engine)["claim"] == 2


def test_a_later_package_updates_people_and_adds_to_them(load, loaded_engine, tmp_path):
    """The first package of a county is inserted without looking for known keys; later ones
    update what changed and add what is new, in every people table."""
    load(basic(tmp_path / "p1.zip"), sender=COUNTY)
    later = package(tmp_path / "p2.zip", seq=2,
                    members=[member("M1", name="张三丰", death_date="2011-06-01"), member("M3")],
                    enrolments=[dict(member_no="M1", year="2011", contribution="45.00", enrolled_on="2011-01-05"),
                                dict(member_no="M1", year="2012", contribution="50.00", enrolled_on=None),
                                dict(member_no="M3", year="2011", contribution="30.00", enrolled_on=None)])
    assert load(later, sender=COUNTY).status == BatchStatus.LOADED
    with session_scope(loaded_engine) as s:
        m1 = s.scalar(sa.select(Member).where(Member.member_no == "M1"))
        assert (m1.name, m1.death_date) == ("张三丰", date(2011, 6, 1))
        assert [(e.year, e.contribution) for e in m1.enrolments] == [(2011, Decimal("45.00")), (2012, Decimal("50.00"))]
        assert s.scalar(sa.select(Member).where(Member.member_no == "M2")).enrolments[0].contribution == Decimal("30.00")
    assert counts(loaded_engine) == dict(household=2, member=3, enrolment=4, claim=2, claim_item=3, fund_financing=1)


def test_bad_rows_are_refused_with_reasons_and_good_rows_load(load, loaded_engine, tmp_path):
    path = basic(
        tmp_path / "p.zip",
        claims=[claim("C1"), claim("C2", eligible_amount="99.00"), claim("C3", institution_code="999"),
                claim("C4", total_amount="31.00"), claim("C5", member_no="M404")],
        claim_items=items("C1", "17.00", "13.00") + items("C3", "30.00") + items("C4", "30.00") + items("C9", "1.00"),
        enrolments=[dict(member_no="M1", year="2011", contribution="30.00", enrolled_on=None),
                    dict(member_no="M404", year="2011", contribution="30.00", enrolled_on=None)],
    )
    result = load(path, sender=COUNTY)
    assert result.status == BatchStatus.PARTIAL
    with session_scope(loaded_engine) as s:
        got = {(r.file, r.line, r.code) for r in s.scalars(sa.select(RejectedRow))}
        loaded = set(s.scalars(sa.select(Claim.source_id)))
    assert got == {
        ("claims.csv", 3, "eligible_gt_total"), ("claims.csv", 4, "unknown_institution"),
        ("claims.csv", 5, "items_sum"), ("claim_items.csv", 4, "claim_rejected"),
        ("claim_items.csv", 5, "claim_rejected"), ("claim_items.csv", 6, "unknown_claim"),
        ("enrolments.csv", 3, "unknown_member"),
    }
    # a claim of a member missing from the register is suspicious, not malformed: it loads
    assert loaded == {"C1", "C5"}
    csv_text = result.receipt.with_suffix(".csv").read_text(encoding="utf-8-sig")
    assert "医疗机构编码 999 未在省级平台登记" in csv_text and "institution 999 is not registered" in csv_text
    assert result.rows_rejected == 7


def test_duplicate_keys_in_a_file_refuse_every_copy(load, loaded_engine, tmp_path):
    path = basic(tmp_path / "p.zip", claims=[claim("C1"), claim("C1", total_amount="31.00"), claim("C2")],
                 claim_items=items("C2", "30.00"))
    result = load(path, sender=COUNTY)
    with session_scope(loaded_engine) as s:
        dupes = s.scalars(sa.select(RejectedRow).where(RejectedRow.code == "duplicate_key")).all()
        assert sorted(r.line for r in dupes) == [2, 3]
        assert "lines 2…3" in dupes[0].message_en
        assert set(s.scalars(sa.select(Claim.source_id))) == {"C2"}
    assert result.status == BatchStatus.PARTIAL


def test_duplicate_keys_in_different_chunks_are_found(load, loaded_engine, tmp_path):
    """The duplicate check is skipped when the keys' hashes are all distinct: hashes from
    every chunk must be compared, and of the key as loaded (national IDs are normalised)."""
    claims = [claim(f"C{n}") for n in range(1, 8)] + [claim("C2", total_amount="31.00")]
    path = basic(tmp_path / "p.zip", fmt="xml", claims=claims, claim_items=[])
    result = load(path, sender=COUNTY, limits=Limits(chunk_rows=2))
    with session_scope(loaded_engine) as s:
        dupes = s.scalars(sa.select(RejectedRow).where(RejectedRow.code == "duplicate_key")).all()
        assert sorted(r.line for r in dupes) == [2, 8], result  # XML: the record's number
        assert set(s.scalars(sa.select(Claim.source_id))) == {"C1", "C3", "C4", "C5", "C6", "C7"}
    assert result.status == BatchStatus.PARTIAL


def test_refusals_name_the_file_they_came_from(load, loaded_engine, tmp_path):
    """A package may split a record type over several files: a refusal of the set checks
    points at the file and line the row came from."""
    first = basic(tmp_path / "first.zip")
    second = tmp_path / "two-claim-files.zip"
    extra = frame([claim("C8", institution_code="999"), claim("C9")]).write_csv(null_value="").encode()
    with zipfile.ZipFile(first) as src, zipfile.ZipFile(second, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["files"].insert(3, dict(name="claims-2.csv", record_type="claim", format="csv", rows=2,
                                                 sha256=hashlib.sha256(extra).hexdigest()))
                data = json.dumps(manifest).encode()
            dst.writestr(info.filename, data)
        dst.writestr("claims-2.csv", extra)
    result = load(second, sender=COUNTY)
    with session_scope(loaded_engine) as s:
        got = {(r.file, r.line, r.code) for r in s.scalars(sa.select(RejectedRow))}
        assert set(s.scalars(sa.select(Claim.source_id))) == {"C1", "C2", "C9"}
    assert got == {("claims-2.csv", 2, "unknown_institution")}
    assert result.status == BatchStatus.PARTIAL


def test_item_totals_add_up_across_chunks(load, loaded_engine, tmp_path):
    lines = items("C1", "10.00", "10.00", "10.00") + items("C2", "40.00", "5.49")  # C2 is 45.50: one fen short
    path = basic(tmp_path / "p.zip", fmt="xml", claim_items=lines)
    result = load(path, sender=COUNTY, limits=Limits(chunk_rows=2))
    with session_scope(loaded_engine) as s:
        assert set(s.scalars(sa.select(Claim.source_id))) == {"C1", "C2"}  # within one fen
    lines[-1]["amount"] = "5.48"  # two fen short
    result = load(basic(tmp_path / "q.zip", fmt="xml", seq=2, claim_items=lines), sender=COUNTY,
                  limits=Limits(chunk_rows=2))
    with session_scope(loaded_engine) as s:
        refused = s.scalars(sa.select(RejectedRow).where(RejectedRow.batch_id == result.batch_id,
                                                         RejectedRow.code == "items_sum")).all()
        assert [(r.line, r.record_type) for r in refused] == [(2, "claim")]
        assert "items 45.48, total_amount 45.50" in refused[0].message_en


def test_duplicate_item_lines_refuse_every_copy_and_their_claim(load, loaded_engine, tmp_path):
    """Item lines skip the staging tables: their duplicates are found in the spooled chunks,
    and a claim that loses lines to them no longer adds up."""
    lines = items("C1", "17.00", "13.00") + items("C2", "45.50")
    lines.append(dict(lines[1]))  # C1 line 2 again, three chunks later
    result = load(basic(tmp_path / "p.zip", fmt="xml", claim_items=lines), sender=COUNTY,
                  limits=Limits(chunk_rows=1))
    with session_scope(loaded_engine) as s:
        got = sorted((r.file, r.line, r.code, r.field) for r in s.scalars(sa.select(RejectedRow)))
        detail = s.scalar(sa.select(RejectedRow.message_en).where(RejectedRow.code == "duplicate_key"))
        assert {c.source_id: len(c.items) for c in s.scalars(sa.select(Claim))} == {"C2": 1}
    assert got == [("claim_items.xml", 1, "claim_rejected", "claim_id"),
                   ("claim_items.xml", 2, "duplicate_key", "line_no"),
                   ("claim_items.xml", 4, "duplicate_key", "line_no"),
                   ("claims.xml", 1, "items_sum", "total_amount")]
    assert "×2, lines 2…4" in detail
    assert result.rows_rejected == 4


def test_items_sent_later_for_a_loaded_claim_replace_its_items(load, loaded_engine, tmp_path):
    load(basic(tmp_path / "p1.zip"), sender=COUNTY)
    later = package(tmp_path / "p2.zip", seq=2, claim_items=items("C2", "40.00", "5.50") + items("C7", "1.00"))
    result = load(later, sender=COUNTY)
    assert result.status == BatchStatus.PARTIAL  # C7 was never sent
    with session_scope(loaded_engine) as s:
        c2 = s.scalar(sa.select(Claim).where(Claim.source_id == "C2"))
        assert [(i.line_no, i.amount) for i in c2.items] == [(1, Decimal("40.00")), (2, Decimal("5.50"))]
        assert [(r.line, r.code) for r in s.scalars(sa.select(RejectedRow).where(
            RejectedRow.batch_id == result.batch_id))] == [(4, "unknown_claim")]
    assert counts(loaded_engine)["claim_item"] == 4


def test_claim_item_checks_hold_again_after_a_load_and_after_a_crash_in_it(load, loaded_engine, tmp_path,
                                                                          monkeypatch):
    """SQLite leaves claim_item's CHECK constraints to the screen while a batch's lines go
    in, and only then: no pooled connection is left without them, even when the load fails."""
    def enforced() -> None:
        with loaded_engine.connect() as conn:
            claim_id = conn.execute(sa.select(Claim.id).limit(1)).scalar_one()
            conn.rollback()
            with pytest.raises(sa.exc.IntegrityError), conn.begin():
                conn.execute(sa.insert(ClaimItem).values(claim_id=claim_id, line_no=0, item_code="D0001",
                                                         category="drug", quantity=1, unit_price=1, amount=1))
        if loaded_engine.dialect.name == "sqlite":
            pooled = [loaded_engine.connect() for _ in range(loaded_engine.pool.checkedin())]
            try:
                assert [c.exec_driver_sql("PRAGMA ignore_check_constraints").scalar() for c in pooled] \
                    == [0] * len(pooled)
            finally:
                for conn in pooled:
                    conn.close()

    load(basic(tmp_path / "p1.zip"), sender=COUNTY)
    enforced()

    real = items_module.append

    def disk_full(conn, table, frame):
        if table is ClaimItem.__table__:
            raise OSError("disk full")
        real(conn, table, frame)

    monkeypatch.setattr(items_module, "append", disk_full)
    with pytest.raises(OSError):
        load(basic(tmp_path / "p2.zip", seq=2), sender=COUNTY)
    enforced()


def test_unknown_item_codes_load_marked_unmapped(load, loaded_engine, tmp_path):
    lines = items("C1", "17.00", "13.00")
    lines[1]["item_code"] = "LOCAL-42"
    load(basic(tmp_path / "p.zip", claim_items=lines, claims=[claim("C1")]), sender=COUNTY)
    with loaded_engine.connect() as conn:
        assert dict(conn.execute(sa.select(ClaimItem.item_code, ClaimItem.unmapped)).all()) == {
            "D0001": False, "LOCAL-42": True}


def test_package_from_another_county_is_refused_with_a_receipt(load, loaded_engine, tmp_path, settings):
    path = basic(tmp_path / "p.zip", county="520422")
    result = load(path, sender=COUNTY)
    assert result.status == BatchStatus.REJECTED
    assert counts(loaded_engine)["claim"] == 0
    receipt = json.loads(result.receipt.read_text())
    assert receipt["error_code"] == "wrong_county" and "520422" in receipt["error"]
    assert result.receipt.parent == settings.spool_dir / COUNTY / "outbox"


def test_a_manifest_that_lies_about_row_counts_loads_nothing(load, loaded_engine, tmp_path):
    good = basic(tmp_path / "good.zip")
    lying = tmp_path / "lying.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(lying, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["files"][3]["rows"] += 1  # claim items
                data = json.dumps(manifest).encode()
            dst.writestr(info.filename, data)
    result = load(lying, sender=COUNTY)
    assert result.status == BatchStatus.REJECTED
    assert "the manifest says 4 rows, the file has 3" in result.error
    assert counts(loaded_engine) == dict(household=0, member=0, enrolment=0, claim=0, claim_item=0, fund_financing=0)
    with session_scope(loaded_engine) as s:  # the rows screened before the lie was found are not reported
        assert s.scalar(sa.select(sa.func.count()).select_from(RejectedRow)) == 0


def test_a_crash_mid_load_leaves_nothing_and_a_rerun_loads_once(load, loaded_engine, tmp_path, monkeypatch):
    path = basic(tmp_path / "p.zip")
    real = pipeline.load_staged

    def crash(*args, **kwargs):
        real(*args, **kwargs)  # the upserts ran; the commit will not
        raise RuntimeError("power cut")

    monkeypatch.setattr(pipeline, "load_staged", crash)
    with pytest.raises(RuntimeError):
        load(path, sender=COUNTY)
    assert counts(loaded_engine)["claim"] == 0
    with session_scope(loaded_engine) as s:
        assert s.scalar(sa.select(Batch.status)) == BatchStatus.FAILED
    monkeypatch.setattr(pipeline, "load_staged", real)
    assert load(path, sender=COUNTY).status == BatchStatus.LOADED
    assert counts(loaded_engine)["claim"] == 2


def test_gb18030_and_xml_packages_load_the_same(load, loaded_engine, tmp_path):
    for n, (encoding, fmt) in enumerate((("GB18030", "csv"), ("UTF-8", "xml"), ("GB18030", "xml")), 1):
        result = load(basic(tmp_path / f"p{n}.zip", seq=n, encoding=encoding, fmt=fmt), sender=COUNTY)
        assert result.status == BatchStatus.LOADED, result.error
    with loaded_engine.connect() as conn:
        assert set(conn.execute(sa.select(Member.name)).scalars()) == {"张M1", "张M2"}
    assert counts(loaded_engine)["claim"] == 2


def test_timeliness_finds_gaps_and_refusals(load, loaded_engine, tmp_path):
    load(basic(tmp_path / "p1.zip", seq=1), sender=COUNTY)
    load(basic(tmp_path / "p4.zip", seq=4), sender=COUNTY)
    load(basic(tmp_path / "p2.zip", seq=2, county="520422"), sender=COUNTY)  # refused: wrong county
    with session_scope(loaded_engine) as s:
        status = {st.county_code: st for st in timeliness(s)}
    st = status[COUNTY]
    assert st.last_sequence == 4 and st.missing_sequences == [2, 3] and st.refused_sequences == [2]
    assert st.last_period_end == date(2011, 3, 31)
    assert status["520121"].batches == 0


def test_ingest_cli_shows_a_summary_and_status(cli, tmp_path):
    assert cli("db", "upgrade").exit_code == 0 and cli("db", "load-config").exit_code == 0
    result = cli("ingest", str(basic(tmp_path / "p1.zip", seq=3)), "--county", COUNTY)
    assert result.exit_code == 0, result.output
    assert "batch" in result.output and "10 loaded, 0 refused" in result.output
    status = cli("ingest", "status")
    assert status.exit_code == 0 and "missing 1-2" in status.output
    refused = cli("ingest", str(basic(tmp_path / "p2.zip", county="520422")), "--county", COUNTY)
    assert refused.exit_code == 1 and "is not the sender's county" in refused.output


def test_ingest_cli_loads_counties_side_by_side_and_each_county_in_order(cli, settings, tmp_path):
    assert cli("db", "upgrade").exit_code == 0 and cli("db", "load-config").exit_code == 0
    first = basic(tmp_path / "a1.zip", seq=1)
    correction = basic(tmp_path / "a2.zip", seq=2, claims=[claim("C1", total_amount="31.00")],
                       claim_items=items("C1", "31.00"), members=None, enrolments=None, financing=None)
    other = basic(tmp_path / "b1.zip", county="520422")
    result = cli("ingest", str(first), str(other), str(correction), "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert result.output.count(": batch ") == 3
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            loaded = dict(conn.execute(sa.select(Claim.county_code + "/" + Claim.source_id, Claim.total_amount)).all())
            seqs = conn.execute(sa.select(Batch.county_code, Batch.package_seq).order_by(Batch.id)).all()
    finally:
        engine.dispose()
    assert loaded == {f"{COUNTY}/C1": Decimal("31.00"), f"{COUNTY}/C2": Decimal("45.50"),
                      "520422/C1": Decimal("30.00"), "520422/C2": Decimal("45.50")}
    assert [s for c, s in seqs if c == COUNTY] == [1, 2]  # the correction loaded after what it corrects


def test_a_ten_megabyte_field_is_refused_and_not_kept_whole(load, loaded_engine, tmp_path):
    # varied text, as a real runaway field would be (a repeated character would trip the zip-bomb limit)
    huge = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(10 * 1024 * 1024 // 3))
    result = load(basic(tmp_path / "p.zip", members=[member("M1"), member("M2", name=huge)]), sender=COUNTY)
    assert result.status == BatchStatus.PARTIAL
    with session_scope(loaded_engine) as s:
        row = s.scalar(sa.select(RejectedRow).where(RejectedRow.code == "too_long"))
        assert row.field == "name" and row.line == 3
        assert len(row.value) < 2000 and row.value.endswith(f"({len(huge)} characters)")
        assert len(json.dumps(row.record, ensure_ascii=False)) < 5000
    assert counts(loaded_engine)["member"] == 1


def test_inbox_handoff_ingests_each_county_and_empties_the_inbox(cli, settings, tmp_path):
    assert cli("db", "upgrade").exit_code == 0 and cli("db", "load-config").exit_code == 0
    inbox = settings.spool_dir / COUNTY / "inbox"
    inbox.mkdir(parents=True)
    basic(inbox / "p1.zip")
    (inbox / "p1.zip.sha256").write_text("sidecar")
    basic(inbox / "p2.zip", seq=2, county="520422")  # uploaded by 520122's account, names another county
    (inbox / ".partial-looking").write_text("hidden files are not packages")
    other = settings.spool_dir / "520422" / "inbox"
    other.mkdir(parents=True)
    basic(other / "q1.zip", county="520422")
    result = cli("ingest", "--inbox")
    assert result.exit_code == 0, result.output
    assert "3 package(s) taken from the inbox" in result.output
    assert "520122/p1.zip: batch" in result.output and "loaded" in result.output
    assert "is not the sender's county 520122" in result.output
    assert sorted(p.name for p in inbox.iterdir()) == [".partial-looking"]
    assert list(other.iterdir()) == []
    receipts = sorted(p.name for p in (settings.spool_dir / COUNTY / "outbox").glob("*.json"))
    assert len(receipts) == 2
    again = cli("ingest", "--inbox")
    assert "0 package(s) taken" in again.output
    both = cli("ingest", "--inbox", str(basic(tmp_path / "x.zip")))
    assert both.exit_code == 2 and "not both" in both.output


def test_a_countys_first_package_loads_as_the_staged_path_loads_it(load, loaded_engine, tmp_path, monkeypatch):
    """A county's first people and claims skip the staging tables on PostgreSQL
    (ncms.ingest.direct: the checks on the spools, a COPY into each table); the same package
    through the staging path must leave the same rows and refusals, reasons and details
    included."""
    from ncms.ingest import direct

    path = basic(
        tmp_path / "p.zip",
        members=[member("M1"), member("M2", relation="spouse", household_no="HM1", township="龙场镇"),
                 member("M3", household_no="HM1", relation="child", village=None, death_date="2011-02-01"),
                 member("M5", relation="child", household_no="H5"), member("M5", household_no="H5"),
                 member("M6", household_no="H6", relation="other")],
        enrolments=[dict(member_no="M1", year="2011", contribution="30.00", enrolled_on="2011-01-05"),
                    dict(member_no="M2", year="2011", contribution="30.5", enrolled_on=None),
                    dict(member_no="M2", year="2012", contribution="30.00", enrolled_on=None),
                    dict(member_no="M3", year="2011", contribution="1", enrolled_on=None),
                    dict(member_no="M3", year="2011", contribution="2", enrolled_on=None),
                    dict(member_no="M5", year="2011", contribution="30.00", enrolled_on=None),
                    dict(member_no="M404", year="2011", contribution="30.00", enrolled_on=None)],
        claims=[claim("C1", referral="1"), claim("C2", kind="outpatient", discharge_date=None, settlement_date="2011-03-02"),
                claim("C3", institution_code="999"), claim("C4", total_amount="31.00"),
                claim("C6", total_amount="12.3", eligible_amount="0", compensated_amount="0.00", diagnosis_code=" K35 "),
                claim("C7", voided="1"), claim("C7", total_amount="31.00"), claim("C8", institution_code="998"),
                claim("C8")],
        claim_items=items("C1", "17.00", "13.00") + items("C3", "30.00") + items("C4", "30.00")
        + items("C7", "30.00") + items("C9", "1.00"))
    taken = []
    copy_rows = direct.load
    monkeypatch.setattr(direct, "load", lambda conn, checked, *a: (taken.append(sorted(checked)),
                                                                   copy_rows(conn, checked, *a)))

    def snapshot():
        tables = {m.__tablename__: m.__table__ for m in (Household, Member, Enrolment, Claim)}
        skip = ("id", "batch_id", "created_at", "updated_at", "household_id", "member_id")
        got = {}
        with loaded_engine.connect() as conn:
            for name, table in tables.items():
                got[name] = sorted(tuple(map(str, row)) for row in conn.execute(
                    sa.select(*(col for col in table.c if col.name not in skip))))
            h, m, e = tables["household"], tables["member"], tables["enrolment"]
            got["member.household"] = sorted(conn.execute(sa.select(m.c.member_no, h.c.household_no)
                                                          .join(h, h.c.id == m.c.household_id)).all())
            got["enrolment.member"] = sorted(conn.execute(sa.select(e.c.member_no, e.c.year, m.c.member_no)
                                                          .join(m, m.c.id == e.c.member_id)).all())
            c, ci, r = tables["claim"], ClaimItem.__table__, RejectedRow.__table__
            got["claim_item"] = sorted(tuple(map(str, row)) for row in conn.execute(
                sa.select(c.c.source_id, *(col for col in ci.c if col.name != "claim_id")).join(c, c.c.id == ci.c.claim_id)))
            got["refused"] = sorted((row.file, row.line, row.field or "", row.value or "", row.code, row.message_en,
                                     json.dumps(row.record, sort_keys=True)) for row in conn.execute(sa.select(r)))
        return got

    first = load(path, sender=COUNTY)
    postgresql = loaded_engine.dialect.name == "postgresql"
    assert taken == [["claim", "enrolment", "member"] if postgresql else []]
    direct_result = snapshot()
    with loaded_engine.begin() as conn:
        for model in (ClaimItem, Claim, Enrolment, Member, Household, FundFinancing, RejectedRow):
            conn.execute(sa.delete(model))
        conn.execute(sa.delete(Batch).where(Batch.id == first.batch_id))
    monkeypatch.setattr(direct, "record_types", lambda conn, county: set())
    second = load(path, sender=COUNTY)
    assert taken[1:] == [[]]
    assert (second.rows_loaded, second.rows_rejected) == (first.rows_loaded, first.rows_rejected)
    assert snapshot() == direct_result
    assert {row[1] for row in direct_result["claim"]} == {"C1", "C2", "C6"}
    assert {row[1] for row in direct_result["member"]} == {"M1", "M2", "M3", "M6"}
    assert direct_result["household"] == [
        ("520122", "H6", "None", "永靖镇", "底寨村"), ("520122", "HM1", "张M1", "龙场镇", "底寨村")]
    assert {(r[0], r[1], r[4]) for r in direct_result["refused"] if r[0] != "claim_items.csv"} == {
        ("members.csv", 5, "duplicate_key"), ("members.csv", 6, "duplicate_key"),
        ("enrolments.csv", 5, "duplicate_key"), ("enrolments.csv", 6, "duplicate_key"),
        ("enrolments.csv", 7, "unknown_member"), ("enrolments.csv", 8, "unknown_member"),
        ("claims.csv", 4, "unknown_institution"), ("claims.csv", 5, "items_sum"), ("claims.csv", 7, "duplicate_key"),
        ("claims.csv", 8, "duplicate_key"), ("claims.csv", 9, "duplicate_key"), ("claims.csv", 10, "duplicate_key")}
