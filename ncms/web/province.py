"""The province at a glance: its counties, how each connects, and what is registered for it
(a county officer sees their own county's row only)."""
from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from ncms.ingest.status import timeliness
from ncms.models import Claim, CompensationScheme, County, Institution

from .database import get_session
from .scope import scoped, signed_in

bp = Blueprint("province", __name__)


@bp.get("/")
@signed_in
def index():  # type: ignore[no-untyped-def]
    session = get_session()
    institutions = (
        select(Institution.area_code, func.count().label("n"))
        .group_by(Institution.area_code)
        .subquery()
    )
    schemes = (
        select(CompensationScheme.county_code,
               func.min(CompensationScheme.year).label("first"),
               func.max(CompensationScheme.year).label("last"))
        .group_by(CompensationScheme.county_code)
        .subquery()
    )
    rows = session.execute(scoped(
        select(County, institutions.c.n, schemes.c.first, schemes.c.last)
        .outerjoin(institutions, institutions.c.area_code == County.code)
        .outerjoin(schemes, schemes.c.county_code == County.code)
        .order_by(County.code), County.code)
    ).all()
    total_population = sum(c.agricultural_population or 0 for c, *_ in rows)
    claims = dict(session.execute(scoped(select(Claim.county_code, func.count()), Claim.county_code)
                                  .group_by(Claim.county_code)).all())
    shown = {county.code for county, *_ in rows}
    arrivals = {s.county_code: s for s in timeliness(session) if s.county_code in shown}
    return render_template("province/index.html", rows=rows, total_population=total_population,
                           claims=claims, arrivals=arrivals)
