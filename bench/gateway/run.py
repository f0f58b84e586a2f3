"""Benchmark of the SFTP gateway: upload throughput over loopback and the server's memory.

The limit is measured in the same run: the stock OpenSSH ``sftp`` client putting the same
1 GiB of random bytes to a private OpenSSH ``sshd`` with ``sftp-server``. The gateway
(``ncms-gateway serve``, its own process, temp accounts file and spool) receives the same
``put`` from the same client, after a ``.sha256`` sidecar so the upload completes; its
RSS is sampled every 0.2 s, so a server that buffers the file shows up as a growing peak.
The county client (``gateway.client.push``) is also timed against both, for information.

NCMS_BENCH_GATEWAY_BYTES overrides the size (default 1 GiB).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import result  # noqa: E402
from bench.gateway.sshd import SFTP_SERVER, PrivateSshd, keygen  # noqa: E402
from ncms.cli.demo_gateway import free_port, stop_process, wait_for_ssh  # noqa: E402
from gateway.client import push  # noqa: E402

SIZE = int(os.environ.get("NCMS_BENCH_GATEWAY_BYTES", 2**30))
COUNTY = "520122"
ROUNDS = int(os.environ.get("NCMS_BENCH_GATEWAY_ROUNDS", 3))


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as out:
        for start in range(0, size, 2**24):
            out.write(os.urandom(min(2**24, size - start)))
    return path


def sftp_put(port: int, user: str, key: Path, files: list[Path], remote_dir: str, tmp: Path) -> float:
    """Seconds for the OpenSSH ``sftp`` client to ``put`` ``files`` (the last one timed alone)."""
    batch = tmp / "batch"

    def run(names: list[Path]) -> float:
        batch.write_text("".join(f'put "{f}" "{remote_dir}/{f.name}"\n' for f in names))
        started = time.perf_counter()
        subprocess.run(["sftp", "-q", "-b", str(batch), "-i", str(key), "-P", str(port),
                        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
                        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        f"{user}@127.0.0.1"], check=True, timeout=1800, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started

    if files[:-1]:
        run(files[:-1])
    return run(files[-1:])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.done = pid, [rss_mib(pid)], threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            try:
                self.samples.append(rss_mib(self.pid))
            except OSError:
                return

    def stop(self) -> list[float]:
        self.done.set()
        self.join(timeout=5)
        return self.samples


def openssh_limit(data: Path, tmp: Path) -> float:
    """MB/s of OpenSSH sftp → OpenSSH sshd (sftp-server); also prints the push client's figure."""
    root = tmp / "openssh-root"
    (root / "inbox").mkdir(parents=True)
    with PrivateSshd(tmp / "sshd", sftp=SFTP_SERVER, root=root) as sshd:
        seconds = sftp_put(sshd.port, sshd.user, sshd.client_key, [data], "inbox", tmp)
        assert (root / "inbox" / data.name).stat().st_size == SIZE, "OpenSSH upload incomplete"
        print(f"# OpenSSH sftp → OpenSSH sshd (sftp-server): {SIZE / 1e6 / seconds:.1f} MB/s ({SIZE} bytes)",
              flush=True)
        (root / "inbox" / data.name).unlink()
        pushed = push(data, "127.0.0.1", sshd.port, sshd.user, sshd.client_key)
        print(f"# push client → OpenSSH sshd: {SIZE / 1e6 / pushed.seconds:.1f} MB/s", flush=True)
    return SIZE / 1e6 / seconds


def gateway_config(tmp: Path, port: int, client_key: Path) -> Path:
    config = tmp / "gateway.toml"
    config.write_text("\n".join([
        "[gateway]", f'spool = "{tmp / "spool"}"', 'host = "127.0.0.1"', f"port = {port}",
        f'host_key = "{tmp / "gateway_host_ed25519"}"', "idle_timeout = 600",
        f"[accounts.{COUNTY}]", f'keys = ["{Path(f"{client_key}.pub").read_text().strip()}"]', ""]))
    return config


def measure_gateway(data: Path, sidecar: Path, tmp: Path) -> tuple[float, float, float]:
    """(MB/s, peak MiB, MiB at start) of OpenSSH sftp → a fresh `ncms-gateway serve`."""
    key = keygen(tmp / "county_ed25519")
    port = free_port()
    config = gateway_config(tmp, port, key)
    log = open(tmp / "gateway.log", "wb")
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "ncms-gateway"), "serve", "--config", str(config)],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_ssh(port, server, 20)
        start_mib = rss_mib(server.pid)
        sampler = RssSampler(server.pid)
        sampler.start()
        seconds = sftp_put(port, COUNTY, key, [sidecar, data], "inbox", tmp)
        samples = sampler.stop()
        landed = tmp / "spool" / COUNTY / "inbox" / data.name
        if not landed.exists() or landed.stat().st_size != SIZE:
            raise RuntimeError(f"the gateway did not complete the upload into {landed}")
        peak = max(samples)
        flat = peak - start_mib < 64
        print(f"# gateway RSS: start {start_mib:.1f} MiB, peak {peak:.1f} MiB over {len(samples)} samples "
              f"({'flat' if flat else 'NOT flat'}: grew {peak - start_mib:.1f} MiB)", flush=True)
        landed.unlink()
        pushed = push(data, "127.0.0.1", port, COUNTY, key, sidecar=True)
        print(f"# push client → gateway: {SIZE / 1e6 / pushed.seconds:.1f} MB/s", flush=True)
        return SIZE / 1e6 / seconds, peak, start_mib
    finally:
        stop_process(server)
        log.close()


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    try:
        data = random_file(tmp / f"{COUNTY}-bench.bin", SIZE)
        with open(data, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        sidecar = tmp / f"{data.name}.sha256"
        sidecar.write_text(f"{digest}  {data.name}\n")
        # the two servers take turns, ROUNDS times: on a shared machine one run of each
        # can differ by half; the medians of alternating runs are comparable
        limits, runs = [], []
        for round_no in range(ROUNDS):
            for name in ("openssh", "gateway"):
                (tmp / f"{name}-{round_no}").mkdir()
            limits.append(openssh_limit(data, tmp / f"openssh-{round_no}"))
            runs.append(measure_gateway(data, sidecar, tmp / f"gateway-{round_no}"))
        value = statistics.median(r[0] for r in runs)
        limit = statistics.median(limits)
        print(f"# rounds: OpenSSH {', '.join(f'{x:.0f}' for x in limits)} MB/s; "
              f"gateway {', '.join(f'{r[0]:.0f}' for r in runs)} MB/s", flush=True)
        result("gateway", "none", value, "MB/s", limit)
        result("gateway-memory", "none", max(r[1] for r in runs), "MiB", min(r[2] for r in runs))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
