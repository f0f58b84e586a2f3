"""The steps of a finding's review, who may take them, and when (docs/review.md).

    open ──assign──▶ open (an auditor has it)
    open ──push──▶ sent_to_county (due in working days) ──answer──▶ county_responded
    county_responded ──send_back (once)──▶ sent_to_county
    county_responded, or sent_to_county past its deadline ──determine──▶ confirmed ──recover…
    open, sent_to_county, county_responded ──dismiss──▶ dismissed (maybe with a rule exception)
    confirmed, dismissed, closed ──reopen──▶ open

Every step is one ``finding_event`` (who, when, what) and one UPDATE of the finding that names
the version it read: whoever changed the finding in between wins, and this step is refused with
``Conflict`` saying who and what (nothing of theirs is lost, nothing of this one half-done).
Bulk steps (assign, push, dismiss) are one UPDATE … RETURNING for all the findings chosen and take
those still in a state the step allows; the others are reported back, not failed.

The actor is a ``User``: auditors and administrators take the province's steps, a county officer
answers for their own county only (another county's finding is "not found", as on the pages)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ncms.errors import NcmsError
from ncms.models import (
    AnswerKind,
    Finding,
    FindingEvent,
    FindingEventKind,
    FindingStatus,
    Role,
    User,
)
from ncms.models.base import utcnow

from .calendar import BEIJING, WorkCalendar, local_day

OPEN, SENT, ANSWERED = FindingStatus.OPEN, FindingStatus.SENT_TO_COUNTY, FindingStatus.COUNTY_RESPONDED
CONFIRMED, DISMISSED, CLOSED = FindingStatus.CONFIRMED, FindingStatus.DISMISSED, FindingStatus.CLOSED
UNDECIDED = (OPEN, SENT, ANSWERED)
WITH_COUNTY = (SENT, ANSWERED)  # pushed, not yet decided: a rerun marks, never closes, these
PROVINCE = (Role.ADMIN, Role.AUDITOR)
MAX_SEND_BACKS = 1  # review may send a finding back to the county once
MAX_TEXT = 10_000
FEN = Decimal("0.01")
STATUS_ZH = {OPEN: "待处理", SENT: "已下发县", ANSWERED: "县已回复", CONFIRMED: "已认定", DISMISSED: "已排除",
             CLOSED: "已关闭"}  # the console's labels (templates/_labels.html)
STEP_ZH = {FindingEventKind.ASSIGNED: "分派", FindingEventKind.PUSHED: "推送至县", FindingEventKind.DISMISSED: "排除",
           FindingEventKind.COUNTY_RESPONSE: "答复", FindingEventKind.SENT_BACK: "退回补充",
           FindingEventKind.DETERMINED: "认定", FindingEventKind.RECOVERED: "登记追回",
           FindingEventKind.REOPENED: "重新打开", FindingEventKind.COMMENT: "备注", FindingEventKind.RAISED: "发现",
           FindingEventKind.UPDATED: "更新", FindingEventKind.CLOSED: "关闭", FindingEventKind.EXCEPTION: "设为例外"}
WHAT_ZH = {"the answer": "答复内容", "what the county must add": "需补充的内容", "the amount to recover": "应追回金额",
           "the grounds of the determination": "认定理由", "the amount recovered": "追回金额",
           "the reason to reopen": "重新打开的原因", "the comment": "备注", "the reason to dismiss": "排除原因",
           "the reason for the exception": "例外的理由", "the reason to revoke": "撤销的原因"}
STEP_EN = {FindingEventKind.COUNTY_RESPONSE: "answered", FindingEventKind.SENT_BACK: "sent back",
           FindingEventKind.RECOVERED: "given a recovery"}
# the steps' states: (the step, the statuses it may be taken from)
ANSWER = (FindingEventKind.COUNTY_RESPONSE, (SENT,))
SEND_BACK = (FindingEventKind.SENT_BACK, (ANSWERED,))
DETERMINE = (FindingEventKind.DETERMINED, (ANSWERED,))
RECOVER = (FindingEventKind.RECOVERED, (CONFIRMED,))


class Said(str):
    """A message in English (the string itself) with its Chinese (``zh``): the console shows the
    one of the page's language, as the receipts carry both."""

    zh: str

    def __new__(cls, en: str, zh: str) -> "Said":
        said = super().__new__(cls, en)
        said.zh = zh
        return said


class ReviewError(NcmsError):
    """A step the finding's state, the actor's role or the input does not allow; the message
    says which, in words a user can act on, in English (``str``) and Chinese (``zh``)."""

    def __init__(self, message: str, zh: str | None = None) -> None:
        super().__init__(message)
        self.zh = zh if zh is not None else getattr(message, "zh", str(message))


class NotFound(ReviewError):
    """No such finding, or one of a county the actor may not see (the same answer for both)."""


class Conflict(ReviewError):
    """Someone changed the finding after the actor read it: their change stands."""

    def __init__(self, finding_id: int, message: str, zh: str | None = None) -> None:
        super().__init__(message, zh)
        self.finding_id = finding_id


@dataclass
class Outcome:
    """What a bulk step did: the findings it changed, and why each other one was left (``Said``:
    English and Chinese)."""

    done: list[int] = field(default_factory=list)
    skipped: dict[int, Said] = field(default_factory=dict)


# --- one finding, with the version the actor read ------------------------------------------------

def answer(session: Session, actor: User, finding_id: int, text: str, kind: AnswerKind | str,
           *, version: int | None = None, attachments: Sequence[Any] = (), data_dir: Any = None,
           now: datetime | None = None) -> FindingEvent:
    """The county's explanation or appeal (说明/申诉) to a finding pushed to it, with files
    (``attachments.Upload``, kept under ``data_dir``: every one checked before any is kept;
    one refused, the answer is not written either)."""
    if actor.role is not Role.COUNTY:
        raise ReviewError("only the county's officer answers a finding pushed to the county",
                          "只有县级经办人员可以答复推送至本县的疑点")
    finding = _get(session, actor, finding_id)
    kind = _answer_kind(kind)
    text = _text(text, "the answer")
    if finding.status is not SENT:
        raise ReviewError(_not_now(finding, ANSWER))
    if attachments:
        from .attachments import MAX_FILES, check

        if len(attachments) > MAX_FILES:
            raise ReviewError(f"{len(attachments)} files: at most {MAX_FILES} with one answer",
                              f"{len(attachments)} 个文件：每次答复最多 {MAX_FILES} 个")
        for upload in attachments:
            check(upload)
    now = now or utcnow()
    event = _step(session, actor, finding, version, dict(status=ANSWERED, answered_at=now),
                  FindingEventKind.COUNTY_RESPONSE, text, now, answer_kind=kind)
    if attachments:
        from .attachments import attach

        attach(session, actor, finding, event, attachments, data_dir)
    return event


def send_back(session: Session, actor: User, finding_id: int, text: str, calendar: WorkCalendar,
              *, version: int | None = None, due_on: date | None = None, now: datetime | None = None) -> FindingEvent:
    """Review (复核) sends the county's answer back once, with what is missing and a new deadline."""
    _province(actor)
    finding = _get(session, actor, finding_id)
    text = _text(text, "what the county must add")
    if finding.status is not ANSWERED:
        raise ReviewError(_not_now(finding, SEND_BACK))
    if finding.send_backs >= MAX_SEND_BACKS:
        raise ReviewError(f"finding {finding.id} was sent back {finding.send_backs} time(s) already "
                          f"(at most {MAX_SEND_BACKS}): determine or dismiss it",
                          f"疑点 {finding.id} 已退回补充 {finding.send_backs} 次（最多 {MAX_SEND_BACKS} 次）：请认定或排除")
    now = now or utcnow()
    due = _due(calendar, now, due_on)
    return _step(session, actor, finding, version,
                 dict(status=SENT, due_on=due, send_backs=finding.send_backs + 1),
                 FindingEventKind.SENT_BACK, text, now, due_on=due)


def determine(session: Session, actor: User, finding_id: int, amount_to_recover: Decimal | str, text: str,
              *, version: int | None = None, today: date | None = None, now: datetime | None = None) -> FindingEvent:
    """Determined a violation (认定) with the money to recover (应追回金额, 0 when nothing was
    overpaid): after the county answered, or once its deadline has passed without an answer."""
    _province(actor)
    finding = _get(session, actor, finding_id)
    amount = _money(amount_to_recover, "the amount to recover", zero=True)
    text = _text(text, "the grounds of the determination")
    now = now or utcnow()
    overdue = finding.status is SENT and finding.due_on is not None and finding.due_on < (today or local_day(now))
    if not (finding.status is ANSWERED or overdue):
        raise ReviewError(_not_now(finding, DETERMINE))
    return _step(session, actor, finding, version,
                 dict(status=CONFIRMED, decided_at=now, decided_by=actor.id, amount_to_recover=amount),
                 FindingEventKind.DETERMINED, text, now, amount=amount)


def recover(session: Session, actor: User, finding_id: int, amount: Decimal | str, text: str = "",
            *, version: int | None = None, now: datetime | None = None) -> FindingEvent:
    """Money recovered (已追回) on a determined finding, as it comes in; never more in all than
    was determined."""
    _province(actor)
    finding = _get(session, actor, finding_id)
    paid = _money(amount, "the amount recovered")
    if finding.status is not CONFIRMED:
        raise ReviewError(_not_now(finding, RECOVER))
    owed = (finding.amount_to_recover or Decimal("0")) - (finding.amount_recovered or Decimal("0"))
    if paid > owed:
        raise ReviewError(f"finding {finding.id}: {paid} yuan is more than the {owed} yuan still to recover "
                          f"(determined {finding.amount_to_recover}, recovered {finding.amount_recovered})",
                          f"疑点 {finding.id}：{paid} 元超过尚待追回的 {owed} 元"
                          f"（应追回 {finding.amount_to_recover} 元，已追回 {finding.amount_recovered} 元）")
    now = now or utcnow()
    return _step(session, actor, finding, version,
                 dict(amount_recovered=(finding.amount_recovered or Decimal("0")) + paid),
                 FindingEventKind.RECOVERED, text.strip() or None, now, amount=paid)


def reopen(session: Session, actor: User, finding_id: int, reason: str,
           *, version: int | None = None, now: datetime | None = None) -> FindingEvent:
    """A decided or closed finding opened again, by an auditor, for a reason. Money recovered
    stays recorded; the decision is cleared (the history keeps it)."""
    _province(actor)
    finding = _get(session, actor, finding_id)
    reason = _text(reason, "the reason to reopen")
    if finding.status in UNDECIDED:
        raise ReviewError(f"finding {finding.id} is {finding.status.value}, not decided or closed: nothing to reopen",
                          f"疑点 {finding.id} 为“{STATUS_ZH[finding.status]}”，尚未决定或关闭：无需重新打开")
    now = now or utcnow()
    return _step(session, actor, finding, version,
                 dict(status=OPEN, decided_at=None, decided_by=None, closed_at=None, closed_reason=None,
                      due_on=None, stopped_holding_at=None),
                 FindingEventKind.REOPENED, reason, now)


def comment(session: Session, actor: User, finding_id: int, text: str, *, now: datetime | None = None) -> FindingEvent:
    """A note on the finding's history, by anyone who may see it (it changes nothing else)."""
    if actor.role is Role.MINISTRY:
        raise ReviewError("the ministry's accounts read statistics only", "部级账号只能查看统计数据")
    finding = _get(session, actor, finding_id)
    event = FindingEvent(finding_id=finding.id, at=now or utcnow(), user_id=actor.id, kind=FindingEventKind.COMMENT,
                         text=_text(text, "the comment"))
    session.add(event)
    session.flush()
    return event


# --- many findings at once ----------------------------------------------------------------------

def assign(session: Session, actor: User, ids: Iterable[int], assignee: User | None,
           *, version: int | None = None, now: datetime | None = None) -> Outcome:
    """Give undecided findings to an auditor (None: to no one). With ``version``: one finding,
    from its page, refused with ``Conflict`` if it changed since (alike for push and dismiss)."""
    _province(actor)
    if assignee is not None and (assignee.role not in PROVINCE or not assignee.active):
        raise ReviewError(f"{assignee.username} is not an active auditor: findings go to auditors",
                          f"{assignee.username} 不是在岗的审计人员：疑点只能分派给审计人员")
    who = assignee.id if assignee else None
    text = f"assigned to {assignee.username}" if assignee else "unassigned"
    return _bulk(session, actor, ids, UNDECIDED, dict(assignee_id=who), FindingEventKind.ASSIGNED, text,
                 now or utcnow(), version, assignee_id=who)


def push(session: Session, actor: User, ids: Iterable[int], calendar: WorkCalendar, note: str = "",
         *, due_on: date | None = None, version: int | None = None, now: datetime | None = None) -> Outcome:
    """Push open findings to their counties (疑点推送), due back in the calendar's working days."""
    _province(actor)
    now = now or utcnow()
    due = _due(calendar, now, due_on)
    values = dict(status=SENT, due_on=due, pushed_at=sa.func.coalesce(Finding.pushed_at, now))
    return _bulk(session, actor, ids, (OPEN,), values, FindingEventKind.PUSHED,
                 note.strip()[:MAX_TEXT] or None, now, version, due_on=due)


def dismiss(session: Session, actor: User, ids: Iterable[int], reason: str,
            *, version: int | None = None, now: datetime | None = None) -> Outcome:
    """Dismiss undecided findings (排除) with the reason (``exceptions.make`` records accepted
    practice for later runs)."""
    _province(actor)
    reason = _text(reason, "the reason to dismiss")
    now = now or utcnow()
    return _bulk(session, actor, ids, UNDECIDED, dict(status=DISMISSED, decided_at=now, decided_by=actor.id),
                 FindingEventKind.DISMISSED, reason, now, version)


# --- the parts ----------------------------------------------------------------------------------

def visible(actor: User) -> list[sa.ColumnElement[bool]]:
    """The findings an actor may see: a county officer's county's, everyone's for the province."""
    if actor.role is Role.COUNTY:
        return [Finding.county_code == actor.county_code]
    if actor.role in PROVINCE:
        return []
    return [sa.false()]  # the ministry sees figures, never a finding


def _get(session: Session, actor: User, finding_id: int) -> Finding:
    finding = session.scalar(sa.select(Finding).where(Finding.id == finding_id, *visible(actor)))
    if finding is None:
        raise NotFound(f"no finding {finding_id}", f"没有疑点 {finding_id}")
    return finding


def _step(session: Session, actor: User, finding: Finding, version: int | None, values: dict[str, Any],
          kind: FindingEventKind, text: str | None, now: datetime, **event: Any) -> FindingEvent:
    """Change one finding if it is still at the version read (``version``, or the one just
    loaded), and write the step."""
    read = finding.version if version is None else version
    changed = session.execute(
        sa.update(Finding).where(Finding.id == finding.id, Finding.version == read)
        .values(**values, version=Finding.version + 1).execution_options(synchronize_session=False))
    if changed.rowcount != 1:
        raise _conflict(session, finding.id, read)
    row = FindingEvent(finding_id=finding.id, at=now, user_id=actor.id, kind=kind, from_status=finding.status,
                       to_status=values.get("status", finding.status), text=text, **event)
    session.add(row)
    session.flush()
    session.expire(finding)
    return row


def _conflict(session: Session, finding_id: int, read: int) -> Conflict:
    last = session.execute(
        sa.select(FindingEvent.kind, FindingEvent.at, User.username, Finding.version, Finding.status)
        .join(Finding, Finding.id == FindingEvent.finding_id).outerjoin(User, User.id == FindingEvent.user_id)
        .where(FindingEvent.finding_id == finding_id).order_by(FindingEvent.id.desc()).limit(1)).first()
    if last is None:
        return Conflict(finding_id, f"finding {finding_id} changed while you had it open: reload it",
                        f"疑点 {finding_id} 在您打开后已被他人更改：请刷新后重新办理")
    who = last.username or "a rule run"
    beijing = last.at.astimezone(BEIJING) if last.at.tzinfo else last.at
    return Conflict(finding_id, f"finding {finding_id} was changed by {who} at {last.at:%Y-%m-%d %H:%M} UTC "
                                f"({last.kind.value}; now {last.status.value}) after you opened it "
                                f"(version {read}, now {last.version}): reload it and decide again",
                    f"疑点 {finding_id} 在您打开后已由 {last.username or '规则运行'} 于 {beijing:%Y-%m-%d %H:%M}（北京时间）"
                    f"{STEP_ZH.get(last.kind, last.kind.value)}，现为“{STATUS_ZH[last.status]}”"
                    f"（版本 {read} → {last.version}）：您的操作未保存，请刷新后重新办理")


def _bulk(session: Session, actor: User, ids: Iterable[int], allowed: tuple[FindingStatus, ...],
          values: dict[str, Any], kind: FindingEventKind, text: str | None, now: datetime,
          version: int | None = None, **event: Any) -> Outcome:
    wanted = sorted({int(i) for i in ids})
    outcome = Outcome()
    if version is not None:  # one finding, from its page: at the version read, or a Conflict
        if len(wanted) != 1:
            raise ReviewError("a version is read for one finding at a time", "版本号只能用于单个疑点")
        finding = _get(session, actor, wanted[0])
        if finding.version == version and finding.status not in allowed:
            raise ReviewError(_not_now(finding, (kind, allowed)))
        _step(session, actor, finding, version, values, kind, text, now, **event)
        outcome.done.append(finding.id)
        return outcome
    if not wanted:
        return outcome
    before: dict[int, FindingStatus] = {}
    for start in range(0, len(wanted), 900):  # SQLite: at most 999 parameters a statement
        chunk = wanted[start:start + 900]
        before.update(session.execute(sa.select(Finding.id, Finding.status)
                                      .where(Finding.id.in_(chunk), *visible(actor))).all())
        done = session.execute(
            sa.update(Finding).where(Finding.id.in_(chunk), Finding.status.in_(allowed), *visible(actor))
            .values(**values, version=Finding.version + 1).returning(Finding.id)
            .execution_options(synchronize_session=False)).scalars().all()
        outcome.done += done
    done = set(outcome.done)
    for finding_id in wanted:
        if finding_id in done:
            continue
        status = before.get(finding_id)
        outcome.skipped[finding_id] = (Said("not found", "未找到") if status is None else Said(
            f"{status.value}: only {', '.join(s.value for s in allowed)} can be {kind.value}",
            f"“{STATUS_ZH[status]}”：只有“{'”、“'.join(STATUS_ZH[s] for s in allowed)}”的疑点可以"
            f"{STEP_ZH.get(kind, kind.value)}"))
    if outcome.done:
        to_status = values.get("status")
        session.execute(sa.insert(FindingEvent), [
            dict(finding_id=i, at=now, user_id=actor.id, kind=kind, from_status=before[i],
                 to_status=to_status if to_status is not None else before[i], text=text, **event)
            for i in sorted(done)])
    outcome.done.sort()
    return outcome


def _province(actor: User) -> None:
    if actor.role not in PROVINCE or not actor.active:
        raise ReviewError("only a provincial auditor takes this step", "只有省级审计人员可以办理此步骤")


def _due(calendar: WorkCalendar, now: datetime, due_on: date | None) -> date:
    if due_on is None:
        return calendar.deadline(local_day(now))
    if due_on <= local_day(now):
        raise ReviewError(f"the deadline {due_on} is not after today ({local_day(now)})",
                          f"答复期限 {due_on} 须晚于今天（{local_day(now)}）")
    return due_on


def _answer_kind(kind: AnswerKind | str) -> AnswerKind:
    try:
        return AnswerKind(kind)
    except ValueError:
        raise ReviewError(f"{kind!r} is not a kind of answer: explanation or appeal",
                          f"{kind!r} 不是答复类型：说明或申诉") from None


def _text(text: str | None, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ReviewError(f"{what} is required", f"{_zh(what)}不能为空")
    if len(text) > MAX_TEXT:
        raise ReviewError(f"{what} is {len(text):,} characters long; at most {MAX_TEXT:,}",
                          f"{_zh(what)}共 {len(text):,} 字，最多 {MAX_TEXT:,} 字")
    return text


def _money(value: Decimal | str, what: str, zero: bool = False) -> Decimal:
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise ReviewError(f"{what}: {value!r} is not an amount of yuan", f"{_zh(what)}：{value!r} 不是金额（元）") from None
    if not amount.is_finite() or amount < 0 or (amount == 0 and not zero):
        raise ReviewError(f"{what} must be {'zero or more' if zero else 'more than zero'}: {value}",
                          f"{_zh(what)}须{'不小于零' if zero else '大于零'}：{value}")
    if amount != amount.quantize(FEN):
        raise ReviewError(f"{what}: {value} has more than two decimals (fen)", f"{_zh(what)}：{value} 超过两位小数（分）")
    if amount >= Decimal("1e12"):
        raise ReviewError(f"{what}: {value} is out of range", f"{_zh(what)}：{value} 超出范围")
    return amount.quantize(FEN)


def _not_now(finding: Finding, step: tuple[FindingEventKind, tuple[FindingStatus, ...]]) -> Said:
    kind, allowed = step
    return Said(f"finding {finding.id} is {finding.status.value}: it can be {STEP_EN.get(kind, kind.value)} only "
                f"when it is "
                f"{' or '.join(s.value for s in allowed)}"
                + (" (or sent_to_county past its deadline)" if kind is FindingEventKind.DETERMINED else ""),
                f"疑点 {finding.id} 为“{STATUS_ZH[finding.status]}”：只有“{'”或“'.join(STATUS_ZH[s] for s in allowed)}”"
                + ("（或已下发县且已过答复期限）" if kind is FindingEventKind.DETERMINED else "")
                + f"的疑点可以{STEP_ZH.get(kind, kind.value)}")


def _zh(what: str) -> str:
    return WHAT_ZH.get(what, what)
