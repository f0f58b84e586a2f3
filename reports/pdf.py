"""The report as a PDF (WeasyPrint, Noto Sans CJK SC): a cover, the contents, a summary in
words, a chapter per subject with its tables and charts, a section per county, page numbers
and the period in every footer. Chinese by default, English with ``lang="en"``.

The PDF shows the tables of ``ReportContent`` and nothing else: the same figures as the CSV and
XML files, formatted for reading (money totals in 万元, money per case in 元, rates in %).

    render_pdf(content, Path("report.pdf"), lang="zh")
"""
from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from . import charts
from .content import PROVINCE, Column, ReportContent, Table

TEMPLATES = Path(__file__).parent / "templates"
LANGS = ("zh", "en")
TEN_THOUSAND = Decimal(10000)
PER_CASE = ("cost_per_stay", "compensation_per_stay", "cost_per_visit")  # money per case: in yuan
CN_DIGITS = "一二三四五六七八九"
KEEP_ROWS = 16  # tables of so many rows or fewer are not broken across pages

TEXT = {
    "zh": {
        "monthly": "新型农村合作医疗运行情况月报", "quarterly": "新型农村合作医疗运行情况季度报告",
        "annual": "新型农村合作医疗基金监管年度报告", "contents": "目录", "table": "表", "figure": "图",
        "wan": "万元", "yuan": "元", "percent": "%", "total_of": "合计", "generated": "生成时间",
        "platform": "平台版本", "period": "报告期", "area": "报告范围", "page": "第 {} 页", "none": "—",
        "source": "数据来源：新农合基金监管平台汇总表；指标定义见平台文档 docs/indicators.md。",
        "units": "金额单位：万元（次均费用为元）；比率为百分比。",
        "platform_name": "新型农村合作医疗基金监管平台", "tile_financing": "本期筹资", "tile_compensation": "本期补偿支出",
        "counties": "分县情况", "summary": "概要", "province_total": "全省合计",
        "nothing_received": "未接收", "on_time": "按期", "behind": "滞后 {} 期",
    },
    "en": {
        "monthly": "NCMS operations report, monthly", "quarterly": "NCMS operations report, quarterly",
        "annual": "NCMS fund supervision report, annual", "contents": "Contents", "table": "Table",
        "figure": "Figure", "wan": "10k yuan", "yuan": "yuan", "percent": "%", "total_of": "Total",
        "generated": "Generated", "platform": "Platform version", "period": "Period", "area": "Area",
        "page": "page {}", "none": "—",
        "source": "Source: the supervision platform's summary tables; each figure is defined in docs/indicators.md.",
        "units": "Money in 10,000 yuan (per case: yuan); rates in per cent.",
        "platform_name": "NCMS fund supervision platform", "tile_financing": "Financing raised",
        "tile_compensation": "Compensation paid", "counties": "Counties", "summary": "Summary",
        "province_total": "Province total",
        "nothing_received": "nothing received", "on_time": "on time", "behind": "{} behind",
    },
}

# chapters: key, title, the tables they show (by key; a county section's are suffixed with its code)
CHAPTERS = (
    ("enrolment", {"zh": "参合与筹资", "en": "Enrolment and financing"},
     ("enrolment", "financing_by_source", "monthly_fund_flow")),
    ("fund", {"zh": "基金使用与结余", "en": "The fund: usage and balance"}, ("fund_balance",)),
    ("benefit", {"zh": "补偿与受益", "en": "Compensation and benefit"},
     ("compensation_by_type", "benefit", "cost_and_coverage", "claims_by_level", "out_of_county_care")),
    ("supervision", {"zh": "基金监管", "en": "Fund supervision"}, ("supervision_by_county", "supervision_by_rule")),
    ("timeliness", {"zh": "数据上报及时性", "en": "Data timeliness"}, ("data_timeliness",)),
)
COUNTY_TABLES = ("claims_by_level", "supervision_by_rule")


@dataclass
class Block:
    """One thing on the page: a paragraph, a table or a chart (its caption numbered)."""

    kind: str  # paragraph | table | chart | figures
    caption: str = ""
    html: str = ""
    head: list[tuple[str, str]] = field(default_factory=list)  # title, unit
    numeric: list[bool] = field(default_factory=list)
    rows: list[tuple[bool, list[str]]] = field(default_factory=list)  # (a total row, cells)
    note: str = ""
    tiles: list[tuple[str, str, str]] = field(default_factory=list)  # label, value, detail

    @property
    def keep(self) -> bool:
        """A short table stays on one page (a long one breaks, its header repeated)."""
        return self.kind == "table" and len(self.rows) <= KEEP_ROWS


@dataclass
class Chapter:
    anchor: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    sections: list["Chapter"] = field(default_factory=list)


def render_pdf(content: ReportContent, target: Path | None = None, *, lang: str = "zh") -> bytes:
    """The PDF's bytes, also written to ``target`` when given."""
    from weasyprint import HTML

    document = HTML(string=render_html(content, lang=lang), base_url=str(TEMPLATES))
    data = document.write_pdf()
    if target is not None:
        target.write_bytes(data)
    return data


def render_html(content: ReportContent, *, lang: str = "zh") -> str:
    """The report as HTML for WeasyPrint (its page rules, leaders and page counters)."""
    import jinja2

    if lang not in LANGS:
        raise ValueError(f"language {lang!r}: allowed: {', '.join(LANGS)}")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    view = Layout(content, lang)
    return env.get_template("report.html").render(
        lang=lang, t=TEXT[lang], title=view.title, area=view.area, kind_title=TEXT[lang][content.kind],
        period=period_name(content, lang),
        generated=view.when(content.generated_at), version=content.platform_version,
        chapters=view.chapters())


def period_name(content: ReportContent, lang: str) -> str:
    p = content.period
    if lang == "zh":
        if p.kind == "quarter":  # the numeral looked up only for a quarter: 11 and 12 have none
            return f"{p.year}年第{cn_number(p.number)}季度"
        return f"{p.year}年度" if p.kind == "year" else f"{p.year}年{p.number}月"
    if p.kind == "month":
        return f"{calendar.month_name[p.number]} {p.year}"
    return f"Q{p.number} {p.year}" if p.kind == "quarter" else str(p.year)


class Layout:
    """Turns the content's tables into numbered chapters of captioned tables and charts."""

    def __init__(self, content: ReportContent, lang: str) -> None:
        self.content, self.lang, self.t = content, lang, TEXT[lang]
        self.tables = {t.key: t for t in content.tables}
        self.numbers = {"table": 0, "figure": 0}
        own = content.county_names.get(content.county or "", {}) if content.county else {}
        province = content.county_names.get(content.province_code, {}).get(lang) or content.province_name
        if lang == "zh":
            self.area = province + (own.get("zh", "") if own else "")
            self.title = self.area + self.t[content.kind]
        else:
            self.area = f"{own.get('en', content.county)}, {province}" if own else province
            self.title = f"{self.area}: {self.t[content.kind]}"

    def when(self, moment: datetime) -> str:
        local = moment.astimezone()
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}" if self.lang == "zh" \
            else f"{local:%d %B %Y %H:%M}"

    def chapters(self) -> list[Chapter]:
        out = [Chapter("summary", self._numbered(1, self.t["summary"]), self._summary())]
        chapters = CHAPTERS
        if self.content.kind == "annual":  # the fund-supervision report: supervision first
            chapters = sorted(CHAPTERS, key=lambda c: c[0] != "supervision")
        for key, title, tables in chapters:
            chapter = Chapter(key, self._numbered(len(out) + 1, title[self.lang]))
            for table_key in tables:
                if table_key in self.tables:
                    chapter.blocks += self._table_and_chart(self.tables[table_key])
            out.append(chapter)
        counties = [s for s in self.content.sections if s != PROVINCE and self.content.county is None]
        if counties:
            chapter = Chapter("counties", self._numbered(len(out) + 1, self.t["counties"]))
            for i, code in enumerate(counties, 1):
                name = self.content.county_names.get(code, {}).get(self.lang, code)
                sub = Chapter(f"county-{code}", f"（{cn_number(i)}）{name}" if self.lang == "zh"
                              else f"{len(out) + 1}.{i} {name}")
                sub.blocks.append(Block("paragraph", html=self._county_line(code)))
                for key in COUNTY_TABLES:  # tables alone: a county's section keeps to one page
                    if f"{key}_{code}" in self.tables:
                        sub.blocks.append(self._table(self.tables[f"{key}_{code}"]))
                chapter.sections.append(sub)
            out.append(chapter)
        return out

    def _numbered(self, n: int, title: str) -> str:
        return f"{cn_number(n)}、{title}" if self.lang == "zh" else f"{n}. {title}"

    def _caption(self, what: str, title: str) -> str:
        self.numbers[what] += 1
        n = self.numbers[what]
        return f"{self.t[what]}{n}　{title}" if self.lang == "zh" else f"{self.t[what]} {n}. {title}"

    # -- tables ----------------------------------------------------------------------------
    def _table_and_chart(self, table: Table) -> list[Block]:
        blocks = [self._table(table)]
        chart = self._chart(table)
        if chart is not None:
            blocks.append(chart)
        return blocks

    def _table(self, table: Table) -> Block:
        shown = [c for c in table.columns if c.key != "county"]  # the name says it; the code is in the CSV
        block = Block("table", self._caption("table", table.title[self.lang]))
        block.head = [self._header(c) for c in shown]
        block.numeric = [c.kind in ("integer", "money", "rate") for c in shown]
        at = {c.key: i for i, c in enumerate(table.columns)}
        for row in table.rows:
            total = self._is_total(table, row, at)
            block.rows.append((total, [self.cell(c, row[at[c.key]], total) for c in shown]))
        return block

    def _is_total(self, table: Table, row: tuple, at: Mapping[str, int]) -> bool:
        if "county" in at:
            return row[at["county"]] == self.content.province_code
        first = table.columns[0].key
        return first in ("level", "rule") and row[0] == "total"

    def _header(self, column: Column) -> tuple[str, str]:
        """A column's title and its unit, printed under it."""
        unit = {"money": self.t["yuan"] if column.key in PER_CASE else self.t["wan"], "rate": "%"}.get(column.kind)
        if not unit:
            return column.title[self.lang], ""
        return column.title[self.lang], f"（{unit}）" if self.lang == "zh" else f"({unit})"

    def cell(self, column: Column, value: Any, total: bool = False) -> str:
        """A value as the PDF prints it."""
        if value is None:
            if column.key == "periods_behind":
                return self.t["nothing_received"]
            return self.t["none"]
        if column.kind == "money":
            return money(value, per_case=column.key in PER_CASE)
        if column.kind == "rate":
            return percent(value)
        if column.kind == "integer":
            return f"{value:,}"
        if column.kind == "date":
            return value.isoformat()
        if column.key == "name" and total and self.content.county is None:
            return self.t["province_total"]
        return self.content.label(column.key, value, self.lang)

    # -- charts ----------------------------------------------------------------------------
    def _chart(self, table: Table) -> Block | None:
        key = table.key.removesuffix(f"_{table.section}") if self.content.county is None else table.key
        if key == "monthly_fund_flow" and table.rows:
            svg = charts.column_chart(
                [m[-2:].lstrip("0") + ("月" if self.lang == "zh" else "") for m in table.column("month")],
                [(self.content.table("monthly_fund_flow").columns[1].title[self.lang],
                  [v / TEN_THOUSAND for v in table.column("financing")]),
                 (table.columns[2].title[self.lang], [v / TEN_THOUSAND for v in table.column("compensation")])],
                unit=self.t["wan"], label=table.title[self.lang])
            return Block("chart", self._caption("figure", table.title[self.lang]), html=svg)
        if key == "fund_balance":
            rows = [r for r in zip(table.column("county"), table.column("name"), table.column("fund_usage_rate"),
                                   table.column("elapsed_share"))]
            names = [self.t["province_total"] if c == self.content.province_code and self.content.county is None
                     else self.content.label("name", n, self.lang) for c, n, _, _ in rows]
            title = {"zh": "基金使用率与时间进度", "en": "Fund usage against time elapsed"}[self.lang]
            svg = charts.bar_chart(names, [None if u is None else u * 100 for _, _, u, _ in rows],
                                   markers=[None if e is None else e * 100 for _, _, _, e in rows],
                                   legend=[table.columns[4].title[self.lang], table.columns[5].title[self.lang]],
                                   fmt=lambda v: f"{v:.0f}%", label=title)
            return Block("chart", self._caption("figure", title), html=svg)
        if key == "supervision_by_rule":
            ranked = [(r, m) for r, m in zip(table.column("rule"), table.column("money_at_stake"))
                      if r != "total" and m > 0][:10]
            if not ranked:
                return None
            title = {"zh": "涉及金额居前的监控规则", "en": "Rules by money at stake"}[self.lang]
            svg = charts.bar_chart([self.content.label("rule", r, self.lang) for r, _ in ranked],
                                   [m / TEN_THOUSAND for _, m in ranked],
                                   fmt=lambda v: f"{v:,.2f}", label=title)
            return Block("chart", self._caption("figure", f"{title}（{self.t['wan']}）" if self.lang == "zh"
                                                else f"{title} ({self.t['wan']})"), html=svg)
        return None

    # -- words ------------------------------------------------------------------------------
    def _row(self, key: str, code: str | None = None) -> dict[str, Any]:
        """A table's row of ``code`` (default: the report's area: the province's total, or the county)."""
        table = self.tables.get(key)
        if table is None:
            return {}
        code = code or self.content.county or self.content.province_code
        keys = [c.key for c in table.columns]
        for row in table.rows:
            if row[0] == code:
                return dict(zip(keys, row))
        return {}

    def figure(self, key: str, column: str, code: str | None = None) -> str:
        """One figure of a table, as printed: the area's (or ``code``'s) row."""
        table = self.tables[key]
        col = next(c for c in table.columns if c.key == column)
        return self.cell(col, self._row(key, code).get(column))

    def _summary(self) -> list[Block]:
        f, t = self.figure, self.t
        tiles = [
            (self._title("enrolment", "participation_rate"), f("enrolment", "participation_rate") + "%",
             f("enrolment", "members") + (" 人" if self.lang == "zh" else " members")),
            (t["tile_financing"], f("financing_by_source", "financing"), t["wan"]),
            (t["tile_compensation"], f("compensation_by_type", "compensation"), t["wan"]),
            (self._title("fund_balance", "fund_usage_rate"), f("fund_balance", "fund_usage_rate") + "%",
             f"{self._title('fund_balance', 'elapsed_share')} {f('fund_balance', 'elapsed_share')}%"),
            (self._title("fund_balance", "cumulative_surplus_rate"), f("fund_balance", "cumulative_surplus_rate") + "%",
             f"{self._title('fund_balance', 'surplus_rate')} {f('fund_balance', 'surplus_rate')}%"),
            (self._title("cost_and_coverage", "actual_compensation_ratio_inpatient"),
             f("cost_and_coverage", "actual_compensation_ratio_inpatient") + "%",
             f"{self._title('cost_and_coverage', 'cost_per_stay')} {f('cost_and_coverage', 'cost_per_stay')} "
             f"{t['yuan']}"),
            (self._title("supervision_by_county", "determined"), f("supervision_by_county", "determined"),
             f"{self._title('supervision_by_county', 'raised')} {f('supervision_by_county', 'raised')}"),
            (self._title("supervision_by_county", "amount_to_recover"),
             f("supervision_by_county", "amount_to_recover"),
             f"{self._title('supervision_by_county', 'amount_recovered')} "
             f"{f('supervision_by_county', 'amount_recovered')} {t['wan']}"),
        ]
        blocks = [Block("figures", tiles=tiles)]
        blocks += [Block("paragraph", html=p) for p in self._sentences()]
        blocks.append(Block("paragraph", html=f'<span class="note">{t["units"]} {t["source"]}</span>'))
        return blocks

    def _title(self, table: str, column: str) -> str:
        return next(c.title[self.lang] for c in self.tables[table].columns if c.key == column)

    def _sentences(self, code: str | None = None) -> list[str]:
        from .words import sentences

        return sentences(self, code)

    def _county_line(self, code: str) -> str:
        return ("" if self.lang == "zh" else " ").join(self._sentences(code))


def cn_number(n: int) -> str:
    """1-99 in Chinese numerals, as chapters and sections are numbered: 一, 十, 十一, 二十三."""
    if not 1 <= n <= 99:
        raise ValueError(f"{n}: numbered 1 to 99")
    tens, units = divmod(n, 10)
    return (("" if tens < 2 else CN_DIGITS[tens - 1]) + "十" if tens else "") + (CN_DIGITS[units - 1] if units else "")


def money(value: Decimal, *, per_case: bool = False) -> str:
    """Yuan as the PDF prints them: per case in yuan, sums in 万元 (two decimals, half up)."""
    amount = Decimal(value) if per_case else (Decimal(value) / TEN_THOUSAND)
    return f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"


def percent(value: Decimal) -> str:
    """A rate (a fraction, four decimals) as per cent with two decimals: 0.4356 -> 43.56."""
    return f"{(Decimal(value) * 100).quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"
