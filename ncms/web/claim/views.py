"""``claim.show``: one claim as evidence (docs/web.md#the-claim-page).

Every read is by key: the claim by id (through the scope: another county's claim is not found),
its items by claim id, the catalogue and restrictions by code, the member by county and number,
the findings by claim id (``ix_finding_claim_id``), the batch by id. The recompute reads the
member's earlier claims of the year by member (``ix_claim_member``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import select

from ncms.models import (Batch, CatalogueItem, Claim, ClaimItem, County, Finding, Institution, Member,
                         Restriction, RestrictionKind)

from ..database import get_session
from ..masking import identity
from ..scope import personal_data, scoped, scoped_get_or_404
from .links import english

bp = Blueprint("claim", __name__, template_folder="templates")


def age_at(day: date, birth: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@dataclass(frozen=True)
class ItemLine:
    """An item of the claim beside its catalogue entry: ``above_price`` when billed above the
    standard price, ``breaches`` the restrictions the member does not meet."""

    item: ClaimItem
    catalogued: CatalogueItem | None
    above_price: Decimal | None  # unit price less the standard price, when above it
    restriction: Restriction | None
    breaches: tuple[str, ...]


def breaches(restriction: Restriction | None, member: Member | None, day: date) -> tuple[str, ...]:
    """Which of ``sex`` and ``age`` the member does not meet (the restriction rules' test)."""
    if restriction is None or member is None:
        return ()
    found = []
    if restriction.allowed_sex is not None and member.sex != restriction.allowed_sex:
        found.append("sex")
    age = age_at(day, member.birth_date)
    if (restriction.min_age is not None and age < restriction.min_age) or \
            (restriction.max_age is not None and age > restriction.max_age):
        found.append("age")
    return tuple(found)


def item_lines(claim: Claim, member: Member | None) -> list[ItemLine]:
    session = get_session()
    items = session.scalars(select(ClaimItem).where(ClaimItem.claim_id == claim.id)
                            .order_by(ClaimItem.line_no)).all()
    codes = sorted({item.item_code for item in items})
    catalogue = {c.code: c for c in session.scalars(select(CatalogueItem).where(CatalogueItem.code.in_(codes)))}
    restricted = {r.code: r for r in session.scalars(
        select(Restriction).where(Restriction.kind == RestrictionKind.ITEM, Restriction.code.in_(codes)))}
    lines = []
    for item in items:
        entry = catalogue.get(item.item_code)
        above = item.unit_price - entry.price if entry is not None and item.unit_price > entry.price else None
        restriction = restricted.get(item.item_code)
        lines.append(ItemLine(item, entry, above, restriction, breaches(restriction, member, claim.admission_date)))
    return lines


def diagnosis_restriction(claim: Claim) -> Restriction | None:
    """The restriction on the claim's diagnosis, listed whole or by its first letters (the longest)."""
    prefixes = [claim.diagnosis_code[:n] for n in range(1, len(claim.diagnosis_code) + 1)]
    found = get_session().scalars(select(Restriction).where(Restriction.kind == RestrictionKind.DIAGNOSIS,
                                                            Restriction.code.in_(prefixes))).all()
    return max(found, key=lambda r: len(r.code), default=None)


def recompute(claim: Claim) -> Any:
    """The compensation recomputed from the county's scheme (``ncms.compensation``)."""
    from ncms.compensation import recompute_claim

    return recompute_claim(get_session(), claim)


@bp.get("/claim/<int:claim_id>")
@personal_data
def show(claim_id: int):  # type: ignore[no-untyped-def]
    session = get_session()
    claim = scoped_get_or_404(Claim, claim_id)
    county = session.get(County, claim.county_code)
    institution = session.get(Institution, claim.institution_id)
    member = session.scalar(select(Member).where(Member.county_code == claim.county_code,
                                                 Member.member_no == claim.member_no))
    person = identity(f"claim:{claim.id}", claim.county_code, claim.national_id, member.name if member else "")
    findings = session.scalars(scoped(select(Finding).where(Finding.claim_id == claim.id), Finding.county_code)
                               .order_by(Finding.id)).all()
    batch = (session.scalar(scoped(select(Batch).where(Batch.id == claim.batch_id), Batch.county_code))
             if claim.batch_id is not None else None)
    restriction = diagnosis_restriction(claim)
    return render_template(
        "claim/show.html", claim=claim, county=county, institution=institution, member=member, person=person,
        lines=item_lines(claim, member), diagnosis=restriction,
        diagnosis_breaches=breaches(restriction, member, claim.admission_date),
        computation=recompute(claim), findings=findings, batch=batch, english=english(),
        age=age_at(claim.admission_date, member.birth_date) if member else None)
