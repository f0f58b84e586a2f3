"""Data packages and their batches: upload a package (the gateway's ingestion,
``ncms.ingest.pipeline.ingest_package``, the same batch and receipt), a county's batches with
their status, and the receipts the county was sent."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app, send_file
from flask.views import MethodView
from flask_login import current_user
from marshmallow import Schema, fields, validate
from werkzeug.utils import secure_filename

from ncms.models import Batch, BatchSource, BatchStatus, Role

from ..database import get_session
from ..scope import county_or_404, personal_data, roles_required, scoped, scoped_get_or_404, signed_in
from . import ApiBlueprint as Blueprint, abort, paging
from .schemas import PageQuery, PageSchema, Text, Values

blp = Blueprint("api_batches", __name__, description="Data packages, their batches and receipts")
ID = "int(max=2147483647)"
MAX_NAME = 200


class BatchSchema(Schema):
    id = fields.Integer(required=True)
    county_code = fields.String(required=True)
    source = fields.Enum(BatchSource, by_value=True, required=True)
    status = fields.Enum(BatchStatus, by_value=True, required=True)
    package_seq = fields.Integer(allow_none=True)
    filename = fields.String(allow_none=True)
    sha256 = fields.String(allow_none=True)
    format_version = fields.String(allow_none=True)
    period_start = fields.Date(allow_none=True)
    period_end = fields.Date(allow_none=True)
    received_at = fields.DateTime(required=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    rows_read = fields.Integer(required=True)
    rows_loaded = fields.Integer(required=True)
    rows_rejected = fields.Integer(required=True)
    error_code = fields.String(allow_none=True)
    error = fields.Method("_error", allow_none=True, metadata={"description": "why it was refused (English)"})
    error_zh = fields.Method("_error_zh", allow_none=True)

    def _error(self, batch: Batch) -> str | None:
        from ncms.ingest.receipt import error_texts

        return error_texts(batch)[1]

    def _error_zh(self, batch: Batch) -> str | None:
        from ncms.ingest.receipt import error_texts

        return error_texts(batch)[0]


class BatchPage(PageSchema):
    items = fields.List(fields.Nested(BatchSchema), required=True)


class BatchQuery(PageQuery):
    county = Text(6)
    status = fields.String(validate=validate.OneOf(Values(BatchStatus)))
    source = fields.String(validate=validate.OneOf(Values(BatchSource)))


class UploadForm(Schema):
    county = Text(6, metadata={"description": "the sending county: an administrator's upload names it; "
                                              "a county officer's is their own"})


class UploadFile(Schema):
    package = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                                  "description": "the package (.zip), as the gateway takes it"})


@blp.route("/batches")
class Batches(MethodView):
    @signed_in
    @blp.arguments(BatchQuery, location="query", as_kwargs=True)
    @blp.response(200, BatchPage)
    def get(self, **args: Any) -> dict[str, Any]:
        """Batches, newest first: the token's county's for a county officer."""
        stmt = scoped(sa.select(Batch), Batch.county_code)
        if args.get("county"):
            county_or_404(args["county"])
            stmt = stmt.where(Batch.county_code == args["county"])
        if args.get("status"):
            stmt = stmt.where(Batch.status == BatchStatus(args["status"]))
        if args.get("source"):
            stmt = stmt.where(Batch.source == BatchSource(args["source"]))
        if args.get("cursor"):
            _, ident = paging.decode(args["cursor"], "id", True, "int")
            stmt = stmt.where(Batch.id < ident)
        rows = list(get_session().scalars(stmt.order_by(Batch.id.desc()).limit(args["limit"] + 1)))
        more = len(rows) > args["limit"]
        rows = rows[:args["limit"]]
        return {"items": rows, "next_cursor": paging.encode("id", True, rows[-1].id, rows[-1].id) if more else None}

    @roles_required(Role.ADMIN, Role.COUNTY)
    @blp.arguments(UploadForm, location="form", as_kwargs=True)
    @blp.arguments(UploadFile, location="files", as_kwargs=True)
    @blp.response(201, BatchSchema)
    def post(self, **args: Any) -> Batch:
        """Upload a package: ingested now, by the same path as the gateway's (its batch and its
        receipt in the county's outbox); a refused package is a batch too (status rejected)."""
        from ncms.ingest.pipeline import ingest_package, work_root

        if current_user.role is Role.COUNTY:
            county = current_user.county_code
            if args.get("county") and args["county"] != county:
                abort(404)
        elif args.get("county"):
            county = county_or_404(args["county"]).code
        else:
            abort(422, "Name the sending county.", {"county": ["required for an administrator's upload"]})
        upload = args["package"]
        name = secure_filename(upload.filename or "")[:MAX_NAME] or "package.zip"
        settings = current_app.config["NCMS_SETTINGS"]
        folder = Path(tempfile.mkdtemp(prefix="ncms-api-", dir=work_root(settings)))
        try:
            path = folder / name
            upload.save(path)
            result = ingest_package(current_app.extensions["ncms.engine"], settings, path, sender=county,
                                    source=BatchSource.API)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if result.batch_id is None:
            abort(422, result.error or "The package was refused.", {"package": [result.error or "refused"]})
        session = get_session()
        session.expire_all()
        return session.get(Batch, result.batch_id)


@blp.route(f"/batches/<{ID}:batch_id>")
class BatchOne(MethodView):
    @signed_in
    @blp.etag
    @blp.response(200, BatchSchema)
    def get(self, batch_id: int) -> Batch:
        """A batch: its status and counts (another county's: 404)."""
        return scoped_get_or_404(Batch, batch_id)


@blp.route(f"/batches/<{ID}:batch_id>/receipt.<any(json, csv):kind>")
class BatchReceipt(MethodView):
    @personal_data
    @blp.response(200, description="the receipt the county was sent (JSON summary, or CSV of refused rows)",
                  content_type="application/octet-stream")
    def get(self, batch_id: int, kind: str) -> Any:
        """The batch's receipt, as written to the county's outbox (404 when there is none)."""
        from ..data.views import _receipt  # where the console finds it

        batch = scoped_get_or_404(Batch, batch_id)
        path = _receipt(batch, kind)
        if path is None:
            abort(404, "No receipt of this batch is in the county's outbox.")
        return send_file(path, mimetype="application/json" if kind == "json" else "text/csv",
                         as_attachment=True, download_name=path.name)
