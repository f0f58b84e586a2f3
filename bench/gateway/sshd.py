"""A private OpenSSH ``sshd`` on a free loopback port, for tests and benchmarks.

Runs as the current user (root) with its own config, host key and authorized keys in
a temporary folder, so the client can be measured and tested against the reference
SFTP server without touching the machine's own sshd. Everything it starts it stops by pid.
"""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from ncms.cli.demo_gateway import free_port, stop_process, wait_for_ssh

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
INTERNAL_SFTP = "internal-sftp"


def keygen(path: Path) -> Path:
    """An unencrypted ed25519 key pair at ``path`` (+ ``.pub``)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
                   check=True, stdout=subprocess.DEVNULL)
    return path


def descendants(pid: int) -> list[int]:
    """Pids of every process below ``pid`` (children first), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class PrivateSshd:
    """``with PrivateSshd(tmp) as sshd:`` — sshd on ``sshd.port``, login ``sshd.user`` with ``sshd.client_key``."""

    def __init__(self, workdir: Path, *, sftp: str = INTERNAL_SFTP, root: Path | None = None) -> None:
        """``root``: the SFTP session's start directory, so relative paths (``inbox/x``) land there."""
        self.dir = Path(workdir)
        self.sftp = sftp if root is None else f"{sftp} -d {root}"
        self.user = "root"
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> "PrivateSshd":
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host_key = self.host_key if hasattr(self, "host_key") else keygen(self.dir / "host_ed25519")
        self.client_key = self.client_key if hasattr(self, "client_key") else keygen(self.dir / "client_ed25519")
        authorized = self.dir / "authorized_keys"
        authorized.write_text(Path(f"{self.client_key}.pub").read_text())
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation chroot
        self.port = free_port()
        config = self.dir / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}", f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}", "PubkeyAuthentication yes",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no",
            "UseDNS no", "LogLevel ERROR", "MaxStartups 100", f"Subsystem sftp {self.sftp}", "",
        ]))
        self.log = open(self.dir / "sshd.log", "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_for_ssh(self.port, self.proc, timeout)
        except Exception:
            self.stop()
            raise
        return self

    def drop_connections(self) -> int:
        """Kill every connection's sshd process (the listener stays): a dropped link."""
        pids = descendants(self.proc.pid) if self.proc else []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.drop_connections()
        stop_process(self.proc, timeout=5)
        self.proc = None
        self.log.close()

    def known_hosts_line(self) -> str:
        key_type, key = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {key_type} {key}\n"

    def __enter__(self) -> "PrivateSshd":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
