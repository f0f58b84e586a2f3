"""One dispatcher of the review's steps by name, for every interface that takes them one finding
at a time (the finding's page, ``ncms.web.findings.page``; the API, ``ncms.web.api.findings``):
each reads its own input (a form, a JSON body) into ``values`` and hands it here, so that which
function of ``workflow`` a step is, what it is given, and what follows a decision are said once."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ncms.models import User

from . import workflow
from .calendar import WorkCalendar
from .workflow import ReviewError

STEPS = ("assign", "push", "answer", "send_back", "determine", "recover", "dismiss", "reopen", "comment")
DECIDING = frozenset({"determine", "dismiss", "reopen"})  # steps that change what the summaries count


def take(session: Session, actor: User, finding_id: int, step: str, values: Mapping[str, Any], *,
         version: int | None, calendar: Callable[[], WorkCalendar], data_dir: Path | None = None) -> None:
    """The step ``step`` on one finding with ``values``: ``assignee`` (a User or None), ``note``,
    ``text``, ``kind``, ``amount`` (text or Decimal), ``due_on`` (a date or None), ``attachments``
    (``attachments.Upload``). Every rule of who, when and what is the workflow's; its errors
    (NotFound, Conflict, ReviewError) are the caller's to answer. Not committed."""
    ids = [finding_id]
    text = values.get("text") or ""
    if step == "assign":
        _all_done(workflow.assign(session, actor, ids, values.get("assignee"), version=version))
    elif step == "push":
        _all_done(workflow.push(session, actor, ids, calendar(), values.get("note") or "",
                                due_on=values.get("due_on"), version=version))
    elif step == "answer":
        workflow.answer(session, actor, finding_id, text, values.get("kind") or "", version=version,
                        attachments=values.get("attachments") or (), data_dir=data_dir)
    elif step == "send_back":
        workflow.send_back(session, actor, finding_id, text, calendar(), due_on=values.get("due_on"), version=version)
    elif step == "determine":
        workflow.determine(session, actor, finding_id, values.get("amount") or "", text, version=version)
    elif step == "recover":
        workflow.recover(session, actor, finding_id, values.get("amount") or "", text, version=version)
    elif step == "dismiss":
        _all_done(workflow.dismiss(session, actor, ids, text, version=version))
    elif step == "reopen":
        workflow.reopen(session, actor, finding_id, text, version=version)
    elif step == "comment":
        workflow.comment(session, actor, finding_id, text)
    else:
        raise ReviewError("No such step.", "没有这个步骤。")
    if step in DECIDING:
        from ncms.indicators import refresh

        refresh.refresh_findings(session)  # the findings' summary the dashboard reads


def _all_done(outcome: workflow.Outcome) -> None:
    """A step of the bulk functions on one finding: the finding skipped is the step refused."""
    if outcome.skipped:
        raise ReviewError("; ".join(outcome.skipped.values()), "；".join(why.zh for why in outcome.skipped.values()))
