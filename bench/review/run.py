"""The review loop's figures (``ncms.indicators.supervision.review``, the start page's table) and
a county's overdue list over NCMS_BENCH_FINDINGS findings (100,000) spread over the demo
province's six counties in every state of the loop (a third decided, with durations), on SQLite
and PostgreSQL. Each is timed warm, the median of NCMS_BENCH_ROUNDS (7) runs.

limit: the smallest query that reads what ``review`` reads: a count of the findings grouped by
county and status (the same index), plus the decided findings' two timestamps fetched as they
are. ``RESULT review <db> value=<ms> unit=ms limit=<ms> ratio=value/limit``."""
from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import databases, migrated_database, result, run_ncms  # noqa: E402
from ncms.db import create_engine, session_scope  # noqa: E402
from ncms.indicators.supervision import Review, overdue_findings, review  # noqa: E402
from ncms.models import County, Finding, FindingStatus, Severity  # noqa: E402

FINDINGS = int(os.environ.get("NCMS_BENCH_FINDINGS", "100000"))
ROUNDS = int(os.environ.get("NCMS_BENCH_ROUNDS", "7"))
TODAY = date(2026, 12, 7)
STATES = ("open",) * 40 + ("sent_to_county",) * 15 + ("county_responded",) * 10 + ("confirmed",) * 15 + \
    ("dismissed",) * 15 + ("closed",) * 5


def fill(engine: sa.Engine) -> None:
    rng = random.Random(23)
    with session_scope(engine) as s:
        counties = list(s.scalars(sa.select(County.code).order_by(County.code)))
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    rows = []
    for n in range(FINDINGS):
        status = rng.choice(STATES)
        seen = start + timedelta(minutes=rng.randrange(0, 300 * 24 * 60))
        row = dict(rule_code=rng.choice(("overpayment", "duplicate_claim", "over_cap", "split_stay")),
                   rule_version="1", subject_key=f"claim:x:{n}", county_code=rng.choice(counties),
                   severity=Severity.VIOLATION, status=FindingStatus(status),
                   amount_at_stake=Decimal(rng.randrange(100, 500000)) / 100,
                   first_seen_at=seen, last_seen_at=seen, version=1, send_backs=0, amount_recovered=Decimal(0),
                   pushed_at=None, due_on=None, decided_at=None, amount_to_recover=None)
        if status != "open":
            row.update(pushed_at=seen + timedelta(days=rng.randrange(1, 20)))
            row.update(due_on=(row["pushed_at"] + timedelta(days=21)).date())
        if status in ("confirmed", "dismissed"):  # decided a day to two months after the push
            row.update(decided_at=row["pushed_at"] + timedelta(hours=rng.randrange(24, 60 * 24)))
        if status == "confirmed":
            row.update(amount_to_recover=row["amount_at_stake"], amount_recovered=row["amount_at_stake"] / 2)
        rows.append(row)
    with engine.begin() as conn:
        for at in range(0, len(rows), 5000):
            conn.execute(sa.insert(Finding), rows[at:at + 5000])
        conn.execute(sa.text("ANALYZE"))


def timed(work) -> float:  # type: ignore[no-untyped-def]
    work()  # warm
    times = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, url in databases(Path(tmp)):
            with migrated_database(Path(tmp), name, url) as (db_url, args):
                run_ncms(args, "db", "load-config")
                engine = create_engine(db_url)
                began = time.perf_counter()
                fill(engine)
                print(f"# {name}: {FINDINGS:,} findings written in {time.perf_counter() - began:.1f} s", flush=True)

                def figures() -> None:
                    with session_scope(engine) as s:
                        rows = review(s, today=TODAY)
                        assert sum(r.findings for r in rows) == FINDINGS

                def overdue() -> None:
                    with session_scope(engine) as s:
                        overdue_findings(s, "520121", today=TODAY)

                def floor() -> None:
                    f = Finding
                    with engine.connect() as conn:
                        conn.execute(sa.select(f.county_code, f.status, sa.func.count())
                                     .group_by(f.county_code, f.status)).all()
                        conn.execute(sa.select(f.county_code, f.first_seen_at, f.decided_at)
                                     .where(f.status.in_(("confirmed", "dismissed")))).all()

                value, limit, late = timed(figures), timed(floor), timed(overdue)
                with session_scope(engine) as s:
                    total = sum(review(s, today=TODAY), Review())
                print(f"# {name}: review {value:.0f} ms (decided {total.decided:,}, median days to close "
                      f"{total.median_days_to_close:.1f}, overdue {total.overdue:,}); a county's overdue list "
                      f"{late:.0f} ms; floor {limit:.0f} ms", flush=True)
                result("review", name, value, "ms", limit)
                result("review-overdue", name, late, "ms", limit)
                engine.dispose()


if __name__ == "__main__":
    main()
