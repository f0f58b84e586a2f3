"""kill -9 of the gateway during an upload: the county's client resumes against the restarted
server, the delivered file is byte-identical to the county's, and nothing incomplete ever
appears in the inbox (watched the whole time, every file hashed as it appears)."""
from __future__ import annotations

import os
import random
import re
import subprocess
import threading
import time
from pathlib import Path

from .conftest import random_package
from .harness import Campaign, fault_seeds, kill_time, timed
from .state import sha256_of

COUNTY = "520122"
SIZE = 16 * 2**20  # about a second on loopback: the kill times fall over the whole transfer


class InboxWatcher:
    """Hashes every file that appears in the inbox; any whose bytes are not the whole package
    the county sent under that name is a partial upload the core could have taken."""

    def __init__(self, inbox: Path) -> None:
        self.inbox, self.expected, self.seen, self.wrong = inbox, {}, set(), []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def expect(self, name: str, sha: str) -> None:
        self.expected[name] = sha

    def _watch(self) -> None:
        while not self.stopped.is_set():
            try:
                entries = list(os.scandir(self.inbox))
            except FileNotFoundError:
                entries = []
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                mark = (entry.name, st.st_ino, st.st_size, st.st_mtime_ns)
                if mark in self.seen:
                    continue
                self.seen.add(mark)
                try:
                    sha = sha256_of(Path(entry.path))
                except FileNotFoundError:
                    continue
                if sha != self.expected.get(entry.name):
                    self.wrong.append(f"{entry.name}: {st.st_size} bytes, sha256 {sha[:12]} appeared in the inbox")
            time.sleep(0.002)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)


def test_a_gateway_killed_during_uploads_delivers_each_whole_after_restart(gateway_process, tmp_path) -> None:  # type: ignore[no-untyped-def]
    spool = tmp_path / "spool"
    gateway = gateway_process(spool)
    inbox = spool / COUNTY / "inbox"
    watcher = InboxWatcher(inbox)
    try:
        clean = random_package(tmp_path / "packages" / "clean.zip", SIZE, seed=10_000)
        watcher.expect(clean.name, sha256_of(clean))
        duration = timed(gateway.push(clean, COUNTY), "a clean upload")
        campaign = Campaign("gateway (kill -9 of ncms-gateway serve during ncms-gateway push)", duration)
        for seed in fault_seeds():
            campaign.run(seed, lambda: _killed_upload(gateway, watcher, tmp_path, seed, duration))
    finally:
        watcher.stop()
    campaign.check()


def _killed_upload(gateway, watcher: InboxWatcher, tmp_path: Path, seed: int, duration: float) -> str:  # type: ignore[no-untyped-def]
    package = random_package(tmp_path / "packages" / f"{COUNTY}-{seed:04d}.zip", SIZE, seed)
    sha, total = sha256_of(package), package.stat().st_size
    watcher.expect(package.name, sha)
    at = kill_time(seed, duration)
    down = random.Random(seed).uniform(0, 0.5)  # how long the gateway stays dead
    where = f"seed {seed}, gateway SIGKILL at {at:.2f} s of a {duration:.2f} s upload, restarted {down:.2f} s later"
    client = subprocess.Popen(gateway.push(package, COUNTY, retries="30"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(at)
        uploading = client.poll() is None
        gateway.kill()
        held = _size(gateway.spool / COUNTY / ".partial" / package.name)
        time.sleep(down)
        gateway.start()
        out, err = client.communicate(timeout=120)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == 0, (f"{where}: the client did not finish after the restart (exit {client.returncode}): "
                                    + " | ".join(err.strip().splitlines()[-3:]))
    delivered = gateway.spool / COUNTY / "inbox" / package.name
    assert delivered.is_file(), f"{where}: {package.name} never reached the inbox ({out.strip()})"
    assert sha256_of(delivered) == sha, f"{where}: the delivered {package.name} differs from the county's"
    partial = gateway.spool / COUNTY / ".partial"
    left = sorted(p.name for p in partial.iterdir()) if partial.is_dir() else []
    assert not left, f"{where}: left in .partial after a complete upload: {left}"
    assert not watcher.wrong, f"{where}: a file that was not whole reached the inbox: {watcher.wrong[:3]}"
    delivered.unlink()  # the core's part, done by hand: keeps the suite's disk use flat
    package.unlink()
    attempts = re.search(r"(\d+) attempt", out)
    return (f"kill at {at:.2f} s {'during the upload' if uploading else 'after it ended'}"
            f"{f', the server held {held:,} of {total:,} bytes' if held else ''}, "
            f"{attempts[1] if attempts else '?'} attempt(s)")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
