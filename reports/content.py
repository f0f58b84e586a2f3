"""What a report to the ministry says: its tables, typed, titled in Chinese and English, each
column tied to its definition in docs/indicators.md. The PDF (``reports.pdf``) lays them out and
the machine-readable statistics (``reports.statistics``) write one CSV and one XML file per
table, so the two always carry the same figures. Every figure comes from ``ncms.indicators``;
nothing here recomputes one.

A provincial report has a ``province`` section (a row per county and the province's total) and a
section per county (its claims by institution level and its findings by rule, keys suffixed with
the county's code); a county's report has that county's section alone, keys without a suffix.

    content = build_content(session, "quarterly", Period.parse("2011-Q2"))
    [t.key for t in content.tables]
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

import ncms
from ncms.indicators import Indicators, Period, data_status, indicators, monthly_series
from ncms.indicators.supervision import Supervision, supervision
from ncms.models import ClaimKind, County, FundingSource, InstitutionLevel

KINDS = {"monthly": "month", "quarterly": "quarter", "annual": "year"}  # report kind: its period's kind
COLUMN_KINDS = ("text", "integer", "money", "rate", "date")
PROVINCE = "province"
INPATIENT, OUTPATIENT = ClaimKind.INPATIENT, ClaimKind.OUTPATIENT


@dataclass(frozen=True)
class Column:
    key: str  # machine name, snake_case: the CSV header and the XML element
    title: dict[str, str]  # {"zh": ..., "en": ...}
    kind: str  # text | integer | money (yuan, Decimal, 2 places) | rate (Decimal, 0..1, 4 places) | date
    definition: str | None = None  # anchor in docs/indicators.md

    def __post_init__(self) -> None:
        if self.kind not in COLUMN_KINDS:
            raise ValueError(f"column {self.key}: kind {self.kind!r}; allowed: {', '.join(COLUMN_KINDS)}")


@dataclass(frozen=True)
class Table:
    key: str  # file stem: one CSV and one XML file per table
    title: dict[str, str]
    columns: tuple[Column, ...]
    rows: tuple[tuple, ...]  # values typed per column kind (str, int, Decimal, date, None)
    section: str  # "province" or a county code: the PDF section that shows it

    def column(self, key: str) -> list[Any]:
        """The values of one column, row by row."""
        at = [c.key for c in self.columns].index(key)
        return [row[at] for row in self.rows]


@dataclass(frozen=True)
class ReportContent:
    kind: str  # monthly | quarterly | annual
    period: Period
    province_code: str  # six digits (520000)
    province_name: str
    county: str | None  # None: the province with a section per county; a code: that county alone
    generated_at: datetime  # UTC
    platform_version: str
    tables: tuple[Table, ...]
    # how a text value reads in each language: {column key: {value: {"zh": ..., "en": ...}}}
    labels: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    county_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # code: {"zh", "en"}

    @property
    def sections(self) -> list[str]:
        """The PDF's sections in order: the province's (if any), then each county's."""
        seen: list[str] = []
        for table in self.tables:
            if table.section not in seen:
                seen.append(table.section)
        return seen

    def table(self, key: str) -> Table:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(f"report has no table {key!r}; it has {', '.join(t.key for t in self.tables)}")

    def label(self, column: str, value: Any, lang: str) -> str:
        """A text value as it reads in ``lang`` (the value itself when nothing names it)."""
        names = self.labels.get(column, {}).get(str(value))
        return names.get(lang) or names.get("zh") or str(value) if names else str(value)


def build_content(conn: Session | Connection, kind: str, period: Period | str, county: str | None = None, *,
                  province: Any = None, today: date | None = None,
                  generated_at: datetime | None = None) -> ReportContent:
    """The content of a ``kind`` report (monthly, quarterly, annual) for ``period``, of the
    province or of ``county`` alone. ``province``: its reference (``ncms.reference.read_province``:
    its name and each county's cadence, which the data timeliness is judged against); without it
    the province is named by its code. ``today``: the day timeliness is judged on (the report's)."""
    session = conn if isinstance(conn, Session) else Session(bind=conn)
    period = _period(kind, period)
    generated_at = generated_at or datetime.now(timezone.utc)
    counties = _counties(session, county)
    codes = list(counties)
    table = indicators(session, period, codes)
    code = (province.province_code if province is not None else codes[0][:2]) + "0000"
    name = str(province.province_name) if province is not None else code
    rows: list[tuple[str, str, Indicators]] = [(c.county_codes[0], c.name, c) for c in table.counties]
    if county is None:
        rows.append((code, name, table.total))
    findings = supervision(session, period, codes)
    section = county or PROVINCE
    tables: list[Table] = [t(rows, section) for t in BY_COUNTY]
    tables.append(_levels("claims_by_level", table.total, section))
    tables += _supervision_tables(findings, counties, code, name, section, county is None)
    tables.append(_timeliness(session, codes, counties, province, today or generated_at.date(), section))
    tables.append(_monthly(session, period, codes, section))
    if county is None:
        for c in table.counties:
            own = c.county_codes[0]
            tables.append(_levels(f"claims_by_level_{own}", c, own))
            tables.append(_by_rule(f"supervision_by_rule_{own}", [s for s in findings if s.county_code == own], own))
    configured = {c["code"]: c.get("name_en") for c in getattr(province, "counties", [])}
    names = {c: {"zh": n, "en": en or configured.get(c) or n} for c, (n, en) in counties.items()}
    names[code] = {"zh": name, "en": getattr(province, "province_name_en", None) or name}
    labels = {**VALUE_LABELS, "rule": _rule_labels(), "name": {v["zh"]: v for v in names.values()}}
    return ReportContent(kind, period, code, name, county, generated_at, ncms.__version__, tuple(tables),
                         labels, names)


def _rule_labels() -> dict[str, dict[str, str]]:
    """Each rule's title (the catalogue's; the anomaly model's, named here so that its model
    library is not imported for a title)."""
    from ncms.monitor.catalogue import RULES

    return {**{code: {"zh": r.title_zh, "en": r.title_en} for code, r in RULES.items()},
            "institution_anomaly": {"zh": "同类机构中异常（异常模型）", "en": "Unusual against its peers (anomaly model)"},
            "total": TOTAL}


def _period(kind: str, period: Period | str) -> Period:
    if kind not in KINDS:
        raise ValueError(f"report kind {kind!r}: allowed: {', '.join(KINDS)}")
    period = period if isinstance(period, Period) else Period.parse(period)
    if period.kind != KINDS[kind]:
        example = {"monthly": "2011-07", "quarterly": "2011-Q3", "annual": "2011"}[kind]
        raise ValueError(f"a {kind} report is for a {KINDS[kind]} ({example}), not {period.label}")
    return period


def _counties(session: Session, county: str | None) -> dict[str, tuple[str, str | None]]:
    query = sa.select(County.code, County.name, County.name_en).order_by(County.code)
    if county is not None:
        query = query.where(County.code == county)
    found = {code: (name, en) for code, name, en in session.execute(query)}
    if not found:
        raise ValueError(f"county {county!r} is not one of the province's" if county else "the province has no county")
    return found


# -- columns ----------------------------------------------------------------------------------
def col(key: str, zh: str, en: str, kind: str, definition: str | None = None) -> Column:
    return Column(key, {"zh": zh, "en": en}, kind, definition)


COUNTY = col("county", "区划代码", "Code", "text")
NAME = col("name", "地区", "Area", "text")
ENROLMENT, FINANCING, FUND = "enrolment-参合", "financing-筹资", "expenditure-and-the-fund-基金支出与结余"
BENEFIT, COST, SUPERVISION = "benefit-受益", "cost-and-coverage-费用与保障", "supervision-监管"
BY_RULE = "supervision-by-rule-and-county"
SOURCE_TITLES = {FundingSource.INDIVIDUAL: ("个人缴费", "Individual"), FundingSource.CENTRAL: ("中央补助", "Central"),
                 FundingSource.PROVINCIAL: ("省级补助", "Provincial"), FundingSource.LOCAL: ("地方补助", "Local"),
                 FundingSource.OTHER: ("其他", "Other")}
LEVEL_TITLES = {InstitutionLevel.VILLAGE: ("村级", "Village"), InstitutionLevel.TOWNSHIP: ("乡镇级", "Township"),
                InstitutionLevel.COUNTY: ("县级", "County"), InstitutionLevel.MUNICIPAL: ("市级", "Municipal"),
                InstitutionLevel.PROVINCIAL: ("省级", "Provincial"),
                InstitutionLevel.OUT_OF_PROVINCE: ("省外", "Out of province")}
TOTAL = {"zh": "合计", "en": "Total"}
VALUE_LABELS = {
    "level": {**{lv.value: {"zh": zh, "en": en} for lv, (zh, en) in LEVEL_TITLES.items()}, "total": TOTAL},
    "fund_warning": {"none": {"zh": "正常", "en": "none"}, "deficit": {"zh": "超支预警", "en": "deficit"},
                     "surplus": {"zh": "结余过多", "en": "surplus"}},
}

Getter = Callable[[Indicators], Any]


@dataclass(frozen=True)
class ByCounty:
    """A table with a row per county (and the province's total): each column read from the
    county's ``Indicators``."""

    key: str
    title: tuple[str, str]
    columns: tuple[tuple[Column, Getter], ...]

    def __call__(self, rows: Sequence[tuple[str, str, Indicators]], section: str) -> Table:
        return Table(self.key, {"zh": self.title[0], "en": self.title[1]},
                     (COUNTY, NAME, *(c for c, _ in self.columns)),
                     tuple((code, name, *(get(x) for _, get in self.columns)) for code, name, x in rows), section)


def _claims(figure: str, kind: ClaimKind | None = None) -> Getter:
    return lambda x: getattr(x.claims(kind), figure)


BY_COUNTY = (
    ByCounty("enrolment", ("参合情况", "Enrolment"), (
        (col("agricultural_population", "农业人口", "Agricultural population", "integer", ENROLMENT),
         lambda x: x.agricultural_population),
        (col("members", "参合人数", "Members", "integer", ENROLMENT), lambda x: x.members),
        (col("households", "参合户数", "Households", "integer", ENROLMENT), lambda x: x.households),
        (col("participation_rate", "参合率", "Participation rate", "rate", ENROLMENT),
         lambda x: x.participation_rate))),
    ByCounty("financing_by_source", ("基金筹集（按来源）", "Financing by source"), (
        *((col(f"financing_{s.value}", zh, en, "money", FINANCING),
           (lambda s: lambda x: x.financing.get(s, Decimal("0.00")))(s)) for s, (zh, en) in SOURCE_TITLES.items()),
        (col("financing", "筹资合计", "Total", "money", FINANCING), lambda x: x.financing_total))),
    ByCounty("fund_balance", ("基金使用与结余", "Fund usage and balance"), (
        (col("year_financing", "当年筹资", "Year's financing", "money", FUND), lambda x: x.year_financing),
        (col("paid_to_date", "当年累计支出", "Paid to date", "money", FUND), lambda x: x.paid_to_date),
        (col("fund_usage_rate", "基金使用率", "Usage rate", "rate", FUND), lambda x: x.fund_usage_rate),
        (col("elapsed_share", "时间进度", "Time elapsed", "rate", FUND), lambda x: x.elapsed_share),
        (col("surplus_rate", "当年结余率", "Surplus rate", "rate", FUND), lambda x: x.surplus_rate),
        (col("cumulative_balance", "累计结余", "Cumulative balance", "money", FUND), lambda x: x.cumulative_balance),
        (col("cumulative_surplus_rate", "累计结余率", "Cumulative surplus rate", "rate", FUND),
         lambda x: x.cumulative_surplus_rate),
        (col("fund_warning", "基金预警", "Fund warning", "text", FUND), lambda x: x.warning_state))),
    ByCounty("compensation_by_type", ("补偿支出（按类型）", "Compensation by type of care"), (
        (col("visits", "门诊人次", "Visits", "integer", BENEFIT), lambda x: x.outpatient.claims),
        (col("compensation_outpatient", "门诊补偿", "Outpatient compensation", "money", FUND),
         lambda x: x.outpatient.compensated_amount),
        (col("stays", "住院人次", "Stays", "integer", BENEFIT), lambda x: x.inpatient.claims),
        (col("compensation_inpatient", "住院补偿", "Inpatient compensation", "money", FUND),
         lambda x: x.inpatient.compensated_amount),
        (col("total_cost", "医疗总费用", "Total cost", "money", COST), _claims("total_amount")),
        (col("compensation", "补偿合计", "Compensation", "money", FUND), lambda x: x.compensation))),
    ByCounty("benefit", ("受益情况", "Benefit"), (
        (col("members", "参合人数", "Members", "integer", ENROLMENT), lambda x: x.members),
        (col("compensated_visits", "补偿人次", "Compensated visits", "integer", BENEFIT),
         _claims("compensated_claims")),
        (col("benefit_rate", "受益率", "Benefit rate", "rate", BENEFIT), lambda x: x.benefit_rate),
        (col("stays", "住院人次", "Stays", "integer", BENEFIT), lambda x: x.inpatient.claims),
        (col("hospitalisation_rate", "住院率", "Hospitalisation rate", "rate", BENEFIT),
         lambda x: x.hospitalisation_rate))),
    ByCounty("cost_and_coverage", ("费用与补偿水平", "Cost and coverage"), (
        (col("cost_per_stay", "次均住院费用", "Cost per stay", "money", COST), lambda x: x.inpatient.cost_per_claim),
        (col("compensation_per_stay", "次均住院补偿", "Compensation per stay", "money", COST),
         lambda x: x.inpatient.compensation_per_claim),
        (col("cost_per_visit", "次均门诊费用", "Cost per visit", "money", COST), lambda x: x.outpatient.cost_per_claim),
        (col("out_of_pocket", "个人负担", "Out of pocket", "money", COST), _claims("out_of_pocket")),
        (col("actual_compensation_ratio_inpatient", "住院实际补偿比", "Inpatient actual ratio", "rate", COST),
         lambda x: x.inpatient.actual_compensation_ratio),
        (col("policy_reimbursement_ratio_inpatient", "住院政策范围内报销比", "Inpatient policy ratio", "rate", COST),
         lambda x: x.inpatient.policy_reimbursement_ratio),
        (col("actual_compensation_ratio", "总实际补偿比", "Actual ratio, all care", "rate", COST),
         _claims("actual_compensation_ratio")))),
    ByCounty("out_of_county_care", ("县外就医", "Care outside the county"), (
        (col("stays", "住院人次", "Stays", "integer", BENEFIT), lambda x: x.inpatient.claims),
        (col("out_of_county_stays", "县外住院人次", "Stays outside the county", "integer", COST),
         lambda x: x.inpatient.out_of_county),
        (col("referred_stays", "转诊住院人次", "Referred stays", "integer", COST), lambda x: x.inpatient.referred),
        (col("out_of_county_stay_share", "县外住院比例", "Share outside the county", "rate", COST),
         lambda x: x.inpatient.out_of_county_share))),
)


def _levels(key: str, x: Indicators, section: str) -> Table:
    """Claims by institution level: stays, their cost and actual ratio, visits and their compensation."""
    columns = (col("level", "机构级别", "Level", "text"),
               col("stays", "住院人次", "Stays", "integer", BENEFIT),
               col("cost_per_stay", "次均住院费用", "Cost per stay", "money", COST),
               col("compensation_inpatient", "住院补偿", "Inpatient compensation", "money", FUND),
               col("actual_compensation_ratio_inpatient", "住院实际补偿比", "Inpatient actual ratio", "rate", COST),
               col("visits", "门诊人次", "Visits", "integer", BENEFIT),
               col("compensation_outpatient", "门诊补偿", "Outpatient compensation", "money", FUND))
    rows = []
    for level in InstitutionLevel:
        stays, visits = x.claims(INPATIENT, level), x.claims(OUTPATIENT, level)
        rows.append((level.value, stays.claims, stays.cost_per_claim, stays.compensated_amount,
                     stays.actual_compensation_ratio, visits.claims, visits.compensated_amount))
    stays, visits = x.inpatient, x.outpatient
    rows.append(("total", stays.claims, stays.cost_per_claim, stays.compensated_amount,
                 stays.actual_compensation_ratio, visits.claims, visits.compensated_amount))
    return Table(key, {"zh": "分级别就医与补偿", "en": "Care and compensation by institution level"},
                 columns, tuple(rows), section)


SUPERVISION_COLUMNS = (
    col("raised", "疑点数", "Raised", "integer", BY_RULE),
    col("pushed", "已推送", "Pushed", "integer", BY_RULE),
    col("undecided", "待处理", "Undecided", "integer", BY_RULE),
    col("determined", "认定违规", "Determined", "integer", BY_RULE),
    col("dismissed", "排除", "Dismissed", "integer", BY_RULE),
    col("money_at_stake", "涉及金额", "Money at stake", "money", BY_RULE),
    col("amount_to_recover", "应追回金额", "To recover", "money", BY_RULE),
    col("amount_recovered", "已追回金额", "Recovered", "money", BY_RULE),
    col("recovery_rate", "追回率", "Recovery rate", "rate", BY_RULE),
)


def _supervision_row(s: Supervision) -> tuple:
    return (s.raised, s.pushed, s.undecided, s.determined, s.dismissed, s.money_at_stake, s.amount_to_recover,
            s.amount_recovered, s.recovery_rate)


def _supervision_tables(findings: list[Supervision], counties: Mapping[str, tuple[str, str | None]], code: str,
                        name: str, section: str, with_total: bool) -> list[Table]:
    by_county = {c: Supervision(c) for c in counties}
    for s in findings:
        by_county[s.county_code] = by_county[s.county_code] + s
    rows = [(c, counties[c][0], *_supervision_row(s)) for c, s in by_county.items()]
    if with_total:
        rows.append((code, name, *_supervision_row(sum(by_county.values(), Supervision()))))
    return [Table("supervision_by_county", {"zh": "基金监管（按地区）", "en": "Supervision by area"},
                  (COUNTY, NAME, *SUPERVISION_COLUMNS), tuple(rows), section),
            _by_rule("supervision_by_rule", findings, section)]


def _by_rule(key: str, findings: list[Supervision], section: str) -> Table:
    """Findings by rule, the most money at stake first; the total last."""
    rules: dict[str, Supervision] = {}
    for s in findings:
        rules[s.rule_code] = rules.get(s.rule_code, Supervision(rule_code=s.rule_code)) + s
    ranked = sorted(rules.values(), key=lambda s: (-s.money_at_stake, -s.raised, s.rule_code or ""))
    total = sum(ranked, Supervision())
    rows = [(s.rule_code, *_supervision_row(s)) for s in ranked] + [("total", *_supervision_row(total))]
    return Table(key, {"zh": "基金监管（按规则）", "en": "Supervision by rule"},
                 (col("rule", "监控规则", "Rule", "text"), *SUPERVISION_COLUMNS), tuple(rows), section)


def _timeliness(session: Session, codes: list[str], counties: Mapping[str, tuple[str, str | None]], province: Any,
                today: date, section: str) -> Table:
    """Each county's data: when it last arrived, how far it reaches, periods behind its cadence
    on ``today`` (as ``ncms ingest status`` judges it), packages missing or refused."""
    cadence = getattr(province, "cadence", None) or {}
    status = data_status(session, codes, cadence=cadence, today=today)
    definition = "data-timeliness"
    columns = (COUNTY, NAME, col("last_received", "最近接收", "Last received", "date", definition),
               col("periods_behind", "滞后期数", "Periods behind", "integer", definition),
               col("missing_packages", "缺失数据包", "Missing packages", "text", definition),
               col("refused_packages", "拒收数据包", "Refused packages", "text", definition))
    rows = []
    for c in codes:
        s = status.get(c)
        received = s.last_received_at.date() if s and s.last_received_at else None
        rows.append((c, counties[c][0], received, s.lateness.behind if s else None,
                     ",".join(map(str, s.missing_sequences)) if s else "",
                     ",".join(map(str, s.refused_sequences)) if s else ""))
    return Table("data_timeliness", {"zh": "数据上报及时性", "en": "Data timeliness"}, columns, tuple(rows), section)


def _monthly(session: Session, period: Period, codes: list[str], section: str) -> Table:
    """Financing raised and compensation paid in each month of the period's year up to its end,
    the area's total (the chart of compensation against financing)."""
    total = monthly_series(session, period.year, codes)[-1]
    columns = (col("month", "月份", "Month", "text"),
               col("financing", "当月筹资", "Financing", "money", FINANCING),
               col("compensation", "当月补偿支出", "Compensation", "money", FUND))
    rows = tuple((f"{period.year}-{m:02d}", total.financing[m - 1], total.compensation[m - 1])
                 for m in range(1, period.last_month + 1))
    return Table("monthly_fund_flow", {"zh": "逐月筹资与补偿支出", "en": "Financing and compensation by month"},
                 columns, rows, section)
