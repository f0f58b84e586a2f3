"""``ncms scheme simulate``: the county's claims of a base year recomputed under candidate
schemes, beside its own scheme, and the next year's fund under each (docs/simulation.md)."""
from __future__ import annotations

import csv
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from . import Context, UsageError, pass_context
from .db import require_migrated
from .options import check_counties
from .terminal import columns, fit


@click.group("scheme")
def scheme_group() -> None:
    """Compensation schemes (补偿方案): `ncms scheme simulate` tests candidates on a year's claims."""


def _decimal(option: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text.strip().rstrip("%")) / (100 if text.strip().endswith("%") else 1)
    except InvalidOperation:
        raise UsageError(f"{option}: {text!r} is not a number; allowed: e.g. 300.00, or 0.05 / 5% for growth")
    if not value.is_finite():
        raise UsageError(f"{option}: {text!r} is not a number")
    return value


@scheme_group.command("simulate")
@click.option("--county", "counties", multiple=True, help="A county code (repeatable; default: every county).")
@click.option("--base-year", type=int, required=True, help="The year whose claims are recomputed.")
@click.option("--per-head", help="Next year's financing per member enrolled, yuan (default: the base year's).")
@click.option("--growth", help="Utilisation growth to next year: 0.05 or 5% (default: the last two years' trend).")
@click.option("--format", "fmt", type=click.Choice(("table", "csv", "json")), default="table", show_default=True,
              help="A table to read (a figure a line, a scheme a column), or CSV or JSON to keep.")
@click.argument("candidates", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def simulate_command(obj: Context, counties: tuple[str, ...], base_year: int, per_head: str | None,
                     growth: str | None, fmt: str, candidates: tuple[Path, ...]) -> None:
    """Recompute every claim of the base year under each candidate in CANDIDATES (YAML files:
    config/candidate-scheme.example.yaml) and under the county's own scheme, and print them side
    by side with the balance rules passed or failed."""
    from ncms.db import session_scope
    from ncms.simulation import read_candidates, simulate
    from ncms.simulation.table import facts, rows, shown

    chosen = [c for path in candidates for c in read_candidates(path)]  # a ConfigError names file and line
    names = [c.name for c in chosen]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"candidate {', '.join(twice)} is named in more than one file; allowed: each name once")
    require_migrated(obj)
    check_counties(obj.engine, counties)
    with session_scope(obj.engine) as session:
        results = simulate(session, list(counties) or None, base_year, chosen,
                           per_head_financing=_decimal("--per-head", per_head), growth=_decimal("--growth", growth))
    if fmt == "json":
        click.echo(json.dumps([dict(county=r.county_code, name=r.county_name, base_year=r.base_year,
                                    **{k: v for k, _, _, v in facts(r)},
                                    schemes={label: {row.key: (dict(passed=row.values[i][0], figure=row.values[i][1],
                                                                    threshold=row.values[i][2])
                                                               if row.unit == "check" else row.values[i])
                                                     for row in rows(r)} for i, label in enumerate(r.outcomes)},
                                    affected=[dict(member_no=m.member_no, name=m.name, paid=m.paid, due=m.due)
                                              for m in r.affected])
                               for r in results], ensure_ascii=False, indent=1, default=str))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["county", "figure", "unit", *(["scheme"] if not results else list(results[0].outcomes))])
        for r in results:
            for key, _, _, value in facts(r):
                writer.writerow([r.county_code, key, "", value])
            for row in rows(r):
                writer.writerow([r.county_code, row.key, row.unit, *(
                    ("pass" if v[0] else "fail") if row.unit == "check" else ("" if v is None else v)
                    for v in row.values)])
        return
    for r in results:
        click.echo(f"{r.county_code} {r.county_name}, claims of {r.base_year} recomputed")
        for key, en, _, value in facts(r):
            unit = "rate" if key == "growth" else "yuan" if isinstance(value, Decimal) else "text"
            click.echo(f"  {en}: {shown(value, unit)}")
        labels = list(r.outcomes)
        width = min(30, max(16, *(columns(label) + 2 for label in labels)))
        click.echo(fit("", 46) + "".join(fit(label, -width) for label in labels))
        for row in rows(r):
            click.echo(fit(row.label_en, 46) + "".join(shown(v, row.unit).rjust(width) for v in row.values))
        if r.affected:
            click.echo("  Members most affected (largest change; names masked):")
            for m in r.affected:
                click.echo(f"    {m.member_no} {m.name} paid {m.paid:,.2f}: "
                           + ", ".join(f"{label} {due:,.2f}" for label, due in m.due.items()))
        click.echo("")
