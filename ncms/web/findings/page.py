"""``findings.show``: one finding (``/findings/<id>``, docs/web.md#a-finding-findingsid-and-the-countys-inbox-inbox).

What it is (the rule and the parameters it ran with, or the anomaly model's explanation with the
peer charts), the claims its evidence names as linked rows, its state, deadline and money, its
whole history with the files sent, and the forms of the steps the user may take now. Every
form carries the version of the finding the page showed: a step taken by someone else in
between is refused by ``ncms.review`` (``Conflict``) and the page shows who did what, with the
fresh state and the text the user typed kept in the form.

Read by key only: the finding through the scope (another county's is not found, 404), its
claims by (county, claim number), its events and their files by finding id. Attachments are
downloaded from ``findings.attachment``, scoped by their finding's county the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import RequestEntityTooLarge

from ncms.models import (AnswerKind, Claim, County, Finding, FindingAttachment, FindingEvent, FindingStatus,
                         Institution, Member, Role, User)
from ncms.models.base import utcnow
from ncms.monitor.anomaly import MODEL
from ncms.monitor.catalogue import RULES
from ncms.review import attachments as files, steps, workflow
from ncms.review.calendar import WorkCalendar, read_calendar
from ncms.review.workflow import Conflict, NotFound, ReviewError

from ..database import get_session
from ..i18n import in_language
from ..masking import mask_name, mask_national_id
from ..scope import personal_data, scoped, scoped_get_or_404
from . import bp

# evidence keys that name another claim of the county by its number (the rules' ev_ columns)
CLAIM_KEYS = ("other_claim", "previous_claim", "first_claim", "stay_claim")
UPLOAD_MARGIN = 2 * 2**20  # the form's other fields and the multipart framing
MAX_REQUEST = files.MAX_FILES * files.MAX_BYTES + UPLOAD_MARGIN
PROVINCE_STEPS = ("assign", "push", "send_back", "determine", "recover", "dismiss", "reopen")
STEP_LABELS = {
    "assign": _l("Assign"), "push": _l("Push to the county"), "send_back": _l("Send back to the county"),
    "determine": _l("Determine a violation"), "recover": _l("Record money recovered"), "dismiss": _l("Dismiss"),
    "reopen": _l("Reopen"), "comment": _l("Comment"), "answer": _l("Answer"),
}
DONE = {
    "assign": _l("Assigned."), "push": _l("Pushed to the county."), "send_back": _l("Sent back to the county."),
    "determine": _l("Determined a violation."), "recover": _l("Recovery recorded."), "dismiss": _l("Dismissed."),
    "reopen": _l("Reopened."), "comment": _l("Comment added."), "answer": _l("Your answer was sent to the province."),
}
KIND_LABELS = {
    "raised": _l("Raised"), "updated": _l("Updated by a rerun"), "status": _l("Status changed"),
    "comment": _l("Comment"), "county_response": _l("County's answer"), "closed": _l("Closed"),
    "reopened": _l("Reopened"), "assigned": _l("Assigned"), "pushed": _l("Pushed to the county"),
    "sent_back": _l("Sent back"), "determined": _l("Determined"), "recovered": _l("Recovered"),
    "dismissed": _l("Dismissed"), "exception": _l("Rule exception"),
}
EVIDENCE_LABELS = {
    "other_claim": _l("The other claim"), "previous_claim": _l("The previous claim"),
    "first_claim": _l("The first claim"), "stay_claim": _l("The stay's claim"),
    "death_date": _l("Date of death"), "admission_date": _l("Admitted"), "days_between": _l("Days between"),
    "other_discharge": _l("The other's discharge"), "previous_discharge": _l("The previous discharge"),
    "stay_discharge": _l("The stay's discharge"), "first_total": _l("The first claim's total"),
    "paid_in_year": _l("Paid in the year"), "annual_cap": _l("Annual cap"), "scheme_pays": _l("The scheme pays"),
    "paid": _l("Paid"), "length_of_stay": _l("Days of stay"), "price": _l("Price"), "ceiling": _l("Ceiling"),
    "claims": _l("Among those weighing most on its most unusual feature"),
}


@dataclass(frozen=True)
class ClaimRow:
    """A claim the finding is about (``role`` None: its own claim) with its member masked."""

    claim: Claim
    role: str | None
    member_name: str
    national_id: str


@dataclass
class Failure:
    """A step refused: the form it came from, the message, and what the user had typed."""

    step: str
    message: str
    conflict: bool
    typed: dict[str, str]


def init_app(app: Flask) -> None:
    if not app.config.get("MAX_CONTENT_LENGTH"):  # ten files of 10 MiB with an answer, and the form
        app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.jinja_env.globals.setdefault("step_label", lambda step: STEP_LABELS.get(step, step))


def too_large(_error: RequestEntityTooLarge) -> Any:
    """A request over ``MAX_CONTENT_LENGTH``: said in words, the way back to the page it came from."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or MAX_REQUEST
    message = _("What you sent is larger than the %(limit)s MiB a request may carry (at most %(files)s files "
                "of %(size)s MiB each): nothing was kept. Go back, send fewer or smaller files.",
                limit=limit // 2**20, files=files.MAX_FILES, size=files.MAX_BYTES // 2**20)
    return render_template("errors/error.html", code=413, title=_("Too large"), message=message), 413


def calendar() -> WorkCalendar:
    return read_calendar(Path(current_app.config["NCMS_SETTINGS"].config_dir))


def data_dir() -> Path:
    return Path(current_app.config["NCMS_SETTINGS"].data_dir)


def finding_or_404(finding_id: int) -> Finding:
    return scoped_get_or_404(Finding, finding_id)


@bp.get("/findings/<int:finding_id>")
@personal_data
def show(finding_id: int):  # type: ignore[no-untyped-def]
    return render(finding_or_404(finding_id))


@bp.post("/findings/<int:finding_id>", endpoint="act")
@personal_data
def act(finding_id: int):  # type: ignore[no-untyped-def]
    """One step from one of the page's forms (``step``), at the version the page showed."""
    session = get_session()
    finding = finding_or_404(finding_id)
    step = request.form.get("step", "")
    try:
        if step not in STEP_LABELS:
            raise ReviewError(_("No such step."))
        version = _version()
        take(session, finding, step, version)
        session.commit()
    except NotFound:
        session.rollback()
        abort(404)
    except ReviewError as exc:
        session.rollback()
        session.expire_all()
        conflict = isinstance(exc, Conflict)
        typed = {k: v for k, v in request.form.items() if k not in ("csrf_token", "version", "step")}
        failure = Failure(step, in_language(exc), conflict, typed)
        return render(finding_or_404(finding_id), failure), 409 if conflict else 400
    flash(DONE[step], "success")
    return redirect(url_for("findings.show", finding_id=finding_id))


def _version() -> int:
    try:
        return int(request.form.get("version", ""))
    except ValueError:
        raise ReviewError(_("The form did not say which version of the finding it was read from: reload the page."))


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ReviewError(_("%(value)s is not a date (YYYY-MM-DD).", value=value[:20])) from None


def take(session: Any, finding: Finding, step: str, version: int) -> None:
    """The form's step through ``ncms.review.steps`` (the API's too): every rule of who, when and
    what is the workflow's; here, only the form read into its values."""
    form = request.form
    values: dict[str, Any] = {key: form.get(key, "") for key in ("note", "text", "kind", "amount")}
    if step == "assign":
        who = form.get("assignee", "")
        values["assignee"] = session.get(User, int(who)) if who.isdigit() else None
        if who and values["assignee"] is None:
            raise ReviewError(_("No such auditor."))
    if step in ("push", "send_back"):
        values["due_on"] = _date(form.get("due_on"))
    if step == "answer":
        values["attachments"] = [files.Upload(f.filename or "", f.read()) for f in request.files.getlist("files")
                                 if f.filename]
    steps.take(session, current_user._get_current_object(), finding.id, step, values, version=version,
               calendar=calendar, data_dir=data_dir())


def today() -> date:
    return utcnow().date()  # the workflow's day (UTC), so that the page offers what it will allow


def steps_of(finding: Finding, day: date) -> list[str]:
    """The steps the current user may take on the finding in its state (the workflow decides)."""
    status = finding.status
    if current_user.role is Role.COUNTY:
        return ["answer"] if status is FindingStatus.SENT_TO_COUNTY else []
    if current_user.role not in workflow.PROVINCE:
        return []
    overdue = status is FindingStatus.SENT_TO_COUNTY and finding.due_on is not None and finding.due_on < day
    remaining = (finding.amount_to_recover or Decimal(0)) - (finding.amount_recovered or Decimal(0))
    allowed = {
        "assign": status in workflow.UNDECIDED,
        "push": status is FindingStatus.OPEN,
        "send_back": status is FindingStatus.COUNTY_RESPONDED and finding.send_backs < workflow.MAX_SEND_BACKS,
        "determine": status is FindingStatus.COUNTY_RESPONDED or overdue,
        "recover": status is FindingStatus.CONFIRMED and remaining > 0,
        "dismiss": status in workflow.UNDECIDED,
        "reopen": status not in workflow.UNDECIDED,
    }
    return [step for step in PROVINCE_STEPS if allowed[step]]


def claim_rows(finding: Finding) -> list[ClaimRow]:
    """The finding's own claim, then each claim its evidence names (by number, in its county)."""
    session = get_session()
    evidence = finding.evidence or {}
    named = claim_numbers(finding)
    rows: list[tuple[Claim, str | None]] = []
    if finding.claim_id is not None:
        own = session.scalar(scoped(select(Claim).where(Claim.id == finding.claim_id), Claim.county_code))
        if own is not None:
            rows.append((own, None))
    prefix = f"{finding.county_code}:"
    listed = [str(c["claim"]) for c in evidence.get("claims") or [] if isinstance(c, dict) and c.get("claim")]
    listed = [number[len(prefix):] if number.startswith(prefix) else number for number in listed]
    wanted = set(named.values()) | set(listed)
    if wanted:
        found = {c.source_id: c for c in session.scalars(scoped(select(Claim).where(
            Claim.county_code == finding.county_code, Claim.source_id.in_(wanted)), Claim.county_code))}
        rows += [(found[number], key) for key, number in named.items() if number in found]
        rows += [(found[number], "claims") for number in listed if number in found]  # the model's contributors
    numbers = {c.member_no for c, _ in rows}
    members = {m.member_no: m for m in session.scalars(select(Member).where(
        Member.county_code == finding.county_code, Member.member_no.in_(numbers)))} if numbers else {}
    return [ClaimRow(claim, role, mask_name(members[claim.member_no].name if claim.member_no in members else ""),
                     mask_national_id(claim.national_id)) for claim, role in rows]


def claim_numbers(finding: Finding) -> dict[str, str]:
    """The claim numbers the evidence names (``first_claim``: "520122:S1" or "S1"), by key."""
    evidence, prefix = finding.evidence or {}, f"{finding.county_code}:"
    found = {}
    for key in CLAIM_KEYS:
        value = evidence.get(key)
        if value:
            text = str(value)
            found[key] = text[len(prefix):] if text.startswith(prefix) else text
    return found


def evidence_items(finding: Finding) -> list[tuple[str, Any, str]]:
    """(key, value, how to show it) of the evidence: a claim's number (linked), a date, or as it is."""
    numbers = claim_numbers(finding)
    items = []
    for key, value in (finding.evidence or {}).items():
        if key in ("features", "claims") and finding.rule_code == MODEL.code:
            continue  # the model's explanation and its claims have tables of their own
        if key in numbers:
            items.append((key, numbers[key], "claim"))
            continue
        if isinstance(value, str) and len(value) == 10 and value[4:5] == "-":
            try:
                items.append((key, date.fromisoformat(value), "date"))
                continue
            except ValueError:
                pass
        items.append((key, value, "json" if isinstance(value, (dict, list)) else "text"))
    return items


def rule_of(finding: Finding) -> dict[str, Any]:
    """The rule's name and plain-language logic (with the parameters it ran with) in the user's language."""
    from ..claim.links import english, rule_title

    rule = RULES.get(finding.rule_code)
    params = finding.parameters or {}
    logic = ""
    if rule is not None:
        text = rule.logic_en if english() else rule.logic_zh
        try:
            logic = text.format(**{**rule.params, **params})
        except (KeyError, IndexError, ValueError):
            logic = text
    elif finding.rule_code == MODEL.code:
        logic = _("Each institution's window of care against its peers of the same level over the same window, "
                  "feature by feature; a window far from its peers on several features is a finding.")
    return {"title": rule_title(finding.rule_code), "logic": logic, "params": params, "rule": rule,
            "anomaly": finding.rule_code == MODEL.code}


def events_of(finding: Finding) -> list[FindingEvent]:
    return list(get_session().scalars(select(FindingEvent).where(FindingEvent.finding_id == finding.id)
                                      .options(selectinload(FindingEvent.attachments)).order_by(FindingEvent.id)))


def render(finding: Finding, failure: Failure | None = None) -> str:
    session = get_session()
    day = today()
    county = session.get(County, finding.county_code)
    institution = session.get(Institution, finding.institution_id) if finding.institution_id else None
    events = events_of(finding)
    people = {event.user_id for event in events} | {event.assignee_id for event in events} | \
        {finding.assignee_id, finding.decided_by}
    people.discard(None)
    names = {row.id: row.username for row in session.execute(select(User.id, User.username)
                                                             .where(User.id.in_(people)))} if people else {}
    auditors = session.scalars(select(User).where(User.role.in_(workflow.PROVINCE), User.active.is_(True))
                               .order_by(User.username)).all() if current_user.role in workflow.PROVINCE else []
    work = calendar()
    rule = rule_of(finding)
    charts: list[Any] = []
    explanation = (finding.evidence or {}).get("features", []) if rule["anomaly"] else []
    if rule["anomaly"] and institution is not None:
        from ..institution.views import FEATURE_LABELS, MONEY, SHARES, peer_charts

        charts = peer_charts(institution, features=[reason.get("feature") for reason in explanation])
        feature = {"labels": FEATURE_LABELS, "money": MONEY, "shares": SHARES}
    else:
        feature = {"labels": {}, "money": set(), "shares": set()}
    remaining = None
    if finding.amount_to_recover is not None:
        remaining = finding.amount_to_recover - (finding.amount_recovered or Decimal(0))
    overdue = finding.status is FindingStatus.SENT_TO_COUNTY and finding.due_on is not None and finding.due_on < day
    keys = " ".join(finding.evidence or {})
    marks = {"dates": bool(claim_numbers(finding)) or any(w in keys for w in ("discharge", "admission", "death",
                                                                            "days", "stay")),
             "money": any(w in keys for w in ("paid", "total", "cap", "price", "pays", "ceiling", "amount"))}
    claim_keys = claim_numbers(finding)
    return render_template(
        "findings/finding.html", finding=finding, county=county, institution=institution, events=events,
        names=names, auditors=auditors, rule=rule, claims=claim_rows(finding), claim_keys=claim_keys,
        evidence_labels=EVIDENCE_LABELS, kind_labels=KIND_LABELS, steps=steps_of(finding, day),
        deadline=work.deadline(day), working_days=work.response_working_days, overdue=overdue,
        remaining=remaining, failure=failure, charts=charts, explanation=explanation, feature=feature,
        answer_kinds=[kind.value for kind in AnswerKind], accepted=files.ACCEPTED, max_files=files.MAX_FILES,
        max_mib=files.MAX_BYTES // 2**20, today=day, marks=marks,
        evidence=evidence_items(finding))


@bp.get("/findings/attachment/<int:attachment_id>")
@personal_data
def attachment(attachment_id: int):  # type: ignore[no-untyped-def]
    """A file of a step, always as a download of the type found in its content, never inline."""
    session = get_session()
    row = session.scalar(scoped(select(FindingAttachment).join(Finding, Finding.id == FindingAttachment.finding_id)
                                .where(FindingAttachment.id == attachment_id), Finding.county_code))
    if row is None:
        abort(404)
    try:
        data = files.read(data_dir(), row)
    except FileNotFoundError:
        abort(404)
    except ReviewError:
        current_app.logger.error("attachment %s does not match its SHA-256", row.id)
        abort(500)
    response = Response(data, mimetype=row.media_type)
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in row.file_name)
    response.headers["Content-Disposition"] = (f"attachment; filename=\"{ascii_name}\"; "
                                               f"filename*=UTF-8''{quote(row.file_name, safe='')}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
