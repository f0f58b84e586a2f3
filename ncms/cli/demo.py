"""``ncms demo``: the platform's main job on the embedded defaults, from an empty data folder."""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import select

from ncms import migrate
from ncms.db import create_engine, session_scope
from ncms.accounts import create_user
from ncms.models import AuditLog, County, DeploymentMode, Role, User
from ncms.reference import read_reference

from . import Context, pass_context
from .db import load_configuration
from .monitor import echo_outcomes, echo_unchecked

if TYPE_CHECKING:
    from ncms.monitor.stake import Stake
    from ncms.synth import SyntheticProvince

DEMO_SEED = 2011
DEMO_YEARS = (2011,)
LATE_PACKAGE = "520422-0003.zip"  # one county's third quarter "still on the WAN"
DEMO_COUNTY = "520121"
DEMO_OFFICER = "kaiyang"  # the demo county's officer (DEMO_ACCOUNTS)
# One account per role to sign in with (username, role, county, password): demo data only.
DEMO_ACCOUNTS = (
    ("admin", Role.ADMIN, None, "demo-admin-2011"),
    ("auditor", Role.AUDITOR, None, "demo-auditor-2011"),
    (DEMO_OFFICER, Role.COUNTY, DEMO_COUNTY, "demo-county-2011"),
    ("ministry", Role.MINISTRY, None, "demo-ministry-2011"),
)
ROLE_NAMES = {Role.ADMIN: "administrator", Role.AUDITOR: "provincial auditor",
              Role.COUNTY: "county officer", Role.MINISTRY: "ministry viewer"}


@click.command("demo")
@click.option("--claims", type=click.IntRange(min=1), default=30_000, show_default=True,
              help="Size of the synthetic province.")
@click.option("--review/--no-review", default=True, show_default=True,
              help="Take a few findings through the review loop (pushed, answered, sent back, determined, "
                   "recovered, dismissed), as an office at work has them; --no-review leaves every finding open.")
@pass_context
def demo_command(obj: Context, claims: int, review: bool) -> None:
    """Migrate, load the demo province, generate its claim data and ingest it: centralised
    counties by ETL from their own databases, distributed ones through the gateway."""
    from ncms.ingest.etl import etl_counties  # polars, scikit-learn, the gateway: not for --help
    from ncms.ingest.inbox import ingest_inbox
    from ncms.monitor import run_monitor

    from .demo_gateway import deliver

    settings = obj.settings
    settings.ensure_dirs()
    click.echo(f"data folder {settings.data_dir}, database {obj.engine.url.render_as_string()}")
    migrate.upgrade(obj.engine)
    click.echo(f"database at revision {migrate.current_revision(obj.engine)}")
    load_configuration(obj)
    modes = _county_modes(obj)
    etl = [c for c, mode in modes.items() if mode == DeploymentMode.ETL]
    gateway = [c for c, mode in modes.items() if mode == DeploymentMode.GATEWAY]
    click.echo(f"province ready: {len(etl)} centralised (etl) and {len(gateway)} distributed (gateway) counties")
    province = generate_province(obj, claims)

    sources = write_sources(obj, province, etl)
    click.echo(f"centralised counties: extracting from their own databases ({', '.join(sources)})")
    extracted = etl_counties(obj.engine, settings, etl, urls=sources)
    click.echo(f"extracted {sum(len(r.batches) for r in extracted)} batches: "
               f"{sum(r.rows_read for r in extracted):,} rows read, {sum(r.rows_loaded for r in extracted):,} loaded, "
               f"{sum(r.rows_rejected for r in extracted):,} refused (receipts in {settings.spool_dir}/<county>/outbox)")
    for county, url in sources.items():
        click.echo(f"  extract again with: NCMS_SOURCE_{county}={url} ncms etl {county}")

    packages = write_demo_packages(obj, province, gateway)
    late = [p for p in packages if p.name == LATE_PACKAGE]
    uploads: dict[str, list[Path]] = {}
    for path in packages:
        if path not in late:
            uploads.setdefault(path.parent.name, []).append(path)
    click.echo(f"distributed counties: uploading {sum(map(len, uploads.values()))} packages through the gateway")
    deliver(obj.settings, uploads, click.echo)
    taken = ingest_inbox(obj.engine, obj.settings)
    click.echo(f"took {len(taken)} packages from the gateway's spool inboxes: "
               f"{sum(r.rows_loaded for r in taken):,} rows loaded, {sum(r.rows_rejected for r in taken):,} refused")
    for path in late:
        click.echo(f"held back {path.name} to show a late package: see `ncms ingest status`, "
                   f"then load it with `ncms ingest {path}`")
    click.echo("monitoring: the supervision rules over every county's claims (docs/rules.md), then the "
               "anomaly model, each institution's months against its peers' (docs/anomaly.md)")
    result = run_monitor(obj.engine, settings, model=True)
    echo_outcomes(result)
    echo_unchecked(result)
    echo_counties(result.stake)
    add_demo_accounts(obj)
    if review:
        review_demo_findings(obj)
    build_demo_reports(obj)
    click.echo(f"next: `ncms serve`, then open http://{settings.host}:{settings.port}/ and sign in as one of:")
    for username, role, county, password in DEMO_ACCOUNTS:
        scope = f" of {county}" if county else ""
        click.echo(f"  {username:<10} password {password:<20} {ROLE_NAMES[role]}{scope}")


DEMO_REPORTS = (("annual", "2011", None), ("quarterly", "2011-Q4", None), ("monthly", "2011-12", None),
                ("quarterly", "2011-Q4", DEMO_COUNTY))


def build_demo_reports(obj: Context) -> None:
    """The demo province's reports to the ministry (docs/reports.md), built by the ``reports``
    package through its ``ncms.reports`` entry point (ncms never imports it by name)."""
    from importlib.metadata import entry_points

    found = entry_points(group="ncms.reports", name="build")
    if not found:
        click.echo("reports: the reports package is not installed; no report built")
        return
    from ncms.indicators import Period
    from ncms.models import ReportRun, ReportStatus

    build = next(iter(found)).load()
    for kind, period, county in DEMO_REPORTS:
        span = Period.parse(period)
        with session_scope(obj.engine) as session:  # run again, the demo keeps the reports it built
            built = session.scalar(select(ReportRun.id).where(
                ReportRun.kind == kind, ReportRun.period_start == span.start, ReportRun.period_end == span.end,
                ReportRun.scope == (county or "province"), ReportRun.lang == "zh",
                ReportRun.status.in_((ReportStatus.DONE, ReportStatus.PUBLISHED))).limit(1))
        if built is not None:
            click.echo(f"report: {kind} {period} of {county or 'the province'} built already (run {built})")
            continue
        run = build(obj.engine, obj.settings, kind, period, county, "zh", requested_by="demo")
        click.echo(f"report: {kind} {period} of {county or 'the province'}, revision {run.revision}: "
                   f"{obj.settings.reports_dir / run.folder / run.package}")
    click.echo("  see them at /reports/ in the console, or `ncms report list`; `ncms report publish` sends "
               "them once the ministry's endpoint is configured")


def review_demo_findings(obj: Context) -> None:
    """Take some findings through the review loop (docs/review.md), so that the console's
    workbench, inbox and figures and the reports' supervision tables have something to show:
    the demo county's and two others' pushed a month ago (so overdue, unless answered) and this
    week, answered with a file, sent back, determined with money partly recovered, and one
    dismissed. Run again, it leaves a review already begun alone."""
    from datetime import timedelta
    from decimal import Decimal

    from ncms.indicators.refresh import refresh_findings
    from ncms.models import Finding, FindingStatus
    from ncms.models.base import utcnow
    from ncms.review import workflow
    from ncms.review.attachments import Upload
    from ncms.review.calendar import read_calendar

    calendar = read_calendar(obj.settings.config_dir)
    with session_scope(obj.engine) as session:
        if session.scalar(select(Finding.id).where(Finding.pushed_at.is_not(None)).limit(1)) is not None:
            click.echo("review: the demo's findings are under review already (see /findings/)")
            return
        auditor = session.scalar(select(User).where(User.username == "auditor"))
        officer = session.scalar(select(User).where(User.username == DEMO_OFFICER))
        chosen = session.execute(select(Finding.id, Finding.county_code).where(
            Finding.status == FindingStatus.OPEN, Finding.claim_id.is_not(None))
            .order_by(Finding.amount_at_stake.desc(), Finding.id)).all()
        own = [i for i, county in chosen if county == DEMO_COUNTY][:4]
        others = [i for i, county in chosen if county != DEMO_COUNTY][:6]
        if len(own) < 3 or len(others) < 6:
            click.echo(f"review: too few findings to show the review loop ({len(own)} in {DEMO_COUNTY})")
            return
        now = utcnow()
        month_ago = now - timedelta(days=35)
        workflow.assign(session, auditor, own + others, auditor, now=month_ago)
        workflow.push(session, auditor, own[:3] + others[:2], calendar, "请于答复期限内核实并说明", now=month_ago)
        workflow.push(session, auditor, own[3:] + others[2:5], calendar, "请核实", now=now - timedelta(days=2))
        scan = Upload("核实情况说明.csv", "项目,说明\n住院病历,已核实\n退款凭证,已附\n".encode("utf-8"))
        for finding_id in own[:2]:
            workflow.answer(session, officer, finding_id, "经核实，该笔报销存在问题，已责令医疗机构退回。", "explanation",
                            attachments=[scan], data_dir=obj.settings.data_dir, now=month_ago + timedelta(days=7))
        workflow.send_back(session, auditor, own[1], "请补充住院病历复印件", calendar, now=now - timedelta(days=1))
        owed = session.get(Finding, own[0]).amount_at_stake or Decimal("0")
        workflow.determine(session, auditor, own[0], owed, "重复报销属实，认定违规，责令追回", now=now - timedelta(days=14))
        if owed >= Decimal("0.02"):
            workflow.recover(session, auditor, own[0], (owed / 2).quantize(Decimal("0.01")), "第一笔追回款",
                             now=now - timedelta(days=7))
        workflow.dismiss(session, auditor, others[5:], "经复核，属合规转诊", now=now - timedelta(days=10))
        refresh_findings(session)
    click.echo(f"review: {len(own) + len(others)} findings assigned to the auditor; {len(own) + 5} pushed to "
               f"their counties ({own[2]} of {DEMO_COUNTY} and two others past their deadline), {own[1]} answered "
               f"and sent back, {own[0]} determined and half recovered, {others[5]} dismissed: see /findings/, "
               f"and /inbox/ as {DEMO_OFFICER}")


def add_demo_accounts(obj: Context) -> None:
    """The demo's accounts, one per role; run again, they get their demo password and role back."""
    with session_scope(obj.engine) as session:
        for username, role, county, password in DEMO_ACCOUNTS:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                create_user(session, username, role, password, county_code=county, actor="demo")
                continue
            user.role, user.county_code, user.active = role, county, True
            user.set_password(password)
            session.add(AuditLog(actor="demo", action="user.reset", target=username,
                                 detail={"role": role.value, "county": county}))


def echo_counties(stake: "Stake") -> None:
    """The money at stake county by county (each claim's once), and the funds warned about apart."""
    warned: dict[str, list[str]] = {}
    for rule, counties in stake.fund_counties.items():
        for county in counties:
            warned.setdefault(county, []).append(rule)
    for county in sorted(set(stake.per_county) | set(warned)):
        funds = f"; fund warnings: {', '.join(warned[county])}" if county in warned else ""
        click.echo(f"  {county}: {stake.per_county.get(county, 0):,.2f} yuan at stake{funds}")


def _county_modes(obj: Context) -> dict[str, DeploymentMode]:
    with session_scope(obj.engine) as session:
        return dict(session.execute(select(County.code, County.mode).order_by(County.code)).all())


def generate_province(obj: Context, claims: int) -> "SyntheticProvince":
    from ncms.synth import generate

    started = time.perf_counter()
    province = generate(read_reference(obj.settings.config_dir), seed=DEMO_SEED, claims=claims,
                        years=DEMO_YEARS, malformed=12)
    click.echo(f"synthetic province: {province.frames['claim'].height:,} claims, "
               f"{province.truth.height:,} labelled cases, in {time.perf_counter() - started:.1f} s")
    return province


def write_sources(obj: Context, province: "SyntheticProvince", counties: list[str]) -> dict[str, str]:
    """Each centralised county's own database, in its vendor's schema: a SQLite file each."""
    from ncms.ingest.mapping import load_mapping
    from ncms.synth.vendor import write_source_db

    folder = obj.settings.data_dir / "demo" / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    urls = {}
    for county in counties:
        path = folder / f"{county}.db"
        path.unlink(missing_ok=True)  # same seed, same data: rebuilt, never appended to
        urls[county] = f"sqlite:///{path}"
        engine = create_engine(urls[county])
        write_source_db(engine, load_mapping(obj.settings.config_dir, county), province.frames)
        engine.dispose()
    return urls


def write_demo_packages(obj: Context, province: "SyntheticProvince", counties: list[str]) -> list[Path]:
    from ncms.synth import write_packages

    out = obj.settings.data_dir / "demo" / "packages"
    shutil.rmtree(out, ignore_errors=True)  # same seed, same packages: regenerate, never append
    packages = write_packages(province, out, counties=counties)
    click.echo(f"{len(packages)} packages of the distributed counties in {out}")
    return packages
