"""The console under load: signed-in users browsing its pages on PostgreSQL (a 1-million-claim
province with its findings) and on the demo's SQLite.

1. PostgreSQL: the synthetic province (NCMS_BENCH_CLAIMS, default 1,000,000 claims) is loaded
   with ``ncms ingest`` into an empty schema and ``ncms monitor run`` files its findings (not
   timed). SQLite: ``ncms demo`` (its own size) in a folder of its own.
2. ``ncms serve`` with its defaults (waitress in one process on SQLite; on PostgreSQL gunicorn,
   one worker process per core, each with eight threads) in a child process on a free port of
   127.0.0.1; the server's CPU is its processes' together.
3. NCMS_BENCH_WEB_USERS users (20 on PostgreSQL, 5 on SQLite) sign in, each on its own
   connection and session (auditors, and one in five the county officer of one county), and
   each opens NCMS_BENCH_WEB_REQUESTS pages (40) in turn: the start page, a county, an
   institution, a member, a claim, the data page and a batch, with codes and ids picked at
   random from the database (a county officer's from their county). Pages whose endpoint the
   app does not have yet are skipped with a note. A warm-up pass opens each page kind a few times first.
   Between two pages a user reads for NCMS_BENCH_WEB_THINK seconds, drawn evenly from the
   range (default 1-3, seeded per user: an auditor reads a page before opening the next, as a
   locust user waits between tasks); ``NCMS_BENCH_WEB_THINK=0`` asks for the next page the
   moment the last one arrives, a test of throughput rather than of users browsing.
   Bounded: the requests, or NCMS_BENCH_WEB_SECONDS (300) of load, whichever ends first.
4. Per page: requests, p50, p95, errors (anything but a 200 once the site's own redirects are
   followed as a browser follows them, or no answer; a redirect to sign in is an error). The load
   generator's own CPU (threads and http.client, no browser) and the server's are printed.

Prints ``RESULT web <db> value=<p95 ms of the slowest page> unit=ms limit=300 ratio=<300/p95>``
(the issue asks for p95 under 300 ms per page: the slowest page's decides); the floor is a
ratio of at least 1 and zero errors (printed above it).
"""
from __future__ import annotations

import http.client
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
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import ROOT, Timer, databases, loaded_province  # noqa: E402
from common import run_ncms as ncms  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from ncms.db import create_engine  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "1000000"))
REQUESTS = int(os.environ.get("NCMS_BENCH_WEB_REQUESTS", "40"))  # per user
SECONDS = float(os.environ.get("NCMS_BENCH_WEB_SECONDS", "300"))


def think_range(text: str) -> tuple[float, float]:
    """``"1-3"`` -> (1.0, 3.0); ``"0"`` -> (0.0, 0.0)."""
    low, _, high = text.partition("-")
    return float(low), float(high or low)


THINK = think_range(os.environ.get("NCMS_BENCH_WEB_THINK", "1-3"))  # seconds a user reads a page
LIMIT_MS = 300.0
PASSWORD = "bench-password-2011"
USERS = {"postgresql": 20, "sqlite": 5}
# page kind: (endpoint that must exist, URL pattern; {…} filled from the database)
PAGES = {
    "start": ("province.index", "/"),
    "county": ("county.show", "/county/{county}"),
    "institution": ("institution.show", "/institution/{institution}"),
    "member": ("member.show", "/member/{member}"),
    "claim": ("claim.show", "/claim/{claim}"),
    "data": ("data.index", "/data/"),
    "batch": ("data.batch", "/data/batch/{batch}"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def endpoints(args: list[str]) -> set[str]:
    """The endpoints this checkout's app has (pages of other builders may not exist yet)."""
    from ncms.config import load_settings
    from ncms.web import create_app

    opts = dict(zip(args[::2], args[1::2]))
    settings = load_settings({}, data_dir=opts["--data-dir"], database_url=opts["--database-url"],
                             config_dir=opts["--config-dir"])
    app = create_app(settings)
    found = {rule.endpoint for rule in app.url_map.iter_rules()}
    app.extensions["ncms.engine"].dispose()
    return found


def samples(url: str, county: str | None) -> dict[str, list[str]]:
    """Codes and ids to browse, picked at random from the database (of ``county`` only, if given)."""
    engine = create_engine(url)
    where = "WHERE county_code = :c" if county else ""
    rnd = "random()"
    with engine.connect() as conn:
        def pick(sql: str) -> list[str]:
            return [str(v) for v in conn.execute(sa.text(sql), {"c": county}).scalars()]

        picked = {
            "county": [county] if county else pick("SELECT code FROM county"),
            "institution": pick("SELECT code FROM institution " + where.replace("county_code", "area_code")
                                + f" ORDER BY {rnd} LIMIT 50"),
            "member": pick(f"SELECT id FROM member {where} ORDER BY {rnd} LIMIT 200"),
            "batch": pick(f"SELECT id FROM batch {where} ORDER BY {rnd} LIMIT 50"),
        }
        # claims: a random sample without sorting a million rows (ids are dense from 1)
        top = conn.execute(sa.text(f"SELECT max(id) FROM claim {where}"), {"c": county}).scalar() or 0
        ids = random.Random(1).sample(range(1, top + 1), min(top, 2000))
        chosen = conn.execute(sa.text(f"SELECT id FROM claim WHERE id IN ({','.join(map(str, ids)) or 0})"
                                      + (" AND county_code = :c" if county else "")), {"c": county}).scalars()
        picked["claim"] = [str(v) for v in chosen][:200]
    engine.dispose()
    return picked


class User:
    """One signed-in browser: its own connection and session cookie."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        page = self.get("/sign-in")[1]
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"username": username, "password": password, "csrf_token": token})
        status, _ = self.request("POST", "/sign-in", body, {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302:
            raise SystemExit(f"{username} could not sign in: {status}")

    def request(self, method: str, path: str, body: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        self.location = response.headers.get("Location", "")
        return response.status, data.decode("utf-8", "replace")

    def get(self, path: str) -> tuple[int, str]:
        """A page as a browser opens it: a redirect within the site is followed (a county officer's
        ``/`` is their county's page), its time counted; one to sign in is not (the session was lost)."""
        status, page = self.request("GET", path)
        for _ in range(3):
            target = urllib.parse.urlsplit(self.location)
            if status not in (301, 302, 303) or target.path.startswith("/sign-in") \
                    or (target.netloc and target.netloc != f"127.0.0.1:{self.conn.port}"):
                break
            status, page = self.request("GET", urllib.parse.urlunsplit(("", "", target.path, target.query, "")))
        return status, page


def browse(port: int, accounts: list[tuple[str, str, str | None]], kinds: list[str],
           picks: dict[str | None, dict[str, list[str]]], warm: bool = True) -> dict[str, dict]:
    """Each account a thread of REQUESTS pages; per page kind the milliseconds and the errors."""
    times: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS
    users = [(User(port, name, password), county) for name, password, county in accounts]

    def url(kind: str, county: str | None, rng: random.Random) -> str | None:
        pattern = PAGES[kind][1]
        values = {}
        for field in re.findall(r"{(\w+)}", pattern):
            choices = picks[county].get(field) or []
            if not choices:
                return None
            values[field] = rng.choice(choices)
        return pattern.format(**values)

    if warm:  # every page kind a few times, not measured: the server's first requests compile templates
        user, county = users[0]
        for kind in kinds:
            for _ in range(3):
                path = url(kind, county, random.Random(kind))
                if path:
                    user.get(path)

    def run(index: int, user: User, county: str | None) -> None:
        rng = random.Random(index)
        for n in range(REQUESTS):
            if n and THINK[1]:
                time.sleep(rng.uniform(*THINK))
            if time.monotonic() > deadline:
                return
            kind = kinds[(index + n) % len(kinds)]
            path = url(kind, county, rng)
            if path is None:
                continue
            start = time.perf_counter()
            try:
                status, _ = user.get(path)
            except (OSError, http.client.HTTPException) as exc:
                status = f"{type(exc).__name__}"
                user.conn.close()
            ms = (time.perf_counter() - start) * 1000
            with lock:
                times[kind].append(ms)
                if status != 200:
                    errors[kind].append(f"{status} {path}")

    threads = [threading.Thread(target=run, args=(i, u, c)) for i, (u, c) in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {kind: {"ms": times[kind], "errors": errors[kind]} for kind in kinds}


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a process and the processes it started, so far (``ncms
    serve`` on PostgreSQL serves from several worker processes)."""
    seconds = 0.0
    for one in (pid, *descendants(pid)):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


def p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def measure(name: str, url: str, args: list[str], accounts: list[tuple[str, str, str | None]]) -> None:
    have = endpoints(args)
    kinds = []
    for kind, (endpoint, _) in PAGES.items():
        if endpoint in have:
            kinds.append(kind)
        else:
            print(f"# {name}: {kind} page skipped: the app has no {endpoint} endpoint yet", flush=True)
    picks = {county: samples(url, county) for county in {c for _, _, c in accounts}}
    port = free_port()
    opts = dict(zip(args[::2], args[1::2]))
    env = dict(os.environ, NCMS_DATA_DIR=opts["--data-dir"], NCMS_DATABASE_URL=opts["--database-url"],
               NCMS_CONFIG_DIR=opts["--config-dir"])
    log = Path(opts["--data-dir"]) / "serve.log"  # one line a request: a pipe nobody reads would fill
    log.parent.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([str(Path(sys.executable).with_name("ncms")), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    sys.exit(f"ncms serve exited: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
        client_before, server_before = resource.getrusage(resource.RUSAGE_SELF), cpu_of(server.pid)
        with Timer() as wall:
            results = browse(port, accounts, kinds, picks)
        client_after, server_after = resource.getrusage(resource.RUSAGE_SELF), cpu_of(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    client_cpu = (client_after.ru_utime - client_before.ru_utime) + (client_after.ru_stime - client_before.ru_stime)
    total = sum(len(r["ms"]) for r in results.values())
    print(f"# {name}: {len(accounts)} users reading {THINK[0]:g}-{THINK[1]:g} s a page, "
          f"{total} requests in {wall.seconds:.1f} s "
          f"(sign-in and warm-up included); CPU: load generator {client_cpu:.1f} s "
          f"({100 * client_cpu / wall.seconds:.0f} % of one core), server {server_after - server_before:.1f} s", flush=True)
    print(f"# {'page':<12} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'errors':>6}")
    every, errors = [], 0
    for kind, r in results.items():
        every += r["ms"]
        errors += len(r["errors"])
        print(f"# {kind:<12} {len(r['ms']):>8} {p(r['ms'], .5):>8.1f} {p(r['ms'], .95):>8.1f} "
              f"{max(r['ms'], default=0):>8.1f} {len(r['errors']):>6}")
        for line in r["errors"][:3]:
            print(f"#   error: {line}")
    worst = max((p(r["ms"], .95) for r in results.values() if r["ms"]), default=0.0)
    p95 = p(every, .95)
    print(f"# {name}: errors {errors}; p95 over all pages {p95:.1f} ms, worst page's p95 {worst:.1f} ms", flush=True)
    print(f"RESULT web {name} value={worst:.1f} unit=ms limit={LIMIT_MS:.1f} ratio={LIMIT_MS / max(worst, 0.1):.3f}",
          flush=True)


def accounts_for(args: list[str], url: str, users: int, *, busiest: str = "claim",
                 prefix: str = "") -> list[tuple[str, str, str | None]]:
    """``users`` accounts made with ``ncms users create``: auditors, and every fifth the
    county officer of the county with most rows in ``busiest`` (claims; the workbench's: findings)."""
    assert busiest in ("claim", "finding")
    engine = create_engine(url)
    with engine.connect() as conn:
        county = conn.execute(sa.text(f"SELECT county_code FROM {busiest} GROUP BY county_code "
                                      "ORDER BY count(*) DESC LIMIT 1")).scalar()
    engine.dispose()
    made = []
    os.environ["NCMS_NEW_PASSWORD"] = PASSWORD
    try:
        for n in range(users):
            officer = n % 5 == 4
            username = f"{prefix}{'officer' if officer else 'auditor'}{n + 1:02d}"
            role = ["--role", "county", "--county", county] if officer else ["--role", "auditor"]
            ncms(args, "users", "create", username, *role)
            made.append((username, PASSWORD, county if officer else None))
    finally:
        os.environ.pop("NCMS_NEW_PASSWORD")
    return made


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ncms-bench-web-") as tmp_name:
        tmp = Path(tmp_name)
        for name, url in databases(tmp):
            users = int(os.environ.get("NCMS_BENCH_WEB_USERS", USERS[name]))
            if name == "sqlite":  # the demo's own database, as `ncms demo` makes it
                args = ["--data-dir", str(tmp / "var-demo"), "--database-url", f"sqlite:///{tmp / 'demo.db'}",
                        "--config-dir", str(ROOT / "config")]
                with Timer() as demo:
                    ncms(args, "demo")
                print(f"# sqlite: ncms demo in {demo.seconds:.1f} s", flush=True)
                measure(name, args[3], args, accounts_for(args, args[3], users))
                continue
            with loaded_province(tmp, name, url, CLAIMS) as (db_url, args):
                with Timer() as run:
                    done = ncms(args, "monitor", "run")
                print(f"# {name}: monitor run in {run.seconds:.1f} s: "
                      + (done.stdout.strip().splitlines() or ["?"])[-1][:200], flush=True)
                measure(name, db_url, args, accounts_for(args, db_url, users))


if __name__ == "__main__":
    main()
