"""The REST API under load: systems paging through findings and claims with read tokens, on
PostgreSQL (a 1-million-claim province with its findings) and on the demo's SQLite.

1. The database as bench/web makes it (``loaded_province`` and ``ncms monitor run``, not timed;
   SQLite: ``ncms demo``). ``ncms users create`` an auditor and the county officer of the county
   with most claims (``accounts_for``); ``ncms tokens create`` a read token for each client (the
   rate limit, NCMS_API_RATE_LIMIT, counts per token: each system has its own).
2. ``ncms serve`` with its defaults in a child (``workbench.serve``: gunicorn on PostgreSQL).
3. NCMS_BENCH_API_CLIENTS clients (20 on PostgreSQL, 5 on SQLite; every fifth with a token of the
   county officer, the others of the auditor), each on its own keep-alive connection, send
   NCMS_BENCH_API_REQUESTS requests (60) one after the other (NCMS_BENCH_API_THINK seconds
   between them, default 0: a system pages as fast as answers come): they walk
   ``/api/v1/findings`` and ``/api/v1/claims`` alternately, each walk with a filter and sort
   picked at random (severity, status, rule, county, institution, kind, settlement dates; the
   findings sorted by first seen, amount, county or severity) and followed by ``next_cursor``
   for up to NCMS_BENCH_API_PAGES pages (5) of 50. Bounded: the requests, or
   NCMS_BENCH_API_SECONDS (300) of load. Per request the milliseconds; an error is anything but 200.
4. The raw limit, in the same run on the same database: the server stopped, a sample of the
   requests sent (NCMS_BENCH_API_SQL_SAMPLE, 400) is made again in process with the same token
   to capture the SQL each one runs; those statements are then run directly through the driver
   (no Flask, no serialisation, no HTTP), by as many threads as there were clients, each a
   connection of its own: per request the time of its statements, and their p95.

Prints ``RESULT api <db> value=<p95 ms of every request> unit=ms limit=200 ratio=<200/p95>``
(issue 25: p95 under 200 ms with zero errors, printed above it with the statements' own p95).
"""
from __future__ import annotations

import http.client
import json
import os
import random
import resource
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))
from common import ROOT, Timer, databases, loaded_province  # noqa: E402
from common import run_ncms as ncms  # noqa: E402
from run import accounts_for, cpu_of, p, think_range  # noqa: E402  (bench/web/run.py)
from workbench import serve  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from ncms.db import create_engine  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "1000000"))
REQUESTS = int(os.environ.get("NCMS_BENCH_API_REQUESTS", "60"))  # per client
PAGES = int(os.environ.get("NCMS_BENCH_API_PAGES", "5"))  # pages of one walk before the next
SECONDS = float(os.environ.get("NCMS_BENCH_API_SECONDS", "300"))
THINK = think_range(os.environ.get("NCMS_BENCH_API_THINK", "0"))
SQL_SAMPLE = int(os.environ.get("NCMS_BENCH_API_SQL_SAMPLE", "400"))
CLIENTS = {"postgresql": 20, "sqlite": 5}
LIMIT_MS = 200.0


def samples(url: str, county: str) -> dict:
    """Filter values from the database: counties, rules, institutions (of ``county`` too)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        def pick(sql: str, **params: str) -> list[str]:
            return [str(v) for v in conn.execute(sa.text(sql), params).scalars()]

        found = {"counties": pick("SELECT code FROM county ORDER BY code"),
                 "rules": pick("SELECT DISTINCT rule_code FROM finding ORDER BY rule_code"),
                 "institutions": pick("SELECT code FROM institution ORDER BY code LIMIT 40"),
                 "own_institutions": pick("SELECT code FROM institution WHERE area_code = :c ORDER BY code LIMIT 20",
                                          c=county),
                 "findings": conn.execute(sa.text("SELECT count(*) FROM finding")).scalar(),
                 "claims": conn.execute(sa.text("SELECT count(*) FROM claim")).scalar()}
    engine.dispose()
    return found


def walk_query(kind: str, rng: random.Random, picks: dict, county: str | None) -> dict[str, str]:
    """A filter and sort of ``kind`` (findings, claims) a client pages through; ``county`` for
    the county officer (their county's values only)."""
    if kind == "findings":
        options: list[dict[str, str]] = [{}, {"severity": "violation"}, {"status": "open"},
                                         {"sort": "amount"}, {"sort": "severity", "dir": "desc"},
                                         {"status": "open", "sort": "county", "dir": "asc"}]
        if picks["rules"]:
            options.append({"rule": rng.choice(picks["rules"])})
        if county is None and picks["counties"]:
            options.append({"county": rng.choice(picks["counties"]), "sort": "amount"})
    else:
        options = [{}, {"kind": "inpatient"}, {"settled_from": "2011-07-01", "settled_to": "2011-09-30"}]
        institutions = picks["own_institutions"] if county else picks["institutions"]
        if institutions:
            options.append({"institution": rng.choice(institutions)})
        if county is None and picks["counties"]:
            options.append({"county": rng.choice(picks["counties"]), "kind": "outpatient"})
    return rng.choice(options)


class Client:
    """One system: its own connection and token."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def get(self, path: str) -> tuple[int, dict]:
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        try:
            body = json.loads(data) if response.status == 200 else {}
        except ValueError:
            return 0, {}
        return response.status, body


def load(port: int, clients: list[tuple[str, str | None]], picks: dict) -> tuple[dict, list[str], list[str]]:
    """Each client a thread of REQUESTS requests; per list the milliseconds, the errors, and
    every path requested (for the raw limit)."""
    times: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    sent: list[tuple[str, str]] = []  # (token, path)
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def run(index: int, token: str, county: str | None) -> None:
        rng = random.Random(index)
        client = Client(port, token)
        kind, query, cursor, pages = ("claims" if index % 2 else "findings"), {}, None, PAGES
        for n in range(REQUESTS):
            if n and THINK[1]:
                time.sleep(rng.uniform(*THINK))
            if time.monotonic() > deadline:
                return
            if cursor is None or pages >= PAGES:  # a new walk, on the other list
                kind = "claims" if kind == "findings" else "findings"
                query, cursor, pages = walk_query(kind, rng, picks, county), None, 0
            path = f"/api/v1/{kind}?" + urllib.parse.urlencode({**query, **({"cursor": cursor} if cursor else {})})
            start = time.perf_counter()
            try:
                status, body = client.get(path)
            except (OSError, http.client.HTTPException) as exc:
                status, body = type(exc).__name__, {}
                client.conn.close()
            ms = (time.perf_counter() - start) * 1000
            cursor, pages = body.get("next_cursor"), pages + 1
            with lock:
                times[kind].append(ms)
                times[f"{kind}?{'&'.join(sorted(query))}"].append(ms)  # per filter, to find a slow one
                sent.append((token, path))
                if status != 200:
                    errors.append(f"{status} {path}")

    threads = [threading.Thread(target=run, args=(i, token, county)) for i, (token, county) in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, errors, sent


def captured_statements(args: list[str], sent: list[tuple[str, str]]) -> list[list[tuple[str, object]]]:
    """The SQL each of ``sent`` runs, captured by making the request again in process (the
    statements as the driver gets them, with their parameters); writes (the token's last use) left out."""
    from ncms.config import load_settings
    from ncms.web import create_app

    opts = dict(zip(args[::2], args[1::2]))
    app = create_app(load_settings({}, data_dir=opts["--data-dir"], database_url=opts["--database-url"],
                                   config_dir=opts["--config-dir"]))
    engine = app.extensions["ncms.engine"]
    current: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            current.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    step = max(1, len(sent) // SQL_SAMPLE)
    out = []
    client = app.test_client()
    for token, path in sent[::step][:SQL_SAMPLE]:
        current = []
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        if response.status_code == 200 and current:
            out.append(current)
    sa.event.remove(engine, "before_cursor_execute", capture)
    engine.dispose()
    return out


def raw_limit(url: str, requests: list[list[tuple[str, object]]], threads: int) -> list[float]:
    """Milliseconds of each request's statements run directly through the driver (every row
    fetched), by ``threads`` threads each on a connection of its own, as many as the clients.
    The slowest statements are printed, and on PostgreSQL the plan of the slowest one."""
    engine = create_engine(url, pool_size=threads, max_overflow=0) if not url.startswith("sqlite") \
        else create_engine(url)
    times: list[float] = []
    slowest: list[tuple[float, str, object]] = []
    lock = threading.Lock()

    def run(share: list[list[tuple[str, object]]]) -> None:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statements in share:
                start = time.perf_counter()
                for statement, parameters in statements:
                    began = time.perf_counter()
                    cursor.execute(statement, parameters)
                    cursor.fetchall()
                    with lock:
                        slowest.append(((time.perf_counter() - began) * 1000, statement, parameters))
                ms = (time.perf_counter() - start) * 1000
                with lock:
                    times.append(ms)
            raw.rollback()
        finally:
            raw.close()

    for statements in requests[:threads]:  # once each, not counted: the first plans and cold pages
        run([statements])
    times.clear()
    slowest.clear()
    workers = [threading.Thread(target=run, args=(requests[i::threads],)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    shapes: dict[str, list[tuple[float, object]]] = defaultdict(list)
    for ms, statement, parameters in slowest:
        shapes[statement].append((ms, parameters))
    ranked = sorted(shapes.items(), key=lambda kv: -p([ms for ms, _ in kv[1]], .5))
    for statement, runs in ranked[:3]:  # by median: a statement slow by itself, not by waiting its turn
        ms = [one for one, _ in runs]
        print(f"#   statement run {len(ms)} times, p50 {p(ms, .5):.1f} ms, p95 {p(ms, .95):.1f} ms: "
              f"{' '.join(statement.split())[:300]}")
    if ranked and engine.dialect.name == "postgresql":  # its slowest run's plan, alone on a quiet connection
        statement, runs = ranked[0]
        parameters = max(runs, key=lambda one: one[0])[1]
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            print(f"#   its plan with {parameters}:")
            for (line,) in cursor.fetchall():
                print(f"#     {line}")
            raw.rollback()
        finally:
            raw.close()
    engine.dispose()
    return times


def tokens_for(args: list[str], url: str, clients: int) -> list[tuple[str, str | None]]:
    """(token, county or None) of each client: a read token of its own (the API's rate limit,
    NCMS_API_RATE_LIMIT, counts per token, as each system has its own), every fifth the county
    officer's of the county with most claims, the others an auditor's; made with ``ncms tokens create``."""
    made = accounts_for(args, url, 5, prefix="api")  # four auditors, then the county officer
    out = []
    for index in range(clients):
        username, _, county = made[4] if index % 5 == 4 else made[0]
        done = ncms(args, "tokens", "create", username, "--scope", "read", "--expires-days", "1",
                    "--name", f"bench/api client {index + 1}")
        out.append((done.stdout.strip().splitlines()[-1], county))
    return out


def measure(name: str, url: str, args: list[str]) -> None:
    n = int(os.environ.get("NCMS_BENCH_API_CLIENTS", CLIENTS[name]))
    made = tokens_for(args, url, max(n, 5))
    clients, county = made[:n], made[4][1]
    picks = samples(url, county)
    server, port = serve(args)
    try:
        warm = Client(port, clients[0][0])  # each list once, not measured: the workers' first requests
        for _ in range(3):
            for kind in ("findings", "claims"):
                warm.get(f"/api/v1/{kind}")
        client_before, server_before = resource.getrusage(resource.RUSAGE_SELF), cpu_of(server.pid)
        with Timer() as wall:
            times, errors, sent = load(port, clients, picks)
        client_after, server_after = resource.getrusage(resource.RUSAGE_SELF), cpu_of(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    client_cpu = (client_after.ru_utime - client_before.ru_utime) + (client_after.ru_stime - client_before.ru_stime)
    every = times["findings"] + times["claims"]
    print(f"# {name}: {picks['claims']:,} claims, {picks['findings']:,} findings; {n} clients "
          f"(every fifth the county officer of {county}), {THINK[0]:g}-{THINK[1]:g} s between requests, "
          f"{len(every)} requests in {wall.seconds:.1f} s, a read token each; CPU: load generator {client_cpu:.1f} s, "
          f"server {server_after - server_before:.1f} s "
          f"({1000 * (server_after - server_before) / max(len(every), 1):.1f} ms a request)", flush=True)
    print(f"# {'list, and by filter':<40} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind, values in sorted(times.items(), key=lambda kv: ("?" in kv[0], -p(kv[1], .95))):
        print(f"# {kind:<40} {len(values):>8} {p(values, .5):>8.1f} {p(values, .95):>8.1f} {max(values):>8.1f}")
    for line in errors[:5]:
        print(f"#   error: {line}")
    with Timer() as capturing:
        statements = captured_statements(args, sent)
    sql = raw_limit(url, statements, n)
    print(f"# {name}: raw limit, the statements of {len(sql)} of those requests (captured in "
          f"{capturing.seconds:.1f} s) run directly through the driver by {n} threads: "
          f"p50 {p(sql, .5):.1f} ms, p95 {p(sql, .95):.1f} ms, max {max(sql, default=0):.1f} ms", flush=True)
    p95 = p(every, .95)
    print(f"# {name}: errors {len(errors)} of {len(every)}; p95 {p95:.1f} ms (statements alone {p(sql, .95):.1f} ms)",
          flush=True)
    print(f"RESULT api {name} value={p95:.1f} unit=ms limit={LIMIT_MS:.0f} ratio={LIMIT_MS / max(p95, 0.1):.3f}",
          flush=True)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ncms-bench-api-") as tmp_name:
        tmp = Path(tmp_name)
        for name, url in databases(tmp):
            if name == "sqlite":  # the demo's own database, as ``ncms demo`` makes it
                args = ["--data-dir", str(tmp / "var-demo"), "--database-url", f"sqlite:///{tmp / 'demo.db'}",
                        "--config-dir", str(ROOT / "config")]
                ncms(args, "demo")
                measure(name, args[3], args)
                continue
            with loaded_province(tmp, name, url, CLAIMS) as (db_url, args):
                with Timer() as run:
                    ncms(args, "monitor", "run")
                print(f"# {name}: monitor run in {run.seconds:.1f} s", flush=True)
                measure(name, db_url, args)


if __name__ == "__main__":
    main()
