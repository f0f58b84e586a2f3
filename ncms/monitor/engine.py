"""The rule engine: run the catalogue over the counties' claims and file what it finds.

Findings are written idempotently: one finding per rule and subject, updated on a rerun,
never duplicated. A finding keeps the rule version and the parameter values that raised it.
A finding in the run's scope that no longer holds (the data was corrected, or a parameter
changed) is closed with the reason, unless an auditor has already decided it (confirmed or
dismissed): that review stays, and the change is written to its history instead. Every rule
run is recorded (rows scanned, hits, seconds).
"""
from __future__ import annotations

import ctypes
import json
import logging
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ncms import log
from ncms.config import Settings
from ncms.db import create_engine, session_scope, sqlite_path
from ncms.indicators.refresh import after_monitor
from ncms.models import (Batch, Claim, County, Enrolment, Finding, Member, MonitorScope, MonitorScopeClaim, RuleRun,
                         Severity)
from ncms.models.base import utcnow

from . import anomaly
from .anomaly import MODEL
from .catalogue import CATALOGUE, RULES, Rule, Scope, together
from .features import compute_features, store_features, store_member_years
from .findings import file_findings
from .settings import read_rule_settings
from .stake import Stake, money_at_stake

PR_SET_PDEATHSIG = 1  # prctl(2)
logger = logging.getLogger("ncms.monitor")


@dataclass
class RuleOutcome:
    rule_code: str
    county_code: str
    rows_scanned: int | None  # the claims judged; None until the run has counted the claims read
    hits: int
    raised: int
    closed: int
    amount: Decimal
    seconds: float
    unchecked: int = 0  # the claims read but not judged (rule_run.unchecked): not in rows_scanned
    unchecked_reasons: dict[str, int] = field(default_factory=dict)  # {reason: claims}
    excepted: int = 0  # hits a rule exception in force passed over (rule_run.excepted; among ``hits``)


@dataclass
class MonitorResult:
    run_id: str
    people: int | None = None  # the people re-examined, when some rule ran incrementally
    seconds: float = 0.0  # the whole run
    outcomes: list[RuleOutcome] = field(default_factory=list)
    # the money at stake of what the run found, each yuan once, and its fund warnings apart
    stake: Stake = field(default_factory=Stake)

    @property
    def hits(self) -> int:
        return sum(o.hits for o in self.outcomes)

    @property
    def amount(self) -> Decimal:
        """Money at stake: a claim's money once, however many findings hold for it; no fund warning."""
        return self.stake.total

    def per_rule(self, figure: str) -> dict[str, Any]:
        """One figure of the outcomes (``hits``, ``raised``, ``seconds``…) summed over the
        counties, per rule in catalogue order; ``amount`` is the money at stake each rule explains
        (``stake``: a claim under the one rule that explains it; a fund warning's is none)."""
        totals: dict[str, Any] = {}
        for outcome in self.outcomes:
            totals[outcome.rule_code] = totals.get(outcome.rule_code, 0) + getattr(outcome, figure)
        if figure == "amount":
            return {code: self.stake.per_rule.get(code, Decimal("0.00")) for code in totals}
        return totals


@dataclass
class _Step:
    """One query of a run: a rule over a group of counties with the same settings."""

    rule: Rule
    chosen: Any  # the rule's settings for the group
    counties: list[str]
    since: int | None = None  # incremental: re-examine what came after this batch

    @property
    def needs_people(self) -> bool:
        """Whether it re-examines the people with new rows (incremental, not a fund judged whole),
        who must be gathered before it starts."""
        return self.since is not None and not self.rule.whole_county

    def __getstate__(self) -> dict[str, Any]:  # to a worker process: the rule by its code
        return dict(self.__dict__, rule=self.rule.code)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, rule=RULES[state["rule"]])


@dataclass
class _Touched:
    """What an incremental run re-examines: the people with rows loaded after ``since``."""

    run_id: str  # their rows in monitor_scope and monitor_scope_claim
    people: int
    members: set[tuple[str, str]]  # their (county, member number)s
    claim_ids: set[int]  # their claims, voided ones too (a voided claim's finding closes)
    claims: dict[str, int]  # their claims per county

    @property
    def persons(self) -> sa.Select:
        """SELECT of their national IDs."""
        return sa.select(MonitorScope.national_id).where(MonitorScope.run_id == self.run_id)

    @property
    def theirs(self) -> sa.Select:
        """SELECT of their claims' ids."""
        return sa.select(MonitorScopeClaim.claim_id).where(MonitorScopeClaim.run_id == self.run_id)

    def covers(self, claim_id: int | None, subject_key: str) -> bool:
        """Whether a finding is about one of the people: one of their claims, or, for member and
        enrolment findings (``kind:county:member:year``), one of their member numbers."""
        if claim_id is not None:
            return claim_id in self.claim_ids
        kind, county, member = (subject_key.split(":") + ["", ""])[:3]
        return kind in ("member", "enrolment") and (county, member) in self.members


def run_monitor(engine: Engine, settings: Settings, *, counties: list[str] | None = None,
                period: tuple[date, date] | None = None, rules: list[str] | None = None,
                incremental: bool = False, model: bool = False) -> MonitorResult:
    """Run every enabled rule (or ``rules``) over the counties' claims settled in ``period``
    (default: all of them), then, with ``model`` (as ``ncms monitor run`` does unless told
    otherwise), the anomaly model, unless ``rules`` leave it out: over the months of care the
    period touches. A rule is one query for all the counties that
    give it the same settings (usually all of them); its findings are then filed county by county.

    ``incremental``: re-examine only the people with a claim, member or enrolment row loaded
    since the rule's last run over all periods with the same version and parameters (a rule
    without one runs in full); fund rules re-read the counties with new rows; the anomaly
    model, comparing each institution with the province's, runs whole if anything was loaded
    since its last run, else not at all."""
    if incremental and period:
        raise ValueError("an incremental run reads what arrived since the last run, not a period")
    started = time.perf_counter()
    rule_settings = read_rule_settings(settings.config_dir)
    result, began = MonitorResult(uuid.uuid4().hex[:12]), utcnow()
    with engine.connect() as conn:
        every = list(conn.scalars(sa.select(County.code).order_by(County.code)))
        through = conn.scalar(sa.select(sa.func.max(Batch.id))) or 0
        markers = _markers(conn) if incremental else {}
    counties = counties or every
    steps = _plan(rule_settings, counties, rules, markers)
    _analyse(engine)
    since = min((step.since for step in steps if step.since is not None), default=None)
    renewed = _renewed(engine, since) if since is not None else set()
    touched = None
    try:
        groups = _longest_first(engine, _together(steps))
        # a fund is judged whole (over the counties with new rows): its queries need no people,
        # and start while the people are gathered
        early = [group for group in groups if not group[0].needs_people]
        late = [group for group in groups if group[0].needs_people]
        with _workers(engine, min(settings.rule_jobs(), len(groups) or 1)) as (submit, side_by_side):
            def start(group: list[_Step]) -> "Future[list[RuleOutcome]]":
                return submit(group, result.run_id, period, touched, renewed, _unless_all(group[0].counties, every),
                              side_by_side=side_by_side)

            runs = [start(group) for group in early]
            if late:
                touched = _touch(engine, result.run_id, since)  # type: ignore[arg-type]
                result.people = touched.people
                runs += [start(group) for group in late]
            # the claims the rules read whole, counted here while they run: every county's
            # for a full run, those with new rows for a fund re-read
            whole = counties if any(step.since is None for step in steps) else \
                [county for county in counties if county in renewed] if early else []
            scanned = _count_claims(engine, Scope(_unless_all(whole, every), period)) if whole else {}
            for run in runs:
                result.outcomes += run.result()
        # in catalogue order, whichever finished first (rules of one basis ran together)
        order = {rule.code: n for n, rule in enumerate(CATALOGUE)}
        result.outcomes.sort(key=lambda outcome: order[outcome.rule_code])
        _record(engine, result, steps, period, through, scanned)
        if model and (not rules or MODEL.code in rules):
            result.outcomes += _run_model(engine, settings, result.run_id, counties, period, incremental, through)
    finally:
        if touched is not None:
            with engine.begin() as conn:
                conn.execute(sa.delete(MonitorScope).where(MonitorScope.run_id == result.run_id))
                conn.execute(sa.delete(MonitorScopeClaim).where(MonitorScopeClaim.run_id == result.run_id))
    # the findings just filed or seen again, analysed before anything reads them: the money at
    # stake below reads them by their new last_seen_at, which the statistics of the run before
    # put at one row (a rerun over 10,009 findings: 45 s of its 51 s in that query, 0.14 s once
    # analysed); the workbench's and the API's filtered lists, unanalysed, guessed 5 open findings
    # of 9,955 and sorted them all for a page of 50 (bench/api: 14 ms a page, 7 ms with statistics)
    _analyse(engine, ("finding",), written=sum(o.hits + o.closed for o in result.outcomes))
    with engine.connect() as conn:  # what the run found: each finding it filed or saw again
        result.stake = money_at_stake(conn, Finding.last_seen_at >= began)
    after_monitor(engine)  # the indicators' findings summary (ncms.indicators.refresh)
    result.seconds = time.perf_counter() - started
    return result


@contextmanager
def _workers(engine: Engine, jobs: int) -> Iterator[tuple[Callable[..., "Future[list[RuleOutcome]]"], bool]]:
    """Where the rules run: ``submit(steps, …)`` runs ``_run_steps`` on a worker and returns its
    future; and whether rules run side by side. On a SQLite file, worker *processes* (forked,
    each with an engine of its own): two threads of one process querying SQLite slow each other
    down (a grouping of a million claims, 1.7 s alone, took 2.3-2.5 s in each of two threads and
    1.7 s in each of two processes). On PostgreSQL the work is in the server's processes, and
    threads wait for it."""
    url = engine.url.render_as_string(hide_password=False)
    if jobs > 1 and sqlite_path(url) is not None:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
            def submit(*args: Any, **kwargs: Any) -> "Future[list[RuleOutcome]]":
                engine.dispose()  # the workers fork at the first submit: no open connection goes with them
                return pool.submit(_run_apart, url, *args, **kwargs)

            yield submit, True
        return
    with ThreadPoolExecutor(jobs, thread_name_prefix="rule") as threads:
        yield (lambda *args, **kwargs: threads.submit(_run_steps, engine, *args, **kwargs)), jobs > 1


def _die_with_parent(parent: int) -> None:
    """A forked worker holds both ends of its task pipe, so when its run is killed (kill -9,
    the OOM killer, an Airflow timeout) it never reads an end of file and waits forever, holding
    the SQLite file open. The kernel kills it with its parent instead (Linux); elsewhere, or if
    the parent is already gone, it ends at once."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _run_apart(url: str, *args: Any, **kwargs: Any) -> list[RuleOutcome]:
    """``_run_steps`` in a worker process, over an engine of its own."""
    engine = create_engine(url)
    try:
        return _run_steps(engine, *args, **kwargs)
    finally:
        engine.dispose()


def _record(engine: Engine, result: MonitorResult, steps: list[_Step], period: tuple[date, date] | None,
            through: int, scanned: dict[str, int]) -> None:
    """Each rule's run over each county (a full run's rows scanned are the scope's claims less
    those it could not judge), and ``through``, the last batch it has seen, from which an
    incremental run goes on."""
    step_of = {(step.rule.code, county): step for step in steps for county in step.counties}
    runs = []
    for outcome in result.outcomes:
        step = step_of[outcome.rule_code, outcome.county_code]
        if outcome.rows_scanned is None:
            outcome.rows_scanned = max(scanned.get(outcome.county_code, 0) - outcome.unchecked, 0)
        runs.append(dict(run_id=result.run_id, rule_code=outcome.rule_code, rule_version=step.rule.version,
                         county_code=outcome.county_code, period_start=period[0] if period else None,
                         period_end=period[1] if period else None, parameters=step.chosen.params,
                         rows_scanned=outcome.rows_scanned, unchecked=outcome.unchecked,
                         unchecked_reasons=outcome.unchecked_reasons, hits=outcome.hits,
                         raised=outcome.raised, closed=outcome.closed, seconds=outcome.seconds,
                         excepted=outcome.excepted, through_batch=through, incremental=step.since is not None))
    if runs:
        with engine.begin() as conn:
            conn.execute(sa.insert(RuleRun), runs)


def _plan(rule_settings: Any, counties: list[str], rules: list[str] | None,
          markers: dict[tuple[str, str], tuple[str, Any, int]]) -> list[_Step]:
    steps = []
    for rule in CATALOGUE:
        if rules and rule.code not in rules:
            continue
        groups: dict[str, _Step] = {}
        for county in counties:
            chosen = rule_settings.for_county(rule, county)
            if chosen.enabled:
                same = _canonical([chosen.params, chosen.severity.value])
                groups.setdefault(same, _Step(rule, chosen, [])).counties.append(county)
        for step in groups.values():
            # incremental only when every county of the group was last judged by this very rule
            last = [markers.get((rule.code, county)) for county in step.counties]
            if last and all(m is not None and m[0] == rule.version and m[1] == _canonical(step.chosen.params)
                            for m in last):
                step.since = min(m[2] for m in last)  # type: ignore[index]
            steps.append(step)
    return steps


def _unless_all(counties: list[str], every: list[str]) -> tuple[str, ...] | None:
    """The counties as a Scope takes them: None, no condition at all, when they are all."""
    return None if set(counties) == set(every) else tuple(counties)


def _longest_first(engine: Engine, groups: list[list[_Step]]) -> list[list[_Step]]:
    """The queries in the order to start them: the longest first, as the rules' last runs took,
    so that no long one starts last while the other workers run out of work (new rules first;
    with no runs on record, the catalogue's order)."""
    with engine.connect() as conn:
        took = dict(conn.execute(sa.select(RuleRun.rule_code, sa.func.sum(RuleRun.seconds))
                                 .where(RuleRun.id.in_(_last_runs())).group_by(RuleRun.rule_code)).all())
    return sorted(groups, key=lambda group: -sum(took.get(step.rule.code, float("inf")) for step in group))


def _together(steps: list[_Step]) -> list[list[_Step]]:
    """The steps as the queries that run them: one each, but the rules of one basis over the
    same counties (and from the same batch, when incremental) run as one query."""
    groups: dict[Any, list[_Step]] = {}
    for n, step in enumerate(steps):
        key = (step.rule.basis, tuple(step.counties), step.since) if step.rule.basis else n
        groups.setdefault(key, []).append(step)
    return list(groups.values())


def _last_runs(*conditions: Any) -> sa.Select:
    """SELECT of the id of each rule's last run over each county (of those meeting ``conditions``)."""
    return sa.select(sa.func.max(RuleRun.id)).where(*conditions).group_by(RuleRun.rule_code, RuleRun.county_code)


def _markers(conn: sa.Connection) -> dict[tuple[str, str], tuple[str, Any, int]]:
    """Per rule and county, the last run over all periods: (version, parameters, through batch)."""
    last = _last_runs(RuleRun.period_start.is_(None), RuleRun.through_batch.is_not(None))
    rows = conn.execute(sa.select(RuleRun.rule_code, RuleRun.county_code, RuleRun.rule_version, RuleRun.parameters,
                                  RuleRun.through_batch).where(RuleRun.id.in_(last)))
    return {(r.rule_code, r.county_code): (r.rule_version, _canonical(r.parameters), r.through_batch) for r in rows}


def _canonical(value: Any) -> str:
    """Settings as comparable text (the same parameters, however ordered)."""
    return json.dumps(value or {}, sort_keys=True, default=str)


def _touch(engine: Engine, run_id: str, since: int) -> _Touched:
    """Write the people with rows loaded after batch ``since`` to monitor_scope, and the ids of
    all their claims (one scan of the claims) to monitor_scope_claim."""
    new = sa.union(sa.select(Claim.national_id).where(Claim.batch_id > since),
                   sa.select(Member.national_id).where(Member.batch_id > since),
                   sa.select(Member.national_id).join(Enrolment, Enrolment.member_id == Member.id)
                   .where(Enrolment.batch_id > since)).subquery()
    touched = _Touched(run_id, 0, set(), set(), {})
    persons, theirs = touched.persons, touched.theirs
    with engine.begin() as conn:
        conn.execute(sa.insert(MonitorScope).from_select(
            ["run_id", "national_id"], sa.select(sa.literal(run_id), new.c.national_id)))
        conn.execute(sa.insert(MonitorScopeClaim).from_select(
            ["run_id", "claim_id"], sa.select(sa.literal(run_id), Claim.id).where(Claim.national_id.in_(persons))))
        if engine.dialect.name == "postgresql":  # how many rows there are now, not at the last analysis
            conn.execute(sa.text("ANALYZE monitor_scope, monitor_scope_claim"))
        touched.people = conn.scalar(sa.select(sa.func.count()).select_from(persons.subquery()))
        touched.members.update(map(tuple, conn.execute(sa.select(Member.county_code, Member.member_no)
                                                       .where(Member.national_id.in_(persons)))))
        for claim_id, county, member_no, voided in conn.execute(
                sa.select(Claim.id, Claim.county_code, Claim.member_no, Claim.voided).where(Claim.id.in_(theirs))):
            touched.claim_ids.add(claim_id)
            touched.members.add((county, member_no))
            touched.claims[county] = touched.claims.get(county, 0) + (not voided)
    return touched


def _renewed(engine: Engine, since: int) -> set[str]:
    """The counties with a batch after ``since``: every row is loaded in a batch of its county,
    so theirs are the only funds whose claims or financing may have changed."""
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(Batch.county_code).where(Batch.id > since).distinct()))


READ_BY_RULES = ("claim", "claim_item", "member", "enrolment", "fund_financing", "institution",
                 "compensation_scheme", "scheme_level", "restriction", "catalogue_item")


def _analyse(engine: Engine, tables: tuple[str, ...] = READ_BY_RULES, *, written: int = 0) -> None:
    """Vacuum and analyse the PostgreSQL ``tables`` (by default those the rules read) when a
    load or a run has outrun autovacuum (the monitoring usually runs right after ingestion). Without statistics the
    planner guesses a few thousand claims and picks nested loops over a million (overpayment:
    3.3 s, then 0.5 s); without them for the small reference tables it took the unreferred
    out-of-county terms for one row and read the claims once per scheme level (missing
    referral: 5.4 s, then 0.1 s); without a vacuum's visibility map it cannot read an index alone.

    ``written``: rows this process has just written to ``tables``, by its own count: a tenth of
    a table's analysed rows or more makes it stale, whatever the server's activity counters say
    (another connection's writes reach those up to seconds later)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        # never analysed: told by the table itself (reltuples -1), not by the statistics counters,
        # which a connection still open reports only when it has been idle a while (reference
        # data loaded by this process a moment ago: the scheme's terms and the diagnoses at
        # 30,000 claims took 0.4 s each, 0.03 s with statistics)
        stale = conn.scalars(sa.text(
            "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.relname = ANY(:tables) AND s.schemaname = current_schema() "
            "AND (greatest(s.n_mod_since_analyze, s.n_ins_since_vacuum) > 0.1 * greatest(s.n_live_tup, 1000) "
            "OR c.reltuples < 0 OR :written > 0.1 * c.reltuples AND :written > 0)"),
            {"tables": list(tables), "written": written}).all()
    if stale:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in stale:
                conn.execute(sa.text(f"VACUUM (ANALYZE) {table}"))
        log.event(logger, "monitor.analyse", tables=stale)


def _count_claims(engine: Engine, scope: Scope) -> dict[str, int]:
    """The claims of the scope's counties and period per county, voided ones too: the rows a
    full run scans (a rule reads a voided claim to pass it over). Without a condition on a
    column outside the (county, claim id) key, SQLite counts from that index alone, while the
    rules run: 0.12 s for a million claims, against 0.45-0.96 s reading each claim's row."""
    conditions = [*scope.county(Claim.county_code)]
    if scope.period:
        conditions.append(Claim.settlement_date.between(*scope.period))
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(Claim.county_code, sa.func.count()).where(*conditions)
                                 .group_by(Claim.county_code)).all())


def _run_steps(engine: Engine, steps: list[_Step], run_id: str, period: tuple[date, date] | None,
               touched: _Touched | None, renewed: set[str], counties: tuple[str, ...] | None,
               side_by_side: bool = False) -> list[RuleOutcome]:
    """One query, for one rule or for the rules of one basis, and the filing of each rule's
    findings, county by county (on a worker). ``counties``: the steps' counties as their Scope
    takes them (``_unless_all``). Incremental, a fund rule re-reads the ``renewed`` counties
    whole, any other rule the ``touched`` people. The outcomes of rules that read counties
    whole leave the rows scanned to the caller."""
    first, group = steps[0], steps[0].counties
    rows: dict[str, int] | None = None
    if first.needs_people and touched is not None:
        judged, scope = group, Scope(counties, period, touched.persons, touched.theirs)
        rows = {county: touched.claims.get(county, 0) for county in judged}
    elif first.since is not None:  # a fund judged whole
        judged = [county for county in group if county in renewed]
        scope = Scope(counties if len(judged) == len(group) else tuple(judged), period)
    else:
        judged, scope = group, Scope(counties, period)
    started, outcomes = time.perf_counter(), []
    with session_scope(engine) as session:
        if engine.dialect.name == "postgresql":
            # compiling each query costs more than it saves here
            session.execute(sa.text("SET LOCAL jit = off"))
            # a claim meets a small table's rows by a key of several columns (the scheme's terms:
            # institution, county, year and kind), whose hash buckets the planner judges by one
            # column alone, a few dozen rows each: it sorted every claim for a merge join instead
            # (the basis "scheme terms", 300,000 claims, four runs each: 0.32-0.35 -> 0.25-0.27 s)
            session.execute(sa.text("SET LOCAL enable_mergejoin = off"))
            if side_by_side:  # the rules already share the cores: a parallel plan's workers would
                # only queue for them, each building its own copy of a hash (duplicate claim's
                # grouping of a million claims three times over)
                session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
            # the hashes of whole tables (duplicate claim's grouping of a million claims by person
            # and day, the enrolments not enrolled looks claims up in) get the server's work memory:
            # at its 4 MB they run in batches that fit the CPU's caches, and beat 64-128 MB on this
            # machine kind (alone, best of three: not enrolled 0.76 -> 0.68 s, duplicate enrolment
            # 0.45 -> 0.35 s; the catalogue, four alternating runs, 3.42-4.09 -> 3.28-3.82 s), though
            # an older, slower CPU had gained from 64 MB
            if scope.claim_ids is not None:  # a few people's claims: fetched by id from cached tables,
                session.execute(sa.text("SET LOCAL random_page_cost = 1.1"))  # not found by a scan
        queries = {step.rule.code: step.rule.query(step.chosen.params, scope) for step in steps}
        unchecked_of = _unchecked_queries(steps, scope, queries)
        found: dict[str, list[Any]] = {code: [] for code in queries}
        if judged and len(queries) == 1:
            found[first.rule.code] = list(session.execute(queries[first.rule.code]).mappings())
        elif judged:  # each hit with its own rule's columns, not the others' NULLs
            own = {code: [column.key for column in query.selected_columns] for code, query in queries.items()}
            for hit in session.execute(together(queries)).mappings():
                found[hit["rule_code"]].append({key: hit[key] for key in own[hit["rule_code"]]})
        queried = (time.perf_counter() - started) / len(steps)  # the query's time, shared evenly by its rules
        by_person = touched if scope.persons is not None else None  # closes only the people's findings
        for step in steps:
            rule, chosen, hits, filing = step.rule, step.chosen, found[step.rule.code], time.perf_counter()
            by_county: dict[str, list[Any]] = {county: [] for county in group}
            for hit in hits:
                by_county[hit["county_code"]].append(hit)
            raised, closed, excepted = file_findings(
                session, rule, chosen.params, chosen.severity, replace(scope, counties=tuple(judged)), hits,
                by_person) if judged else ({}, {}, {})
            # and by the counties: one query for all of them
            seconds = (queried + time.perf_counter() - filing) / len(group)
            reasons = _unchecked_reasons(found.get(unchecked_of.get(rule.code, ""), []))
            for county, theirs in by_county.items():
                unjudged = reasons.get(county, {})
                read = 0 if county not in judged else \
                    rows.get(county, 0) - sum(unjudged.values()) if rows is not None else None
                outcomes.append(RuleOutcome(
                    rule.code, county, read, len(theirs), raised.get(county, 0), closed.get(county, 0),
                    sum((Decimal(h["amount"] or 0) for h in theirs), Decimal("0")), seconds,
                    sum(unjudged.values()), unjudged, excepted.get(county, 0)))
            log.event(logger, "monitor.rule", run=run_id, rule=rule.code, counties=len(group), hits=len(hits),
                      incremental=step.since is not None, seconds=round(seconds * len(group), 3))
    return outcomes


UNCHECKED = "unchecked:"  # the label of a rule's unchecked claims among a statement's parts


def _unchecked_queries(steps: list[_Step], scope: Scope, queries: dict[str, sa.Select]) -> dict[str, str]:
    """Add to ``queries`` each rule's SELECT of the claims it cannot judge (``Rule.unchecked``),
    one part per distinct SELECT (the rules of a basis share theirs), to run in the same
    statement as the rules, reading their basis once; returns each rule's part label."""
    labels: dict[int, str] = {}
    of_rule = {}
    for step in steps:
        if step.rule.unchecked is None:
            continue
        query = step.rule.unchecked(step.chosen.params, scope)
        if id(query) not in labels:
            labels[id(query)] = f"{UNCHECKED}{step.rule.code}"
            queries[labels[id(query)]] = query
        of_rule[step.rule.code] = labels[id(query)]
    return of_rule


def _unchecked_reasons(rows: list[Any]) -> dict[str, dict[str, int]]:
    """Per county, the claims a rule could not judge by reason, from its unchecked part's rows."""
    reasons: dict[str, dict[str, int]] = {}
    for row in rows:
        county = reasons.setdefault(row["county_code"], {})
        county[row["unchecked_reason"]] = county.get(row["unchecked_reason"], 0) + int(row["unchecked_claims"])
    return reasons


def _run_model(engine: Engine, settings: Settings, run_id: str, counties: list[str], period: tuple[date, date] | None,
               incremental: bool, through: int) -> list[RuleOutcome]:
    """The anomaly model over the province's institutions (their peers are the province's,
    whatever counties the run judges), for the whole months of care the period touches; its
    findings filed for the institutions of ``counties``, its run recorded per county."""
    chosen = anomaly.read_anomaly_settings(settings.config_dir)
    if not chosen.enabled:
        return []
    if incremental:  # again only if something was loaded, or the model or its settings changed, since
        with engine.connect() as conn:
            last = conn.execute(sa.select(RuleRun.through_batch, RuleRun.rule_version, RuleRun.parameters)
                                .where(RuleRun.rule_code == MODEL.code, RuleRun.period_start.is_(None))
                                .order_by(RuleRun.id.desc()).limit(1)).first()
        if last is not None and (last.through_batch or 0) >= through and last.rule_version == MODEL.version \
                and _canonical(last.parameters) == _canonical(chosen.params):
            return []
    started = time.perf_counter()
    months = anomaly.whole_months(period)
    frame = compute_features(engine, months)
    codes, prefectures = anomaly.names(engine)
    scored = anomaly.score(frame, chosen, prefectures)
    with session_scope(engine) as session:
        conn = session.connection()
        store_features(conn, scored.with_columns(model_version=pl.lit(MODEL.version)), months)
        members = store_member_years(conn, months)
        found = [hit for hit in anomaly.hits(scored, codes, lambda wanted: anomaly.top_claims(
            conn, wanted, chosen.top_claims)) if hit["county_code"] in counties]
        raised, closed, excepted = file_findings(session, MODEL, chosen.params, Severity.SUSPICIOUS,
                                                 Scope(tuple(counties), period), found)
    seconds = time.perf_counter() - started
    judged = scored.filter(pl.col("score").is_not_null()).group_by("county_code").len()
    rows = dict(judged.iter_rows())
    outcomes = [RuleOutcome(MODEL.code, county, rows.get(county, 0), sum(h["county_code"] == county for h in found),
                            raised.get(county, 0), closed.get(county, 0),
                            sum((h["amount"] for h in found if h["county_code"] == county), Decimal("0")),
                            seconds / len(counties), excepted=excepted.get(county, 0)) for county in counties]
    with engine.begin() as conn:
        conn.execute(sa.insert(RuleRun), [
            dict(run_id=run_id, rule_code=MODEL.code, rule_version=MODEL.version, county_code=o.county_code,
                 period_start=period[0] if period else None, period_end=period[1] if period else None,
                 parameters=chosen.params, rows_scanned=o.rows_scanned, hits=o.hits, raised=o.raised,
                 closed=o.closed, seconds=o.seconds, excepted=o.excepted, through_batch=through,
                 incremental=incremental)
            for o in outcomes])
    log.event(logger, "monitor.model", run=run_id, months=scored.height, scored=judged["len"].sum(), members=members,
              hits=len(found), seconds=round(seconds, 3))
    return outcomes
