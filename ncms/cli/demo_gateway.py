"""The demo's distributed counties: their packages travel through the real gateway.

The core never imports the gateway: the demo starts ``ncms-gateway serve`` as its own
process, uploads each gateway county's packages with ``ncms-gateway push`` as that county
would (the first upload cut half-way and resumed), and the core then takes what the
gateway delivered from the spool inboxes.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ncms.config import Settings

Echo = Callable[[str], None]


def deliver(settings: Settings, packages: dict[str, list[Path]], echo: Echo) -> None:
    """Upload every county's packages through a gateway process on a free loopback port."""
    folder = settings.data_dir / "gateway"
    folder.mkdir(parents=True, exist_ok=True)
    keys = {county: county_key(folder / "keys" / county) for county in packages}
    port = free_port()
    config = write_accounts(folder / "accounts.toml", settings.spool_dir, port, keys)
    gateway = _command("ncms-gateway")
    with (folder / "gateway.log").open("ab") as log:
        server = subprocess.Popen([gateway, "serve", "--config", str(config)], stdout=log, stderr=log)
        try:
            wait_for_ssh(port, server)
            echo(f"gateway serving on 127.0.0.1:{port} (log {folder / 'gateway.log'})")
            first = True
            for county, paths in packages.items():
                args = [gateway, "push", *map(str, paths), "--host", "127.0.0.1", "--port", str(port),
                        "--county", county, "--key", str(keys[county])]
                if first:
                    args += ["--interrupt-after", str(max(1, paths[0].stat().st_size // 2))]
                    first = False
                done = subprocess.run(args, capture_output=True, text=True, timeout=600)
                for line in done.stdout.splitlines():
                    echo(f"  {county} push {line}")
                if done.returncode != 0:
                    raise RuntimeError(f"ncms-gateway push for {county} failed: {done.stderr.strip()[-500:]}")
        finally:
            stop_process(server)


def county_key(path: Path) -> Path:
    """An ed25519 key pair for a county account (OpenSSH format, private part 0600)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(private)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        path.with_suffix(".pub").write_bytes(public + f" county-{path.name}\n".encode())
    return path


def write_accounts(path: Path, spool: Path, port: int, keys: dict[str, Path]) -> Path:
    lines = ["[gateway]", f'spool = "{spool}"', 'host = "127.0.0.1"', f"port = {port}",
             f'host_key = "{path.parent / "host_ed25519"}"', ""]
    for county, key in keys.items():
        public = key.with_suffix(".pub").read_text().strip()
        lines += [f'[accounts."{county}"]', f'keys = ["{public}"]', ""]
    path.write_text("\n".join(lines))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_ssh(port: int, server: subprocess.Popen | None = None, seconds: float = 20) -> None:
    """Return once something on loopback ``port`` speaks SSH; raise if ``server`` exits first
    or nothing answers within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"{Path(str(server.args[0])).name} exited with code {server.returncode} "
                               "before answering")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                if conn.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing answered SSH on 127.0.0.1:{port} within {seconds:g} s")


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate a server we started, and kill it if it does not go within ``timeout``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def _command(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else name
