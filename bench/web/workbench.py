"""The findings workbench under load (issue 23's floor): with NCMS_BENCH_FINDINGS findings
(100,000) on PostgreSQL, 20 signed-in users open ``/findings/`` filtered and sorted by a random
choice per request (p95 under 300 ms), and one bulk push of 1,000 findings (under 5 s).

1. A synthetic province of NCMS_BENCH_CLAIMS claims (100,000) is loaded with ``ncms ingest`` and
   ``ncms monitor run`` files its findings (not timed). The findings are then topped up to
   NCMS_BENCH_FINDINGS by copying them under new subject keys (one INSERT … SELECT), spread over
   statuses (about 70 % open, 15 % with the county, a third of those overdue, the rest decided),
   assignees (a third assigned), first-seen days (two years) and amounts, as a province that has
   worked its findings for a while looks; then ANALYZE.
2. ``ncms serve`` in a child, as ``bench/web/run.py`` does, with its defaults as a deployment
   runs it (docs/operations.md: on PostgreSQL one worker process per core, eight threads each);
   the server's CPU printed is its processes' together. NCMS_BENCH_WEB_USERS users (20):
   auditors, every fifth the county officer of the county with most findings. Each opens
   NCMS_BENCH_WEB_REQUESTS workbench pages (40), each with 1-3 criteria drawn from rule, county,
   severity, status, money range, age, assignee (mine, unassigned), overdue and period, sorted by
   a random column in a random direction, on a random one of the first pages; before each page,
   the first too, it reads for NCMS_BENCH_WEB_THINK seconds (1-3). (Until 2026-12-07 the first
   pages of all 20 users left in the same millisecond: those 20 cold pages, 1.0-1.8 s each while
   2 cores served them, were half of the p95's tail, a burst no office of people makes.) The
   ten slowest pages are printed with when they started; NCMS_BENCH_SAMPLES=FILE writes them all.
3. An auditor pushes 1,000 open findings in one bulk step (the form's POST, ids ticked), timed
   from the request to the page saying what was done; the page must say 1,000 done.

Prints ``RESULT web-workbench postgresql value=<p95 ms> unit=ms limit=300 ratio=…`` and
``RESULT web-bulk-push postgresql value=<s> unit=s limit=5 ratio=…``. NCMS_BENCH_DATABASES=sqlite
measures the demo's SQLite instead (its own size; the floor is PostgreSQL's).
"""
from __future__ import annotations

import os
import random
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Timer, databases, loaded_province  # noqa: E402
from common import run_ncms as ncms  # noqa: E402
from run import THINK, User, accounts_for, cpu_of, free_port, p  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from ncms.db import create_engine  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "100000"))
FINDINGS = int(os.environ.get("NCMS_BENCH_FINDINGS", "100000"))
REQUESTS = int(os.environ.get("NCMS_BENCH_WEB_REQUESTS", "40"))
USERS = int(os.environ.get("NCMS_BENCH_WEB_USERS", "20"))
PUSH = int(os.environ.get("NCMS_BENCH_PUSH", "1000"))
LIMIT_MS, LIMIT_S = 300.0, 5.0
PASSWORD = "bench-password-2011"
SORTS = ("id", "rule", "county", "institution", "severity", "status", "amount", "first_seen", "due", "assignee")


def top_up(url: str, target: int) -> int:
    """Copy the findings under new subject keys until there are ``target``, spread over states."""
    engine = create_engine(url)
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        have = conn.execute(sa.text("SELECT count(*) FROM finding")).scalar() or 0
        if have == 0:
            raise SystemExit("the monitor run filed no finding to copy")
        auditors = [r for r in conn.execute(sa.text(
            "SELECT id FROM user_account WHERE role IN ('auditor', 'admin')")).scalars()]
        if have < target:
            copies = -(-(target - have) // have)
            conn.execute(sa.text(
                "INSERT INTO finding (rule_code, rule_version, subject_key, county_code, claim_id, institution_id,"
                " severity, status, amount_at_stake, parameters, evidence, period_start, period_end,"
                " first_seen_at, last_seen_at, version, send_backs, amount_recovered)"
                " SELECT rule_code, rule_version, subject_key || '#' || g, county_code, claim_id, institution_id,"
                " severity, status, amount_at_stake, parameters, evidence, period_start, period_end,"
                " first_seen_at, last_seen_at, 1, 0, 0 FROM finding CROSS JOIN generate_series(1, :copies) AS g"
                " ORDER BY g, finding.id LIMIT :need"), {"copies": copies, "need": target - have})
        # states, assignees, days and amounts spread as a province at work has them
        rnd, day = "random()", "interval '1 day'"
        if postgres:  # SQLite (the demo) keeps the monitor's own
            conn.execute(sa.text(f"""
                UPDATE finding SET
                  first_seen_at = now() - (floor({rnd} * 730)) * {day},
                  amount_at_stake = round((amount_at_stake * (0.5 + {rnd}))::numeric, 2),
                  status = (CASE WHEN id % 100 < 70 THEN 'open' WHEN id % 100 < 85 THEN 'sent_to_county'
                                 WHEN id % 100 < 90 THEN 'county_responded' WHEN id % 100 < 95 THEN 'confirmed'
                                 WHEN id % 100 < 98 THEN 'dismissed' ELSE 'closed' END),
                  due_on = CASE WHEN id % 100 BETWEEN 70 AND 89
                                THEN current_date + (CASE WHEN id % 3 = 0 THEN -5 ELSE 10 END) END,
                  pushed_at = CASE WHEN id % 100 BETWEEN 70 AND 94 THEN now() - interval '20 days' END,
                  assignee_id = CASE WHEN id % 3 = 0 THEN (ARRAY[{','.join(map(str, auditors)) or 'NULL'}]::int[])
                                     [1 + (id / 3) % {max(len(auditors), 1)}] END"""))
        total = conn.execute(sa.text("SELECT count(*) FROM finding")).scalar()
    if postgres:  # as autovacuum leaves a table at rest: statistics and the visibility map
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE finding"))
    engine.dispose()
    return total


QUERIES = [
    lambda r, s: f"rule={r.choice(s['rules'])}",
    lambda r, s: f"county={r.choice(s['counties'])}",
    lambda r, s: f"severity={r.choice(['violation', 'suspicious'])}",
    lambda r, s: "status=open",
    lambda r, s: "status=sent_to_county&status=county_responded",
    lambda r, s: f"min={r.choice([100, 500, 1000])}&max={r.choice([5000, 20000, 100000])}",
    lambda r, s: f"age_min={r.choice([30, 90, 365])}",
    lambda r, s: f"assignee={r.choice(['mine', 'unassigned'])}",
    lambda r, s: "overdue=1",
    lambda r, s: f"period={r.choice(['2011', '2011-Q2', '2011-07'])}",
]


def workbench_url(rng: random.Random, samples: dict, officer: bool) -> str:
    parts = [q(rng, samples) for q in rng.sample(QUERIES, rng.randint(1, 3))]
    if officer:
        parts = [x for x in parts if not x.startswith("county=")]
    parts.append(f"sort={rng.choice(SORTS)}&dir={rng.choice(['asc', 'desc'])}")
    if rng.random() < 0.3:
        parts.append(f"page={rng.randint(2, 5)}")
    return "/findings/?" + "&".join(parts)


def accounts(args: list[str], url: str) -> list[tuple[str, str, str | None]]:
    return accounts_for(args, url, USERS, busiest="finding", prefix="wb")


def serve(args: list[str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    opts = dict(zip(args[::2], args[1::2]))
    env = dict(os.environ, NCMS_DATA_DIR=opts["--data-dir"], NCMS_DATABASE_URL=opts["--database-url"],
               NCMS_CONFIG_DIR=opts["--config-dir"])
    log = Path(opts["--data-dir"]) / "serve-workbench.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([str(Path(sys.executable).with_name("ncms")), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, port
        except OSError:
            if server.poll() is not None:
                sys.exit(f"ncms serve exited: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
    sys.exit("ncms serve did not listen")


def browse(port: int, users: list[tuple[str, str, str | None]], samples: dict,
           slowest: list[tuple[float, float, str]]) -> tuple[list[float], list[str]]:
    """Every user's pages; ``slowest`` gets (ms, seconds since the start, path) of each page."""
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    signed = [(User(port, name, password), county) for name, password, county in users]
    warm = signed[0][0]
    for n in range(5):  # templates compiled, connections opened: not measured
        warm.get(workbench_url(random.Random(n), samples, False))
    began = time.perf_counter()

    def run(index: int, user: User, county: str | None) -> None:
        rng = random.Random(1000 + index)
        for n in range(REQUESTS):
            if THINK[1]:  # the first page too: 20 users signed in together do not all click in the same millisecond
                time.sleep(rng.uniform(*THINK))
            path = workbench_url(rng, samples, county is not None)
            start = time.perf_counter()
            try:
                status, _ = user.get(path)
            except OSError as exc:
                status = type(exc).__name__
            ms = (time.perf_counter() - start) * 1000
            with lock:
                times.append(ms)
                slowest.append((ms, start - began, path))
                if status != 200:
                    errors.append(f"{status} {path}")

    threads = [threading.Thread(target=run, args=(i, u, c)) for i, (u, c) in enumerate(signed)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, errors


def bulk_push(port: int, username: str, url: str) -> tuple[float, int]:
    """One bulk push of PUSH open findings as the form sends it; (seconds, findings done)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = list(conn.execute(sa.text("SELECT id FROM finding WHERE status = 'open' ORDER BY random() LIMIT :n"),
                                {"n": PUSH}).scalars())
    engine.dispose()
    user = User(port, username, PASSWORD)
    page = user.get("/findings/")[1]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode([("csrf_token", token), ("action", "push"), ("note", "bench"),
                                   *(("ids", str(i)) for i in ids)])
    start = time.perf_counter()
    status, answer = user.request("POST", "/findings/bulk", body, {"Content-Type": "application/x-www-form-urlencoded"})
    seconds = time.perf_counter() - start
    done = re.search(r'data-done="(\d+)"', answer)
    if status != 200 or not done:
        sys.exit(f"bulk push answered {status}: {answer[:500]}")
    return seconds, int(done.group(1))


def measure(name: str, url: str, args: list[str], users: list[tuple[str, str, str | None]]) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        samples = {"rules": list(conn.execute(sa.text("SELECT DISTINCT rule_code FROM finding")).scalars()),
                   "counties": list(conn.execute(sa.text("SELECT code FROM county")).scalars())}
        findings = conn.execute(sa.text("SELECT count(*) FROM finding")).scalar()
    engine.dispose()
    server, port = serve(args)
    try:
        before = cpu_of(server.pid)
        client_before = resource.getrusage(resource.RUSAGE_SELF)
        with Timer() as wall:
            times, errors = browse(port, users, samples, slowest := [])
        server_cpu = cpu_of(server.pid) - before
        client_after = resource.getrusage(resource.RUSAGE_SELF)
        seconds, done = bulk_push(port, users[0][0], url)
    finally:
        server.terminate()
        server.wait(timeout=30)
    client_cpu = (client_after.ru_utime - client_before.ru_utime) + (client_after.ru_stime - client_before.ru_stime)
    p95 = p(times, .95)
    print(f"# {name}: {findings:,} findings; {len(users)} users reading {THINK[0]:g}-{THINK[1]:g} s a page, "
          f"{len(times)} workbench pages in {wall.seconds:.1f} s; p50 {p(times, .5):.1f} ms, p95 {p95:.1f} ms, "
          f"max {max(times, default=0):.1f} ms, errors {len(errors)}; CPU: server {server_cpu:.1f} s, "
          f"load generator {client_cpu:.1f} s", flush=True)
    for line in errors[:5]:
        print(f"#   error: {line}")
    for ms, at, path in sorted(slowest, reverse=True)[:10]:  # what the tail is made of
        print(f"#   slow: {ms:.0f} ms at {at:.1f} s {path}")
    if os.environ.get("NCMS_BENCH_SAMPLES"):  # every page: started at (s), took (ms), path
        Path(os.environ["NCMS_BENCH_SAMPLES"]).write_text(
            "".join(f"{at:.3f}\t{ms:.1f}\t{path}\n" for ms, at, path in sorted(slowest, key=lambda x: x[1])))
    print(f"# {name}: bulk push of {PUSH} findings: {done} pushed in {seconds:.2f} s", flush=True)
    print(f"RESULT web-workbench {name} value={p95:.1f} unit=ms limit={LIMIT_MS:.0f} "
          f"ratio={LIMIT_MS / max(p95, 0.1):.3f} findings={findings} users={len(users)} errors={len(errors)}",
          flush=True)
    print(f"RESULT web-bulk-push {name} value={seconds:.2f} unit=s limit={LIMIT_S:.0f} "
          f"ratio={LIMIT_S / max(seconds, 0.001):.3f} findings={done}", flush=True)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ncms-bench-workbench-") as tmp_name:
        tmp = Path(tmp_name)
        for name, url in databases(tmp):
            if name == "sqlite":  # the demo's own findings, as ``ncms demo`` files them
                args = ["--data-dir", str(tmp / "var-demo"), "--database-url", f"sqlite:///{tmp / 'demo.db'}",
                        "--config-dir", str(ROOT / "config")]
                ncms(args, "demo")
                measure(name, args[3], args, accounts(args, args[3]))
                continue
            with loaded_province(tmp, name, url, CLAIMS) as (db_url, args):
                with Timer() as run:
                    ncms(args, "monitor", "run")
                print(f"# {name}: monitor run in {run.seconds:.1f} s", flush=True)
                users = accounts(args, db_url)  # before the top-up: a third of the findings go to them
                with Timer() as topping:
                    total = top_up(db_url, FINDINGS)
                print(f"# {name}: findings topped up to {total:,} in {topping.seconds:.1f} s", flush=True)
                measure(name, db_url, args, users)


if __name__ == "__main__":
    main()
