"""Indicators by county and period (``ncms.indicators``, the figures of the console and the
reports), and the reports to the ministry with their files."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import send_file
from flask.views import MethodView
from marshmallow import Schema, fields

from ncms.indicators.period import Period, PeriodError
from ncms.models import ReportRun, ReportStatus

from ..database import get_session
from ..scope import county_or_404, county_scope, scoped, scoped_get_or_404, signed_in
from . import ApiBlueprint as Blueprint, abort, paging
from .schemas import PageQuery, PageSchema, Text

blp = Blueprint("api_figures", __name__, description="Indicators, and the reports to the ministry")
ID = "int(max=2147483647)"


class IndicatorQuery(Schema):
    period = Text(16, required=True, metadata={"description": "2011, 2011-Q3 or 2011-07"})
    county = fields.List(Text(6), metadata={"description": "counties (default: every one the token may see)"})


Row = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))


class IndicatorSchema(Schema):
    period = fields.String(required=True)
    counties = fields.List(Row, required=True, metadata={"description": "one row per county (ncms.indicators.rows)"})
    total = Row


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()}


@blp.route("/indicators")
class Indicators(MethodView):
    @signed_in
    @blp.arguments(IndicatorQuery, location="query", as_kwargs=True)
    @blp.response(200, IndicatorSchema)
    def get(self, **args: Any) -> dict[str, Any]:
        """The indicators of a period, per county and in total: money as text to the fen, rates
        as fractions; a county officer's are their county's."""
        from ncms.indicators.compute import indicators
        from ncms.indicators.rows import as_row

        try:
            period = Period.parse(args["period"].strip())
        except PeriodError:
            abort(422, "Not a period.", {"period": ["give a year (2011), a quarter (2011-Q3) or a month (2011-07)"]})
        asked = list(dict.fromkeys(args.get("county") or []))[:200]
        counties = [county_or_404(code).code for code in asked] or None
        own = county_scope()
        if own is not None:
            counties = [own]
        table = indicators(get_session(), period, counties)
        return {"period": period.label, "counties": [_plain(as_row(c)) for c in table.counties],
                "total": _plain(as_row(table.total))}


class ReportSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    period_start = fields.Date(required=True)
    period_end = fields.Date(required=True)
    county_code = fields.String(allow_none=True)
    scope = fields.String(required=True)
    lang = fields.String(required=True)
    revision = fields.Integer(required=True)
    supersedes_id = fields.Integer(allow_none=True)
    status = fields.Enum(ReportStatus, by_value=True, required=True)
    started_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    package = fields.String(allow_none=True)
    package_sha256 = fields.String(allow_none=True)
    files = fields.Method("_files", metadata={"description": "the names GET …/files/<name> gives"})

    def _files(self, run: ReportRun) -> list[str]:
        from ..reports.views import _file  # the console's reading of a run's folder

        names = sorted(run.outputs or {}) + ([run.package] if run.package else [])
        return [n for n in names if _file(run, n) is not None]


class ReportPage(PageSchema):
    items = fields.List(fields.Nested(ReportSchema), required=True)


class ReportQuery(PageQuery):
    county = Text(6)


@blp.route("/reports")
class Reports(MethodView):
    @signed_in
    @blp.arguments(ReportQuery, location="query", as_kwargs=True)
    @blp.response(200, ReportPage)
    def get(self, **args: Any) -> dict[str, Any]:
        """Reports built, newest first; a county officer's: their county's."""
        stmt = scoped(sa.select(ReportRun), ReportRun.county_code)
        if args.get("county"):
            stmt = stmt.where(ReportRun.county_code == county_or_404(args["county"]).code)
        if args.get("cursor"):
            _, ident = paging.decode(args["cursor"], "id", True, "int")
            stmt = stmt.where(ReportRun.id < ident)
        rows = list(get_session().scalars(stmt.order_by(ReportRun.id.desc()).limit(args["limit"] + 1)))
        more = len(rows) > args["limit"]
        rows = rows[:args["limit"]]
        return {"items": rows, "next_cursor": paging.encode("id", True, rows[-1].id, rows[-1].id) if more else None}


@blp.route(f"/reports/<{ID}:run_id>")
class ReportOne(MethodView):
    @signed_in
    @blp.etag
    @blp.response(200, ReportSchema)
    def get(self, run_id: int) -> ReportRun:
        """A report and the names of its files (another county's: 404)."""
        return scoped_get_or_404(ReportRun, run_id)


@blp.route(f"/reports/<{ID}:run_id>/files/<name>")
class ReportFile(MethodView):
    @signed_in
    @blp.response(200, description="the file (PDF, CSV, XML, JSON or the package's ZIP)",
                  content_type="application/octet-stream")
    def get(self, run_id: int, name: str) -> Any:
        """One file of a report, as the console downloads it."""
        from ..reports.views import _file

        run = scoped_get_or_404(ReportRun, run_id)
        path = _file(run, name) if len(name) <= 128 and "\x00" not in name else None
        if path is None:
            abort(404)
        return send_file(path, as_attachment=True, download_name=path.name)
