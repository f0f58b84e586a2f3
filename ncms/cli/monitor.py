"""``ncms monitor``: run the supervision rules over the loaded claims."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import Context, pass_context
from .db import require_migrated
from .options import PERIOD_HELP, OptionError, check_counties, check_rules, parse_period

if TYPE_CHECKING:
    from ncms.monitor import MonitorResult


@click.group("monitor")
def monitor_group() -> None:
    """Supervision rules and the anomaly model over the loaded claims: `ncms monitor run`,
    `ncms monitor evaluate`."""


@monitor_group.command("run")
@click.option("--county", "counties", multiple=True, help="A county code (repeatable; default: every county).")
@click.option("--period", help=f"Claims settled in {PERIOD_HELP} (default: all).")
@click.option("--rule", "rules", multiple=True, help="Only this rule (repeatable).")
@click.option("--incremental", is_flag=True,
              help="Only what arrived since the last run: the people with new claims, members or enrolments.")
@click.option("--anomaly/--no-anomaly", "model", default=True, show_default=True,
              help="Also run the anomaly model (institutions against their peers; config/anomaly.yaml).")
@pass_context
def run_command(obj: Context, counties: tuple[str, ...], period: str | None, rules: tuple[str, ...],
                incremental: bool, model: bool) -> None:
    """Run the rule catalogue, then the anomaly model; findings are filed once per rule (or model)
    and subject, updated on a rerun. `--rule institution_anomaly` runs the model alone."""
    from ncms.monitor import RULES, run_monitor  # polars and scikit-learn: not for --help
    from ncms.monitor.anomaly import MODEL

    when = parse_period(period)
    if incremental and when:
        raise OptionError("--incremental reads what arrived since the last run: give no --period")
    check_rules(rules, [*RULES, MODEL.code])
    if rules and set(rules) == {MODEL.code} and not model:
        raise OptionError(f"--rule {MODEL.code} is the anomaly model: leave out --no-anomaly")
    require_migrated(obj)
    check_counties(obj.engine, counties)
    result = run_monitor(obj.engine, obj.settings, counties=list(counties) or None, period=when,
                         rules=list(rules) or None, incremental=incremental, model=model)
    echo_outcomes(result)
    echo_unchecked(result)


@monitor_group.command("evaluate")
@click.option("--seed", "seeds", multiple=True, type=int, default=(1, 2, 3), show_default=True,
              help="A synthetic province's seed (repeatable).")
@click.option("--claims", default=80_000, show_default=True, help="Claims per synthetic province (20,000 or more).")
@click.option("--anomalous", default=12, show_default=True,
              help="Anomalous institutions labelled in each (one pattern each, the patterns in turn).")
@click.option("--k", default=10, show_default=True, help="Precision at k.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the figures (JSON; default: DATA_DIR/evaluation/anomaly.json).")
@pass_context
def evaluate_command(obj: Context, seeds: tuple[int, ...], claims: int, anomalous: int, k: int,
                     out: Path | None) -> None:
    """Score the anomaly model on synthetic provinces with labelled anomalous institutions:
    ROC AUC, precision at k and recall, by scoring method, seed by seed, and per pattern and
    institution size (scratch databases; the platform's own is not touched)."""
    from ncms.monitor.evaluate import evaluate, write_report

    try:
        report = evaluate(obj.settings, seeds, claims=claims, anomalous=anomalous, k=k, progress=click.echo)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in evaluation_table(report):
        click.echo(line)
    path = write_report(report, out or obj.settings.data_dir / "evaluation" / "anomaly.json")
    click.echo(f"figures written to {path}")


def evaluation_table(report: dict) -> list[str]:
    """The worst seed's figures by method, then the configured method's per pattern and size."""
    def shown(value: float | None, spec: str) -> str:  # a figure a province cannot give is None
        return "-" if value is None else format(value, spec)

    seeds, k = len(report["seeds"]), report["k"]
    lines = [f"{method:<31} worst of {seeds} seeds: ROC AUC {shown(figures['roc_auc'], '.3f')}, "
             f"precision at {k} {shown(figures['precision_at_k'], '.2f')}, "
             f"recall {shown(figures['recall'], '.2f')}, "
             f"clean windows flagged {shown(figures['clean_flag_rate'], '.2%')}, "
             f"busiest clean township centres flagged {shown(figures['busiest_clean_townships_flagged'], 'd')}"
             for method, figures in report["summary"].items()]
    lines.append(f"{report['method']}, worst of {seeds} seeds:")
    lines.append(f"{'group':<44} {'labelled':>8} {'ROC AUC':>8} {'P@k':>6} {'recall':>7}")
    for group, figures in report["groups"].items():
        lines.append(f"{group:<44} {figures['labelled']:>8} {shown(figures['roc_auc'], '.3f'):>8} "
                     f"{shown(figures['precision_at_k'], '.2f'):>6} {shown(figures['recall'], '.2f'):>7}")
    return lines


def echo_outcomes(result: MonitorResult) -> None:
    """Per rule (all counties together): hits, new findings, closed ones, the money at stake the
    rule explains (a claim's money under one rule only), time; then the money at stake, each
    yuan once, and the fund warnings apart from it: a fund's projection is not money misused."""
    from ncms.monitor.stake import APART, FUND_RULES, fund_lines

    hits, raised, closed, amount, seconds = (result.per_rule(figure)
                                             for figure in ("hits", "raised", "closed", "amount", "seconds"))
    click.echo(f"{'rule':<26} {'hits':>7} {'new':>6} {'closed':>6} {'at stake (yuan)':>16} {'seconds':>8}")
    for code in hits:
        money = f"{'fund' if code in FUND_RULES else 'apart':>16}" if code in APART else f"{amount[code]:>16,.2f}"
        click.echo(f"{code:<26} {hits[code]:>7,} {raised[code]:>6,} {closed[code]:>6,} {money} {seconds[code]:>8.2f}")
    excepted = {code: n for code, n in result.per_rule("excepted").items() if n}
    if excepted:  # hits a rule exception in force covers: not filed, and said so
        click.echo("passed over by rule exceptions (`ncms findings exceptions`): "
                   + ", ".join(f"{code} {n:,}" for code, n in excepted.items()))
    if result.people is not None:
        click.echo(f"incremental: {result.people:,} people with rows loaded since the last run re-examined")
    held = "findings hold" if result.people is None else "findings hold among them"
    stake = result.stake
    explained = f" ({stake.explained:,} findings explained by another, not counted again)" if stake.explained else ""
    click.echo(f"money at stake: {stake.total:,.2f} yuan, each claim's once{explained}")
    for line in fund_lines(stake.fund):
        click.echo(line)
    click.echo(f"run {result.run_id}: {result.hits:,} {held}, {result.seconds:.1f} s")


def echo_unchecked(result: MonitorResult) -> None:
    """The claims each rule read but could not judge, per county and reason (rule_run.unchecked):
    none is counted as checked. One line says so when every claim was judged."""
    rows = [(o.rule_code, o.county_code, reason, claims) for o in result.outcomes
            for reason, claims in sorted(o.unchecked_reasons.items()) if claims]
    if not rows:
        click.echo("unchecked: none (every rule judged every claim it read)")
        return
    click.echo(f"unchecked: {sum(row[3] for row in rows):,} claim judgements left undone, "
               "the claims read but not judged (not in rows scanned):")
    click.echo(f"{'rule':<26} {'county':<7} {'claims':>7}  reason")
    for code, county, reason, claims in rows:
        click.echo(f"{code:<26} {county:<7} {claims:>7,}  {reason}")
