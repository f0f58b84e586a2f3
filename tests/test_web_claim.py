"""The claim page (docs/web.md#the-claim-page): the claim against the database, its items
against the catalogue, its compensation recomputed beside what was paid, its findings and
lineage; masked member; a county officer's 404 for another county's claim, the ministry's 403."""
from __future__ import annotations

import re

import sqlalchemy as sa

from ncms.compensation import recompute_claim
from ncms.db import session_scope
from ncms.models import CatalogueItem, Claim, ClaimItem, Finding, Institution, Member

from .webpages import client_of, ids_by_county, province, statuses  # noqa: F401  (the fixture)


def _claim_with(engine, rule: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.select(Finding.claim_id).where(Finding.rule_code == rule,
                                                              Finding.claim_id.is_not(None)).limit(1)).scalar_one()


def test_the_claim_page_shows_the_claim_its_items_and_its_findings(province) -> None:  # type: ignore[no-untyped-def]
    engine, app = province
    claim_id = _claim_with(engine, "over_standard_price")
    html = client_of(app, "auditor").get(f"/claim/{claim_id}?lang=en").get_data(as_text=True)
    with session_scope(engine) as s:
        claim = s.get(Claim, claim_id)
        member = s.scalar(sa.select(Member).where(Member.county_code == claim.county_code,
                                                  Member.member_no == claim.member_no))
        assert claim.source_id in html and claim.diagnosis_code in html
        assert f"/member/{member.id}" in html and member.name not in html  # masked
        assert claim.national_id not in html and claim.national_id[-4:] in html
        items = s.scalars(sa.select(ClaimItem).where(ClaimItem.claim_id == claim_id)).all()
        prices = {c.code: c.price for c in s.scalars(sa.select(CatalogueItem))}
        above = {i.item_code for i in items if i.item_code in prices and i.unit_price > prices[i.item_code]}
        assert above
        for item in items:
            row = re.search(rf'<tr data-item="{re.escape(item.item_code)}"[^>]*>(.*?)</tr>', html, re.S)
            assert row, item.item_code
            assert ("above-price" in row.group(1)) == (item.item_code in above)
        for finding in s.scalars(sa.select(Finding).where(Finding.claim_id == claim_id)):
            assert f'data-finding="{finding.id}"' in html
        computation = recompute_claim(s, claim)
        for step in computation.steps:
            assert f'data-step="{step.key}"' in html and step.label_en in html
        assert f"/data/batch/{claim.batch_id}" in html
        assert f"/data/batch/{claim.batch_id}/source?key={claim.source_id}" in html


def test_an_overpaid_claim_shows_what_the_scheme_gives_and_the_difference(province) -> None:  # type: ignore[no-untyped-def]
    engine, app = province
    claim_id = _claim_with(engine, "overpayment")
    html = client_of(app, "auditor").get(f"/claim/{claim_id}?lang=en").get_data(as_text=True)
    with session_scope(engine) as s:
        computation = recompute_claim(s, s.get(Claim, claim_id))
    assert computation.difference is not None and computation.difference > 0
    verdict = re.search(r'<p class="lead" id="verdict">(.*?)</p>', html, re.S).group(1)
    assert "too much" in verdict and f"{computation.difference:,}" in verdict
    assert f"{computation.due:,}" in verdict


def test_a_county_officer_sees_their_county_and_not_another(province) -> None:  # type: ignore[no-untyped-def]
    engine, app = province
    ids = ids_by_county(engine, Claim.id, Claim.county_code)  # own county, another, none
    assert statuses(app, "/claim/{}", ids) == {"officer": [200, 404, 404], "auditor": [200, 200, 404],
                                               "ministry": [403, 403, 403]}


def test_english_pages_name_a_county_as_its_own_page_does(province) -> None:  # type: ignore[no-untyped-def]
    from ncms.models import County

    engine, app = province
    claim_id = _claim_with(engine, "over_standard_price")
    with session_scope(engine) as s:
        claim = s.get(Claim, claim_id)
        county = s.get(County, claim.county_code)
        english, chinese = county.name_en, county.name
        member = s.scalar(sa.select(Member.id).where(Member.county_code == claim.county_code,
                                                     Member.member_no == claim.member_no))
        pages = [f"/claim/{claim_id}", f"/member/{member}", f"/institution/{s.get(Institution, claim.institution_id).code}"]
    assert english and english != chinese
    auditor = client_of(app, "auditor")
    crumb = f'<a href="/county/{claim.county_code}">{{}}</a>'
    assert english in auditor.get(f"/county/{claim.county_code}?lang=en").get_data(as_text=True)
    for page in pages:
        html = auditor.get(f"{page}?lang=en").get_data(as_text=True)
        assert crumb.format(english) in html and crumb.format(chinese) not in html, page
        html = auditor.get(f"{page}?lang=zh_Hans_CN").get_data(as_text=True)
        assert crumb.format(chinese) in html, page
    facts = auditor.get(f"/claim/{claim_id}?lang=en").get_data(as_text=True).split('id="claim-facts"', 1)[1]
    assert f"<dd>{english} <span" in facts
