"""The catalogue of supervision rules (domain.md §3): each rule is one set-based query.

A rule's ``query(params, scope)`` builds one SQLAlchemy Core SELECT over the claims tables,
portable across SQLite and PostgreSQL, returning one row per hit with the columns the engine
files as a finding:

- ``subject_key`` — what the finding is about (``claim:<county>:<claim id>``), so a rerun
  updates the finding instead of raising a second one;
- ``county_code``, ``claim_id`` (the claim's row id, or NULL), ``institution_id`` (or NULL);
- ``amount`` — the money at stake, as the rule's text says;
- ``period_start``, ``period_end`` — the dates the hit is about;
- any ``ev_<name>`` column — evidence shown to the auditor (the engine keeps them by name).

A rule's ``version`` changes whenever its logic does; a finding records the version and the
parameter values that raised it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from ncms.models import Claim, ClaimItem, ClaimKind, Enrolment, Member, Restriction, RestrictionKind, Severity

CLAIM_KEY_PREFIX = "claim:"


@dataclass(frozen=True)
class Scope:
    """Which claims a run looks at: one county, and optionally settled within a period."""

    county_code: str
    period: tuple[date, date] | None = None

    def claims(self, claim: Any) -> list[sa.ColumnElement[bool]]:
        """The scope's conditions on a (possibly aliased) claim table."""
        conditions = [claim.county_code == self.county_code, claim.voided.is_(False)]
        if self.period:
            conditions.append(claim.settlement_date.between(*self.period))
        return conditions


@dataclass(frozen=True)
class Rule:
    code: str
    version: str
    family: str
    title_zh: str
    title_en: str
    logic_en: str  # the plain-language logic, with {parameter} placeholders
    logic_zh: str
    at_stake: str  # what ``amount`` is, in English
    severity: Severity
    query: Callable[[dict[str, Any], Scope], sa.Select]
    params: dict[str, Any] = field(default_factory=dict)


def claim_key(claim: Any) -> sa.ColumnElement[str]:
    return sa.literal(CLAIM_KEY_PREFIX) + claim.county_code + sa.literal(":") + claim.source_id


def _claim_columns(claim: Any, amount: Any | None = None) -> list[sa.ColumnElement[Any]]:
    """The columns every claim-level finding has."""
    return [claim_key(claim).label("subject_key"), claim.county_code.label("county_code"),
            claim.id.label("claim_id"), claim.institution_id.label("institution_id"),
            (claim.compensated_amount if amount is None else amount).label("amount"),
            claim.admission_date.label("period_start"),
            sa.func.coalesce(claim.discharge_date, claim.admission_date).label("period_end")]


class days_between(sa.sql.expression.FunctionElement):  # noqa: N801 - SQL function style
    """Whole days from the first date to the second (``b - a``)."""

    type = sa.Integer()
    inherit_cache = True


@compiles(days_between)
def _days_between_default(element: Any, compiler: Any, **kw: Any) -> str:
    first, second = list(element.clauses)
    return f"({compiler.process(second, **kw)} - {compiler.process(first, **kw)})"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    first, second = list(element.clauses)
    return f"CAST(julianday({compiler.process(second, **kw)}) - julianday({compiler.process(first, **kw)}) AS INTEGER)"


def _member_of(claim: Any) -> Any:
    """The member a claim names (county + member number)."""
    return sa.and_(Member.county_code == claim.county_code, Member.member_no == claim.member_no)


def _age_at(day: Any, birth: Any) -> sa.ColumnElement[int]:
    """Whole years between ``birth`` and ``day``, in SQL both databases run."""
    years = sa.extract("year", day) - sa.extract("year", birth)
    month_day = lambda d: sa.extract("month", d) * 100 + sa.extract("day", d)  # noqa: E731
    return years - sa.case((month_day(day) < month_day(birth), 1), else_=0)


# --- the rules --------------------------------------------------------------------------------

def care_after_death(params: dict[str, Any], scope: Scope) -> sa.Select:
    c = sa.orm.aliased(Claim, name="c")
    return (sa.select(*_claim_columns(c), Member.death_date.label("ev_death_date"),
                      c.admission_date.label("ev_admission_date"))
            .join(Member, _member_of(c))
            .where(*scope.claims(c), Member.death_date.is_not(None),
                   c.admission_date > Member.death_date))


def overlapping_stays(params: dict[str, Any], scope: Scope) -> sa.Select:
    later, earlier = sa.orm.aliased(Claim, name="later"), sa.orm.aliased(Claim, name="earlier")
    return (sa.select(*_claim_columns(later), earlier.source_id.label("ev_other_claim"),
                      earlier.admission_date.label("ev_other_admission"),
                      earlier.discharge_date.label("ev_other_discharge"))
            .join(earlier, sa.and_(earlier.county_code == later.county_code, earlier.member_no == later.member_no,
                                   earlier.id != later.id))
            .where(*scope.claims(later), earlier.voided.is_(False),
                   later.kind == ClaimKind.INPATIENT, earlier.kind == ClaimKind.INPATIENT,
                   # the later of the two (ties: the higher id) carries the finding
                   sa.or_(earlier.admission_date < later.admission_date,
                          sa.and_(earlier.admission_date == later.admission_date, earlier.id < later.id)),
                   # a day of transfer (discharge = next admission) is no overlap
                   later.admission_date < earlier.discharge_date)
            .distinct())


def split_admission(params: dict[str, Any], scope: Scope) -> sa.Select:
    again, first = sa.orm.aliased(Claim, name="again"), sa.orm.aliased(Claim, name="first")
    gap = days_between(first.discharge_date, again.admission_date)
    excluded = [again.diagnosis_code.like(f"{prefix}%") for prefix in params["excluded_diagnoses"]]
    return (sa.select(*_claim_columns(again), first.source_id.label("ev_previous_claim"),
                      first.discharge_date.label("ev_previous_discharge"), gap.label("ev_days_between"))
            .join(first, sa.and_(first.county_code == again.county_code, first.member_no == again.member_no,
                                 first.institution_id == again.institution_id, first.id != again.id))
            .where(*scope.claims(again), first.voided.is_(False),
                   again.kind == ClaimKind.INPATIENT, first.kind == ClaimKind.INPATIENT,
                   again.admission_date >= first.discharge_date, gap <= params["readmission_days"],
                   *([~sa.or_(*excluded)] if excluded else []))
            .distinct())


def outpatient_during_stay(params: dict[str, Any], scope: Scope) -> sa.Select:
    visit, stay = sa.orm.aliased(Claim, name="visit"), sa.orm.aliased(Claim, name="stay")
    return (sa.select(*_claim_columns(visit), stay.source_id.label("ev_stay_claim"),
                      stay.admission_date.label("ev_stay_admission"), stay.discharge_date.label("ev_stay_discharge"))
            .join(stay, sa.and_(stay.county_code == visit.county_code, stay.member_no == visit.member_no))
            .where(*scope.claims(visit), stay.voided.is_(False), visit.kind == ClaimKind.OUTPATIENT,
                   stay.kind == ClaimKind.INPATIENT,
                   # strictly inside: a visit on the day of admission or discharge is usual care
                   visit.admission_date > stay.admission_date, visit.admission_date < stay.discharge_date))


def not_enrolled(params: dict[str, Any], scope: Scope) -> sa.Select:
    c = sa.orm.aliased(Claim, name="c")
    enrolled = (sa.select(Enrolment.id).join(Member, Member.id == Enrolment.member_id)
                .where(_member_of(c), Enrolment.year == sa.extract("year", c.admission_date)))
    return (sa.select(*_claim_columns(c), sa.extract("year", c.admission_date).label("ev_year"))
            .where(*scope.claims(c), ~enrolled.exists()))


def _restricted(kind: RestrictionKind, by_sex: bool) -> Callable[[dict[str, Any], Scope], sa.Select]:
    """Items or diagnoses restricted by sex or by age (config/restrictions.csv)."""

    def query(params: dict[str, Any], scope: Scope) -> sa.Select:
        c = sa.orm.aliased(Claim, name="c")
        if by_sex:
            breach = sa.and_(Restriction.allowed_sex.is_not(None), Restriction.allowed_sex != Member.sex)
        else:
            age = _age_at(c.admission_date, Member.birth_date)
            breach = sa.or_(sa.and_(Restriction.min_age.is_not(None), age < Restriction.min_age),
                            sa.and_(Restriction.max_age.is_not(None), age > Restriction.max_age))
        if kind is RestrictionKind.DIAGNOSIS:
            return (sa.select(*_claim_columns(c), c.diagnosis_code.label("ev_code"),
                              Restriction.note.label("ev_restriction"))
                    .join(Member, _member_of(c))
                    .join(Restriction, sa.and_(Restriction.kind == kind,
                                               c.diagnosis_code.like(Restriction.code + sa.literal("%"))))
                    .where(*scope.claims(c), breach)
                    .distinct())
        at_stake = sa.func.sum(ClaimItem.amount)
        columns = [col for col in _claim_columns(c, at_stake) if col.name not in ("period_start", "period_end")]
        return (sa.select(*columns, sa.func.min(c.admission_date).label("period_start"),
                          sa.func.max(sa.func.coalesce(c.discharge_date, c.admission_date)).label("period_end"),
                          sa.func.min(ClaimItem.item_code).label("ev_code"),
                          sa.func.count().label("ev_lines"))
                .join(Member, _member_of(c))
                .join(ClaimItem, ClaimItem.claim_id == c.id)
                .join(Restriction, sa.and_(Restriction.kind == kind, Restriction.code == ClaimItem.item_code))
                .where(*scope.claims(c), breach)
                .group_by(c.id, c.county_code, c.source_id, c.institution_id))

    return query


CATALOGUE: tuple[Rule, ...] = (
    Rule("care_after_death", "1", "care after death", "死亡后就医", "Care after death",
         "A claim whose admission or visit date is after the member's date of death.",
         "就诊或入院日期晚于参合人员死亡日期的结算单。",
         "the compensation paid on the claim", Severity.VIOLATION, care_after_death),
    Rule("overlapping_stays", "1", "overlapping stays", "重叠住院", "Overlapping inpatient stays",
         "An inpatient claim that begins before another inpatient stay of the same member has ended "
         "(a discharge and an admission on the same day, a transfer, is not an overlap).",
         "同一参合人员两次住院时间重叠（出院当日再入院、即转院，不计）。",
         "the compensation paid on the later stay", Severity.VIOLATION, overlapping_stays),
    Rule("split_admission", "1", "split admission", "分解住院", "Split admission",
         "An inpatient admission to the same institution within {readmission_days} days of the same "
         "member's discharge from it; planned cycles (diagnoses starting {excluded_diagnoses}, such "
         "as chemotherapy or radiotherapy) are not counted.",
         "同一参合人员出院后 {readmission_days} 天内再次入住同一医疗机构；化疗、放疗等计划性周期治疗"
         "（主诊断以 {excluded_diagnoses} 开头）不计。",
         "the compensation paid on the readmission", Severity.SUSPICIOUS, split_admission,
         {"readmission_days": 15, "excluded_diagnoses": ["Z51"]}),
    Rule("outpatient_during_stay", "1", "outpatient during a stay", "住院期间门诊", "Outpatient care during a stay",
         "An outpatient claim dated strictly between the admission and discharge of an inpatient stay "
         "of the same member.",
         "门诊就诊日期在同一参合人员住院期间（不含入院、出院当日）。",
         "the compensation paid on the outpatient claim", Severity.SUSPICIOUS, outpatient_during_stay),
    Rule("not_enrolled", "1", "not enrolled", "非参合人员", "Claim of a person not enrolled that year",
         "A claim whose member has no enrolment in the county for the year of the admission or visit.",
         "结算单对应人员在就诊年度未在本县参合。",
         "the compensation paid on the claim", Severity.VIOLATION, not_enrolled),
    Rule("sex_restricted_item", "1", "sex-restricted items and diagnoses", "限性别项目", "Item restricted to the other sex",
         "A claim billing an item that the restriction list allows only for the other sex.",
         "结算单中含有限定另一性别使用的收费项目。",
         "the amount billed for the restricted items", Severity.VIOLATION,
         _restricted(RestrictionKind.ITEM, by_sex=True)),
    Rule("sex_restricted_diagnosis", "1", "sex-restricted items and diagnoses", "限性别诊断",
         "Diagnosis restricted to the other sex",
         "A claim whose main diagnosis (an ICD-10 code or its prefix on the restriction list) exists "
         "only for the other sex.",
         "结算单主诊断仅适用于另一性别。",
         "the compensation paid on the claim", Severity.VIOLATION, _restricted(RestrictionKind.DIAGNOSIS, by_sex=True)),
    Rule("age_restricted_item", "1", "age-restricted items and diagnoses", "限年龄项目", "Item outside its age range",
         "A claim billing an item for a member whose age at admission is outside the item's age range.",
         "结算单中含有与患者入院时年龄不符的限年龄收费项目。",
         "the amount billed for the restricted items", Severity.SUSPICIOUS,
         _restricted(RestrictionKind.ITEM, by_sex=False)),
    Rule("age_restricted_diagnosis", "1", "age-restricted items and diagnoses", "限年龄诊断",
         "Diagnosis outside its age range",
         "A claim whose main diagnosis is on the restriction list for an age range the member's age "
         "at admission is outside of.",
         "结算单主诊断与患者入院时年龄不符。",
         "the compensation paid on the claim", Severity.SUSPICIOUS, _restricted(RestrictionKind.DIAGNOSIS, by_sex=False)),
)
RULES = {rule.code: rule for rule in CATALOGUE}
