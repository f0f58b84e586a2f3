"""docs/rules.md, rendered from the rule catalogue so that it cannot drift.

Run ``python -m ncms.monitor.doc > docs/rules.md``; ``tests/test_monitor.py`` fails when
the committed page differs from what this module renders. Each rule's SQL is the query the
engine runs (here compiled for SQLite with the default parameters, for one county; a run
over several counties is the same query for all of them at once).
"""
from __future__ import annotations

import sys
from typing import Any

from .catalogue import CATALOGUE, Rule, Scope

COMMAND = "python -m ncms.monitor.doc > docs/rules.md"


def render() -> str:
    out = [
        "# Supervision rules",
        "",
        f"Generated from `ncms/monitor/catalogue.py` by `{COMMAND}`; do not edit by hand.",
        "",
        "Each rule is one set-based query over the claims tables. A hit becomes a **finding**",
        "(疑点) for its subject — one per rule and subject, updated when the rules run again,",
        "closed with the reason when it no longer holds. Parameters, severity and a per-county",
        "switch come from `config/rules.yaml`, over the defaults below. Voided claims are never",
        "looked at. `ncms monitor run [--county C] [--period FROM:TO]` runs the catalogue;",
        "`ncms monitor run --incremental` re-examines only the people (national IDs) with a claim,",
        "member or enrolment row loaded since each rule's last run, with all their claims, and",
        "re-reads the funds of the counties with new rows; it closes only findings about them.",
        "Rules that read the same intermediate result (their *basis*: the fund years, the stays",
        "and the claims around them, the items of note — billed above their price, listed, or for",
        "bed days —, the listed diagnoses, the claims paid above the scheme's terms, the members'",
        "years — their compensation and whether they were enrolled) run as one query when they",
        "run together, the basis computed once; each rule's findings are the same",
        "as when it runs alone. Queries run `monitor_jobs` at a time (default one per core; on a",
        "SQLite file in worker processes), those that took longest in the last run first.",
        "",
        "A rule that cannot judge a claim — no scheme terms for its year, kind of care and institution",
        "level (`overpayment`, `missing_referral`; `cap_breach` when the year has no scheme), an item the",
        "price catalogue lacks (`over_standard_price`) — does not pass it in silence: it counts it as",
        "**unchecked**, per rule and county, with the reason, in `rule_run.unchecked` and",
        "`rule_run.unchecked_reasons` (`{reason: claims}`), and `ncms monitor run` prints them under the",
        "rules. `rule_run.rows_scanned` is the claims of the run's scope (for an incremental run, of the",
        "people it re-examined) that the rule judged, voided claims passed over included; a claim is",
        "scanned or unchecked, never both, so `rows_scanned + unchecked` is every claim it read. A gap in",
        "`config/schemes.yaml` is also a finding the auditor sees beside the others: `scheme_terms_missing`,",
        "one per county, year, kind of care and level, with the claims and the compensation left unjudged.",
        "",
        "| rule | 规则 | severity | money at stake |",
        "|---|---|---|---|",
    ]
    out += [f"| [`{r.code}`](#{r.code}) {r.title_en} | {r.title_zh} | {r.severity.value} | {_at_stake(r).removeprefix('money at stake: ')} |"
            for r in CATALOGUE]
    out += ["", *_counted_once()]
    for rule in CATALOGUE:
        out += ["", f"## {rule.code}", "", f"**{rule.title_en}** — {rule.title_zh} (family: {rule.family}; "
                f"version {rule.version}; default severity: {rule.severity.value})", "",
                _fill(rule.logic_en, rule.params), "", _fill(rule.logic_zh, rule.params), "",
                f"{_at_stake(rule)[0].upper()}{_at_stake(rule)[1:]}.", "", f"Example: {rule.example}", ""]
        if rule.source:
            out += [f"Source of the thresholds: {rule.source}.", ""]
        if rule.basis:
            others = ", ".join(f"`{r.code}`" for r in CATALOGUE if r.basis == rule.basis and r is not rule)
            out += [f"Basis: {rule.basis}, shared with {others}.", ""]
        if rule.params:
            out += ["| parameter | default |", "|---|---|"]
            out += [f"| `{name}` | `{_value(value)}` |" for name, value in rule.params.items()]
            out.append("")
        out += ["<details><summary>SQL (SQLite, default parameters)</summary>", "", "```sql", _sql(rule), "```",
                "", "</details>"]
    return "\n".join(out) + "\n"


def _at_stake(rule: Rule) -> str:
    from .stake import APART, FUND_RULES

    # reported apart: docs "Money at stake, counted once"
    if rule.code in FUND_RULES:
        return f"fund figure (not money at stake): {rule.at_stake}"
    return f"not money at stake: {rule.at_stake}" if rule.code in APART else f"money at stake: {rule.at_stake}"


def _counted_once() -> list[str]:
    """How the totals of money at stake count each yuan once (``ncms.monitor.stake``)."""
    from .stake import PRECEDENCE

    order = ", ".join(f"`{code}`" for code in PRECEDENCE)
    return [
        "## Money at stake, counted once",
        "",
        "Several findings may hold for the same money: a stay billed twice is a duplicate claim, and",
        "the copy may also bill an item above its price, push its member over the annual cap and weigh",
        "in its institution's anomalous month. Every total of money at stake — a run's (`ncms monitor",
        "run`, the demo), per rule, per county, per institution, the province's — counts each yuan once:",
        "",
        "- **A claim's money is that of the one finding that explains it**: of the rules that hold for it,",
        f"  the first in this order: {order}; a claim rule not listed comes after them, by its code.",
        "  Whole claims that should never have been paid come before parts of a claim paid or billed too",
        "  much, and a copy before any other story of it. The claim's other findings stay, for the",
        "  auditor, but add nothing; per rule, the claim counts under the rule that explains it.",
        "- **A copy of a stay is a duplicate, not an overlap**: `overlapping_stays` does not report a stay",
        "  whose overlapping stay is the same one billed again (same institution and dates, totals within",
        "  its `amount_tolerance`, as `duplicate_claim`'s); `duplicate_claim` reports the copy.",
        "- **A member's finding** (`cap_breach`) adds only what it finds beyond the money already counted",
        "  on that member's claims of the year (without the copy the member may be under the cap), and",
        "  **an institution's** (the anomaly model, docs/anomaly.md) only what it finds beyond the money",
        "  counted on the institution's claims admitted within the finding's period. An enrolment's",
        "  (`duplicate_enrolment`, the government subsidy) adds all of it: no claim pays it.",
        "- **A fund warning is not money at stake**: a projected deficit or surplus is a figure of the",
        "  county's fund, not money misused. Fund findings are filed and reviewed like any other, but their",
        "  amounts are reported apart (`fund: 1 county projected short by 65,500.00 yuan (fund_overspend)`).",
        "  Nor does any other rule that judges a county whole add to it (a gap in the scheme's terms: its",
        "  amount is the compensation no rule could judge).",
        "- A finding an auditor dismissed, or closed because it no longer holds, is no money at stake (its",
        "  claim falls to the next rule that holds); a run's own totals are those of what it found.",
        "",
        "The findings keep their own `amount_at_stake` (what the rule's text says); only the totals count",
        "once. Evidence amounts are written as fen-exact strings (`\"123.40\"`) on every database.",
    ]


def _fill(text: str, params: dict[str, Any]) -> str:
    return text.format(**{k: _value(v) for k, v in params.items()})


def _value(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _sql(rule: Rule) -> str:
    from sqlalchemy.dialects import sqlite

    query = rule.query(dict(rule.params), Scope(("520121",)))
    return str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def main() -> None:
    sys.stdout.buffer.write(render().encode("utf-8"))


if __name__ == "__main__":
    main()
