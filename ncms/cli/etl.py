"""``ncms etl``: extract from centralised counties' databases and load what changed."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from . import Context, pass_context
from .db import require_migrated
from .options import OptionError, parse_time

if TYPE_CHECKING:
    from ncms.ingest.etl import EtlResult


@click.command("etl")
@click.argument("counties", nargs=-1)
@click.option("--all", "all_counties", is_flag=True, help="Every county whose mode is etl in config/province.yaml, less those with delivery: packages.")
@click.option("--since", help="Backfill from this update time (inclusive), e.g. '2011-03-01'; the stored "
              "watermark does not move. Only update-time streams are read: sequence and compared streams are skipped.")
@click.option("--until", help="Stop at this update time (inclusive); sequence and compared streams are skipped.")
@click.option("--full", is_flag=True, help="Re-read everything, then leave the watermark at the end.")
@click.option("--jobs", type=click.IntRange(min=1), help="Counties extracted side by side (SQLite: one).")
@pass_context
def etl_command(obj: Context, counties: tuple[str, ...], all_counties: bool, since: str | None, until: str | None,
                full: bool, jobs: int | None) -> None:
    """Extract what changed in each county's database since its watermark, validate and load it.

    The database URL of county C is read from the variable its mapping names
    (config/mappings/C.yaml, source.env). Every window becomes a batch with a receipt."""
    from ncms.ingest.etl import etl_counties  # polars and the pipeline: not for --help

    if all_counties == bool(counties):
        raise OptionError("give COUNTY codes or --all (not both)")
    if full and since:
        raise OptionError("--full re-reads everything: it takes no --since")
    first, last = parse_time(since, "--since"), parse_time(until, "--until")
    if first and last and first > last:
        raise OptionError(f"--since {since} is after --until {until}: give the range's start first")
    require_migrated(obj)
    obj.settings.ensure_dirs()
    from .ingest import recover_and_report  # batches and work folders of runs that died
    recover_and_report(obj)
    if all_counties:
        from ncms.doctor import extracted_counties  # mode etl, less those that send packages

        counties = tuple(sorted(extracted_counties(obj.settings)))

    def progress(county: str, record_type: str, rows: int) -> None:
        click.echo(f"{county} {record_type}: {rows:,} rows extracted", err=True)

    def done(county: str, result: EtlResult) -> None:
        for batch in result.batches:
            click.echo(f"{county}: batch {batch.batch_id} {batch.status.value} — {batch.rows_read:,} rows read, "
                       f"{batch.rows_loaded:,} loaded, {batch.rows_rejected:,} refused; receipt {batch.receipt}")
        marks = ", ".join(f"{stream} {value or '-'}" for stream, value in result.watermarks.items())
        click.echo(f"{county}: {len(result.batches)} batch(es), {result.rows_read:,} rows read, "
                   f"{result.rows_rejected:,} refused in {result.seconds:.1f} s; watermarks: {marks}")

    results = etl_counties(obj.engine, obj.settings, list(counties), jobs=jobs, on_result=done,
                           since=since, until=until, full=full, progress=progress)
    click.echo(f"{len(results)} county(ies) extracted: {sum(r.rows_read for r in results):,} rows read, "
               f"{sum(r.rows_loaded for r in results):,} loaded, {sum(r.rows_rejected for r in results):,} refused")
