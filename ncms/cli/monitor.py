"""``ncms monitor``: run the supervision rules over the loaded claims."""
from __future__ import annotations

from datetime import date

import click

from ncms.monitor import MonitorResult, run_monitor

from . import Context, pass_context
from .db import require_migrated


@click.group("monitor")
def monitor_group() -> None:
    """Supervision rules over the loaded claims: `ncms monitor run`."""


@monitor_group.command("run")
@click.option("--county", "counties", multiple=True, help="A county code (repeatable; default: every county).")
@click.option("--period", help="Claims settled in FROM:TO (dates YYYY-MM-DD), or in a year: 2011 (default: all).")
@click.option("--rule", "rules", multiple=True, help="Only this rule (repeatable).")
@click.option("--incremental", is_flag=True,
              help="Only what arrived since the last run: the people with new claims, members or enrolments.")
@pass_context
def run_command(obj: Context, counties: tuple[str, ...], period: str | None, rules: tuple[str, ...],
                incremental: bool) -> None:
    """Run the rule catalogue; findings are filed once per rule and subject, updated on a rerun."""
    require_migrated(obj)
    if incremental and period:
        raise click.UsageError("--incremental reads what arrived since the last run: give no --period")
    result = run_monitor(obj.engine, obj.settings, counties=list(counties) or None, period=_period(period),
                         rules=list(rules) or None, incremental=incremental)
    echo_outcomes(result)

def echo_outcomes(result: MonitorResult) -> None:
    """Per rule (all counties together): hits, new findings, closed ones, money at stake, time."""
    hits, raised, closed, amount, seconds = (result.per_rule(figure)
                                             for figure in ("hits", "raised", "closed", "amount", "seconds"))
    click.echo(f"{'rule':<26} {'hits':>7} {'new':>6} {'closed':>6} {'at stake (yuan)':>16} {'seconds':>8}")
    for code in hits:
        click.echo(f"{code:<26} {hits[code]:>7,} {raised[code]:>6,} {closed[code]:>6,} {amount[code]:>16,.2f} "
                   f"{seconds[code]:>8.2f}")
    if result.people is not None:
        click.echo(f"incremental: {result.people:,} people with rows loaded since the last run re-examined")
    held = "findings hold" if result.people is None else "findings hold among them"
    click.echo(f"run {result.run_id}: {result.hits:,} {held}, {result.amount:,.2f} yuan at stake, "
               f"{result.seconds:.1f} s")


def _period(text: str | None) -> tuple[date, date] | None:
    if not text:
        return None
    try:
        if ":" in text:
            start, end = text.split(":", 1)
            return date.fromisoformat(start), date.fromisoformat(end)
        year = int(text)
        return date(year, 1, 1), date(year, 12, 31)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r}: give FROM:TO as YYYY-MM-DD:YYYY-MM-DD, or a year") from exc
