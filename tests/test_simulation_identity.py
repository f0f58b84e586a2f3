"""The identity check of the scheme simulation (docs/simulation.md): simulating a county's own
scheme for the base year reproduces, to the fen, what was paid on every claim the scheme rules
found correctly paid; on a synthetic province, on SQLite and PostgreSQL alike."""
from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ncms.config import Settings
from ncms.models import Claim, County, Finding
from ncms.simulation import CURRENT, per_claim, simulate

from .conftest import CONFIG_DIR

SCHEME_RULES = ["overpayment", "missing_referral", "cap_breach", "scheme_terms_missing"]
BASE_YEAR = 2012


def test_the_counties_own_scheme_reproduces_what_was_paid(loaded_engine: Engine, settings: Settings,
                                                          session: Session, tmp_path: Path) -> None:
    from ncms.ingest.pipeline import ingest_package
    from ncms.monitor import run_monitor
    from ncms.reference import read_reference
    from ncms.synth import generate, write_packages

    settings.ensure_dirs()
    province = generate(read_reference(CONFIG_DIR), seed=7, claims=6_000, years=(2011, BASE_YEAR),
                        misuse_rate=0.03, anomalous_institutions=0)
    for path in write_packages(province, tmp_path / "packages", months_per_package=12):
        assert ingest_package(loaded_engine, settings, path, today=date(2013, 1, 1)).rows_rejected == 0
    run_monitor(loaded_engine, settings, rules=SCHEME_RULES)

    found = session.scalars(sa.select(Finding).where(Finding.rule_code.in_(SCHEME_RULES))).all()
    flagged = {f.claim_id for f in found if f.claim_id is not None}
    capped = {tuple(f.subject_key.split(":")[1:3]) for f in found if f.rule_code == "cap_breach"
              and f.subject_key.endswith(f":{BASE_YEAR}")}
    gaps = {f.subject_key for f in found if f.rule_code == "scheme_terms_missing"}
    assert len(flagged) >= 5 and capped, "the synthetic province has findings to leave out"

    counties = session.scalars(sa.select(County.code).order_by(County.code)).all()
    rows = per_claim(session, counties, BASE_YEAR, [None])
    assert len(rows) == session.scalar(sa.select(sa.func.count()).select_from(Claim).where(
        Claim.voided.is_(False), Claim.admission_date.between(date(BASE_YEAR, 1, 1), date(BASE_YEAR, 12, 31))))
    outcome: Counter[str] = Counter()
    for row in rows:
        if row["claim_id"] in flagged or (row["county_code"], row["member_no"]) in capped:
            outcome["flagged"] += 1
            continue
        if row["alone_0"] is None:  # no terms: scheme_terms_missing reports the county's kind and level
            assert gaps, row
            outcome["no terms"] += 1
            continue
        assert Decimal(str(row["due_0"])).quantize(Decimal("0.01")) == row["compensated_amount"], dict(row)
        outcome["identical"] += 1
    assert outcome["identical"] >= 0.9 * len(rows), outcome

    # and the totals: the county's own scheme gives what was paid on the claims correctly paid
    results = simulate(session, None, BASE_YEAR, [])
    assert sum(r.claims for r in results) == len(rows)
    for r in results:
        mine = [row for row in rows if row["county_code"] == r.county_code]
        assert r.paid == sum(row["compensated_amount"] for row in mine)
        assert r.outcomes[CURRENT].compensation == sum(Decimal(str(row["due_0"])).quantize(Decimal("0.01"))
                                                       for row in mine)
