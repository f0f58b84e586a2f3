"""``ncms report``: build a report to the ministry (``build``), list those built (``list``), send them (``publish``).

The ``ncms`` command finds this group through the ``ncms.commands`` entry point (setup.cfg), not
by importing ``reports``: ``ncms`` never imports it by name (docs/architecture.md). Like every
command module, this one imports its heavy parts (WeasyPrint, lxml) inside the commands, so
`ncms --help` pays for none of them."""
from __future__ import annotations

import click

from ncms.cli import Context, UsageError, pass_context

KIND_CHOICE = click.Choice(("monthly", "quarterly", "annual"))


@click.group("report")
def report_group() -> None:
    """Reports to the ministry (docs/reports.md): a PDF, CSV and XML statistics and their
    manifest, packed for the ministry; each build a new revision."""


@report_group.command("build")
@click.option("--kind", type=KIND_CHOICE, required=True,
              help="monthly (operations), quarterly (operations) or annual (fund supervision).")
@click.option("--period", required=True, help="The report's month (2011-07), quarter (2011-Q2) or year (2011).")
@click.option("--county", help="One county's report (default: the province, with a section per county).")
@click.option("--lang", type=click.Choice(("zh", "en")), default="zh", show_default=True,
              help="The PDF's language (the statistics files are the same in both).")
@pass_context
def build_command(obj: Context, kind: str, period: str, county: str | None, lang: str) -> None:
    """Build a new revision of a report: content from the indicators, the PDF, the statistics,
    the manifest (naming the revision it supersedes) and the package."""
    from ncms.cli.db import require_migrated
    from ncms.cli.options import check_counties
    from ncms.indicators import Period, PeriodError

    from .build import Timings, build_report

    try:
        chosen = Period.parse(period)
    except PeriodError as exc:
        raise UsageError(f"--period: {exc}") from None
    require_migrated(obj)
    check_counties(obj.engine, [county] if county else [])
    timings = Timings()
    try:
        run = build_report(obj.engine, obj.settings, kind, chosen, county, lang, requested_by="cli",
                           timings=timings)
    except ValueError as exc:  # a period of another kind, a language, a county with no data
        raise UsageError(str(exc)) from None
    folder = obj.settings.reports_dir / run.folder
    click.echo(f"built {kind} report {chosen.label} of {county or 'the province'} ({lang}), revision "
               f"{run.revision}{f', superseding run {run.supersedes_id}' if run.supersedes_id else ''}")
    click.echo(f"  folder:  {folder}")
    click.echo(f"  package: {run.package} ({len(run.outputs or {})} files, sha256 {run.package_sha256[:16]}…)")
    click.echo(f"  in {timings.total:.1f} s: content {timings.content:.1f} s, PDF {timings.pdf:.1f} s, "
               f"statistics {timings.statistics:.1f} s")


@report_group.command("list")
@click.option("--kind", type=KIND_CHOICE, help="Only reports of this kind.")
@click.option("--period", help="Only reports of this period (2011-Q2).")
@click.option("--county", help="Only this county's reports; `province` for the province's.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="At most so many, newest first.")
@pass_context
def list_command(obj: Context, kind: str | None, period: str | None, county: str | None, limit: int) -> None:
    """Every revision built, newest period first: its status, when it was built, its package,
    and whether the ministry has it."""
    from ncms.cli.db import require_migrated
    from ncms.cli.terminal import fit
    from ncms.db import session_scope
    from ncms.indicators import Period, PeriodError

    from .registry import delivered, list_runs, period_of, sends_of

    try:
        chosen = Period.parse(period) if period else None
    except PeriodError as exc:
        raise UsageError(f"--period: {exc}") from None
    require_migrated(obj)
    with session_scope(obj.engine) as session:
        runs = list_runs(session, kind=kind, period=chosen, county=county, limit=limit)
        sends = sends_of(session, [r.id for r in runs])
        lines = []
        for r in runs:
            last = sends[r.id][0] if sends[r.id] else None
            sent = "sent" if delivered(last) else (last.outcome.value if last else "-")
            built = r.finished_at.strftime("%Y-%m-%d %H:%M") if r.finished_at else "-"
            lines.append([str(r.id), r.kind, period_of(r).label, r.scope, r.lang, f"r{r.revision}",
                          r.status.value, built, sent, r.package or (r.error or "")[:60]])
    if not lines:
        click.echo("no report built yet: `ncms report build --kind quarterly --period 2011-Q2`")
        return
    head = ["id", "kind", "period", "area", "lang", "rev", "status", "built (UTC)", "ministry", "package"]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head[:-1])]
    for line in [head, *lines]:
        click.echo("  ".join(fit(cell, w) for cell, w in zip(line, widths)) + "  " + line[-1])


@report_group.command("publish")
@click.argument("run_ids", nargs=-1, type=int)
@click.option("--force", is_flag=True, help="Send a report again even though the ministry has it verified.")
@click.option("--all-pending", "everything", is_flag=True,
              help="Also the pending reports whose failed send is not due for its retry yet.")
@pass_context
def publish_command(obj: Context, run_ids: tuple[int, ...], force: bool, everything: bool) -> None:
    """Send reports to the ministry's SFTP endpoint (NCMS_MINISTRY_*, docs/reports.md): the runs
    named by id, or else every pending one (the newest revision of each Chinese report that the
    ministry does not have verified, its retry due). Each send is resumed after a cut, its
    checksum read back, and recorded; a failure is retried later with backoff."""
    from ncms.cli.db import require_migrated

    from .publish import PublishError, publish_pending, publish_run

    require_migrated(obj)
    try:
        if run_ids:
            outcomes = [publish_run(obj.engine, obj.settings, i, requested_by="cli", force=force) for i in run_ids]
        else:
            outcomes = publish_pending(obj.engine, obj.settings, requested_by="cli", due_only=not everything)
    except PublishError as exc:
        raise UsageError(str(exc)) from None
    if not outcomes:
        click.echo("nothing to publish: the ministry has every report's newest revision (`ncms report list`)")
    for o in outcomes:
        if o.error:
            click.echo(f"run {o.run_id}: failed: {o.error}; tried again from {o.retry_at:%Y-%m-%d %H:%M} UTC")
        elif o.send_id is None:
            click.echo(f"run {o.run_id}: the ministry has it already (verified); --force sends it again")
        else:
            click.echo(f"run {o.run_id}: {o.outcome.value.replace('_', ' ')}, checksum verified (send {o.send_id})")
    if any(o.error for o in outcomes):
        raise SystemExit(1)
