"""The comparison of one county laid out for the page and the exports in the page's language:
``ncms.simulation.table``'s rows (the command line's table) with their labels in Chinese or
English, the schemes named, and the growth's basis said in the same language."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _

from ncms.simulation import CURRENT, CountyResult
from ncms.simulation.table import Row, facts, rows

from ..i18n import current_language


@dataclass(frozen=True)
class Line:
    key: str
    label: str
    unit: str  # yuan | rate | count | check
    values: list[Any]  # per scheme; a check: (passed, figure, threshold)
    indent: bool


@dataclass(frozen=True)
class Comparison:
    result: CountyResult
    schemes: list[str]  # the names shown, CURRENT named in the page's language
    lines: list[Line]  # the figures, then the balance rules (unit "check")
    facts: list[tuple[str, str, Any]]  # key, label, value: the inputs of the projection
    growth_basis: str


def english() -> bool:
    return current_language() == "en"


def scheme_name(name: str) -> str:
    return _("Current scheme") if name == CURRENT else name


def line(row: Row) -> Line:
    label = row.label_en if english() else row.label_zh
    return Line(row.key, label.strip(), row.unit, row.values, label.startswith("  "))


def comparison(r: CountyResult) -> Comparison:
    inputs = [(key, en if english() else zh, value) for key, en, zh, value in facts(r) if key != "growth_basis"]
    return Comparison(r, [scheme_name(n) for n in r.outcomes], [line(row) for row in rows(r)], inputs,
                      growth_basis(r))


def growth_basis(r: CountyResult) -> str:
    """``CountyResult.growth_basis`` (said in English by ``simulate``) in the page's language."""
    basis = r.growth_basis
    if english():
        return basis
    if basis == "given":
        return "输入值"
    if basis.startswith("0: one year only"):
        return f"仅一年数据，{r.base_year - 1}年无参合或无补偿，取 0"
    found = re.search(r"(\d{4}) to (\d{4}): ([\d.]+) -> ([\d.]+)", basis)
    if found:
        before, now, per_before, per_now = found.groups()
        return f"近两年人均补偿趋势：{before}年 {per_before} 元 → {now}年 {per_now} 元"
    return basis


def check_text(value: tuple[bool, Decimal, Decimal]) -> str:
    """A balance rule's cell as words, for the exports: 通过 / 未通过 with the figure judged."""
    passed, figure, threshold = value
    shown = f"{figure:.2%}" if threshold != 0 else f"{figure:,.2f}"
    return f"{_('pass') if passed else _('fail')} {shown}"
