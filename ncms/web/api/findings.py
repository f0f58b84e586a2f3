"""Findings: the workbench's list (its filters, read by ``ncms.web.findings.views.read_query``),
a finding with its events, and every step of the review loop through ``ncms.review.workflow``,
with the version the client read (409 when someone changed the finding since)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import request
from flask.views import MethodView
from flask_login import current_user
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from ncms.models import Finding, FindingEvent, FindingStatus, Institution, Role, Severity, User
from ncms.review import attachments as files, steps, workflow
from ncms.review.workflow import Conflict, NotFound, ReviewError

from ..database import get_session
from ..i18n import in_language
from ..scope import personal_data, roles_required, scoped_get_or_404
from . import ApiBlueprint as Blueprint, abort, paging
from .schemas import (
    AmountStep,
    AnswerFiles,
    AnswerStep,
    AssignStep,
    CommentStep,
    FindingDetailSchema,
    FindingPageSchema,
    FindingQuery,
    FindingSchema,
    PushStep,
    SendBackStep,
    TextStep,
    page_response,
    row_dumper,
)

blp = Blueprint("api_findings", __name__, description="Findings of the rules and the model, and their review")
province = roles_required(*workflow.PROVINCE)
ID = "<int(max=2147483647):finding_id>"
KEYS = {"id": (Finding.id, "int"), "rule": (Finding.rule_code, "str"), "county": (Finding.county_code, "str"),
        "severity": (Finding.severity, "enum"), "status": (Finding.status, "enum"),
        "amount": (Finding.amount_at_stake, "decimal"), "first_seen": (Finding.first_seen_at, "datetime"),
        "institution": (Institution.code, "str"), "assignee": (User.username, "str"), "due": (Finding.due_on, "date")}
NULLABLE = {"institution", "assignee", "due"}  # may be empty: last in either direction, as on the workbench
ENUMS = {"severity": Severity, "status": FindingStatus}
_dump_finding = row_dumper(FindingSchema())


def _workbench_args(args: dict[str, Any]) -> MultiDict:
    """The parsed query back in the workbench's query-string form, for its reader."""
    pairs: list[tuple[str, str]] = []
    for key, value in args.items():
        if key in ("cursor", "limit"):
            continue
        for one in value if isinstance(value, list) else [value]:
            if isinstance(one, bool):
                one = "1" if one else ""
            elif hasattr(one, "isoformat"):
                one = one.isoformat()
            pairs.append((key, str(one)))
    return MultiDict(pairs)


@blp.route("/findings")
class Findings(MethodView):
    @personal_data
    @blp.arguments(FindingQuery, location="query", as_kwargs=True)
    @blp.response(200, FindingPageSchema)
    def get(self, **args: Any) -> dict[str, Any]:
        """The findings the token's user may see, filtered as on the workbench, a page at a time.

        Sorted by ``sort`` (then the id, in the same direction); ``next_cursor`` gives the next
        page, stable while findings arrive."""
        from ..findings.views import read_query  # the workbench's filter, as the console reads it

        asked = read_query(_workbench_args(args))
        if asked.errors:
            abort(422, "Some filters could not be read.", {"filter": [str(e) for e in asked.errors]})
        column, kind = KEYS[asked.sort]
        nullable = asked.sort in NULLABLE
        where = [*asked.where.conditions(), *workflow.visible(current_user)]
        if args.get("cursor"):
            value, ident = paging.decode(args["cursor"], asked.sort, asked.descending,
                                         "str" if kind == "enum" else kind, nullable)
            if kind == "enum":
                try:
                    value = ENUMS[asked.sort](value)
                except ValueError:
                    abort(400, "The cursor is not one this list gave for this sort.", {"cursor": ["not a cursor"]})
            where.append(paging.after(column, Finding.id, asked.descending, value, ident, nullable))
        limit = args["limit"]
        stmt = sa.select(Finding, column)  # the sort key beside the finding: the cursor is made of it
        if asked.sort == "institution":
            stmt = stmt.outerjoin(Institution, Institution.id == Finding.institution_id)
        elif asked.sort == "assignee":
            stmt = stmt.outerjoin(User, User.id == Finding.assignee_id)
        rows = get_session().execute(stmt.where(*where)
                                     .order_by(*paging.order(column, Finding.id, asked.descending, nullable))
                                     .limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = paging.encode(asked.sort, asked.descending, rows[-1][1], rows[-1][0].id) if more and rows else None
        return page_response(_dump_finding, (finding for finding, _ in rows), cursor)


def _detail(finding: Finding) -> dict[str, Any]:
    session = get_session()
    events = session.scalars(sa.select(FindingEvent).where(FindingEvent.finding_id == finding.id)
                             .options(selectinload(FindingEvent.attachments)).order_by(FindingEvent.id)).all()
    data = {c.key: getattr(finding, c.key) for c in sa.inspect(Finding).column_attrs}
    data["events"] = events
    return data


@blp.route(f"/findings/{ID}")
class FindingOne(MethodView):
    @personal_data
    @blp.etag
    @blp.response(200, FindingDetailSchema)
    def get(self, finding_id: int) -> dict[str, Any]:
        """A finding (another county's: 404), its evidence and every step taken on it."""
        return _detail(scoped_get_or_404(Finding, finding_id))


def _take(finding_id: int, step: str, body: dict[str, Any]) -> dict[str, Any]:
    """One step through ``ncms.review.steps`` (the finding page's dispatcher too): 404 (not found
    or not the user's county), 409 (changed since the version read), 422 (the finding's state or
    the input does not allow it)."""
    from ..findings.page import calendar, data_dir

    session = get_session()
    finding = scoped_get_or_404(Finding, finding_id)
    version = _version_read(finding, body) if step != "comment" else None
    values = dict(body)
    if step == "assign":
        values["assignee"] = None
        if body["assignee_id"] is not None:
            values["assignee"] = assignee = session.get(User, body["assignee_id"])
            if assignee is None or assignee.role not in workflow.PROVINCE or not assignee.active:
                abort(422, "No such auditor.", {"assignee_id": ["not an active auditor's or administrator's id"]})
    try:
        steps.take(session, current_user._get_current_object(), finding.id, step, values,
                   version=version, calendar=calendar, data_dir=data_dir())
        session.commit()
    except NotFound:
        session.rollback()
        abort(404)
    except Conflict as exc:
        session.rollback()
        abort(409, in_language(exc), {"version": ["the finding changed since this version was read"]})
    except ReviewError as exc:
        session.rollback()
        abort(422, in_language(exc))
    session.expire_all()
    return _detail(scoped_get_or_404(Finding, finding_id))


def _version_read(finding: Finding, body: dict[str, Any]) -> int | None:
    """The version the client read: ``version`` in the body, or the finding's ETag in If-Match
    (412 when it is not the finding's as it is now); neither, on a step that changes the
    finding: 428. The workflow still checks the version, so a change between here and the step
    is a 409."""
    if_match = request.if_match
    if if_match and not if_match.star_tag:
        if not if_match.contains(blp.etag_of(_detail(finding), FindingDetailSchema)):
            abort(412, "The finding changed since this ETag was read: read it again.",
                  {"If-Match": ["not the finding's ETag as it is now"]})
        return body.get("version") or finding.version
    if body.get("version") is None:
        abort(428, "Say which version of the finding you read: version in the body, or its ETag as If-Match.",
              {"version": ["send the finding's version, or its ETag as If-Match"]})
    return body["version"]


def _route(step: str, path: str, schema: type, guard: Any, doc: str) -> None:
    def view(body: dict[str, Any], finding_id: int) -> dict[str, Any]:
        return _take(finding_id, step, body)

    view.__name__ = view.__qualname__ = step
    view.__doc__ = doc
    decorated = blp.response(200, FindingDetailSchema)(view)
    decorated = blp.etag(decorated)  # the finding's new ETag, for the next step's If-Match
    if schema is not CommentStep:
        decorated = blp.alt_response(412, "PRECONDITION_FAILED")(decorated)
        decorated = blp.alt_response(428, "PRECONDITION_REQUIRED")(decorated)
        decorated = blp.doc(parameters=[IF_MATCH])(decorated)
    decorated = blp.arguments(schema)(decorated)
    decorated = guard(decorated)
    blp.route(f"/findings/{ID}/{path}", methods=["POST"], endpoint=step)(decorated)


@blp.route(f"/findings/{ID}/answer-with-files", methods=["POST"], endpoint="answer_with_files")
@roles_required(Role.COUNTY)
@blp.etag
@blp.alt_response(412, "PRECONDITION_FAILED")
@blp.alt_response(428, "PRECONDITION_REQUIRED")
@blp.arguments(AnswerStep, location="form", as_kwargs=True)
@blp.arguments(AnswerFiles, location="files", as_kwargs=True)
@blp.response(200, FindingDetailSchema)
def answer_with_files(finding_id: int, **body: Any) -> dict[str, Any]:
    """The county's answer with files (multipart/form-data: version, kind, text, files), checked
    and kept as the console keeps them (``ncms.review.attachments``): one refused, none kept (422)."""
    uploads = [files.Upload(f.filename or "", f.read()) for f in body.pop("files") if getattr(f, "filename", None)]
    return _take(finding_id, "answer", {**body, "attachments": uploads})


@blp.route("/findings/attachments/<int(max=2147483647):attachment_id>")
class Attachment(MethodView):
    @personal_data
    @blp.response(200, description="the file, always as a download of the type found in its content",
                  content_type="application/octet-stream")
    def get(self, attachment_id: int) -> Any:
        """A file of a step (another county's finding's: 404), as the console downloads it; its
        ETag is its content's, so If-None-Match answers 304."""
        from ..findings.page import attachment

        response = attachment(attachment_id)  # the console's: scoped by the finding's county
        response.add_etag()
        return response.make_conditional(request)


IF_MATCH = {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
            "description": "the ETag of the finding as read (GET /findings/{id}), instead of version"}


def _steps() -> None:
    county = roles_required(Role.COUNTY)
    _route("assign", "assign", AssignStep, province, "Give the finding to an auditor (null: to no one).")
    _route("push", "push", PushStep, province, "Push the finding to its county, due back in working days.")
    _route("answer", "answer", AnswerStep, county, "The county's explanation or appeal to a pushed finding.")
    _route("send_back", "send-back", SendBackStep, province, "Send the county's answer back once for more.")
    _route("determine", "decide", AmountStep, province, "Confirm the finding with the amount to recover.")
    _route("recover", "recover", AmountStep, province, "Record money recovered on a confirmed finding.")
    _route("dismiss", "dismiss", TextStep, province, "Dismiss an undecided finding, with the reason (text).")
    _route("reopen", "reopen", TextStep, province, "Reopen a decided finding, with the reason (text).")
    _route("comment", "comment", CommentStep, personal_data, "A comment on the finding (no change of state).")


_steps()
