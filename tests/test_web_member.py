"""The member page (docs/web.md#the-member-page): masked unless asked by a role that may, and
then audited; enrolments, years of care, claims and findings from the database; a county
officer's 404 for another county's member, the ministry's 403."""
from __future__ import annotations

import sqlalchemy as sa

from ncms.db import session_scope
from ncms.ids import mask_national_id
from ncms.models import AuditLog, Claim, Enrolment, Finding, Member, MemberYear
from ncms.web.masking import mask_name

from .webauth import COUNTY
from .webpages import client_of, first_of, ids_by_county, province, statuses  # noqa: F401  (the fixture)


def _member_with_finding(engine, county: str | None = None) -> int:  # type: ignore[no-untyped-def]
    stmt = (sa.select(Member.id).join(Claim, sa.and_(Claim.member_no == Member.member_no,
                                                     Claim.county_code == Member.county_code))
            .join(Finding, Finding.claim_id == Claim.id).order_by(Member.id))
    return first_of(engine, stmt, Member.county_code, county).id


def test_the_member_page_is_masked_and_shows_claims_enrolments_and_findings(province) -> None:  # type: ignore[no-untyped-def]
    engine, app = province
    member_id = _member_with_finding(engine)
    html = client_of(app, "auditor").get(f"/member/{member_id}").get_data(as_text=True)
    with session_scope(engine) as s:
        member = s.get(Member, member_id)
        assert member.name not in html and member.national_id not in html
        assert mask_name(member.name) in html and mask_national_id(member.national_id) in html
        mine = (Claim.member_no == member.member_no, Claim.county_code == member.county_code)
        for claim_id in s.scalars(sa.select(Claim.id).where(*mine)):
            assert f'data-claim="{claim_id}"' in html
        for year in s.scalars(sa.select(Enrolment.year).where(Enrolment.member_id == member_id)):
            assert f'<tr data-year="{year}">' in html
        assert s.scalar(sa.select(sa.func.count()).select_from(MemberYear).where(
            MemberYear.member_no == member.member_no, MemberYear.county_code == member.county_code))
        findings = s.scalars(sa.select(Finding.id).join(Claim, Claim.id == Finding.claim_id).where(*mine)).all()
        assert findings
        for finding_id in findings:
            assert f'data-finding="{finding_id}"' in html


def test_showing_the_member_whole_is_audited_and_only_for_roles_that_may(province) -> None:  # type: ignore[no-untyped-def]
    engine, app = province
    member_id = _member_with_finding(engine, COUNTY)
    with session_scope(engine) as s:
        member = s.get(Member, member_id)
        name, national_id, county, number = member.name, member.national_id, member.county_code, member.member_no
    audited = sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == "personal.view",
                                                                     AuditLog.target == f"member:{county}/{number}")
    with engine.connect() as conn:
        before = conn.execute(audited).scalar_one()
    for username in ("auditor", "officer"):
        html = client_of(app, username).get(f"/member/{member_id}?reveal=1").get_data(as_text=True)
        assert name in html and national_id in html
    with engine.connect() as conn:
        assert conn.execute(audited).scalar_one() == before + 2
        row = conn.execute(sa.select(AuditLog).where(AuditLog.target == f"member:{county}/{number}")
                           .order_by(AuditLog.id.desc()).limit(1)).one()
        assert row.actor == "officer" and row.detail["page"] == f"/member/{member_id}"


def test_a_county_officer_gets_404_for_another_county_and_the_ministry_403(province) -> None:  # type: ignore[no-untyped-def]
    engine, app = province
    ids = ids_by_county(engine, Member.id, Member.county_code)  # own county, another, none
    for url in ("/member/{}", "/member/{}?reveal=1"):
        assert statuses(app, url, ids) == {"officer": [200, 404, 404], "auditor": [200, 200, 404],
                                           "ministry": [403, 403, 403]}, url
