"""``ncms serve --workers N``: gunicorn's worker processes (gthread), each with its threads, on
one port; one process (waitress) on SQLite by default, one per core on a server database."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ncms.cli.serve import default_workers

from .conftest import CONFIG_DIR
from .test_browser import free_port


def test_default_workers_one_on_sqlite_one_per_core_elsewhere():
    cores = len(os.sched_getaffinity(0))
    assert default_workers("sqlite") == 1
    assert default_workers("postgresql") == min(cores, 8)


def children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()]


def test_two_worker_processes_answer_on_one_port_and_stop_together(engine, settings, tmp_path):
    port = free_port()
    env = dict(os.environ, NCMS_DATA_DIR=str(settings.data_dir), NCMS_DATABASE_URL=settings.database_url,
               NCMS_CONFIG_DIR=str(CONFIG_DIR))
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("ncms")), "serve", "--port", str(port),
                                 "--workers", "2", "--threads", "2"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                    assert answer.status == 200
                break
            except OSError:
                assert proc.poll() is None, log.read_text(errors="replace")
                time.sleep(0.1)
        workers = children(proc.pid)
        assert len(workers) == 2, log.read_text(errors="replace")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/sign-in", timeout=10) as answer:
            assert answer.status == 200 and b'name="csrf_token"' in answer.read()
        assert "2 processes" in log.read_text(errors="replace")
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
    for _ in range(100):  # no worker outlives it (ended, or killed and left for init to reap)
        if not any(alive(pid) for pid in workers):
            break
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
