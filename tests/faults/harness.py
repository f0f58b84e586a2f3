"""Running a real command and killing it with SIGKILL at a seeded moment, seed after seed.

A fault scenario measures how long its command normally takes, then for each seed draws a
kill time in [0, that duration] from ``random.Random(seed)``, so that the kills fall over the
whole run (start-up, reading, loading, bookkeeping, the end) and a failure names a seed that
reproduces it: ``NCMS_FAULT_SEED=7 NCMS_FAULT_DURATION=4.1 make faults`` (the duration the
message quotes). Every seed is checked; the scenario fails
once at the end with the list of seeds that failed and the first assertion each one broke.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
NCMS = str(BIN / "ncms")
GATEWAY = str(BIN / "ncms-gateway")
RUNS = 20  # seeded runs of each scenario, at least


def fault_seeds() -> list[int]:
    """The seeds to run: ``NCMS_FAULT_SEED`` (one, or a comma list) when set, else 0 … N-1 with
    N from ``NCMS_FAULT_RUNS`` (default 20)."""
    chosen = os.environ.get("NCMS_FAULT_SEED", "").strip()
    if chosen:
        return [int(s) for s in chosen.split(",")]
    return list(range(max(RUNS, int(os.environ.get("NCMS_FAULT_RUNS", RUNS)))))


def ncms(settings_args: Sequence[str], *command: str) -> list[str]:
    """The real ``ncms`` console script with this scenario's data folder, database and config."""
    return [NCMS, *settings_args, *command]


@dataclass
class Kill:
    """What a seeded SIGKILL hit: ``killed`` is False when the command had already ended."""

    at: float
    killed: bool
    returncode: int | None
    output: str = ""

    def __str__(self) -> str:
        return f"SIGKILL at {self.at:.2f} s" if self.killed else f"no kill (ended before {self.at:.2f} s)"


def run_and_kill(args: Sequence[str], at: float, log: Path, env: dict[str, str] | None = None) -> Kill:
    """Start ``args``, SIGKILL it ``at`` seconds later unless it ended first."""
    with log.open("wb") as out:
        proc = subprocess.Popen(list(args), stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            code = proc.wait(timeout=at)
            killed = False
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            code = proc.wait(timeout=60)
            killed = True
    return Kill(at, killed, code, log.read_text(errors="replace"))


def run_to_end(args: Sequence[str], what: str, env: dict[str, str] | None = None, timeout: float = 300,
               codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    """Run ``args`` to completion; another exit code than ``codes`` is a failed recovery."""
    done = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=timeout)
    said = [line for line in (done.stderr or done.stdout).splitlines() if line.strip() and not line.startswith("{")]
    assert done.returncode in codes, (f"{what}: `{' '.join(Path(a).name if a.startswith('/') else a for a in args[-4:])}`"
                                  f" exited {done.returncode}: " + " | ".join(said[-3:]))
    return done


def timed(args: Sequence[str], what: str, env: dict[str, str] | None = None) -> float:
    """Seconds the command takes when nothing goes wrong (its kill times are drawn below this)."""
    started = time.monotonic()
    run_to_end(args, what, env)
    return time.monotonic() - started


def kill_time(seed: int, duration: float) -> float:
    """The seed's moment in [0, duration]. Another machine measures another duration: to hit the
    same moment, give the one the failure message quotes as ``NCMS_FAULT_DURATION``."""
    return random.Random(seed).uniform(0, float(os.environ.get("NCMS_FAULT_DURATION") or duration))


@dataclass
class Campaign:
    """The seeded runs of one scenario and what each one found."""

    name: str
    duration: float
    passed: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def run(self, seed: int, body: Callable[[], str]) -> None:
        """Run one seed: ``body`` kills, recovers and checks, and returns what the kill hit.
        An AssertionError fails the seed (the others still run); anything else is a bug of
        the scenario itself and stops it."""
        try:
            hit = body()
        except AssertionError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else traceback.format_exc(limit=2)
            self.failed[seed] = first[:600]
            self.lines.append(f"  seed {seed}: FAILED {first[:600]}")
        else:
            self.passed.append(seed)
            self.lines.append(f"  seed {seed}: ok ({hit})")
        print(self.lines[-1], flush=True)

    def summary(self) -> str:
        return (f"{self.name}: {len(self.passed) + len(self.failed)} seeded runs, {len(self.passed)} passed, "
                f"{len(self.failed)} failed (normal run {self.duration:.2f} s; kill times drawn in [0, it])")

    def check(self) -> None:
        print(self.summary(), flush=True)
        assert not self.failed, self.summary() + "\n" + "\n".join(
            f"  seed {seed}: {why}" for seed, why in sorted(self.failed.items()))
