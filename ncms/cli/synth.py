"""``ncms synth``: write a synthetic province as county packages, with its ground truth."""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import click

from ncms import log

from . import Context, UsageError, pass_context

logger = logging.getLogger("ncms.synth")


def parse_years(value: str) -> tuple[int, ...]:
    """``2011``, ``2010-2012`` or ``2010,2011``."""
    text = value.strip()
    if match := re.fullmatch(r"(\d{4})\s*-\s*(\d{4})", text):
        first, last = int(match[1]), int(match[2])
        if first > last:
            raise ValueError(f"{text}: the first year is after the last")
        return tuple(range(first, last + 1))
    if re.fullmatch(r"\d{4}(\s*,\s*\d{4})*", text):
        return tuple(sorted({int(y) for y in text.split(",")}))
    raise ValueError(f"{text!r}: give a year (2011), a range (2010-2012) or a list (2010,2011)")


def _years(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return parse_years(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc


@click.command("synth")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the packages (default: <data folder>/synth).")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same packages.")
@click.option("--claims", type=click.IntRange(min=1), default=50_000, show_default=True, help="Claims to generate (±1 %).")
@click.option("--years", default="2011", show_default=True, callback=_years, help="A year, a range 2010-2012 or a list.")
@click.option("--misuse-rate", type=click.FloatRange(0, 0.5), default=0.01, show_default=True,
              help="Share of claims with injected misuse, spread over every rule family.")
@click.option("--anomalous", type=click.IntRange(min=0), default=3, show_default=True,
              help="Institutions that behave abnormally against their peers.")
@click.option("--malformed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Rows broken on purpose, for the validator to refuse.")
@click.option("--months-per-package", type=click.IntRange(1, 12), default=3, show_default=True)
@click.option("--encoding", type=click.Choice(["UTF-8", "GB18030"]), default="UTF-8", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "xml"]), default="csv", show_default=True)
@pass_context
def synth_command(obj: Context, out_dir: Path | None, seed: int, claims: int, years: tuple[int, ...],
                  misuse_rate: float, anomalous: int, malformed: int, months_per_package: int,
                  encoding: str, fmt: str) -> None:
    """Generate a synthetic province with labelled misuse and write it as county packages."""
    from ncms.reference import read_reference
    from ncms.synth import generate, write_packages

    out_dir = out_dir or obj.settings.data_dir / "synth"
    reference = read_reference(obj.settings.config_dir)
    click.echo(f"generating {claims} claims for {len(reference.counties)} counties, "
               f"{years[0]}-{years[-1]}, seed {seed} …")
    started = time.perf_counter()
    try:
        province = generate(reference, seed=seed, claims=claims, years=years, misuse_rate=misuse_rate,
                            anomalous_institutions=anomalous, malformed=malformed)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    speed = claims / max(time.perf_counter() - started, 1e-9)
    counties = province.frames["member"]["county_code"].n_unique()
    expected = counties * -(-12 * len(years) // months_per_package)
    with click.progressbar(length=expected, label=f"writing packages to {out_dir}") as bar:
        paths = write_packages(province, out_dir, months_per_package=months_per_package, encoding=encoding,
                               fmt=fmt, on_package=lambda _: bar.update(1))
    _summary(province, paths, speed)
    log.event(logger, "synth.done", out_dir=str(out_dir), seed=seed, claims=province.frames["claim"].height,
              packages=len(paths), claims_per_second=round(speed))


def _summary(province, paths: list[Path], speed: float) -> None:
    frames = province.frames
    click.echo(f"claims {frames['claim'].height}, items {frames['claim_item'].height}, "
               f"members {frames['member'].height}, enrolments {frames['enrolment'].height}, "
               f"packages {len(paths)}")
    counts = province.truth.group_by("family").len().sort("family")
    click.echo(f"ground truth: {province.truth.height} cases")
    for family, n in counts.iter_rows():
        click.echo(f"  {family:32s} {n}")
    click.echo(f"generation speed: {speed:,.0f} claims/s")
