"""Small, hand-made packages for ingestion tests: valid by default, every field overridable."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from ncms.exchange.package import write_package
from ncms.ids import national_id_check_character

COUNTY = "520122"  # a gateway county of the demo province
HOSPITAL = "520122300001"  # its county people's hospital
TOWNSHIP = "520122200001"


def national_id(body17: str) -> str:
    return body17 + national_id_check_character(body17)


def member(no: str, **kw: Any) -> dict[str, Any]:
    row = dict(member_no=no, household_no="H" + no, national_id=national_id(f"52012219{70 + len(no) % 20}0101{int(no[1:]) % 1000:03d}"),
               name="张" + no, relation="head", township="永靖镇", village="底寨村", death_date=None)
    row.update(kw)
    return row


def claim(cid: str, member_no: str = "M1", **kw: Any) -> dict[str, Any]:
    m = member(member_no)
    row = dict(claim_id=cid, kind="inpatient", member_no=member_no, national_id=m["national_id"],
               institution_code=HOSPITAL, admission_date="2011-03-01", discharge_date="2011-03-05",
               settlement_date="2011-03-06", diagnosis_code="J18.9", total_amount="30.00",
               eligible_amount="30.00", compensated_amount="12.00", referral="0", voided="0")
    row.update(kw)
    return row


def items(cid: str, *amounts: str) -> list[dict[str, Any]]:
    """Lines of one claim, each one unit at the given price."""
    return [dict(claim_id=cid, line_no=str(n), item_code="D0001", item_name="阿莫西林", category="drug",
                 quantity="1", unit_price=a, amount=a) for n, a in enumerate(amounts, 1)]


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={k: pl.String for k in rows[0]}) if rows else pl.DataFrame()


def package(path: Path, *, seq: int = 1, county: str = COUNTY, members: list | None = None,
            enrolments: list | None = None, claims: list | None = None, claim_items: list | None = None,
            financing: list | None = None, **kw: Any) -> Path:
    records = {}
    for record_type, rows in (("member", members), ("enrolment", enrolments), ("claim", claims),
                              ("claim_item", claim_items), ("financing", financing)):
        if rows:
            records[record_type] = frame(rows)
    return write_package(path, county_code=county, sequence=seq,
                         period=(date(2011, 1, 1), date(2011, 3, 31)), records=records, **kw)


def basic(path: Path, **kw: Any) -> Path:
    """Two members, their enrolments, two claims with items, one financing row."""
    defaults = dict(
        members=[member("M1"), member("M2", relation="spouse", household_no="HM1")],
        enrolments=[dict(member_no="M1", year="2011", contribution="30.00", enrolled_on="2011-01-05"),
                    dict(member_no="M2", year="2011", contribution="30.00", enrolled_on=None)],
        claims=[claim("C1"), claim("C2", member_no="M2", total_amount="45.50", eligible_amount="40.00")],
        claim_items=items("C1", "17.00", "13.00") + items("C2", "45.50"),
        financing=[dict(year="2011", month="1", source="central", amount="1200000.00")],
    )
    defaults.update(kw)
    return package(path, **defaults)


def county_database(url: str, county: str, *, seed: int, claims: int = 3000) -> dict[str, pl.DataFrame]:
    """A centralised county's own database at ``url`` (its vendor's schema, as its mapping
    reads it), filled from a synthetic province of about ``claims`` claims; the county's records."""
    import sqlalchemy as sa

    from ncms.ingest.mapping import load_mapping
    from ncms.reference import read_reference
    from ncms.synth import generate
    from ncms.synth.vendor import county_frames, write_source_db

    from .conftest import CONFIG_DIR

    frames = generate(read_reference(CONFIG_DIR), seed=seed, claims=claims).frames
    engine = sa.create_engine(url)
    write_source_db(engine, load_mapping(CONFIG_DIR, county), frames)
    engine.dispose()
    return county_frames(frames, county)
