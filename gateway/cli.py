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

    `serve` runs the SFTP server for county accounts and `host-key` prints its key for the
    counties to check; `push` and `fetch` are the county side: resumable upload of packages,
    download of receipts (see docs/gateway.md).
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


@main.command("host-key")
@click.option("--config", "config_path", envvar="NCMS_GATEWAY_CONFIG", required=True,
              type=click.Path(dir_okay=False), help="Accounts file (TOML); also NCMS_GATEWAY_CONFIG.")
@click.option("--host", "host_name", help="The name counties connect to, for the known_hosts line "
                                          "(default: [gateway] host).")
def host_key_command(config_path: str, host_name: str | None) -> None:
    """Print the host key, its SHA256 fingerprint and a known_hosts line, to send to the counties.

    A county that has them can check it reached this gateway, not an impostor, on its first
    connection. The key is created (as on first start) if the gateway has not run yet: run
    this as the user the gateway runs as.
    """
    import paramiko

    from gateway.config import ConfigError, load_config
    from gateway.server import load_or_create_host_key, public_key_line, sha256_fingerprint

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    path = config.host_key or config.spool / ".host_ed25519"
    if not path.exists():
        click.echo(f"{path}: no host key yet, created one (mode 0600)", err=True)
    try:
        key = load_or_create_host_key(path)
    except (OSError, paramiko.SSHException) as exc:
        raise click.ClickException(f"{path}: cannot read the host key ({exc})") from None
    host = host_name or (config.host if config.host not in ("0.0.0.0", "::") else "GATEWAY-NAME")
    where = host if config.port == 22 else f"[{host}]:{config.port}"
    click.echo(f"host key file: {path}")
    click.echo(f"public key:    {public_key_line(key)}")
    kind = key.get_name().removeprefix("ssh-").upper()
    click.echo(f"fingerprint:   {key.get_bits()} {sha256_fingerprint(key)} ({kind})")
    click.echo(f"known_hosts:   {where} {public_key_line(key)}")


# --- county client: push and fetch ---------------------------------------------------


def _connection_options(command):  # type: ignore[no-untyped-def]
    """--host/--port/--county/--key/--known-hosts/--retries, shared by push and fetch."""
    for option in reversed([
        click.option("--host", required=True, help="Gateway host name or address."),
        click.option("--port", type=click.IntRange(1, 65535), default=22, show_default=True),
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
