"""A monitor run killed with kill -9 leaves no worker process behind.

On a SQLite file the rules run in forked worker processes. Before they were tied to their
parent, a killed run left them waiting on their task pipe forever (they hold its write end
too), each holding the database file open: the fault suite's killed runs left dozens.
"""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# The child runs the engine's own worker pool over a SQLite file; each rule task is replaced by
# one that reports its process id and sleeps, so the run is sure to be killed mid-way.
CHILD = r"""
import os, sys, time
from ncms.db import create_engine
from ncms.monitor import engine as monitor

def sleeper(url, *args, **kwargs):
    os.write(1, f"worker {os.getpid()}\n".encode())  # one write: the two workers' lines never interleave
    time.sleep(120)
sleeper.__qualname__ = sleeper.__name__ = "_run_apart"
sleeper.__module__ = monitor.__name__
monitor._run_apart = sleeper

db = create_engine("sqlite:///" + sys.argv[1])
with monitor._workers(db, 2) as (submit, side_by_side):
    assert side_by_side
    futures = [submit() for _ in range(2)]
    time.sleep(120)
"""


def _state(pid: int) -> str | None:
    """The process's state letter (R, S, Z…), or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return line.split()[1]
    except FileNotFoundError:
        return None
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_killed_monitor_leaves_no_worker(tmp_path: Path) -> None:
    run = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "ncms.db")],
                           stdout=subprocess.PIPE, text=True)
    try:
        said = (line.split() for line in run.stdout)  # the worker's lines, among anything else printed
        workers = [int(words[1]) for words in itertools.islice(
            (w for w in said if len(w) == 2 and w[0] == "worker"), 2)]
        assert len(workers) == 2, "the workers never started"
        assert all(_state(w) not in (None, "Z") for w in workers), "the workers should be running"
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_state(w) not in (None, "Z") for w in workers):
        time.sleep(0.1)
    alive = [w for w in workers if _state(w) not in (None, "Z")]
    for w in alive:  # do not leave them behind if the test fails
        os.kill(w, signal.SIGKILL)
    assert not alive, f"worker processes {alive} outlived their killed monitor run"
