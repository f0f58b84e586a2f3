"""Charts of the reports drawn on the server as SVG: a PDF runs no JavaScript, so the console's
chart library cannot draw them. Plain strings, no plotting library: two kinds of bar chart are
all the reports need, and their text is set in the report's own font, so that the PDF embeds
one typeface and every glyph of a chart is checked like the rest (tests/test_reports_pdf.py).

Sizes are CSS pixels (1/96 inch); a chart is as wide as a portrait A4 page's text."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from xml.sax.saxutils import escape

FONT = "Noto Sans CJK SC"
WIDTH = 640
COLOURS = ("#2f5d8a", "#d08a3c", "#7a9a4e", "#8a8f98")
INK, GRID, MUTED = "#1f2933", "#d9dde3", "#5b6470"

Number = Decimal | float | int


def nice_step(top: float, ticks: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about ``ticks`` ticks up to ``top``."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _text(x: float, y: float, text: str, *, size: float = 10, anchor: str = "start", fill: str = INK,
          weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-family="{FONT}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}" font-weight="{weight}">{escape(text)}</text>')


def _legend(names: Sequence[str], y: float) -> list[str]:
    out, x = [], 56.0
    for i, name in enumerate(names):
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{COLOURS[i % len(COLOURS)]}"/>')
        out.append(_text(x + 14, y, name, size=10))
        x += 28 + 11 * len(name) + (6 * sum(1 for ch in name if ord(ch) > 0x2e80))
    return out


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(label)}">'
            + "".join(body) + "</svg>")


def column_chart(categories: Sequence[str], series: Sequence[tuple[str, Sequence[Number]]], *, unit: str,
                 label: str, fmt: Callable[[float], str] = lambda v: f"{v:,.0f}", height: int = 230) -> str:
    """Grouped vertical bars: one group per category (a month), one bar per series."""
    left, right, top, bottom = 56, 12, 30, 34
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    values = [float(v) for _, vs in series for v in vs]
    step = nice_step(max(values, default=0))
    ceiling = step * max(1, math.ceil(max(values, default=0) / step))
    body = _legend([name for name, _ in series], 14) + [_text(WIDTH - right, 14, unit, size=9, anchor="end",
                                                              fill=MUTED)]
    tick = 0.0
    while tick <= ceiling + step / 2:
        y = top + plot_h - plot_h * tick / ceiling
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" stroke="{GRID}" '
                    f'stroke-width="0.8"/>')
        body.append(_text(left - 6, y + 3.5, fmt(tick), size=9, anchor="end", fill=MUTED))
        tick += step
    group = plot_w / max(1, len(categories))
    bar = min(22.0, group * 0.7 / max(1, len(series)))
    for i, category in enumerate(categories):
        x0 = left + group * i + (group - bar * len(series)) / 2
        for j, (_, vs) in enumerate(series):
            h = plot_h * float(vs[i]) / ceiling
            body.append(f'<rect x="{x0 + j * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar - 1:.1f}" '
                        f'height="{h:.1f}" fill="{COLOURS[j % len(COLOURS)]}"/>')
        body.append(_text(left + group * (i + 0.5), height - bottom + 15, category, size=9, anchor="middle"))
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - right}" y2="{top + plot_h}" stroke="{INK}" '
                f'stroke-width="1"/>')
    return _svg(WIDTH, height, body, label)


def bar_chart(labels: Sequence[str], values: Sequence[Number | None], *, label: str,
              fmt: Callable[[float], str], markers: Sequence[Number | None] | None = None,
              legend: Sequence[str] = (), ceiling: float | None = None) -> str:
    """Horizontal bars, one a row, the value written at the bar's end; ``markers`` draws a
    mark on each row (a county's time elapsed against its fund usage)."""
    row, left, right, top = 22, 150, 70, 26 if legend else 8
    height = top + row * len(labels) + 22
    plot_w = WIDTH - left - right
    found = [float(v) for v in (*values, *(markers or ())) if v is not None]
    top_value = ceiling or max(found, default=0) or 1.0
    step = nice_step(top_value, 4)
    ceiling = step * max(1, math.ceil(top_value / step))
    body = _legend(legend, 14) if legend else []
    tick = 0.0
    while tick <= ceiling + step / 2:
        x = left + plot_w * tick / ceiling
        body.append(f'<line x1="{x:.1f}" y1="{top - 2}" x2="{x:.1f}" y2="{top + row * len(labels)}" '
                    f'stroke="{GRID}" stroke-width="0.8"/>')
        body.append(_text(x, top + row * len(labels) + 14, fmt(tick), size=9, anchor="middle", fill=MUTED))
        tick += step
    for i, (name, value) in enumerate(zip(labels, values)):
        y = top + row * i
        body.append(_text(left - 8, y + row / 2 + 4, _clip(name, 14), size=10, anchor="end"))
        if value is not None:
            w = plot_w * float(value) / ceiling
            body.append(f'<rect x="{left}" y="{y + 4}" width="{max(w, 0.5):.1f}" height="{row - 8}" '
                        f'fill="{COLOURS[0]}"/>')
            body.append(_text(left + w + 4, y + row / 2 + 4, fmt(float(value)), size=9, fill=MUTED))
        marker = markers[i] if markers else None
        if marker is not None:
            x = left + plot_w * float(marker) / ceiling
            body.append(f'<line x1="{x:.1f}" y1="{y + 1}" x2="{x:.1f}" y2="{y + row - 1}" stroke="{COLOURS[1]}" '
                        f'stroke-width="2.5"/>')
    return _svg(WIDTH, height, body, label)


def _clip(text: str, wide: int) -> str:
    """A label cut to about ``wide`` CJK characters' width (a Latin letter counts half), with an ellipsis."""
    out, used = "", 0.0
    for ch in text:
        used += 1 if ord(ch) > 0x2e80 else 0.55
        if used > wide:
            return out + "…"
        out += ch
    return out
