"""``ncms findings assign|push|answer|decide|recover|dismiss|reopen|comment|history`` and the rule
exceptions: the review loop's steps from the command line, for scripted bulk work (docs/review.md).

Every step is taken as an account (``--as USERNAME``), which the history records and whose role
decides what it may do, as on the console: an auditor or administrator takes the province's
steps, a county officer answers for their county only. Findings are named by id (arguments, or
``--ids-from FILE``, one per line, ``-`` for standard input) or, for the bulk steps, chosen with
the ``list`` command's filters and ``--all-matching``."""
from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import click

from ncms.db import session_scope

from . import Context, UsageError, pass_context
from .db import require_migrated
from .options import OptionError

STATUS_STEPS = ("dismiss", "decide", "reopen")  # steps that change what the findings' summary counts


def register(group: click.Group) -> None:
    from .findings import filters

    for command in (assign_command, push_command, dismiss_command):
        filters(command)  # the list command's filters, for --all-matching
    for command in (assign_command, push_command, answer_command, decide_command, recover_command,
                    dismiss_command, reopen_command, comment_command, history_command, exceptions_command,
                    revoke_command, notice_command):
        group.add_command(command)


def actor_option(command: Any) -> Any:
    return click.option("--as", "username", required=True, metavar="USERNAME",
                        help="The account taking the step (recorded in the finding's history).")(command)


def ids_options(command: Any) -> Any:
    command = click.option("--ids-from", type=click.File("r"), metavar="FILE",
                           help="Finding ids one per line (`-`: standard input).")(command)
    return click.argument("ids", nargs=-1, type=int)(command)


def bulk_options(command: Any) -> Any:
    return click.option("--all-matching", is_flag=True,
                        help="Every finding the filters choose (at least one filter), instead of ids.")(command)


# --- the steps --------------------------------------------------------------------------------

@click.command("assign")
@actor_option
@click.option("--to", "assignee", metavar="USERNAME", help="The auditor who takes the findings.")
@click.option("--nobody", is_flag=True, help="Take the findings off whoever has them.")
@ids_options
@bulk_options
@pass_context
def assign_command(obj: Context, username: str, assignee: str | None, nobody: bool, **chosen: Any) -> None:
    """Give undecided findings to an auditor (`--to`), or to no one (`--nobody`)."""
    from ncms.review import workflow

    if bool(assignee) == nobody:
        raise OptionError("say --to USERNAME or --nobody")
    with _session(obj) as (session, actor):
        ids = _chosen(obj, session, actor, **chosen)
        who = None if nobody else _user(session, assignee)
        _echo_outcome("assigned", workflow.assign(session, actor, ids, who))


@click.command("push")
@actor_option
@click.option("--due", type=click.DateTime(["%Y-%m-%d"]),
              help="The county's deadline (default: the calendar's working days from today, config/calendar.yaml).")
@click.option("--note", default="", help="What the county is asked (in the history and the audit notice).")
@ids_options
@bulk_options
@pass_context
def push_command(obj: Context, username: str, due: Any, note: str, **chosen: Any) -> None:
    """Push open findings to their counties (疑点推送), each due back by its deadline."""
    from ncms.review import workflow

    with _session(obj) as (session, actor):
        ids = _chosen(obj, session, actor, **chosen)
        outcome = workflow.push(session, actor, ids, _calendar(obj), note, due_on=due.date() if due else None)
        _echo_outcome("pushed", outcome)
        if outcome.done:
            from ncms.models import Finding

            due_on = session.get(Finding, outcome.done[0]).due_on
            click.echo(f"due on {due_on:%Y-%m-%d}")


@click.command("answer")
@actor_option
@click.argument("finding_id", type=int)
@click.option("--text", required=True, help="The county's explanation or appeal.")
@click.option("--appeal", is_flag=True, help="An appeal (申诉) against the finding, not an explanation (说明).")
@click.option("--attach", "files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file to send with the answer (PDF, image, spreadsheet; repeatable).")
@pass_context
def answer_command(obj: Context, username: str, finding_id: int, text: str, appeal: bool, files: tuple[Path, ...]
                   ) -> None:
    """The county officer's answer to a finding pushed to their county."""
    from ncms.review import workflow
    from ncms.review.attachments import MAX_BYTES, Upload

    uploads = []
    for path in files:
        if path.stat().st_size > MAX_BYTES:
            raise UsageError(f"{path.name}: {path.stat().st_size / 2**20:.1f} MiB is more than the "
                             f"{MAX_BYTES // 2**20} MiB a file may have")
        uploads.append(Upload(path.name, path.read_bytes()))
    with _session(obj) as (session, actor):
        workflow.answer(session, actor, finding_id, text, "appeal" if appeal else "explanation",
                        attachments=uploads, data_dir=obj.settings.data_dir)
    click.echo(f"finding {finding_id}: answered ({'appeal' if appeal else 'explanation'}"
               f"{f', {len(uploads)} file(s)' if uploads else ''})")


@click.command("decide")
@actor_option
@click.argument("finding_id", type=int)
@click.option("--violation", "amount", metavar="YUAN",
              help="Determine a violation (认定) with the money to recover (0 when none was overpaid).")
@click.option("--send-back", is_flag=True, help="Send the county's answer back once, with what is missing.")
@click.option("--due", type=click.DateTime(["%Y-%m-%d"]), help="With --send-back: the new deadline.")
@click.option("--text", required=True, help="The grounds of the determination, or what the county must add.")
@pass_context
def decide_command(obj: Context, username: str, finding_id: int, amount: str | None, send_back: bool, due: Any,
                   text: str) -> None:
    """Review (复核) of the county's answer: a violation with the money to recover, or sent back
    once (dismissing is `ncms findings dismiss`)."""
    from ncms.review import workflow

    if (amount is None) == (not send_back):
        raise OptionError("say --violation YUAN or --send-back")
    with _session(obj) as (session, actor):
        if send_back:
            event = workflow.send_back(session, actor, finding_id, text, _calendar(obj),
                                       due_on=due.date() if due else None)
            click.echo(f"finding {finding_id}: sent back to the county, due on {event.due_on:%Y-%m-%d}")
            return
        event = workflow.determine(session, actor, finding_id, amount, text)  # type: ignore[arg-type]
        _refresh(session)
        click.echo(f"finding {finding_id}: determined a violation, {event.amount:,.2f} yuan to recover")


@click.command("recover")
@actor_option
@click.argument("finding_id", type=int)
@click.argument("amount", metavar="YUAN")
@click.option("--text", default="", help="Where the money came from (a receipt number…).")
@pass_context
def recover_command(obj: Context, username: str, finding_id: int, amount: str, text: str) -> None:
    """Money recovered on a determined finding, as it comes in (已追回)."""
    from ncms.models import Finding
    from ncms.review import workflow

    with _session(obj) as (session, actor):
        workflow.recover(session, actor, finding_id, amount, text)
        finding = session.get(Finding, finding_id)
        left = finding.amount_to_recover - finding.amount_recovered
    click.echo(f"finding {finding_id}: {finding.amount_recovered:,.2f} of {finding.amount_to_recover:,.2f} yuan "
               f"recovered, {left:,.2f} to go")


@click.command("dismiss")
@actor_option
@click.option("--reason", required=True, help="Why the findings are dismissed (排除).")
@click.option("--exception", "exception_kind", type=click.Choice(["institution", "item", "diagnosis"]),
              help="Accepted practice: record a rule exception for this kind of subject (later runs pass it over).")
@click.option("--code", help="With --exception: the institution, item or diagnosis code.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="With --exception: the day it expires.")
@click.option("--county-only", "exception_county", metavar="COUNTY",
              help="With --exception: only in this county (default: every county).")
@ids_options
@bulk_options
@pass_context
def dismiss_command(obj: Context, username: str, reason: str, exception_kind: str | None, code: str | None,
                    until: Any, exception_county: str | None, **chosen: Any) -> None:
    """Dismiss undecided findings with a reason, perhaps recording accepted practice."""
    from ncms.models import Finding
    from ncms.review import exceptions, workflow

    if exception_kind and not (code and until):
        raise OptionError("--exception needs --code and --until")
    if (code or until or exception_county) and not exception_kind:
        raise OptionError("--code, --until and --county-only go with --exception")
    with _session(obj) as (session, actor):
        ids = _chosen(obj, session, actor, **chosen)
        outcome = workflow.dismiss(session, actor, ids, reason)
        if exception_kind and outcome.done:
            rules = set(session.scalars(_rules_of(outcome.done)))
            if len(rules) != 1:
                raise UsageError(f"an exception is for one rule: the findings dismissed are of {', '.join(sorted(rules))}")
            made = exceptions.make(session, actor, rules.pop(), exception_kind, code, until.date(), reason,
                                   county_code=exception_county, finding=session.get(Finding, outcome.done[0]))
            click.echo(f"exception {made.id}: {made.rule_code} for {made.subject_kind.value} {made.subject_code}"
                       f"{' in ' + made.county_code if made.county_code else ''} until {made.expires_on}")
        _refresh(session)
        _echo_outcome("dismissed", outcome)


@click.command("reopen")
@actor_option
@click.argument("finding_id", type=int)
@click.option("--reason", required=True, help="Why the decision is opened again.")
@pass_context
def reopen_command(obj: Context, username: str, finding_id: int, reason: str) -> None:
    """Open a decided or closed finding again (an auditor, with a reason)."""
    from ncms.review import workflow

    with _session(obj) as (session, actor):
        workflow.reopen(session, actor, finding_id, reason)
        _refresh(session)
    click.echo(f"finding {finding_id}: open again")


@click.command("comment")
@actor_option
@click.argument("finding_id", type=int)
@click.option("--text", required=True)
@pass_context
def comment_command(obj: Context, username: str, finding_id: int, text: str) -> None:
    """A note on the finding's history (it changes nothing else)."""
    from ncms.review import workflow

    with _session(obj) as (session, actor):
        workflow.comment(session, actor, finding_id, text)
    click.echo(f"finding {finding_id}: comment added")


@click.command("history")
@click.argument("finding_id", type=int)
@pass_context
def history_command(obj: Context, finding_id: int) -> None:
    """A finding's state and every step of its history, oldest first (times in UTC)."""
    import sqlalchemy as sa

    from ncms.models import Finding, FindingAttachment, FindingEvent, User

    require_migrated(obj)
    with session_scope(obj.engine) as session:
        finding = session.get(Finding, finding_id)
        if finding is None:
            raise UsageError(f"no finding {finding_id}")
        click.echo(f"finding {finding.id}: {finding.rule_code} in {finding.county_code}, {finding.status.value}"
                   + (f", due {finding.due_on}" if finding.due_on else "")
                   + (f", to recover {finding.amount_to_recover:,.2f} (recovered {finding.amount_recovered or 0:,.2f})"
                      if finding.amount_to_recover is not None else "")
                   + (" — no longer holds (marked by a rule run)" if finding.stopped_holding_at else ""))
        files: dict[int, list[str]] = {}
        for event_id, name in session.execute(sa.select(FindingAttachment.event_id, FindingAttachment.file_name)
                                              .where(FindingAttachment.finding_id == finding_id)):
            files.setdefault(event_id, []).append(name)
        for event, who in session.execute(sa.select(FindingEvent, User.username)
                                          .outerjoin(User, User.id == FindingEvent.user_id)
                                          .where(FindingEvent.finding_id == finding_id).order_by(FindingEvent.id)):
            moved = (f" {event.from_status.value if event.from_status else '-'}→{event.to_status.value}"
                     if event.to_status and event.to_status != event.from_status else "")
            extra = "".join(filter(None, (
                f" [{event.answer_kind.value}]" if event.answer_kind else "",
                f" {event.amount:,.2f} yuan" if event.amount is not None else "",
                f" due {event.due_on}" if event.due_on else "",
                f" files: {', '.join(files[event.id])}" if event.id in files else "")))
            click.echo(f"{event.at:%Y-%m-%d %H:%M}  {who or 'rules':<12} {event.kind.value:<16}{moved}{extra}"
                       f"{'  ' + event.text if event.text else ''}")


# --- rule exceptions --------------------------------------------------------------------------

@click.command("exceptions")
@click.option("--current", is_flag=True, help="Only those in force today.")
@pass_context
def exceptions_command(obj: Context, current: bool) -> None:
    """The rule exceptions recorded from dismissals: rule, subject, where, until when, by whom, why."""
    from ncms.review import exceptions

    require_migrated(obj)
    with session_scope(obj.engine) as session:
        rows = exceptions.listing(session, current_only=current)
        if not rows:
            click.echo("no rule exception" + (" in force" if current else ""))
        for row in rows:
            state = (f"revoked {row.revoked_at:%Y-%m-%d}: {row.revoke_reason}" if row.revoked_at
                     else "expired" if row.expires_on < date.today() else "in force")
            click.echo(f"{row.id:>5}  {row.rule_code:<24} {row.subject_kind.value:<11} {row.subject_code:<14} "
                       f"{row.county_code or 'province':<8} until {row.expires_on}  {state}  — {row.reason}")


@click.command("revoke-exception")
@actor_option
@click.argument("exception_id", type=int)
@click.option("--reason", required=True)
@pass_context
def revoke_command(obj: Context, username: str, exception_id: int, reason: str) -> None:
    """Revoke a rule exception: the next run files what it passed over."""
    from ncms.review import exceptions

    with _session(obj) as (session, actor):
        exceptions.revoke(session, actor, exception_id, reason)
    click.echo(f"exception {exception_id} revoked")


@click.command("notice")
@click.option("--county", "county_code", required=True, help="The county the notice is addressed to.")
@click.option("--language", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--pushed-on", type=click.DateTime(["%Y-%m-%d"]), help="Only the findings pushed that day.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Only the findings pushed since that day.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The PDF to write.")
@pass_context
def notice_command(obj: Context, county_code: str, language: str, pushed_on: Any, since: Any, out: Path) -> None:
    """The audit notice (稽核通知书) of a county: the findings pushed to it and not yet answered,
    with their deadlines, as a PDF to print and send."""
    from ncms.review.notice import build_notice

    from .options import check_counties

    require_migrated(obj)
    check_counties(obj.engine, [county_code])
    with session_scope(obj.engine) as session:
        pdf = build_notice(session, county_code, language=language, config_dir=obj.settings.config_dir,
                           pushed_on=pushed_on.date() if pushed_on else None, since=since.date() if since else None)
    part = out.with_name(f".{out.name}.part")
    part.write_bytes(pdf)
    part.replace(out)
    click.echo(f"{out}: the audit notice of {county_code} ({len(pdf):,} bytes)")


# --- the parts --------------------------------------------------------------------------------

class _session:
    """A transaction as the account ``--as`` names (an unknown or disabled one refused)."""

    def __init__(self, obj: Context) -> None:
        self.obj = obj
        self.scope: Any = None

    def __enter__(self) -> tuple[Any, Any]:
        require_migrated(self.obj)
        username = click.get_current_context().params["username"]
        self.scope = session_scope(self.obj.engine)
        session = self.scope.__enter__()
        try:
            actor = _user(session, username)
        except BaseException:
            self.scope.__exit__(*sys.exc_info())
            raise
        return session, actor

    def __exit__(self, *exc: Any) -> Any:
        return self.scope.__exit__(*exc)


def _user(session: Any, username: str | None) -> Any:
    import sqlalchemy as sa

    from ncms.models import User

    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise UsageError(f"no account {username!r} (`ncms users list`)")
    if not user.active:
        raise UsageError(f"the account {username} is disabled")
    return user


def _chosen(obj: Context, session: Any, actor: Any, ids: tuple[int, ...], ids_from: Any, all_matching: bool = False,
            **filters: Any) -> list[int]:
    """The findings named: ids, ids read from a file, or (``--all-matching``) the filter's."""
    chosen = list(ids)
    if ids_from is not None:
        chosen += _read_ids(ids_from)
    asked_filter = any(filters.values())
    if all_matching:
        if chosen:
            raise OptionError("--all-matching chooses by the filters: give ids or --all-matching, not both")
        if not asked_filter:
            raise OptionError("--all-matching needs at least one filter (--county, --rule, --status, --period, "
                              "--institution): it will not take every finding of the province")
        return _matching(obj, session, actor, filters)
    if asked_filter:
        raise OptionError("the filters choose findings with --all-matching only")
    if not chosen:
        raise OptionError("name the findings: ids, --ids-from FILE, or filters with --all-matching")
    return chosen


def _read_ids(stream: Iterable[str]) -> list[int]:
    ids = []
    for number, line in enumerate(stream, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not text.isdigit():
            raise OptionError(f"--ids-from line {number}: {text!r} is not a finding id")
        ids.append(int(text))
    return ids


def _matching(obj: Context, session: Any, actor: Any, filters: dict[str, Any]) -> list[int]:
    import sqlalchemy as sa

    from ncms.models import Finding
    from ncms.review.workflow import visible

    from .findings import _filter

    where = _filter(obj, **filters)
    return list(session.scalars(sa.select(Finding.id).where(*where.conditions(), *visible(actor))
                                .order_by(Finding.id)))


def _rules_of(ids: list[int]) -> Any:
    import sqlalchemy as sa

    from ncms.models import Finding

    return sa.select(Finding.rule_code).where(Finding.id.in_(ids[:900])).distinct()


def _calendar(obj: Context) -> Any:
    from ncms.review.calendar import read_calendar

    return read_calendar(obj.settings.config_dir)


def _refresh(session: Any) -> None:
    """The findings' summary (the start page's counts) after a step that changed a status it counts."""
    from ncms.indicators.refresh import refresh_findings

    refresh_findings(session)


def _echo_outcome(verb: str, outcome: Any) -> None:
    click.echo(f"{verb} {len(outcome.done):,} finding(s)"
               + (f"; {len(outcome.skipped):,} left as they were:" if outcome.skipped else ""))
    for finding_id, why in list(outcome.skipped.items())[:50]:
        click.echo(f"  {finding_id}: {why}")
    if len(outcome.skipped) > 50:
        click.echo(f"  … and {len(outcome.skipped) - 50:,} more")
    if not outcome.done and outcome.skipped:
        raise UsageError(f"no finding {verb}")
