"""``ncms indicators``: the indicators of docs/indicators.md per county and for the province
(``show``), and their summary tables rebuilt from the claims (``refresh``)."""
from __future__ import annotations

import csv
import json
import sys
import time
from decimal import Decimal
from typing import Any

import click

from . import Context, pass_context
from .db import require_migrated
from .options import OptionError, check_counties
from .terminal import fit

RATES = ("_rate", "_ratio", "_share")  # fields holding one of these are shown as percentages in the table


@click.group("indicators")
def indicators_group() -> None:
    """The ministry's indicators (docs/indicators.md): `ncms indicators show` prints them,
    `ncms indicators refresh` rebuilds the summary tables they are read from."""


@indicators_group.command("show")
@click.option("--county", "counties", multiple=True, help="A county code (repeatable; default: every county).")
@click.option("--period", help="A year (2011), a quarter (2011-Q3) or a month (2011-07); "
                               "default: the year of the newest claim settled.")
@click.option("--format", "fmt", type=click.Choice(("table", "csv", "json")), default="table", show_default=True,
              help="A table to read (an indicator a line, a county a column), or CSV or JSON rows to keep.")
@pass_context
def show_command(obj: Context, counties: tuple[str, ...], period: str | None, fmt: str) -> None:
    """Each county's indicators and their total (the province's, when every county is shown),
    its rates recomputed from its sums."""
    from ncms.db import session_scope
    from ncms.indicators import FIELD_NAMES, as_row, indicators

    require_migrated(obj)
    check_counties(obj.engine, counties)
    with session_scope(obj.engine) as session:
        chosen = _period(session, period)
        table = indicators(session, chosen, list(counties) or None)
    rows = [as_row(row) for row in table.counties]
    if len(rows) != 1:
        rows.append(as_row(table.total))
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(FIELD_NAMES)
        writer.writerows([("" if v is None else v) for v in row.values()] for row in rows)
    elif fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1, default=str))
    else:
        _table(rows)


@indicators_group.command("refresh")
@click.option("--county", "counties", multiple=True, help="A county code (repeatable; default: every county).")
@pass_context
def refresh_command(obj: Context, counties: tuple[str, ...]) -> None:
    """Rebuild the summary tables from the claims, enrolments and findings (ingestion and
    monitoring keep them as they go; this recomputes them whole)."""
    from ncms.db import session_scope
    from ncms.indicators import rebuild

    require_migrated(obj)
    check_counties(obj.engine, counties)
    started = time.perf_counter()
    with session_scope(obj.engine) as session:
        done = rebuild(session, list(counties) or None)
    for county in done:
        click.echo(f"{county.county_code}: claim months and {len(county.years)} enrolment year(s) "
                   f"in {county.seconds:.2f} s")
    click.echo(f"refreshed {len(done)} county(ies) and the findings in {time.perf_counter() - started:.2f} s")


def _period(session: Any, text: str | None) -> Any:
    import sqlalchemy as sa

    from ncms.indicators import Period, PeriodError
    from ncms.models import CountyMonth

    if text:
        try:
            return Period.parse(text)
        except PeriodError as exc:
            raise OptionError(f"--period: {exc}") from None
    newest = session.scalar(sa.select(sa.func.max(CountyMonth.year)).where(CountyMonth.claims > 0))
    if newest is None:
        raise OptionError("--period: no claim is loaded to take the year from; give one (2011, 2011-Q3, 2011-07)")
    return Period("year", newest)


def _table(rows: list[dict[str, Any]]) -> None:
    """An indicator a line, a county a column."""
    widths = [42] + [-14] * len(rows)
    click.echo(_line(["indicator", *(row["county"] for row in rows)], widths))
    for name in rows[0]:
        if name in ("county",):
            continue
        click.echo(_line([name, *(_shown(name, row[name]) for row in rows)], widths))


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal) and any(mark in name for mark in RATES):
        return f"{value * 100:,.2f} %"
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _line(values: list[Any], widths: list[int]) -> str:
    return " ".join(fit(str(v), w) for v, w in zip(values, widths, strict=True)).rstrip()
