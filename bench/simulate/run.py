"""The scheme simulation (``ncms.simulation.simulate``, docs/simulation.md): every claim of a
synthetic province's year (NCMS_BENCH_CLAIMS, default 1,000,000, all of 2011, every county)
recomputed under the counties' own schemes and four candidates, and again under one, on
PostgreSQL and SQLite. The province is loaded first (not timed); each simulation is timed warm,
the median of NCMS_BENCH_ROUNDS (3) runs, in seconds.

limit: the issue's floors, 10 s for four candidates and 5 s for one.
``RESULT simulate <db> value=<s> unit=s limit=10 ratio=value/limit`` (four candidates), then
``RESULT simulate-one <db> ... limit=5``. A full scan of the claims is printed beside, for scale."""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import ROOT, Timer, databases, full_scan, loaded_database, result  # noqa: E402
from ncms.db import create_engine, session_scope  # noqa: E402
from ncms.reference import read_reference  # noqa: E402
from ncms.simulation import parse_candidates_text, read_candidates, simulate  # noqa: E402
from ncms.synth import generate, write_packages  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "1000000"))
ROUNDS = int(os.environ.get("NCMS_BENCH_ROUNDS", "3"))
EXTRA = """\
candidates:
  - name: low deductibles
    annual_cap: "50000.00"
    unreferred_ratio_cut: "0.10"
    inpatient:
      township:        {deductible: "50.00", ratio: "0.85"}
      county:          {deductible: "200.00", ratio: "0.70"}
      municipal:       {deductible: "400.00", ratio: "0.55"}
      provincial:      {deductible: "600.00", ratio: "0.50"}
      out_of_province: {deductible: "800.00", ratio: "0.45"}
    outpatient:
      village:  {deductible: "0.00", ratio: "0.50", per_visit_cap: "30.00"}
      township: {deductible: "0.00", ratio: "0.45", per_visit_cap: "50.00"}
  - name: tight cap
    annual_cap: "30000.00"
    outpatient_annual_cap: "200.00"
    referral_required: false
    inpatient:
      township:        {deductible: "100.00", ratio: "0.80"}
      county:          {deductible: "300.00", ratio: "0.65"}
      municipal:       {deductible: "600.00", ratio: "0.50"}
      provincial:      {deductible: "800.00", ratio: "0.45"}
      out_of_province: {deductible: "1000.00", ratio: "0.40"}
    outpatient:
      village:  {deductible: "0.00", ratio: "0.40", per_visit_cap: "25.00"}
      township: {deductible: "0.00", ratio: "0.35", per_visit_cap: "45.00"}
      county:   {deductible: "0.00", ratio: "0.30", per_visit_cap: "80.00"}
"""


def timed(url: str, candidates: list) -> float:  # type: ignore[type-arg]
    engine = create_engine(url)

    def once() -> float:
        began = time.perf_counter()
        with session_scope(engine) as session:
            results = simulate(session, None, 2011, candidates)
        assert sum(r.claims for r in results) > 0
        return time.perf_counter() - began

    first = once()  # warm
    print(f"# cold run: {first:.1f} s", flush=True)
    seconds = statistics.median(once() for _ in range(ROUNDS))
    engine.dispose()
    return seconds


def main() -> None:
    candidates = read_candidates(ROOT / "config" / "candidate-scheme.example.yaml") + parse_candidates_text(EXTRA)
    assert len(candidates) == 4
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with Timer() as gen:
            province = generate(read_reference(ROOT / "config"), seed=1, claims=CLAIMS, years=(2011,))
            packages = write_packages(province, tmp / "packages", months_per_package=12)
        print(f"# {CLAIMS} claims generated in {gen.seconds:.1f} s", flush=True)
        for name, url in sorted(databases(tmp), key=lambda d: d[0] != "postgresql"):
            with loaded_database(tmp, name, url, packages) as (db_url, _):
                engine = create_engine(db_url)
                with engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
                engine.dispose()
                print(f"# {name}: a full scan of the claims and items: {full_scan(db_url):.2f} s", flush=True)
                result("simulate", name, timed(db_url, candidates), "s", 10)
                result("simulate-one", name, timed(db_url, candidates[:1]), "s", 5)


if __name__ == "__main__":
    main()
