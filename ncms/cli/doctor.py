"""``ncms doctor``: check the installation and say how to fix what is wrong."""
from __future__ import annotations

import click

from ncms.doctor import FAIL, OK, WARN, run_checks

from . import Context, pass_context

MARKS = {OK: click.style("ok  ", fg="green"), WARN: click.style("warn", fg="yellow"),
         FAIL: click.style("FAIL", fg="red", bold=True)}


@click.command("doctor")
@pass_context
def doctor_command(obj: Context) -> None:
    """Check database, folders, configuration, fonts and optional parts."""
    checks = run_checks(obj.settings, obj.engine)
    for check in checks:
        click.echo(f"[{MARKS[check.status]}] {check.name}: {check.detail}")
        if check.fix and check.status != OK:
            click.echo(f"       fix: {check.fix}")
    failed = [c for c in checks if c.status == FAIL]
    if failed:
        raise click.ClickException(f"{len(failed)} problem(s) found")
    click.echo("all essential checks passed")
