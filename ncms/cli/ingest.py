"""``ncms ingest``: load data packages, and see which county is late."""
from __future__ import annotations

import json
import threading
import zipfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ncms.db import session_scope
from ncms.ingest.parallel import by_county
from ncms.ingest.status import judge_all, timeliness

from . import Context, pass_context
from .db import require_migrated
from .options import check_counties
from .terminal import columns

if TYPE_CHECKING:
    from ncms.ingest import IngestResult


class DefaultGroup(click.Group):
    """A group whose first argument, when it is no subcommand, goes to ``default_command``."""

    default_command = "packages"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


@click.group("ingest", cls=DefaultGroup)
def ingest_group() -> None:
    """Validate and load data packages: `ncms ingest PACKAGE…`, `ncms ingest status`."""


@ingest_group.command("packages")
@click.argument("packages", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--county", help="The county that sent the packages (default: the county in each manifest).")
@click.option("--inbox", is_flag=True, help="Load every complete package the gateway left in the spool inboxes.")
@click.option("--jobs", type=click.IntRange(min=1), help="Counties loaded side by side (default: NCMS_INGEST_JOBS, "
              "or one per core on PostgreSQL; SQLite loads one at a time).")
@pass_context
def packages_command(obj: Context, packages: tuple[Path, ...], county: str | None, inbox: bool,
                     jobs: int | None) -> None:
    """Load PACKAGES (or, with --inbox, the spool); each gets a batch and a receipt in its county's outbox.

    Packages of one county load in the order given; different counties load side by side."""
    from ncms.ingest import ingest_package  # polars and the pipeline: not for --help

    require_migrated(obj)
    obj.settings.ensure_dirs()
    if inbox == bool(packages):
        raise click.UsageError("give PACKAGE files or --inbox (not both)")
    recover_and_report(obj)
    jobs = obj.settings.loading_jobs(jobs)
    if inbox:
        return _ingest_inbox(obj, county, jobs)
    manifests = {path: _manifest(path) for path in packages}
    total = sum(_declared_rows(m) for m in manifests.values())
    label = packages[0].name if len(packages) == 1 else f"{len(packages)} packages"
    with click.progressbar(length=total, label=label, show_pos=True, show_eta=True,
                           item_show_func=lambda _: None) as bar:
        lock = threading.Lock()

        def progress(rows: int) -> None:
            with lock:
                bar.update(rows)

        def load(path: Path) -> IngestResult:
            return ingest_package(obj.engine, obj.settings, path, sender=county, progress=progress)

        def done(path: Path, result: IngestResult) -> None:
            rate = result.rows_read / result.seconds if result.seconds else 0
            click.echo(f"\n{path.name}: batch {result.batch_id} {result.status.value} — {result.rows_read} rows read, "
                       f"{result.rows_loaded} loaded, {result.rows_rejected} refused in {result.seconds:.1f} s "
                       f"({rate:,.0f} rows/s); receipt {result.receipt}")
            if result.error:
                click.echo(f"  refused: {result.error}")

        keyed = [(county or manifests[p].get("county_code") or p, p) for p in packages]
        results = by_county(keyed, load, jobs=jobs, on_done=done,
                            size=lambda p: _declared_rows(manifests[p]) or p.stat().st_size)
    failed = sum(r.refused for r in results)
    if failed:
        raise click.ClickException(f"{failed} of {len(packages)} package(s) refused; see the receipts")


def recover_and_report(obj: Context) -> None:
    """Put right what runs that died left behind (``ncms.ingest.recovery.recover``), and say so."""
    from ncms.ingest.recovery import recover

    recovery = recover(obj.engine, obj.settings)
    for b in recovery.failed:
        click.echo(f"batch {b.batch_id} ({b.county_code} {b.filename}) was left loading by {b.owner_text}, "
                   "which died: marked failed", err=True)
    for batch_id in recovery.receipts:
        click.echo(f"batch {batch_id}: wrote the receipt its loader died before writing", err=True)
    if recovery.folders:
        click.echo(f"removed {len(recovery.folders)} work folder(s) of runs that died", err=True)


def _ingest_inbox(obj: Context, county: str | None, jobs: int) -> None:
    from ncms.ingest.inbox import ingest_inbox

    if county:  # else an unknown county's inbox is only found empty
        check_counties(obj.engine, [county])

    def report(path: Path, result) -> None:  # type: ignore[no-untyped-def]
        click.echo(f"{result.county_code}/{path.name}: batch {result.batch_id} {result.status.value} — "
                   f"{result.rows_loaded} loaded, {result.rows_rejected} refused"
                   + (f"; refused: {result.error}" if result.error else ""))

    results = ingest_inbox(obj.engine, obj.settings, county=county, on_result=report, jobs=jobs)
    click.echo(f"{len(results)} package(s) taken from the inbox")


def _manifest(path: Path) -> dict[str, Any]:
    """The manifest as announced, for the progress bar and for grouping packages by county
    only (the reader checks it properly); {} when it cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json")[: 1 << 20])
        return manifest if isinstance(manifest, dict) else {}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return {}


def _declared_rows(manifest: dict[str, Any]) -> int:
    try:
        return sum(int(f.get("rows", 0)) for f in manifest.get("files", []))
    except (TypeError, ValueError, AttributeError):
        return 0


@ingest_group.command("status")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Judge lateness on this day instead of today, e.g. 2012-02-01.")
@pass_context
def status_command(obj: Context, as_of: Any) -> None:
    """Each county's newest package and period, how many periods it is behind its expected
    cadence (province.yaml), any package that never arrived, and the batches still loading
    (alive, or left by a run that died)."""
    from ncms.reference import read_province

    require_migrated(obj)
    today = as_of.date() if as_of else date.today()
    cadence = read_province(obj.settings.config_dir).cadence
    with session_scope(obj.engine) as session:
        statuses = timeliness(session)
    judged = judge_all(statuses, cadence, today)
    click.echo(f"{'county':<16} {'mode':<8} {'batches':>7} {'last seq':>8} {'period end':<11} {'due':<8} "
               f"{'behind':<38} problems")
    for s in statuses:
        problems, lateness = [], judged[s.county_code]
        if lateness.late:
            problems.append("late")
        if s.missing_sequences:
            problems.append("missing " + _ranges(s.missing_sequences))
        if s.refused_sequences:
            problems.append("refused " + _ranges(s.refused_sequences))
        click.echo(f"{_pad(s.county_code + ' ' + s.name, 16)} {s.mode.value:<8} {s.batches:>7} {s.last_sequence or '-':>8} "
                   f"{(s.last_period_end.isoformat() if s.last_period_end else '-'):<11} "
                   f"{lateness.cadence.label(lateness.due):<8} {lateness.describe():<38} {'; '.join(problems)}")
    _show_stuck(obj)


def _show_stuck(obj: Context) -> None:
    """Batches still ``loading``: being loaded now, or left by a run that died (the next
    ``ncms ingest`` or ``ncms etl`` marks those failed)."""
    from ncms.ingest.recovery import stuck_batches

    stuck = stuck_batches(obj.engine, obj.settings)
    if not stuck:
        return
    click.echo(f"\nbatches loading: {len(stuck)}")
    click.echo(f"{'county':<7} {'batch':>6} {'file':<28} {'since':<20} {'owner':<30} loader")
    for b in stuck:
        since = b.since.strftime("%Y-%m-%d %H:%M:%S") if b.since else "-"
        click.echo(f"{b.county_code:<7} {b.batch_id:>6} {(b.filename or '-'):<28} {since:<20} {b.owner_text:<30} "
                   + ("alive" if b.alive else "dead: the next `ncms ingest` or `ncms etl` marks it failed"))


def _ranges(numbers: list[int]) -> str:
    out, start = [], None
    for i, n in enumerate(numbers):
        start = n if start is None else start
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            out.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(out)


def _pad(text: str, width: int) -> str:
    """Left-align for a terminal, where a Chinese character takes two columns."""
    return text + " " * max(0, width - columns(text))
