"""Writing the synthetic province as the counties would send it: packages in the exchange format.

Each county sends one package per period of ``months_per_package`` months, numbered from 1:
its register (members and enrolments) in the first, then financing by month and claims with
their items by settlement month. Packages are byte-for-byte reproducible: the ZIP entries'
timestamps are fixed and the manifest carries no creation time.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from ncms.exchange.package import write_package
from ncms.exchange.schemas import LOAD_ORDER

if TYPE_CHECKING:
    from .province import SyntheticProvince

FIXED_TIME = (2013, 1, 1, 0, 0, 0)


def periods(first_year: int, last_year: int, months: int) -> list[tuple[date, date]]:
    """Consecutive periods of ``months`` months from 1 January of the first year."""
    if not 1 <= months <= 12 * (last_year - first_year + 1):
        raise ValueError(f"months_per_package must be between 1 and {12 * (last_year - first_year + 1)}")
    out, index, end_index = [], 0, 12 * (last_year - first_year + 1)
    while index < end_index:
        stop = min(index + months, end_index)
        start = date(first_year + index // 12, index % 12 + 1, 1)
        after = date(first_year + stop // 12, stop % 12 + 1, 1)
        out.append((start, date.fromordinal(after.toordinal() - 1)))
        index = stop
    return out


def write_packages(province: "SyntheticProvince", out_dir: Path, *, months_per_package: int = 3, encoding: str = "UTF-8",
                   fmt: str = "csv", on_package: Callable[[Path], None] | None = None,
                   counties: list[str] | None = None) -> list[Path]:
    """Write every county's packages (or those of ``counties``) under ``out_dir/<county>/``, and
    ``ground_truth.csv``."""
    out_dir = Path(out_dir)
    frames = province.frames
    known = pl.concat([frames["enrolment"]["year"].cast(pl.Int32), frames["financing"]["year"].cast(pl.Int32),
                       frames["claim"]["settlement_date"].str.slice(0, 4).cast(pl.Int32, strict=False)]).drop_nulls()
    spans = periods(int(known.min()), int(known.max()), months_per_package)
    tagged = _by_period(frames, spans[0][0].year, months_per_package)
    written = []
    present = set(frames["member"]["county_code"]) | set(frames["claim"]["county_code"])
    for county in sorted(present if counties is None else present & set(counties)):
        parts = {rt: f.filter(pl.col("county_code") == county).partition_by("_p", as_dict=True)
                 for rt, f in tagged.items()}
        for seq, span in enumerate(spans, start=1):
            records = {}
            for record_type in LOAD_ORDER:
                frame = parts[record_type].get((seq - 1,))
                if frame is None and record_type in ("member", "enrolment"):
                    continue  # the register goes in the first package only
                records[record_type] = (tagged[record_type].clear() if frame is None else frame).drop("_p", "county_code")
            path = out_dir / county / f"{county}-{seq:04d}.zip"
            write_package(path, county_code=county, sequence=seq, period=span, records=records,
                          encoding=encoding, fmt=fmt, date_time=FIXED_TIME)
            written.append(path)
            if on_package:
                on_package(path)
    province.truth.write_csv(out_dir / "ground_truth.csv")
    return written


def _by_period(frames: dict[str, pl.DataFrame], first_year: int, months: int) -> dict[str, pl.DataFrame]:
    """Each row tagged ``_p`` with its package: the register the first; claims and items by settlement month."""
    first = first_year * 12
    claims = frames["claim"].with_columns(_p=((_month_index(pl.col("settlement_date")) - first) // months).fill_null(0))
    month = pl.col("year").cast(pl.Int32) * 12 + pl.col("month").cast(pl.Int32) - 1
    return {"member": frames["member"].with_columns(_p=pl.lit(0)),
            "enrolment": frames["enrolment"].with_columns(_p=pl.lit(0)),
            "claim": claims,
            "claim_item": frames["claim_item"].join(claims.select("county_code", "claim_id", "_p"),
                                                    on=["county_code", "claim_id"], how="left", maintain_order="left")
            .with_columns(pl.col("_p").fill_null(0)),
            "financing": frames["financing"].with_columns(_p=((month - first) // months).fill_null(0))}


def _month_index(column: pl.Expr) -> pl.Expr:
    return column.str.slice(0, 4).cast(pl.Int32, strict=False) * 12 + column.str.slice(5, 2).cast(pl.Int32, strict=False) - 1


