"""The institution page (docs/web.md#the-institution-page): its windows and scores, each
feature against its peers' quartiles, the model's explanation, its findings and costliest
claims from the database; a county officer's 404 for another county's institution; the ministry
sees the figures and no claim."""
from __future__ import annotations

import json
import re
import statistics

import sqlalchemy as sa

from ncms.models import Claim, Finding, Institution, InstitutionMonth

from .webauth import COUNTY, OTHER_COUNTY
from .webpages import client_of, first_of, province  # noqa: F401  (the fixture)


def _scored(engine, county: str | None = None) -> Institution:  # type: ignore[no-untyped-def]
    stmt = (sa.select(Institution).join(InstitutionMonth, InstitutionMonth.institution_id == Institution.id)
            .where(InstitutionMonth.score.is_not(None)).order_by(InstitutionMonth.score.desc()))
    return first_of(engine, stmt, Institution.area_code, county)


def test_the_institution_page_shows_features_against_peers_findings_and_costliest_claims(province) -> None:  # type: ignore[no-untyped-def]
    engine, app = province
    institution = _scored(engine)
    html = client_of(app, "auditor").get(f"/institution/{institution.code}?lang=en").get_data(as_text=True)
    with engine.connect() as conn:
        windows = conn.execute(sa.select(InstitutionMonth).where(InstitutionMonth.institution_id == institution.id)
                               .order_by(InstitutionMonth.year, InstitutionMonth.month)).all()
        year = windows[-1].year
        assert len(re.findall(r'<tr data-window=', html)) == len(windows)
        options = [json.loads(o.replace("&#34;", '"').replace("&amp;", "&"))
                   for o in re.findall(r'data-chart="([^"]*)"', html)]
        drugs = next(o for o in options if o["title"]["text"] == "Drugs' share")
        last = windows[-1]
        peers = sorted(v for (v,) in conn.execute(sa.select(InstitutionMonth.drug_share).where(
            InstitutionMonth.level == institution.level, InstitutionMonth.institution_id != institution.id,
            InstitutionMonth.year == last.year, InstitutionMonth.month == last.month, InstitutionMonth.cases >= 40,
            InstitutionMonth.drug_share.is_not(None))))
        median = next(s for s in drugs["series"] if s["name"] == "Peers' median")["data"][-1]
        own = next(s for s in drugs["series"] if s["name"] == "This institution")["data"][-1]
        assert median == round(statistics.median(peers), 4) and own == round(last.drug_share, 4)
        findings = conn.execute(sa.select(Finding.id).where(Finding.institution_id == institution.id)).scalars().all()
        assert findings and all(f'data-finding="{f}"' in html for f in findings)
        costliest = conn.execute(sa.select(Claim.id).where(
            Claim.institution_id == institution.id, sa.extract("year", Claim.admission_date) == year)
            .order_by(Claim.total_amount.desc(), Claim.id).limit(10)).scalars().all()
        assert re.findall(r'<tr data-claim="(\d+)"', html) == [str(c) for c in costliest]
    assert "Why " in html and "peer spreads away" in html


def test_scoping_by_role(province) -> None:  # type: ignore[no-untyped-def]
    engine, app = province
    other = _scored(engine, OTHER_COUNTY)
    own = _scored(engine, COUNTY)
    officer = client_of(app, "officer")
    assert officer.get(f"/institution/{own.code}").status_code == 200
    assert officer.get(f"/institution/{other.code}").status_code == 404
    assert officer.get(f"/institution/{other.code}?period=2011").status_code == 404
    assert officer.get("/institution/NO-SUCH").status_code == 404
    ministry = client_of(app, "ministry").get(f"/institution/{own.code}")
    assert ministry.status_code == 200
    html = ministry.get_data(as_text=True)
    assert 'data-chart="' in html and "/claim/" not in html and "/member/" not in html
