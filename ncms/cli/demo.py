"""``ncms demo``: the platform's main job on the embedded defaults, from an empty data folder."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import click
from sqlalchemy import select

from ncms import migrate
from ncms.db import session_scope
from ncms.ingest import ingest_package
from ncms.ingest.inbox import ingest_inbox
from ncms.models import County, DeploymentMode
from ncms.reference import read_reference

from . import Context, pass_context
from .db import load_configuration
from .demo_gateway import deliver

DEMO_SEED = 2011
DEMO_YEARS = (2011,)
LATE_PACKAGE = "520422-0003.zip"  # one county's third quarter "still on the WAN"


@click.command("demo")
@click.option("--claims", default=30_000, show_default=True, help="Size of the synthetic province.")
@pass_context
def demo_command(obj: Context, claims: int) -> None:
    """Migrate, load the demo province, generate its claim data and ingest it."""
    settings = obj.settings
    settings.ensure_dirs()
    click.echo(f"data folder {settings.data_dir}, database {obj.engine.url.render_as_string()}")
    migrate.upgrade(obj.engine)
    click.echo(f"database at revision {migrate.current_revision(obj.engine)}")
    load_configuration(obj)
    modes = _county_modes(obj)
    click.echo(f"province ready: {list(modes.values()).count(DeploymentMode.ETL)} centralised (etl) and "
               f"{list(modes.values()).count(DeploymentMode.GATEWAY)} distributed (gateway) counties")
    packages = generate_packages(obj, claims)
    late = [p for p in packages if p.name == LATE_PACKAGE]
    direct: list[Path] = []
    uploads: dict[str, list[Path]] = {}
    for path in packages:
        if path in late:
            continue
        if modes.get(path.parent.name) == DeploymentMode.GATEWAY:
            uploads.setdefault(path.parent.name, []).append(path)
        else:
            direct.append(path)
    click.echo(f"centralised counties: loading {len(direct)} extracts directly (ETL from their databases comes next)")
    ingest_all(obj, direct)
    click.echo(f"distributed counties: uploading {sum(map(len, uploads.values()))} packages through the gateway")
    deliver(obj.settings, uploads, click.echo)
    taken = ingest_inbox(obj.engine, obj.settings)
    click.echo(f"took {len(taken)} packages from the gateway's spool inboxes: "
               f"{sum(r.rows_loaded for r in taken):,} rows loaded, {sum(r.rows_rejected for r in taken):,} refused")
    for path in late:
        click.echo(f"held back {path.name} to show a late package: see `ncms ingest status`, "
                   f"then load it with `ncms ingest {path}`")
    click.echo("next: `ncms serve`, then open http://127.0.0.1:5000/")


def _county_modes(obj: Context) -> dict[str, DeploymentMode]:
    with session_scope(obj.engine) as session:
        return dict(session.execute(select(County.code, County.mode).order_by(County.code)).all())


def generate_packages(obj: Context, claims: int) -> list[Path]:
    from ncms.synth import generate, write_packages

    started = time.perf_counter()
    province = generate(read_reference(obj.settings.config_dir), seed=DEMO_SEED, claims=claims,
                        years=DEMO_YEARS, malformed=12)
    out = obj.settings.data_dir / "demo" / "packages"
    shutil.rmtree(out, ignore_errors=True)  # same seed, same packages: regenerate, never append
    packages = write_packages(province, out)
    click.echo(f"synthetic province: {province.frames['claim'].height:,} claims, "
               f"{province.truth.height:,} labelled cases, {len(packages)} packages "
               f"in {time.perf_counter() - started:.1f} s ({out})")
    return packages


def ingest_all(obj: Context, packages: list[Path]) -> None:
    totals = {"read": 0, "loaded": 0, "rejected": 0}
    with click.progressbar(packages, label="ingesting", show_pos=True) as bar:
        for path in bar:
            result = ingest_package(obj.engine, obj.settings, path, sender=path.parent.name)
            totals["read"] += result.rows_read
            totals["loaded"] += result.rows_loaded
            totals["rejected"] += result.rows_rejected
    click.echo(f"ingested {len(packages)} packages: {totals['read']:,} rows read, {totals['loaded']:,} loaded, "
               f"{totals['rejected']:,} refused (receipts in {obj.settings.spool_dir}/<county>/outbox)")
