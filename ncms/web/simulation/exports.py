"""The comparison as a PDF (WeasyPrint with Noto Sans CJK SC, as the audit notice and the
reports) and as an Excel workbook: the page's form posted to ``/simulation/export.<pdf|xlsx>``
is read and simulated as the page does (``views.run_form``), so the same inputs give the same
figures. The language is the page's. Text cells of the workbook go through
``ncms.spreadsheet.neutral`` (a candidate named ``=HYPERLINK(…)`` stays text)."""
from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from flask import Response, render_template
from flask_babel import gettext as _

from ncms.spreadsheet import neutral

from ..exports import XLSX_TYPE, content_disposition
from ..scope import personal_data
from .charts import fund_svg
from .present import Comparison, check_text, comparison
from .views import MAX_CANDIDATES, bp, run_form

TEMPLATES = Path(__file__).parent / "templates" / "simulation"
FORMATS = {"pdf": "application/pdf", "xlsx": XLSX_TYPE}


@bp.post("/simulation/export.pdf")
@personal_data
def export_pdf():  # type: ignore[no-untyped-def]
    return export("pdf")


@bp.post("/simulation/export.xlsx")
@personal_data
def export_xlsx():  # type: ignore[no-untyped-def]
    return export("xlsx")


def export(fmt: str):  # type: ignore[no-untyped-def]
    run = run_form()
    if run.results is None:  # the form does not hold: the page with its errors, as the page would say
        return render_template("simulation/index.html", form=run.form, results=[], tables=[], options=[],
                               max_candidates=MAX_CANDIDATES), 400
    tables = [comparison(r) for r in run.results]
    year = run.results[0].base_year if run.results else int(run.form.base_year.data)
    where = run.results[0].county_code if run.counties else _("province")
    stem = f"{_('scheme-simulation')}-{where}-{year}"
    data = pdf_bytes(tables) if fmt == "pdf" else xlsx_bytes(tables)
    response = Response(data, mimetype=FORMATS[fmt])
    response.headers["Content-Disposition"] = content_disposition(f"{stem}.{fmt}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def pdf_bytes(tables: list[Comparison]) -> bytes:
    from weasyprint import HTML

    from markupsafe import Markup

    html = render_template("simulation/pdf.html", tables=tables, made=datetime.now().strftime("%Y-%m-%d %H:%M"),
                           charts=[Markup(fund_svg(c.result)) for c in tables])
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf()


def xlsx_bytes(tables: list[Comparison]) -> bytes:
    """One sheet of the comparison (a county's figures a block, a scheme a column), one of the
    inputs, one of the members most affected. Yuan and counts as numbers, rates as percentages."""
    import xlsxwriter

    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, {"strings_to_formulas": False, "strings_to_urls": False,
                                        "in_memory": True})
    bold = book.add_format({"bold": True})
    formats = {"yuan": book.add_format({"num_format": "#,##0.00"}), "rate": book.add_format({"num_format": "0.00%"}),
               "count": book.add_format({"num_format": "#,##0"})}
    sheet = book.add_worksheet(_("Comparison")[:31])
    inputs = book.add_worksheet(_("Inputs")[:31])
    members = book.add_worksheet(_("Members most affected")[:31])

    def text(ws, row: int, col: int, value: object, fmt=None) -> None:  # type: ignore[no-untyped-def]
        ws.write_string(row, col, neutral(str(value)), fmt)

    def value(ws, row: int, col: int, v: object, unit: str) -> None:  # type: ignore[no-untyped-def]
        if v is None:
            return
        if unit == "check":
            text(ws, row, col, check_text(v))  # type: ignore[arg-type]
        elif isinstance(v, (int, Decimal)) and not isinstance(v, bool):
            ws.write_number(row, col, float(v), formats.get(unit))
        else:
            text(ws, row, col, v)

    r = 0
    for c in tables:
        text(sheet, r, 0, f"{c.result.county_name} {c.result.county_code}", bold)
        text(sheet, r, 1, _("claims of %(year)s recomputed", year=c.result.base_year))
        r += 1
        text(sheet, r, 0, _("Figure"), bold)
        for i, name in enumerate(c.schemes):
            text(sheet, r, i + 1, name, bold)
        r += 1
        for ln in c.lines:
            text(sheet, r, 0, ("  " if ln.indent else "") + ln.label)
            for i, v in enumerate(ln.values):
                value(sheet, r, i + 1, v, ln.unit)
            r += 1
        r += 1
    sheet.set_column(0, 0, 44)
    sheet.set_column(1, 6, 18)

    text(inputs, 0, 0, _("County"), bold)
    text(inputs, 0, 1, _("Figure"), bold)
    text(inputs, 0, 2, _("Value"), bold)
    r = 1
    for c in tables:
        for key, label, v in [*c.facts, ("growth_basis", _("Growth from"), c.growth_basis)]:
            text(inputs, r, 0, c.result.county_code)
            text(inputs, r, 1, label)
            value(inputs, r, 2, v, "rate" if key == "growth" else "count" if key in ("claims", "members_enrolled")
                  else "yuan")
            r += 1
    inputs.set_column(0, 0, 10)
    inputs.set_column(1, 1, 30)
    inputs.set_column(2, 2, 60)

    r = 0
    for c in tables:
        for col, head in enumerate([_("County"), _("Member number"), _("Name"),
                                    _("Paid in %(year)s", year=c.result.base_year), *c.schemes]):
            text(members, r, col, head, bold)
        r += 1
        for m in c.result.affected:
            text(members, r, 0, c.result.county_code)
            text(members, r, 1, m.member_no)
            text(members, r, 2, m.name)
            value(members, r, 3, m.paid, "yuan")
            for i, due in enumerate(m.due.values()):
                value(members, r, 4 + i, due, "yuan")
            r += 1
        r += 1
    members.set_column(0, 3, 14)
    book.close()
    return output.getvalue()
