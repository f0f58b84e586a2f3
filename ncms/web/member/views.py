"""``member.show``: one member of a county's register (docs/web.md#the-member-page).

Read by key only: the member by id (through the scope), the household by id, the enrolments by
member (``uq_enrolment_member_id_year``), the years of care from ``member_year`` (by member
number and county), the claims by member (``ix_claim_member``), the findings by their claims'
ids (``ix_finding_claim_id``) and by the member's own subject keys (rule and key: the unique
index). Names and national IDs are masked; ``?reveal=1`` shows them whole to a role that may,
and writes the audit line.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from ncms.models import Claim, County, Enrolment, Finding, Household, Institution, Member, MemberYear
from ncms.monitor.anomaly import MODEL
from ncms.monitor.catalogue import RULES

from ..database import get_session
from ..masking import identity, may_unmask
from ..scope import personal_data, scoped, scoped_get_or_404

bp = Blueprint("member", __name__, template_folder="templates")

CLAIMS_SHOWN = 200  # the latest; the years' table counts them all


def member_subject_keys(member: Member, years: set[int]) -> list[str]:
    """The subject keys of the findings about the member rather than one claim (the annual cap
    by member and year, the duplicate enrolment by enrolment year)."""
    return [f"{kind}:{member.county_code}:{member.member_no}:{year}" for year in sorted(years)
            for kind in ("member", "enrolment")]


@bp.get("/member/<int:member_id>")
@personal_data
def show(member_id: int):  # type: ignore[no-untyped-def]
    session = get_session()
    member = scoped_get_or_404(Member, member_id)
    reveal = request.args.get("reveal") == "1"
    person = identity(f"member:{member.county_code}/{member.member_no}", member.county_code, member.national_id,
                      member.name, reveal=reveal)
    county = session.get(County, member.county_code)
    household = session.get(Household, member.household_id) if member.household_id is not None else None
    enrolments = session.scalars(select(Enrolment).where(Enrolment.member_id == member.id)
                                 .order_by(Enrolment.year)).all()
    years = session.scalars(select(MemberYear).where(MemberYear.member_no == member.member_no,
                                                     MemberYear.county_code == member.county_code)
                            .order_by(MemberYear.year)).all()
    mine = (Claim.member_no == member.member_no, Claim.county_code == member.county_code)
    claims = session.execute(
        scoped(select(Claim, Institution.code, Institution.name)
               .outerjoin(Institution, Institution.id == Claim.institution_id), Claim.county_code)
        .where(*mine).order_by(Claim.admission_date.desc(), Claim.id.desc()).limit(CLAIMS_SHOWN)).all()
    claim_ids = session.scalars(select(Claim.id).where(*mine)).all()
    keys = member_subject_keys(member, {e.year for e in enrolments} | {y.year for y in years})
    findings = []
    for start in range(0, len(claim_ids), 500):
        findings += session.scalars(scoped(select(Finding), Finding.county_code)
                                    .where(Finding.claim_id.in_(claim_ids[start:start + 500]))).all()
    if keys:
        findings += session.scalars(scoped(select(Finding), Finding.county_code).where(
            Finding.rule_code.in_([*RULES, MODEL.code]), Finding.subject_key.in_(keys))).all()
    findings.sort(key=lambda f: (f.period_start is None, f.period_start, f.id), reverse=False)
    sources = {c.id: c.source_id for c, *_ in claims}
    return render_template("member/show.html", member=member, person=person, county=county, household=household,
                           enrolments=enrolments, years=years, claims=claims, claims_total=len(claim_ids),
                           shown=CLAIMS_SHOWN, findings=findings, sources=sources, revealed=not person.masked,
                           may_reveal=may_unmask(member.county_code))
