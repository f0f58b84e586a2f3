"""The ECharts options of one county's comparison, built on the server (no inline script): what
each scheme pays by kind of care and level, and the next year's fund under each."""
from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

from flask_babel import gettext as _

from ncms.simulation import CountyResult

from .present import comparison


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def chart_options(r: CountyResult) -> dict[str, dict[str, Any]]:
    c = comparison(r)
    outcomes = list(r.outcomes.values())
    levels = [ln for ln in c.lines if ln.key.startswith("compensation_")]
    by_level = {
        "legend": {"type": "scroll", "top": 0},
        "grid": {"top": 40, "left": 8, "right": 16, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": [ln.label for ln in levels],
                  "axisLabel": {"interval": 0, "rotate": 30 if len(levels) > 4 else 0}},
        "yAxis": {"type": "value"},
        "series": [{"type": "bar", "name": name, "data": [_float(ln.values[i]) for ln in levels]}
                   for i, name in enumerate(c.schemes)],
        "ncms": {"format": "money"}}
    fund = {
        "legend": {"type": "scroll", "top": 0},
        "grid": {"top": 40, "left": 8, "right": 16, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": c.schemes, "axisLabel": {"interval": 0}},
        "yAxis": {"type": "value"},
        "series": [
            {"type": "bar", "name": _("Projected expenditure"), "data": [_float(o.projected_expenditure)
                                                                        for o in outcomes]},
            {"type": "bar", "name": _("Year-end surplus"), "data": [_float(o.surplus) for o in outcomes]},
            {"type": "bar", "name": _("Cumulative surplus"), "data": [_float(o.cumulative_surplus)
                                                                     for o in outcomes]},
            {"type": "line", "name": _("Financing next year"), "data": [_float(r.next_financing)] * len(outcomes),
             "symbol": "none"}],
        "ncms": {"format": "money"}}
    return {"levels": by_level, "fund": fund}


def fund_svg(r: CountyResult, width: int = 560, bar: int = 16) -> str:
    """The fund chart of the PDF as SVG (WeasyPrint draws no ECharts): per scheme, the projected
    expenditure against next year's financing (the line), the bar red where it overspends."""
    c = comparison(r)
    outcomes = list(r.outcomes.values())
    top = max([r.next_financing, *(o.projected_expenditure for o in outcomes)]) or Decimal(1)
    label, gap = 140, 8
    scale = (width - label - 70) / float(top)
    height = len(outcomes) * (bar + gap) + 22
    x_fin = label + float(r.next_financing) * scale
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-size="9" font-family="Noto Sans CJK SC">']
    for i, (name, o) in enumerate(zip(c.schemes, outcomes)):
        y = 4 + i * (bar + gap)
        w = float(o.projected_expenditure) * scale
        colour = "#c0392b" if o.projected_expenditure > r.next_financing else "#2f6db5"
        parts.append(f'<text x="{label - 4}" y="{y + bar - 3}" text-anchor="end">{escape(name[:16])}</text>'
                     f'<rect x="{label}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}"/>'
                     f'<text x="{label + w + 3:.1f}" y="{y + bar - 3}">{o.projected_expenditure:,.2f}</text>')
    parts.append(f'<line x1="{x_fin:.1f}" x2="{x_fin:.1f}" y1="0" y2="{height - 16}" stroke="#1f2933" '
                 f'stroke-dasharray="3 2"/><text x="{x_fin:.1f}" y="{height - 4}" text-anchor="middle">'
                 f'{escape(_("Financing next year"))} {r.next_financing:,.2f}</text></svg>')
    return "".join(parts)
