"""``ncms-gateway``: the gateway's own command, deployable without the core."""
from __future__ import annotations

import signal
import sys
import threading

import click

from gateway import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ncms-gateway")
def main() -> None:
    """Data-exchange gateway of the NCMS supervision platform.

    `serve` runs the SFTP server for county accounts; `push` and `fetch` are the county
    side: resumable upload of packages, download of receipts (see docs/gateway.md).
    """


@main.command("serve")
@click.option("--config", "config_path", envvar="NCMS_GATEWAY_CONFIG", required=True,
              type=click.Path(dir_okay=False), help="Accounts file (TOML); also NCMS_GATEWAY_CONFIG.")
def serve_command(config_path: str) -> None:
    """Run the SFTP server until SIGTERM or SIGINT."""
    from gateway.config import ConfigError, load_config
    from gateway.log import configure_stderr
    from gateway.server import GatewayServer

    configure_stderr()
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        GatewayServer(config).serve_forever(stop)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {config.host}:{config.port}: {exc}") from None
    sys.exit(0)


# --- county client: push and fetch ---------------------------------------------------


def _connection_options(command):  # type: ignore[no-untyped-def]
    """--host/--port/--county/--key/--known-hosts/--retries, shared by push and fetch."""
    for option in reversed([
        click.option("--host", required=True, help="Gateway host name or address."),
        click.option("--port", type=int, default=22, show_default=True),
        click.option("--county", required=True, help="County code: the SSH user, e.g. 520122."),
        click.option("--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False),
                     help="The county's private key."),
        click.option("--known-hosts", type=click.Path(exists=True, dir_okay=False),
                     help="Refuse a gateway whose host key is not listed here (else accept and log it)."),
        click.option("--retries", type=int, default=8, show_default=True,
                     help="Reconnections without progress before giving up."),
    ]):
        command = option(command)
    return command


@main.command("push")
@click.argument("packages", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@_connection_options
@click.option("--sidecar", is_flag=True, help="Upload <name>.sha256 first (for files that are not package ZIPs).")
@click.option("--interrupt-after", type=click.IntRange(min=1), metavar="BYTES",
              help="Rehearse a dropped link: cut the first package's connection once after BYTES.")
def push_command(packages: tuple[str, ...], host: str, port: int, county: str, key_path: str,
                 known_hosts: str | None, retries: int, sidecar: bool, interrupt_after: int | None) -> None:
    """Upload PACKAGE… to the county's inbox, resuming interrupted uploads."""
    import logging
    import sys
    from pathlib import Path

    from gateway.client import TransferError, push

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    failed = 0
    for package in packages:
        name, size = Path(package).name, Path(package).stat().st_size
        try:
            with click.progressbar(length=size, label=name, file=sys.stderr) as bar:
                def progress(done: int, total: int) -> None:
                    bar.update(done - bar.pos)
                result = push(package, host, port, county, key_path, known_hosts=known_hosts,
                              retries=retries, sidecar=sidecar, progress=progress,
                              interrupt_after=interrupt_after, backoff=1.0 if interrupt_after is None else 0.2)
                interrupt_after = None  # only the first package rehearses the cut
        except (TransferError, OSError) as exc:
            failed += 1
            click.echo(f"{name}: FAILED: {exc}", err=True)
            continue
        rate = result.bytes_sent / 1e6 / result.seconds if result.seconds else 0.0
        resumed = f", resumed at {result.last_offset}" if result.attempts > 1 else ""
        click.echo(f"{name}: {size} bytes, {result.bytes_sent} sent, server held {result.resumed_from} at the "
                   f"start{resumed}, {result.attempts} attempt(s), {rate:.1f} MB/s")
    if failed:
        raise SystemExit(1)


@main.command("fetch")
@_connection_options
@click.option("--dest", required=True, type=click.Path(file_okay=False), help="Folder for the receipts.")
def fetch_command(host: str, port: int, county: str, key_path: str, known_hosts: str | None,
                  retries: int, dest: str) -> None:
    """Download new receipts from the county's outbox into DEST."""
    from gateway.client import TransferError, fetch

    try:
        paths = fetch(host, port, county, key_path, dest, known_hosts=known_hosts, retries=retries)
    except (TransferError, OSError) as exc:
        raise click.ClickException(f"fetch failed: {exc}") from exc
    for path in paths:
        click.echo(str(path))
    click.echo(f"{len(paths)} new file(s) in {dest}")
