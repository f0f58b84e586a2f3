"""``ncms findings``: the findings taken out — a table to read, CSV or JSON to keep."""
from __future__ import annotations

import csv
import functools
import json
import os
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from . import Context, pass_context
from .db import require_migrated
from .options import PERIOD_HELP, OptionError, check_counties, check_rules, listed, parse_period
from .terminal import fit

if TYPE_CHECKING:
    from ncms.monitor.listing import FindingFilter

STATUSES = ("open", "sent_to_county", "county_responded", "confirmed", "dismissed", "closed")


@click.group("findings")
def findings_group() -> None:
    """The findings the rules and the anomaly model filed: `ncms findings list` to read them,
    `ncms findings export` to take them out as CSV or JSON; their review (push, answer, decide,
    recover, dismiss, reopen: docs/review.md)."""


def filters(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that choose findings, alike for list and export."""
    for option in reversed((
            click.option("--county", "counties", multiple=True, help="A county code (repeatable)."),
            click.option("--rule", "rules", multiple=True, help="A rule code (repeatable; docs/rules.md)."),
            click.option("--status", "statuses", multiple=True,
                         help=f"A status: {', '.join(STATUSES)} (repeatable; default: every status)."),
            click.option("--period", help=f"Findings whose period touches {PERIOD_HELP} (as `monitor run`)."),
            click.option("--institution", "institutions", multiple=True,
                         help="An institution code (repeatable; config/institutions.csv)."))):
        command = option(command)
    return command


@findings_group.command("list")
@filters
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=0),
              help="Show at most this many (0: all).")
@pass_context
def list_command(obj: Context, limit: int, **chosen: Any) -> None:
    """A table of the findings, oldest first: rule, status, county, institution, claim, period,
    money; then how many there are and the money at stake among them, each claim's once."""
    from ncms.monitor.listing import count_findings, finding_rows

    where = _filter(obj, **chosen)
    with obj.engine.connect() as conn:
        total = count_findings(conn, where)
        rows = list(finding_rows(conn, where, limit or None))
    widths = (-7, 24, 16, 6, 38, 15, 21, -13)
    click.echo(_line(("id", "rule", "status", "county", "institution", "claim", "period", "amount (yuan)"), widths))
    for row in rows:
        period = f"{row['period_start'] or ''}:{row['period_end'] or ''}" if row["period_start"] else "-"
        institution = " ".join(filter(None, (row["institution_code"], row["institution_name"]))) or "-"
        amount = ("fund " if row["amount_kind"] == "fund" else "") + f"{Decimal(row['amount']):,}"
        click.echo(_line((row["id"], row["rule"], row["status"], row["county"], institution, row["claim_no"] or "-",
                          period, amount), widths))
    if len(rows) < total:
        click.echo(f"shown: {len(rows):,} of {total:,} finding(s) (--limit 0 shows all; "
                   "`ncms findings export` takes them out)")
    else:
        click.echo(f"{total:,} finding(s)")
    if rows and len(rows) == total:
        stake = sum((Decimal(row["counted"] or 0) for row in rows if row["amount_kind"] != "fund"), Decimal("0"))
        click.echo(f"money at stake among them: {stake:,.2f} yuan, each claim's once (findings that still hold)")


@findings_group.command("export")
@filters
@click.option("--format", "fmt", type=click.Choice(("csv", "json")),
              help="CSV (UTF-8 with a byte-order mark, for Excel) or JSON (default: by --out's suffix, else CSV).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (default: standard output).")
@pass_context
def export_command(obj: Context, fmt: str | None, out: Path | None, **chosen: Any) -> None:
    """Every finding chosen, one row each: rule, severity, status, county, institution, claim,
    subject, period, amount (yuan, two decimals) and what it adds to the money at stake, first
    and last seen, and its evidence."""
    from ncms.monitor.listing import finding_rows

    fmt = fmt or ("json" if out is not None and out.suffix.lower() == ".json" else "csv")
    where = _filter(obj, **chosen)
    write = _write_json if fmt == "json" else _write_csv
    with obj.engine.connect() as conn:
        rows = finding_rows(conn, where)
        if out is None:
            with click.open_file("-", "w", encoding="utf-8") as stream:
                n = write(rows, stream)
        else:
            part = out.with_name(f".{out.name}.part")
            try:
                with part.open("w", encoding="utf-8", newline="") as stream:
                    n = write(rows, stream)
                os.replace(part, out)
            finally:
                part.unlink(missing_ok=True)
    if out is not None:
        click.echo(f"{n:,} finding(s) written to {out} ({fmt.upper()})", err=True)


def _filter(obj: Context, counties: tuple[str, ...], rules: tuple[str, ...], statuses: tuple[str, ...],
            period: str | None, institutions: tuple[str, ...]) -> FindingFilter:
    """The filter asked for, each value checked against what exists: a mistyped code is an
    error naming the codes there are, not an empty list."""
    from ncms.models import FindingStatus
    from ncms.monitor.listing import FindingFilter

    when = parse_period(period)
    wrong = [status for status in dict.fromkeys(statuses) if status.lower() not in STATUSES]
    if wrong:
        raise OptionError(f"--status {', '.join(wrong)}: no such status; the statuses are {', '.join(STATUSES)}")
    require_migrated(obj)
    check_counties(obj.engine, counties)
    if rules:
        check_rules(rules, _rule_codes(obj, rules))
    if institutions:
        _check_institutions(obj, institutions)
    return FindingFilter(counties=tuple(counties), rules=tuple(rules),
                         statuses=tuple(FindingStatus(s.lower()) for s in statuses), period=when,
                         institutions=tuple(institutions))


def _rule_codes(obj: Context, asked: Iterable[str]) -> set[str]:
    """The rules there are: the catalogue's, those findings name, and the anomaly model's (read
    only when asked for and not known otherwise: it loads scikit-learn)."""
    import sqlalchemy as sa

    from ncms.models import Finding
    from ncms.monitor.catalogue import RULES

    with obj.engine.connect() as conn:
        known = set(RULES) | set(conn.scalars(sa.select(Finding.rule_code).distinct()))
    if set(asked) - known:
        from ncms.monitor.anomaly import MODEL

        known.add(MODEL.code)
    return known


def _check_institutions(obj: Context, codes: tuple[str, ...]) -> None:
    import sqlalchemy as sa

    from ncms.models import Institution

    with obj.engine.connect() as conn:
        found = set(conn.scalars(sa.select(Institution.code).where(Institution.code.in_(codes))))
        some = list(conn.scalars(sa.select(Institution.code).order_by(Institution.code).limit(5)))
    unknown = [code for code in dict.fromkeys(codes) if code not in found]
    if unknown:
        hint = f"codes look like {listed(some)}" if some else "no institution is loaded yet (`ncms db load-config`)"
        raise OptionError(f"--institution {', '.join(unknown)}: no such institution; {hint} "
                         "(config/institutions.csv)")


def _write_csv(rows: Iterable[dict[str, Any]], stream: IO[str]) -> int:
    """CSV with a byte-order mark first: without one, Excel reads UTF-8 as the local code page and
    garbles every Chinese name. Evidence is its JSON text. A text that Excel would take for a
    formula (a county's claim number ``=HYPERLINK(…)``) is quoted (``ncms.spreadsheet``)."""
    stream.write("\ufeff")
    from ncms.monitor.listing import COLUMNS
    from ncms.spreadsheet import neutral

    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    n = 0
    for row in rows:
        evidence = json.dumps(row["evidence"], ensure_ascii=False, default=str) if row["evidence"] else None
        writer.writerow([neutral(evidence if name == "evidence" else row[name]) for name in COLUMNS])
        n += 1
    stream.flush()
    return n


def _write_json(rows: Iterable[dict[str, Any]], stream: IO[str]) -> int:
    """A JSON array of objects, written as the rows come (an export may hold many thousands)."""
    dump = functools.partial(json.dumps, ensure_ascii=False, default=str)
    n = 0
    stream.write("[")
    for row in rows:
        stream.write(("," if n else "") + "\n" + dump(row))
        n += 1
    stream.write("\n]\n" if n else "]\n")
    stream.flush()
    return n


def _line(cells: Iterable[Any], widths: Iterable[int]) -> str:
    """One table line; a negative width aligns its cell to the right."""
    return " ".join(fit(str(cell), width) for cell, width in zip(cells, widths)).rstrip()


from .review import register  # noqa: E402  (the review loop's steps: ncms/cli/review.py)

register(findings_group)
