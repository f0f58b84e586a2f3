"""What findings are about, read for a list of them: each finding's claim (its number and member),
member or institution (and the model's window), by key, a query for each kind. The county page
links them, the audit notice prints them; each masks the member's name as it shows it."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ncms.models import Claim, Finding, Institution, Member


@dataclass
class Subject:
    kind: str  # claim, member, institution, other
    label: str  # the claim's number, the member's number, the institution's name, or the key's rest
    claim_id: int | None = None
    member_id: int | None = None  # the member's row, when on the register
    name: str | None = None  # the member's name, whole: the reader masks it
    institution_code: str | None = None  # an institution finding's
    area_code: str | None = None  # … and its county (it may be another than the finding's)
    window: str = ""  # the anomaly model's window of an institution finding
    institution_name: str | None = None  # the finding's institution, whatever its kind


def subjects(session: Session, county: str, findings: Sequence[Finding]) -> list[Subject]:
    """Each finding's subject, in the order given."""
    claim_ids = [f.claim_id for f in findings if f.claim_id]
    claims = {c.id: c for c in session.execute(
        sa.select(Claim.id, Claim.source_id, Claim.member_no).where(Claim.id.in_(claim_ids)))} if claim_ids else {}
    parts = {f.id: f.subject_key.split(":") for f in findings}
    member_nos = {c.member_no for c in claims.values()} | {
        p[2] for p in parts.values() if p[0] in ("member", "enrolment") and len(p) > 2}
    members = {m.member_no: m for m in session.execute(
        sa.select(Member.id, Member.member_no, Member.name)
        .where(Member.county_code == county, Member.member_no.in_(member_nos)))} if member_nos else {}
    institution_ids = {f.institution_id for f in findings if f.institution_id}
    institutions = {i.id: i for i in session.execute(
        sa.select(Institution.id, Institution.code, Institution.name, Institution.area_code)
        .where(Institution.id.in_(institution_ids)))} if institution_ids else {}
    out = []
    for f in findings:
        kind, rest = parts[f.id][0], parts[f.id][2:]
        inst = institutions.get(f.institution_id) if f.institution_id else None
        named = inst.name if inst else None
        if f.claim_id and f.claim_id in claims:
            claim = claims[f.claim_id]
            member = members.get(claim.member_no)
            out.append(Subject("claim", claim.source_id, claim_id=f.claim_id, name=member.name if member else None,
                               institution_name=named))
        elif kind in ("member", "enrolment") and rest:
            member = members.get(rest[0])
            out.append(Subject("member", rest[0], member_id=member.id if member else None,
                               name=member.name if member else None, institution_name=named))
        elif inst is not None:
            window = rest[0] if kind == "institution" and rest else ""  # institution:<code>:<window>
            out.append(Subject("institution", inst.name, institution_code=inst.code, area_code=inst.area_code,
                               window=window, institution_name=named))
        else:
            out.append(Subject("other", " ".join(rest) or f.subject_key))
    return out
