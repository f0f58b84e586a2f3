"""The true state after a crash and a recovery, checked against the source and a clean run.

"Nothing lost" (docs/architecture.md, design): every record of the source is in the
province exactly once; no batch is left ``loading``; a batch's status agrees with its rows;
every package delivered has its batch, its archive copy (by SHA-256) and its receipt; no
work folder, partial archive copy or package is left behind; the monitor's findings are
one per rule and subject, the same as a run that was never killed.
"""
from __future__ import annotations

import enum
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.models import (Batch, BatchStatus, Claim, ClaimItem, Enrolment, Finding, FindingEvent, FindingEventKind,
                         FundFinancing, Member, RejectedRow)

Keys = dict[str, list[tuple[str, ...]]]
UNFINISHED = (BatchStatus.RECEIVED, BatchStatus.LOADING)
HAS_ROWS = (BatchStatus.LOADED, BatchStatus.PARTIAL)
WRITTEN_BY = (Member, Enrolment, Claim, FundFinancing)  # the tables that name the batch that wrote a row


def _plain(value: Any) -> str:
    return str(value.value if isinstance(value, enum.Enum) else value)


def _rows(conn: sa.Connection, query: sa.Select) -> list[tuple[str, ...]]:  # type: ignore[type-arg]
    return [tuple(_plain(v) for v in row) for row in conn.execute(query)]


def province_keys(engine: Engine, county: str | None = None) -> Keys:
    """Every record's key as the province holds it (county first), duplicates kept."""
    def where(model: Any) -> Any:
        return model.county_code == county if county else sa.true()

    with engine.connect() as conn:
        return {
            "member": _rows(conn, sa.select(Member.county_code, Member.member_no).where(where(Member))),
            "enrolment": _rows(conn, sa.select(Enrolment.county_code, Enrolment.member_no, Enrolment.year)
                               .where(where(Enrolment))),
            "claim": _rows(conn, sa.select(Claim.county_code, Claim.source_id).where(where(Claim))),
            "claim_item": _rows(conn, sa.select(Claim.county_code, Claim.source_id, ClaimItem.line_no)
                                .join(Claim, Claim.id == ClaimItem.claim_id).where(where(Claim))),
            "financing": _rows(conn, sa.select(FundFinancing.county_code, FundFinancing.year, FundFinancing.month,
                                               FundFinancing.source).where(where(FundFinancing))),
        }


def source_keys(frames: Mapping[str, pl.DataFrame], county: str | None = None) -> dict[str, set[tuple[str, ...]]]:
    """The keys of the source's records (a synthetic province's frames, with ``county_code``;
    or one county's frames without it, given ``county``)."""
    keys = {}
    for record_type, schema in RECORD_SCHEMAS.items():
        frame = frames.get(record_type)
        if frame is None:
            continue
        if county is not None:
            frame = frame.with_columns(pl.lit(county).alias("county_code"))
        columns = ["county_code", *schema.key]
        keys[record_type] = {tuple(_plain(v) for v in row) for row in frame.select(columns).iter_rows()}
    return keys


def assert_records_once(engine: Engine, expected: Mapping[str, set[tuple[str, ...]]], where: str,
                        county: str | None = None, only: bool = False) -> dict[str, int]:
    """Every record of the source present exactly once, and nothing else (with ``only``: the
    province may hold other records too); the counts."""
    held = province_keys(engine, county)
    problems = []
    for record_type, want in expected.items():
        got = Counter(held[record_type])
        doubled = sorted(k for k, n in got.items() if n > 1)
        lost = sorted(want - set(got))
        extra = [] if only else sorted(set(got) - want)
        if doubled or lost or extra:
            problems.append(f"{record_type}: {len(lost)} lost {lost[:2]}, {len(doubled)} duplicated {doubled[:2]}, "
                            f"{len(extra)} not in the source {extra[:2]} (source {len(want)}, province "
                            f"{sum(got.values())})")
    assert not problems, f"{where}: records not exactly once: " + "; ".join(problems)
    return {record_type: len(rows) for record_type, rows in held.items()}


def batch_rows(engine: Engine) -> dict[int, int]:
    """Rows in the tables written by each batch: members, enrolments, claims (with their items)
    and financing name the batch that last wrote them; claim items go with their claim."""
    counts: Counter[int] = Counter()
    with engine.connect() as conn:
        for model in WRITTEN_BY:
            counts.update(dict(conn.execute(sa.select(model.batch_id, sa.func.count())
                                            .where(model.batch_id.is_not(None)).group_by(model.batch_id)).all()))
        counts.update(dict(conn.execute(sa.select(Claim.batch_id, sa.func.count()).join(
            ClaimItem, ClaimItem.claim_id == Claim.id).where(Claim.batch_id.is_not(None))
            .group_by(Claim.batch_id)).all()))
    return dict(counts)


def batches(engine: Engine) -> list[Batch]:
    with Session(engine) as session:
        found = list(session.scalars(sa.select(Batch).order_by(Batch.id)))
        session.expunge_all()
    return found


def assert_batches_true(engine: Engine, where: str) -> list[Batch]:
    """No batch left unfinished; each batch's status agrees with its counts, its refused rows
    and the rows the tables say it wrote (a failed or refused batch wrote none)."""
    found = batches(engine)
    written = batch_rows(engine)
    with engine.connect() as conn:
        refused = dict(conn.execute(sa.select(RejectedRow.batch_id, sa.func.count()).group_by(RejectedRow.batch_id)).all())
    problems = []
    for b in found:
        name = f"batch {b.id} ({b.filename}, {b.status.value})"
        if b.status in UNFINISHED:
            problems.append(f"{name} is left {b.status.value} (started {b.started_at}): nothing will ever finish it")
        elif b.finished_at is None:
            problems.append(f"{name} has no finished_at")
        if b.status in HAS_ROWS:
            if b.rows_loaded != b.rows_read - b.rows_rejected:
                problems.append(f"{name}: rows_loaded {b.rows_loaded} != read {b.rows_read} - refused {b.rows_rejected}")
            if written.get(b.id, 0) > b.rows_loaded:
                problems.append(f"{name}: the tables hold {written[b.id]} rows of it, more than its {b.rows_loaded}")
            if (b.status is BatchStatus.LOADED) != (b.rows_rejected == 0 and not refused.get(b.id)):
                problems.append(f"{name}: {b.rows_rejected} refused, {refused.get(b.id, 0)} refused rows kept")
        elif written.get(b.id) or (b.status is not BatchStatus.REJECTED and refused.get(b.id)):
            problems.append(f"{name} holds {written.get(b.id, 0)} rows and {refused.get(b.id, 0)} refused rows")
    assert not problems, f"{where}: " + "; ".join(problems)
    return found


def sha256_of(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def receipts(spool: Path) -> dict[int, dict[str, Any]]:
    """Every receipt summary in the counties' outboxes, by batch id."""
    found = {}
    for path in spool.glob("*/outbox/*.json"):
        summary = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(summary, dict) and "batch" in summary:  # the gateway's own notices have none
            found[summary["batch"]] = summary
    return found


def assert_delivered(engine: Engine, data_dir: Path, packages: Mapping[str, str], where: str) -> dict[str, Batch]:
    """Each package (sha256 → name) has one batch that loaded it (a rerun does not load it a
    second time: the county would get two receipts for one package), its archive copy and a
    receipt that says so; returns that batch of each package."""
    loaded: dict[str, list[Batch]] = {}
    for b in batches(engine):
        if b.sha256 in packages and b.status in HAS_ROWS:
            loaded.setdefault(b.sha256, []).append(b)
    by_sha = {sha: found[-1] for sha, found in loaded.items()}
    told = receipts(data_dir / "spool")
    problems = [f"{packages[sha]} loaded {len(found)} times (batches {[b.id for b in found]})"
                for sha, found in loaded.items() if len(found) > 1]
    for sha, name in packages.items():
        archived = data_dir / "archive" / sha[:2] / f"{sha}.zip"
        if not archived.is_file() or sha256_of(archived) != sha:
            problems.append(f"{name} ({sha[:12]}): no archive copy")
        batch = by_sha.get(sha)
        if batch is None:
            problems.append(f"{name} ({sha[:12]}): no batch loaded it")
            continue
        receipt = told.get(batch.id)
        if receipt is None or receipt["sha256"] != sha or receipt["status"] != batch.status.value:
            problems.append(f"{name}: batch {batch.id} has no receipt saying {batch.status.value} (found {receipt})")
    assert not problems, f"{where}: packages lost or loaded twice: " + "; ".join(problems)
    return by_sha


def assert_receipts_for_batches(engine: Engine, data_dir: Path, where: str) -> None:
    """Every batch the county must hear about (loaded, partial, refused) has its receipt."""
    told = receipts(data_dir / "spool")
    missing = [b.id for b in batches(engine)
               if b.status in (*HAS_ROWS, BatchStatus.REJECTED) and told.get(b.id, {}).get("status") != b.status.value]
    assert not missing, f"{where}: batches without a receipt of their status: {missing}"


def leftovers(data_dir: Path, also: Iterable[Path] = ()) -> list[str]:
    """What a finished run must not leave: work folders, partial archive copies, packages still
    waiting anywhere in the spool but the outboxes (inbox, claim folders, gateway partials), a
    receipt half-written in an outbox."""
    left = []
    work = data_dir / "work"
    if work.is_dir():
        left += [f"work/{p.name}" for p in work.iterdir()]
    archive = data_dir / "archive"
    if archive.is_dir():
        left += [str(p.relative_to(data_dir)) for p in archive.rglob(".*") if p.is_file()]
    for root in [data_dir / "spool", *also]:
        if root.is_dir():
            left += [str(p.relative_to(root.parent)) for p in root.rglob("*")
                     if p.is_file() and ("outbox" not in p.relative_to(root).parts[1:2] or p.name.startswith("."))]
    return sorted(left)


def assert_nothing_left(data_dir: Path, where: str, also: Iterable[Path] = ()) -> None:
    left = leftovers(data_dir, also)
    assert not left, f"{where}: left behind after recovery: {left[:8]}{' …' if len(left) > 8 else ''}"


def findings(engine: Engine) -> Counter[tuple[str, str, str]]:
    with engine.connect() as conn:
        return Counter(_rows(conn, sa.select(Finding.rule_code, Finding.subject_key, Finding.status)))


def assert_findings_once(engine: Engine, reference: Counter[tuple[str, str, str]], where: str) -> int:
    """One finding per rule and subject, the same ones (and statuses) as a run never killed,
    each raised once in its history."""
    held = findings(engine)
    doubled = [k for k, n in held.items() if n > 1]
    lost = sorted(set(reference) - set(held))
    extra = sorted(set(held) - set(reference))
    with engine.connect() as conn:
        raised = Counter(conn.execute(sa.select(FindingEvent.finding_id).where(
            FindingEvent.kind == FindingEventKind.RAISED)).scalars())
        ids = set(conn.execute(sa.select(Finding.id)).scalars())
    twice = sorted(i for i, n in raised.items() if n > 1)
    never = sorted(ids - set(raised))
    assert not (doubled or lost or extra or twice or never), (
        f"{where}: findings: {len(lost)} lost {lost[:2]}, {len(doubled)} duplicated {doubled[:2]}, {len(extra)} "
        f"not in a clean run {extra[:2]}; raised twice {twice[:3]}, never raised {never[:3]} "
        f"(clean run {sum(reference.values())}, now {sum(held.values())})")
    return sum(held.values())
