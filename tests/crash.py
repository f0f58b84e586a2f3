"""A real ``ncms`` process to kill: it stops at a chosen point of ingestion and says so on
its standard output, then waits there (``load``: its batch recorded ``loading``, nothing of
it loaded) or kills itself (``finish!``: an inbox package's batch recorded, its claim not
yet removed; ``receipt!``: a batch recorded, its receipt not yet written)."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from ncms.config import Settings

CHILD = r"""
import os, signal, sys, time
from ncms.ingest import inbox, pipeline

point = sys.argv.pop(1)

def stop(*args, **kwargs):
    print("stopped", flush=True)
    if point.endswith("!"):
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(600)

if point == "load":
    pipeline._Loader.run = stop
elif point == "finish!":
    inbox.Claim.finish = stop
elif point == "receipt!":
    pipeline.write_receipt = stop
from ncms.cli import main
main(sys.argv[1:], prog_name="ncms")
"""


@contextmanager
def stopped_ncms(settings: Settings, point: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``ncms ARGS`` in a child process, stopped at ``point``; killed (SIGKILL) on leaving."""
    log = settings.data_dir.parent / f"child-{time.monotonic_ns()}.log"
    command = [sys.executable, "-c", CHILD, point, "--data-dir", str(settings.data_dir),
               "--database-url", settings.database_url, "--config-dir", str(settings.config_dir), *args]
    with log.open("w") as err:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
    watchdog = threading.Timer(120, child.kill)
    watchdog.start()
    try:
        said = []
        while child.stdout and (line := child.stdout.readline()) and line != "stopped\n":
            said.append(line)  # what the command prints before it gets there (a progress bar)
        assert line == "stopped\n", "".join(said) + log.read_text()[-3000:]
        yield child
    finally:
        watchdog.cancel()
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        if child.stdout:
            child.stdout.close()


def wait_until_dead(engine: Engine, settings: Settings, seconds: float = 15) -> None:
    """Until no batch's loader is alive: PostgreSQL drops a killed client's locks when its
    server process notices the connection closed, a moment after the kill."""
    from ncms.ingest.recovery import stuck_batches

    deadline = time.monotonic() + seconds
    while any(b.alive for b in stuck_batches(engine, settings)):
        assert time.monotonic() < deadline, "a killed loader still looks alive"
        time.sleep(0.05)
