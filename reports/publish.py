"""Publishing a report to the ministry: its package pushed to the SFTP endpoint of the settings'
``ministry`` through the gateway's resumable client, then read back and its SHA-256 compared.

Every push is a ``ReportSend`` row — when, which checksum, what came of it — written before the
first byte goes (``sending``) and closed when the push ends: ``sent`` (verified), ``already_sent``
(the server held the whole package already, verified), or ``failed`` with the error and the time
it is retried (``retry_at``: ``retry_after`` seconds, doubled at each failure in a row, at most
six hours). Within a push, a dropped link reconnects and continues from what the server holds
(the gateway client's backoff and retries).

Sending a report twice is harmless: a package already verified at the endpoint is not sent
again (unless forced), and a forced resend finds the whole file there and sends nothing. A
correction is another revision, another package name: the ministry keeps both and the newer one's
manifest says which it supersedes. Nothing is lost when the endpoint is down: the package stays
in the reports folder and the run stays unpublished until a send is verified.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ncms import log
from ncms.config import MinistryEndpoint, Settings
from ncms.db import session_scope
from ncms.errors import NcmsError
from ncms.models import ReportRun, ReportStatus
from ncms.models.report import ReportSend, SendOutcome

from .registry import BUILT, MINISTRY_LANG, package_path

logger = logging.getLogger(__name__)
MAX_RETRY_DELAY = 6 * 3600  # seconds: a failed send is tried again at least this often
STALE_SENDING = timedelta(hours=1)  # a send still 'sending' after this long died with its process
READ_BLOCK = 1 << 20
Clock = Callable[[], datetime]


class PublishError(NcmsError):
    """A report that cannot be sent as asked (no endpoint, not built, its package gone)."""


@dataclass(frozen=True)
class Outcome:
    """What one call to ``publish_run`` did."""

    run_id: int
    send_id: int | None  # None: nothing was pushed (already at the ministry)
    outcome: SendOutcome
    error: str | None = None
    retry_at: datetime | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def endpoint_of(settings: Settings) -> MinistryEndpoint:
    if settings.ministry is None:
        raise PublishError("no ministry endpoint is configured: set NCMS_MINISTRY_HOST, _USER, _KEY and "
                           "_KNOWN_HOSTS, or a [ministry] table in the instance file (docs/reports.md)")
    return settings.ministry


def remote_path(endpoint: MinistryEndpoint, package: str) -> str:
    folder = endpoint.remote_dir.strip().rstrip("/")
    return f"{folder}/{package}" if folder else package


def retry_delay(endpoint: MinistryEndpoint, failures: int) -> timedelta:
    """How long after its ``failures``-th failure in a row a send is tried again."""
    return timedelta(seconds=min(MAX_RETRY_DELAY, endpoint.retry_after * 2 ** max(0, failures - 1)))


def publish_run(engine: Engine, settings: Settings, run_id: int, *, requested_by: str | None = None,
                force: bool = False, clock: Clock = _now) -> Outcome:
    """Send one built revision to the ministry, record the send, and say what came of it.

    A package already verified at this endpoint is not sent again unless ``force``. A failure
    (the endpoint down, the link cut more often than the retries allow, a checksum that differs
    after upload) is recorded with its error and retry time and returned, not raised."""
    endpoint = endpoint_of(settings)
    where = endpoint.label
    with session_scope(engine) as session:
        run = _sendable(session, settings, run_id)
        done = _verified_send(session, run, where)
        if done is not None and not force:
            return Outcome(run.id, None, SendOutcome.ALREADY_SENT)
        send = _begin(session, run, endpoint, requested_by, clock())
        send_id, package, digest = send.id, settings.reports_dir / run.folder / run.package, run.package_sha256
        target = send.remote_path
    try:
        result, verified = _push_and_verify(endpoint, package, target)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded; the caller gets it as an outcome
        if not _is_failure_to_record(exc):
            raise
        return _record_failure(engine, endpoint, run_id, send_id, f"{type(exc).__name__}: {exc}", clock)
    if verified != digest:
        return _record_failure(engine, endpoint, run_id, send_id,
                               f"checksum after upload: the server's {target} has SHA-256 {verified}, not the "
                               f"package's {digest}: a different file of that name is there", clock,
                               verified=verified)
    outcome = SendOutcome.ALREADY_SENT if result.bytes_sent == 0 and result.last_offset > 0 else SendOutcome.SENT
    with session_scope(engine) as session:
        send = session.get(ReportSend, send_id)
        send.outcome, send.verified_sha256, send.finished_at = outcome, verified, clock()
        send.bytes_sent, send.resumed_from, send.connections = result.bytes_sent, result.last_offset, result.attempts
        run = session.get(ReportRun, run_id)
        run.status = ReportStatus.PUBLISHED
        run.published_at = run.published_at or send.finished_at
    log.event(logger, "report.sent", run=run_id, send=send_id, endpoint=where, outcome=outcome.value,
              bytes=result.bytes_sent, resumed_from=result.last_offset, connections=result.attempts,
              seconds=round(result.seconds, 2))
    return Outcome(run_id, send_id, outcome)


def _sendable(session: Session, settings: Settings, run_id: int) -> ReportRun:
    run = session.scalar(select(ReportRun).where(ReportRun.id == run_id).with_for_update())
    if run is None:
        raise PublishError(f"no report run {run_id}: `ncms report list` shows them")
    if run.status not in BUILT:
        raise PublishError(f"report run {run_id} is {run.status.value}, not built: only a built report is sent")
    if package_path(settings, run) is None:
        raise PublishError(f"report run {run_id}: its package {settings.reports_dir / (run.folder or '')}/"
                           f"{run.package} is missing: build the report again")
    return run


def _verified_send(session: Session, run: ReportRun, where: str) -> ReportSend | None:
    return session.scalar(select(ReportSend).where(
        ReportSend.run_id == run.id, ReportSend.endpoint == where, ReportSend.sha256 == run.package_sha256,
        ReportSend.outcome.in_((SendOutcome.SENT, SendOutcome.ALREADY_SENT))).limit(1))


def _begin(session: Session, run: ReportRun, endpoint: MinistryEndpoint, requested_by: str | None,
           now: datetime) -> ReportSend:
    """The send's row, committed before the push; a send of this run still going is refused, and
    one left 'sending' by a process that died is closed as failed."""
    for other in session.scalars(select(ReportSend).where(ReportSend.run_id == run.id,
                                                          ReportSend.outcome == SendOutcome.SENDING)):
        if now - other.started_at < STALE_SENDING:
            raise PublishError(f"report run {run.id} is being sent already (send {other.id}, since "
                               f"{other.started_at:%Y-%m-%d %H:%M} UTC)")
        other.outcome, other.finished_at = SendOutcome.FAILED, now
        other.error, other.retry_at = "interrupted: the process sending it ended mid-push", now
    attempt = 1 + (session.scalar(select(func.max(ReportSend.attempt)).where(ReportSend.run_id == run.id)) or 0)
    send = ReportSend(run_id=run.id, attempt=attempt, endpoint=endpoint.label,
                      remote_path=remote_path(endpoint, run.package), sha256=run.package_sha256,
                      outcome=SendOutcome.SENDING, started_at=now, requested_by=requested_by)
    session.add(send)
    session.flush()
    return send


def _push_and_verify(endpoint: MinistryEndpoint, package, target: str):  # type: ignore[no-untyped-def]
    """Push (resuming what the server holds), then read the whole file back and hash it."""
    from gateway.client import connect, load_key, push

    if not endpoint.known_hosts.is_file():
        raise PublishError(f"the ministry's host key file {endpoint.known_hosts} does not exist: ask the "
                           "ministry for its host key (a known_hosts line) and save it there")
    result = push(package, endpoint.host, endpoint.port, endpoint.user, endpoint.key,
                  known_hosts=endpoint.known_hosts, retries=endpoint.retries, backoff=endpoint.backoff,
                  sidecar=True, remote_dir=target.rpartition("/")[0])
    with connect(endpoint.host, endpoint.port, endpoint.user, load_key(endpoint.key),
                 known_hosts=endpoint.known_hosts) as sftp:
        digest = hashlib.sha256()
        with sftp.open(target, "rb") as remote:
            remote.prefetch()
            while block := remote.read(READ_BLOCK):
                digest.update(block)
    return result, digest.hexdigest()


def _is_failure_to_record(exc: BaseException) -> bool:
    """Failures of the outside world (network, server, keys, files): recorded and retried.
    A bug of ours is raised as it is."""
    import paramiko

    from gateway.client import TransferError

    return isinstance(exc, (TransferError, PublishError, OSError, EOFError, paramiko.SSHException))


def _record_failure(engine: Engine, endpoint: MinistryEndpoint, run_id: int, send_id: int, error: str,
                    clock: Clock, verified: str | None = None) -> Outcome:
    now = clock()
    with session_scope(engine) as session:
        failures = _failures_in_a_row(session, run_id, endpoint.label) + 1
        send = session.get(ReportSend, send_id)
        send.outcome, send.error, send.finished_at = SendOutcome.FAILED, error[:4000], now
        send.verified_sha256, send.retry_at = verified, now + retry_delay(endpoint, failures)
        retry_at = send.retry_at
    log.event(logger, "report.send_failed", level=logging.WARNING, run=run_id, send=send_id,
              endpoint=endpoint.label, error=error, failures=failures, retry_at=retry_at.isoformat())
    return Outcome(run_id, send_id, SendOutcome.FAILED, error, retry_at)


def _failures_in_a_row(session: Session, run_id: int, where: str) -> int:
    n = 0
    for outcome in session.scalars(select(ReportSend.outcome).where(
            ReportSend.run_id == run_id, ReportSend.endpoint == where,
            ReportSend.outcome != SendOutcome.SENDING).order_by(ReportSend.attempt.desc())):
        if outcome != SendOutcome.FAILED:
            break
        n += 1
    return n


# -- what is due ----------------------------------------------------------------------------
def pending(session: Session, settings: Settings, *, now: datetime | None = None,
            due_only: bool = True) -> list[ReportRun]:
    """The reports the ministry should have and does not: the current revision (the newest
    built) of every Chinese report, not yet verified at the endpoint; with ``due_only``, only
    those never sent or whose last failure's retry time has come."""
    endpoint = endpoint_of(settings)
    now = now or _now()
    newest = (select(ReportRun.kind, ReportRun.period_start, ReportRun.period_end, ReportRun.scope,
                     func.max(ReportRun.revision).label("revision"))
              .where(ReportRun.status.in_(BUILT), ReportRun.lang == MINISTRY_LANG)
              .group_by(ReportRun.kind, ReportRun.period_start, ReportRun.period_end, ReportRun.scope).subquery())
    runs = session.scalars(select(ReportRun).join(newest, (ReportRun.kind == newest.c.kind)
                                                  & (ReportRun.period_start == newest.c.period_start)
                                                  & (ReportRun.period_end == newest.c.period_end)
                                                  & (ReportRun.scope == newest.c.scope)
                                                  & (ReportRun.revision == newest.c.revision))
                           .where(ReportRun.lang == MINISTRY_LANG)
                           .order_by(ReportRun.period_start, ReportRun.kind, ReportRun.scope)).all()
    out = []
    for run in runs:
        if _verified_send(session, run, endpoint.label) is not None:
            continue
        last = session.scalar(select(ReportSend).where(ReportSend.run_id == run.id)
                              .order_by(ReportSend.attempt.desc()).limit(1))
        if due_only and last is not None and last.outcome == SendOutcome.FAILED and last.retry_at \
                and last.retry_at > now:
            continue
        if last is not None and last.outcome == SendOutcome.SENDING and now - last.started_at < STALE_SENDING:
            continue
        out.append(run)
    return out


def publish_pending(engine: Engine, settings: Settings, *, requested_by: str | None = None,
                    due_only: bool = True, clock: Clock = _now) -> list[Outcome]:
    """Send every pending report (``pending``), one after another; each outcome recorded."""
    with session_scope(engine) as session:
        ids = [run.id for run in pending(session, settings, now=clock(), due_only=due_only)]
    return [publish_run(engine, settings, run_id, requested_by=requested_by, clock=clock) for run_id in ids]
