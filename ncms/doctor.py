"""What an operator would otherwise find out the hard way, each with how to fix it."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from . import migrate
from .config import ConfigError, Settings
from .models import DeploymentMode
from .reference import read_reference

OK, WARN, FAIL = "ok", "warn", "fail"


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
    checks += [check_config(settings), check_etl_mappings(settings), check_cjk_font(), check_weasyprint(),
               check_airflow()]
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
    except ConfigError as exc:
        return Check("configuration files", FAIL, str(exc), "fix the file named, or set NCMS_CONFIG_DIR")
    return Check("configuration files", OK,
                 f"{settings.config_dir}: {len(ref.counties)} counties, {len(ref.schemes)} schemes")


def check_etl_mappings(settings: Settings, environ: Mapping[str, str] | None = None) -> Check:
    """Every centralised county has a mapping that reads, and a way to reach its database."""
    from .ingest.mapping import load_mapping

    env = os.environ if environ is None else environ
    name = "county database mappings"
    try:
        counties = [c["code"] for c in read_reference(settings.config_dir).counties if c["mode"] == DeploymentMode.ETL]
        mappings = [load_mapping(settings.config_dir, county) for county in counties]
    except ConfigError as exc:
        return Check(name, FAIL, str(exc), "write or correct the mapping named (docs/operations.md)")
    unset = [m.source_env for m in mappings if not (m.source_env and env.get(m.source_env))]
    detail = f"{len(mappings)} etl counties mapped in {settings.config_dir / 'mappings'}"
    if unset:
        return Check(name, WARN, f"{detail}; not set here: {', '.join(map(str, unset))}",
                     "set them to the counties' database URLs for `ncms etl` (Airflow uses its connections)")
    return Check(name, OK, detail)


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
