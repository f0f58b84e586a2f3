"""What an operator would otherwise find out the hard way, each with how to fix it."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

from . import migrate
from .config import ConfigError, Settings
from .models import DeploymentMode
from .reference import DELIVERIES, Reference, read_reference
from .review.calendar import read_calendar

if TYPE_CHECKING:
    from .ingest.etl import SourceQueries
    from .ingest.mapping import CountyMapping

OK, WARN, FAIL = "ok", "warn", "fail"
SOURCE_TIMEOUT = 10  # seconds to connect to a county database, and for each answer


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


def run_checks(settings: Settings, engine: Engine) -> list[Check]:
    checks = [check_database(engine)]
    if checks[0].status == OK:
        checks.append(check_migrated(engine))
    checks += [check_writable(name, path) for name, path in (
        ("data folder", settings.data_dir), ("spool", settings.spool_dir),
        ("archive", settings.archive_dir), ("reports folder", settings.reports_dir))]
    checks += [check_config(settings), check_etl_mappings(settings)]
    checks += check_county_sources(settings, engine if checks[0].status == OK else None)
    checks += check_spool(settings)
    checks += [check_cjk_font(), check_weasyprint(), check_airflow()]
    return checks


def check_database(engine: Engine) -> Check:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return Check("database reachable", FAIL, f"{engine.url.render_as_string()}: {reason}",
                     "check NCMS_DATABASE_URL and that the server is running and accepts this user")
    return Check("database reachable", OK, f"{engine.dialect.name} at {engine.url.render_as_string()}")


def check_migrated(engine: Engine) -> Check:
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current == head:
        return Check("database migrated", OK, f"revision {current}")
    return Check("database migrated", FAIL, f"at {current or 'no revision'}, newest is {head}",
                 "run `ncms db upgrade`")


def check_writable(name: str, path: Path) -> Check:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(f"{name} writable", FAIL, f"{path}: {exc.strerror}",
                     "give the service user write access, or set NCMS_DATA_DIR to a writable folder")
    return Check(f"{name} writable", OK, str(path))


def check_config(settings: Settings) -> Check:
    try:
        ref = read_reference(settings.config_dir)
        calendar = read_calendar(settings.config_dir)
    except ConfigError as exc:
        return Check("configuration files", FAIL, str(exc), "fix the file named, or set NCMS_CONFIG_DIR")
    detail = (f"{settings.config_dir}: {len(ref.counties)} counties, {len(ref.schemes)} schemes; "
              f"counties answer findings in {calendar.response_working_days} working days")
    year = date.today().year
    if not any(day.year == year for day in calendar.holidays):
        return Check("configuration files", WARN, f"{detail}, but calendar.yaml lists no public holiday of {year}",
                     f"add {year}'s holidays and make-up working days to calendar.yaml (docs/review.md): "
                     "until then the counties' deadlines count every weekday")
    return Check("configuration files", OK, detail)


def check_etl_mappings(settings: Settings, environ: Mapping[str, str] | None = None) -> Check:
    """Every centralised county has a mapping that reads, and a way to reach its database."""
    from .ingest.mapping import load_mapping

    env = os.environ if environ is None else environ
    name = "county database mappings"
    try:
        counties = centralised(read_reference(settings.config_dir))
        mappings = [load_mapping(settings.config_dir, county) for county in counties["extract"]]
    except ConfigError as exc:
        return Check(name, FAIL, str(exc), "write or correct the mapping named (docs/operations.md)")
    unset = [m.source_env for m in mappings if not (m.source_env and env.get(m.source_env))]
    detail = f"{len(mappings)} etl counties mapped in {settings.config_dir / 'mappings'}"
    sending = counties["packages"]
    if sending:
        detail += f"; centralised, sending packages (delivery: packages): {', '.join(sending)}"
    if unset:
        return Check(name, WARN, f"{detail}; not set here: {', '.join(map(str, unset))}",
                     "set them to the counties' database URLs for `ncms etl` (Airflow uses its connections)")
    return Check(name, OK, detail)


def extracted_counties(settings: Settings) -> list[str]:
    """The centralised counties ``ncms etl`` extracts: mode etl, unless delivery: packages."""
    return centralised(read_reference(settings.config_dir))["extract"]


def centralised(ref: Reference) -> dict[str, list[str]]:
    """The centralised (mode etl) counties by how their claims arrive: ``extract`` (by ``ncms
    etl``, through a mapping) or ``packages`` (sent as a distributed county's are: no mapping)."""
    by_delivery: dict[str, list[str]] = {delivery: [] for delivery in DELIVERIES}
    for c in ref.counties:
        if c["mode"] == DeploymentMode.ETL:
            by_delivery[ref.delivery[c["code"]]].append(c["code"])
    return by_delivery


def check_county_sources(settings: Settings, engine: Engine | None, environ: Mapping[str, str] | None = None,
                         timeout: int = SOURCE_TIMEOUT) -> list[Check]:
    """Every centralised county's database answers, for each table its mapping reads, and no
    rows have appeared below a sequence watermark. Counties whose variable is not set here are
    left to ``check_etl_mappings``."""
    from .ingest.mapping import load_mapping

    env = os.environ if environ is None else environ
    try:
        counties = extracted_counties(settings)
        mappings = [load_mapping(settings.config_dir, county) for county in counties]
    except ConfigError:
        return []  # said by check_config or check_etl_mappings
    return [check for m in mappings if m.source_env and env.get(m.source_env)
            for check in check_county_source(m, env[m.source_env], engine, timeout)]


def check_county_source(mapping: "CountyMapping", url: str, engine: Engine | None,
                        timeout: int = SOURCE_TIMEOUT) -> list[Check]:
    """One county: a real connection (``timeout`` seconds at most to connect, and for each
    answer), a query asking for no rows of each record type, then its sequence watermarks."""
    from .ingest.etl import source_engine, sqlalchemy_url

    name = f"county {mapping.county_code} database"
    try:
        where = make_url(sqlalchemy_url(url)).render_as_string(hide_password=True)
        source = source_engine(url, timeout=timeout)
    except (SQLAlchemyError, ImportError, ValueError) as exc:  # the message may hold the URL: not shown
        kind = "no driver installed for it" if isinstance(exc, (ImportError, NoSuchModuleError)) else "not a URL"
        return [Check(name, FAIL, f"{mapping.source_env}: {kind}",
                      f"set {mapping.source_env} to a SQLAlchemy URL such as mysql://reader@host/ncms "
                      "(docs/operations.md)")]
    try:
        with source.connect() as conn:
            checks = []
            for stream in mapping.streams:
                queries = _probe(conn, mapping, stream)
                if queries.main.sequence and engine is not None:
                    checks.append(check_sequence(engine, conn, queries, mapping))
        return [Check(name, OK, f"{where}: {len(mapping.records)} record types answered")] + \
            [c for c in checks if c is not None]
    except _ProbeError as exc:
        return [Check(name, FAIL, f"{where}: {exc.args[0]}", exc.args[1])]
    except (SQLAlchemyError, source.dialect.loaded_dbapi.Error) as exc:
        return [Check(name, FAIL, f"{where}: {_reason(exc)}",
                      f"check that the server is up and reachable from here, and the URL in {mapping.source_env}")]
    finally:
        source.dispose()


class _ProbeError(Exception):
    """A record type the county database does not answer for: (what, fix)."""


def _probe(conn: Connection, mapping: "CountyMapping", stream: str) -> "SourceQueries":
    from .ingest.etl import SourceQueries

    place = f"records.{stream}"
    try:
        queries = SourceQueries(mapping, stream, conn)
        for record_type in queries.record_types:
            place = f"records.{record_type}"
            queries.probe(conn, record_type)
    except (SQLAlchemyError, ConfigError) as exc:
        raise _ProbeError(f"{place}: {_reason(exc)}",
                          f"correct {place} in {mapping.path}, or grant the reading account SELECT on it") from exc
    return queries


def check_sequence(engine: Engine, conn: Connection, queries: "SourceQueries", mapping: "CountyMapping") -> Check | None:
    """Rows at or below a sequence watermark that were not there when it passed: the column is
    not monotonic in practice (a new member given a low code), and those rows were never
    extracted. Counted, not compared by key: a row deleted in the source hides one added."""
    from .ingest.etl import read_progress

    county, stream = mapping.county_code, queries.main.record_type
    try:
        stored, counted = read_progress(engine, county, stream)
    except SQLAlchemyError:
        return None  # the provincial database is said by check_database / check_migrated
    if stored is None or counted is None:
        return None  # never extracted, or before counts were kept: nothing to compare yet
    now = queries.count(conn, None, stored)
    name = f"county {county} {stream} watermark"
    if now > counted:
        return Check(name, WARN, f"{now - counted} row(s) of {queries.main.table or 'its query'} with "
                     f"{queries.main.watermark} at or below {stored} appeared after the watermark passed it: "
                     "never extracted; the column is not monotonic in practice",
                     f"map records.{stream} in {mapping.path} with change: compare (docs/operations.md), "
                     f"or run `ncms etl {county} --full` now and then")
    return Check(name, OK, f"{queries.main.watermark} at {stored}: no row appeared below it")


def check_spool(settings: Settings) -> list[Check]:
    """What the core can see of the gateway's accounts: the spool's county folders. A folder
    of a county not in province.yaml is never loaded; a centralised county uploading as well
    is loaded twice over, from two sources."""
    from .ingest.inbox import inbox_packages

    try:
        ref = read_reference(settings.config_dir)
    except ConfigError:
        return []
    modes = {c["code"]: c["mode"] for c in ref.counties}
    spool = settings.spool_dir
    folders = sorted(p.name for p in spool.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if spool.is_dir() else []
    checks = []
    unknown = [f for f in folders if f not in modes]
    if unknown:
        checks.append(Check("spool folders", WARN, f"{spool}: {', '.join(unknown)} not counties of province.yaml: "
                            "their uploads are never loaded",
                            "add the county to config/province.yaml and run `ncms db load-config`, "
                            "or close its gateway account"))
    uploading = {f: len(inbox_packages(settings, [f])) for f in folders
                 if modes.get(f) == DeploymentMode.ETL and ref.delivery[f] == "extract"}
    uploading = {f: n for f, n in uploading.items() if n}
    if uploading:
        checks.append(Check("centralised counties uploading", WARN, "; ".join(
            f"{f}: {n} package(s) in {spool / f / 'inbox'}" for f, n in uploading.items()) +
            " — mode etl: extracted from its database, and its uploads loaded too",
            "close the gateway account of a centralised county, or set its delivery: packages in province.yaml"))
    return checks or [Check("spool folders", OK, f"{spool}: {len(folders)} county folder(s)")]


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def check_cjk_font() -> Check:
    fc_list = shutil.which("fc-list")
    fix = "install a Simplified Chinese font: apt-get install fonts-noto-cjk"
    if fc_list is None:
        return Check("CJK font for PDF reports", FAIL, "fontconfig (fc-list) not found", fix)
    found = subprocess.run([fc_list, ":lang=zh-cn", "family"], capture_output=True, text=True,
                           timeout=30).stdout.strip().splitlines()
    if not found:
        return Check("CJK font for PDF reports", FAIL, "no font covers Simplified Chinese", fix)
    preferred = [f for f in found if "Noto Sans CJK SC" in f]
    return Check("CJK font for PDF reports", OK, (preferred or found)[0].split(",")[0])


def check_weasyprint() -> Check:
    try:
        import weasyprint  # noqa: F401  (loads pango through cffi)
    except (ImportError, OSError) as exc:
        return Check("PDF rendering (WeasyPrint)", FAIL, str(exc).splitlines()[0],
                     "apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0")
    return Check("PDF rendering (WeasyPrint)", OK, f"WeasyPrint {weasyprint.__version__}")


def check_airflow() -> Check:
    if importlib.util.find_spec("airflow") is None:
        return Check("Airflow", WARN, "not installed here: the `ncms` commands run every pipeline step",
                     "to schedule with Airflow, see docs/operations.md")
    return Check("Airflow", OK, "importable")
