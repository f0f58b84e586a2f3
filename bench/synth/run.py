"""Benchmark of ``ncms.synth.generate``: claims generated per second, against the machine's raw limit.

The limit is measured in the same run: frames of exactly the same shapes (every record type,
the same rows and string columns) materialised from plain random integers formatted as
strings, with no logic at all. It is expressed per claim (claims of the province divided by
the time to materialise all of its frames), so ``ratio`` says how close the generator comes
to merely producing its output.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ncms.reference import read_reference  # noqa: E402
from ncms.synth import generate  # noqa: E402

CLAIMS = 1_000_000
SEED = 1


def raw_frames(shapes: dict[str, tuple[int, int]], seed: int) -> float:
    """Seconds to build frames of these (rows, columns) from random ints formatted as strings."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    for rows, columns in shapes.values():
        pl.DataFrame({f"c{i}": pl.Series(rng.integers(0, 10**9, rows)).cast(pl.String) for i in range(columns)})
    return time.perf_counter() - started


def main() -> None:
    reference = read_reference(ROOT / "config")
    generate(reference, seed=SEED, claims=20_000)  # warm up: imports, first allocations
    started = time.perf_counter()
    province = generate(reference, seed=SEED, claims=CLAIMS)
    elapsed = time.perf_counter() - started
    shapes = {rt: frame.shape for rt, frame in province.frames.items()}
    raw = min(raw_frames(shapes, seed) for seed in range(3))
    value = CLAIMS / elapsed
    limit = CLAIMS / raw
    for rt, (rows, columns) in shapes.items():
        print(f"{rt:12s} {rows:>10,} rows x {columns} columns")
    print(f"generate: {elapsed:.2f} s for {CLAIMS:,} claims, {value:,.0f} claims/s; "
          f"raw frames of the same shapes: {raw:.2f} s")
    print(f"RESULT synth none value={value:.0f} unit=claims/s limit={limit:.0f} ratio={value / limit:.3f}")


if __name__ == "__main__":
    main()
