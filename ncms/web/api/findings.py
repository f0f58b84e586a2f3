"""Findings: the workbench's list (its filters, read by ``ncms.web.findings.views.read_query``),
a finding with its events, and every step of the review loop through ``ncms.review.workflow``,
with the version the client read (409 when someone changed the finding since)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from werkzeug.datastructures import MultiDict

from ncms.models import Finding, FindingEvent, FindingStatus, Role, Severity, User
from ncms.review import workflow
from ncms.review.workflow import Conflict, NotFound, ReviewError

from ..database import get_session
from ..i18n import in_language
from ..scope import personal_data, roles_required, scoped_get_or_404
from . import abort, paging
from .schemas import (
    AmountStep,
    AnswerStep,
    AssignStep,
    CommentStep,
    FindingDetailSchema,
    FindingPageSchema,
    FindingQuery,
    PushStep,
    SendBackStep,
    TextStep,
)

blp = Blueprint("api_findings", __name__, description="Findings of the rules and the model, and their review")
province = roles_required(*workflow.PROVINCE)
ID = "<int(max=2147483647):finding_id>"
KEYS = {"id": (Finding.id, "int"), "rule": (Finding.rule_code, "str"), "county": (Finding.county_code, "str"),
        "severity": (Finding.severity, "enum"), "status": (Finding.status, "enum"),
        "amount": (Finding.amount_at_stake, "decimal"), "first_seen": (Finding.first_seen_at, "datetime")}
ENUMS = {"severity": Severity, "status": FindingStatus}


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
        where = [*asked.where.conditions(), *workflow.visible(current_user)]
        if args.get("cursor"):
            value, ident = paging.decode(args["cursor"], asked.sort, asked.descending,
                                         "str" if kind == "enum" else kind)
            if kind == "enum":
                try:
                    value = ENUMS[asked.sort](value)
                except ValueError:
                    abort(400, "The cursor is not one this list gave for this sort.", {"cursor": ["not a cursor"]})
            where.append(paging.after(column, Finding.id, asked.descending, value, ident))
        limit = args["limit"]
        rows = list(get_session().scalars(sa.select(Finding).where(*where)
                                          .order_by(*paging.order(column, Finding.id, asked.descending))
                                          .limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        cursor = paging.encode(asked.sort, asked.descending, getattr(last, column.key), last.id) if more and last else None
        return {"items": rows, "next_cursor": cursor}


def _detail(finding: Finding) -> dict[str, Any]:
    session = get_session()
    events = session.scalars(sa.select(FindingEvent).where(FindingEvent.finding_id == finding.id)
                             .order_by(FindingEvent.id)).all()
    data = {c.key: getattr(finding, c.key) for c in sa.inspect(Finding).column_attrs}
    data["events"] = events
    return data


@blp.route(f"/findings/{ID}")
class FindingOne(MethodView):
    @personal_data
    @blp.response(200, FindingDetailSchema)
    def get(self, finding_id: int) -> dict[str, Any]:
        """A finding (another county's: 404), its evidence and every step taken on it."""
        return _detail(scoped_get_or_404(Finding, finding_id))


def _take(finding_id: int, step: str, body: dict[str, Any]) -> dict[str, Any]:
    """One step through ``ncms.review.workflow``: 404 (not found or not the user's county), 409
    (changed since the version read), 422 (the finding's state or the input does not allow it)."""
    from ..findings.page import DECIDING, calendar, refresh

    session = get_session()
    finding = scoped_get_or_404(Finding, finding_id)
    user = current_user._get_current_object()
    version = body.get("version")
    try:
        if step == "assign":
            assignee = None
            if body["assignee_id"] is not None:
                assignee = session.get(User, body["assignee_id"])
                if assignee is None or assignee.role not in workflow.PROVINCE or not assignee.active:
                    abort(422, "No such auditor.", {"assignee_id": ["not an active auditor's or administrator's id"]})
            _all_done(workflow.assign(session, user, [finding.id], assignee, version=version))
        elif step == "push":
            _all_done(workflow.push(session, user, [finding.id], calendar(), body.get("note", ""),
                                    due_on=body.get("due_on"), version=version))
        elif step == "answer":
            workflow.answer(session, user, finding.id, body["text"], body["kind"], version=version)
        elif step == "send_back":
            workflow.send_back(session, user, finding.id, body["text"], calendar(), due_on=body.get("due_on"),
                               version=version)
        elif step == "determine":
            workflow.determine(session, user, finding.id, body["amount"], body.get("text", ""), version=version)
        elif step == "recover":
            workflow.recover(session, user, finding.id, body["amount"], body.get("text", ""), version=version)
        elif step == "dismiss":
            _all_done(workflow.dismiss(session, user, [finding.id], body["text"], version=version))
        elif step == "reopen":
            workflow.reopen(session, user, finding.id, body["text"], version=version)
        elif step == "comment":
            workflow.comment(session, user, finding.id, body["text"])
        if step in DECIDING:
            refresh(session)
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


def _all_done(outcome: workflow.Outcome) -> None:
    if outcome.skipped:
        raise ReviewError("; ".join(outcome.skipped.values()), "；".join(why.zh for why in outcome.skipped.values()))


def _route(step: str, path: str, schema: type, guard: Any, doc: str) -> None:
    def view(body: dict[str, Any], finding_id: int) -> dict[str, Any]:
        return _take(finding_id, step, body)

    view.__name__ = view.__qualname__ = step
    view.__doc__ = doc
    decorated = blp.response(200, FindingDetailSchema)(view)
    decorated = blp.arguments(schema)(decorated)
    decorated = guard(decorated)
    blp.route(f"/findings/{ID}/{path}", methods=["POST"], endpoint=step)(decorated)


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
