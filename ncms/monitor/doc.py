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
        "bed days —, the listed diagnoses, the claims paid above the scheme's terms) run as one",
        "query when they run together, the basis computed once; each rule's findings are the same",
        "as when it runs alone. Queries run `monitor_jobs` at a time (default one per core; on a",
        "SQLite file in worker processes), those that took longest in the last run first.",
        "",
        "| rule | 规则 | severity | money at stake |",
        "|---|---|---|---|",
    ]
    out += [f"| [`{r.code}`](#{r.code}) {r.title_en} | {r.title_zh} | {r.severity.value} | {r.at_stake} |"
            for r in CATALOGUE]
    for rule in CATALOGUE:
        out += ["", f"## {rule.code}", "", f"**{rule.title_en}** — {rule.title_zh} (family: {rule.family}; "
                f"version {rule.version}; default severity: {rule.severity.value})", "",
                _fill(rule.logic_en, rule.params), "", _fill(rule.logic_zh, rule.params), "",
                f"Money at stake: {rule.at_stake}.", "", f"Example: {rule.example}", ""]
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
