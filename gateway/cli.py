"""``ncms-gateway``: the gateway's own command, deployable without the core."""
from __future__ import annotations

import click

from gateway import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ncms-gateway")
def main() -> None:
    """Data-exchange gateway of the NCMS supervision platform.

    The SFTP server (`serve`) and the county client (`push`) are not built yet:
    see the issue "Data-exchange gateway" and docs/architecture.md.
    """
