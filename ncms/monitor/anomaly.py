"""The anomaly model: each institution's window of care against its peers', explained feature
by feature.

Each institution is judged over the shortest window of care that says something about it: a
month, else a quarter, else the year to date (a township centre's 10-40 stays a year; see
``windows.pick``). Peers are the institutions of the same level over the same window (and, if
configured, of the same prefecture). Two views of how unusual a window is, combined into one
score:

- robust z-scores per feature within the peers: ``0.6745 (x - median) / MAD``, the modified
  z-score DHIS2 moved to for skewed data (where the MAD is zero, the mean absolute deviation
  times 1.2533 stands in for it; a share of a count never spreads less than counting does).
  Only the unusual side counts (above the peers; below, for the cost per bed day): billing
  less is not what auditors look for; the *robust score* is the mean of a window's three
  largest z-scores;
- a multivariate model over every judged window's z-scores, catching combinations no single
  feature shows: an isolation forest (scikit-learn), chosen over a local outlier factor by
  ``ncms monitor evaluate``; its score scaled so that 1 is its own boundary of unusual.

``score = sqrt(robust / z_threshold * model)``: 1 where both stand at their thresholds; a
window scoring 1 or more, with at least one feature ``z_threshold`` peer spreads on its
unusual side, is a finding (docs/anomaly.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

from ncms.config import ConfigError
from ncms.models import Claim, ClaimKind, County, Institution

from .catalogue import days_between, month_of, year_of
from .features import COUNTED, FEATURES, LOW_IS_UNUSUAL
from .windows import WINDOWS, month_days, pick, window_days, window_name


@dataclass(frozen=True)
class Model:
    """What a finding of the model records as its rule: a code and a version."""

    code: str
    version: str


MODEL = Model("institution_anomaly", "2")
SETTINGS_FILE = "anomaly.yaml"
MAD_TO_SIGMA = 0.6745  # the MAD of a normal distribution is 0.6745 of its standard deviation
MEAN_AD_TO_SIGMA = 1.253314  # and its mean absolute deviation 0.7979 (1 / 1.2533)
Z_CLIP = 10.0  # one wild feature does not swamp the rest
TOP_FEATURES = 3  # the robust score: the mean of the largest z-scores, this many


@dataclass(frozen=True)
class AnomalySettings:
    """``config/anomaly.yaml``: the model's parameters, recorded with each finding."""

    enabled: bool = True
    min_cases: int = 40  # a window with fewer claims is too small to judge: a longer one is
    min_stays: int = 30  # and, for an institution that admits, one with fewer stays
    min_peers: int = 5  # a peer group with fewer scored months gives no baseline
    z_threshold: float = 3.5
    by_prefecture: bool = False  # peers of the same prefecture only
    trees: int = 200
    seed: int = 0
    top_claims: int = 5
    model: str = "isolation_forest"  # the multivariate model: or "local_outlier_factor"
    method: str = "combined"  # the score: the two combined, or "robust" or "model" alone (for evaluation)

    @property
    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("enabled", "top_claims")}


METHODS = ("combined", "robust", "model")
MODELS = ("isolation_forest", "local_outlier_factor")


def read_anomaly_settings(config_dir: Path) -> AnomalySettings:
    """``anomaly.yaml``, every refusal naming its line and key and what is allowed."""
    from ncms.configfile import line_of, place, read_yaml

    path = Path(config_dir) / SETTINGS_FILE
    if not path.exists():
        return AnomalySettings()
    top = read_yaml(path)
    raw = (top.get("anomaly") if isinstance(top, dict) else None) or {}
    defaults, known = AnomalySettings(), [f.name for f in fields(AnomalySettings)]
    for name, value in raw.items():
        where = place(path, line_of(raw, name), f"anomaly.{name}")
        if name not in known:
            raise ConfigError(f"{where}: no such setting; allowed: {', '.join(known)}")
        allowed = _ALLOWED.get(name) or _kind(getattr(defaults, name))
        if name in _ALLOWED and value not in _ALLOWED[name] or name not in _ALLOWED and not _fits(
                value, getattr(defaults, name)):
            shown = ", ".join(allowed) if isinstance(allowed, tuple) else allowed
            raise ConfigError(f"{where}: {value!r} is not allowed; allowed: {shown}")
    settings = AnomalySettings(**raw)
    for name, least in (("min_peers", 3), ("min_cases", 1), ("min_stays", 1), ("trees", 1), ("top_claims", 0)):
        if getattr(settings, name) < least:
            raise ConfigError(f"{place(path, line_of(raw, name), f'anomaly.{name}')}: {getattr(settings, name)!r} "
                              f"is not allowed; allowed: a whole number, {least} or more")
    if settings.z_threshold <= 0:
        raise ConfigError(f"{place(path, line_of(raw, 'z_threshold'), 'anomaly.z_threshold')}: "
                          f"{settings.z_threshold!r} is not allowed; allowed: a number above 0, e.g. 3.5")
    return settings


_ALLOWED = {"method": METHODS, "model": MODELS}


def _kind(default: Any) -> str:
    """What a setting takes, in words, from its default."""
    if isinstance(default, bool):
        return "true, false"
    if isinstance(default, int):
        return f"a whole number, e.g. {default}"
    return f"a number, e.g. {default}"


def _fits(value: Any, default: Any) -> bool:
    """Whether a setting's value has the type of its default (a whole number will do for a
    float; a true or false is no number)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def names(engine: sa.Engine) -> tuple[dict[int, str], dict[str, str]]:
    """Each institution's code by id, and each county's prefecture."""
    with engine.connect() as conn:
        return (dict(conn.execute(sa.select(Institution.id, Institution.code)).all()),
                dict(conn.execute(sa.select(County.code, County.prefecture_code)).all()))


def whole_months(period: tuple[date, date] | None) -> tuple[date, date] | None:
    """The period widened to whole months from the start of its first year: a month is compared
    whole, never half of it, and a thin institution over its year to date."""
    if period is None:
        return None
    return date(period[0].year, 1, 1), month_days(period[1].year, period[1].month)[1]


def score(frame: pl.DataFrame, settings: AnomalySettings, prefectures: dict[str, str] | None = None) -> pl.DataFrame:
    """The institution windows of ``frame`` (features.compute_features) each institution is
    judged on (``windows``), with their scores: per feature ``z_<feature>`` and
    ``median_<feature>`` (the peers': every institution of the level over the same window),
    ``peers``, ``robust_score``, ``model_score``, ``score`` and ``flagged``. Windows not scored
    (too few claims or peers) keep NULL scores. The same rows give the same scores."""
    group = ["level", "time_window", "year", "month"]
    if settings.by_prefecture:
        frame = frame.with_columns(prefecture=pl.col("county_code").replace_strict(prefectures or {}, default=None))
        group.append("prefecture")
    frame = frame.sort("institution_id", "time_window", "year", "month")
    eligible = frame.filter(pl.col("cases") >= settings.min_cases).with_columns(peers=pl.len().over(group))
    baseline = eligible.with_columns(
        **{f"median_{name}": pl.col(name).median().over(group) for name in FEATURES},
        **{f"z_{name}": _z(name, group) for name in FEATURES},
        median_paid_per_case=(pl.col("compensated_amount") / pl.col("cases")).median().over(group))
    keys = ["institution_id", "time_window", "year", "month"]
    frame = pick(frame.join(eligible.select(*keys, "peers"), on=keys, how="left"), settings)
    judged = frame.join(baseline.drop("peers"), on=keys, how="inner", suffix="_b").select(
        frame.columns + [c for c in baseline.columns if c.startswith(("z_", "median_"))])
    judged = judged.filter(pl.col("peers") >= settings.min_peers).sort("institution_id", "year", "month")
    if judged.is_empty():
        return frame.with_columns(**{name: pl.lit(None, pl.Float64) for name in _SCORES}, flagged=pl.lit(False))
    z = judged.select(f"z_{name}" for name in FEATURES).to_numpy().clip(0, Z_CLIP)  # the unusual side only
    robust = np.sort(z, axis=1)[:, -TOP_FEATURES:].mean(axis=1)
    model = _model_scores(z, settings)
    chosen = {"combined": np.sqrt(robust / settings.z_threshold * model), "robust": robust / settings.z_threshold,
              "model": model}
    judged = judged.with_columns(robust_score=pl.Series(robust), model_score=pl.Series(model),
                                 score=pl.Series(chosen[settings.method]))
    judged = judged.with_columns(flagged=(pl.col("score") >= 1)
                                 & (pl.max_horizontal(pl.col(f"z_{n}") for n in FEATURES) >= settings.z_threshold))
    # an institution has one window a year: its first month names it
    return frame.join(judged.select("institution_id", "year", "month", *_SCORES, "flagged",
                                    "median_paid_per_case", *(f"z_{n}" for n in FEATURES),
                                    *(f"median_{n}" for n in FEATURES)),
                      on=["institution_id", "year", "month"], how="left").with_columns(pl.col("flagged").fill_null(False))


_SCORES = ("robust_score", "model_score", "score")


def _model_scores(z: np.ndarray, settings: AnomalySettings) -> np.ndarray:
    """The multivariate model's score of each row, scaled so that 1 is the model's own boundary
    of unusual: an isolation forest's anomaly score over 0.5 (Liu et al.), a local outlier
    factor over 1.5."""
    if settings.model == "isolation_forest":
        forest = IsolationForest(n_estimators=settings.trees, random_state=settings.seed).fit(z)
        return -forest.score_samples(z) / 0.5
    if len(z) < 3:
        return np.zeros(len(z))
    factor = LocalOutlierFactor(n_neighbors=min(20, len(z) - 1)).fit(z)
    return -factor.negative_outlier_factor_ / 1.5


def _z(name: str, group: list[str]) -> pl.Expr:
    """The modified z-score of a feature within its peer group, signed so that the unusual side
    is positive (below the peers for ``LOW_IS_UNUSUAL``); 0 where the feature is missing (no
    evidence either way) or every peer has the same value. A share of a count (``COUNTED``) is
    never more unusual than counting allows: its spread is at least the Poisson spread of the
    count the peers' median share expects (one, at the least), so a township centre's six
    patients from another county, where its peers have none, are not 20 peer spreads away."""
    median = pl.col(name).median().over(group)
    deviation = (pl.col(name) - median) * (-1 if name in LOW_IS_UNUSUAL else 1)
    mad = deviation.abs().median().over(group)
    mean_ad = deviation.abs().mean().over(group)
    spread = (pl.when(mad > 0).then(mad / MAD_TO_SIGMA).when(mean_ad > 0).then(MEAN_AD_TO_SIGMA * mean_ad)
              .otherwise(0.0))
    if name in COUNTED:
        n = pl.col(COUNTED[name]).cast(pl.Float64)
        spread = pl.max_horizontal(spread, pl.max_horizontal(median * n, pl.lit(1.0)).sqrt() / n)
    z = pl.when(spread > 0).then(deviation / spread).otherwise(0.0)
    return z.fill_null(0.0).fill_nan(0.0)


def explain(row: dict[str, Any], top: int = 3) -> list[dict[str, Any]]:
    """The ``top`` features that make a scored month unusual, most unusual first: the value, the
    peers' median, and how many peer spreads (robust z) above it lies (below, for a feature
    whose low values are unusual)."""
    ranked = sorted(FEATURES, key=lambda name: -(row[f"z_{name}"] or 0.0))
    return [{"feature": name, "value": _round(row[name]), "peer_median": _round(row[f"median_{name}"]),
             "spreads_away": round(row[f"z_{name}"], 1)} for name in ranked[:top] if (row[f"z_{name}"] or 0) > 0]


def _round(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(value, 4 if abs(value) < 10 else 2)


def hits(scored: pl.DataFrame, codes: dict[int, str], claims: Any) -> list[dict[str, Any]]:
    """The flagged months as hits to file (the columns a rule's query returns): about the
    institution and month, at stake what it was paid above its peers' median per case, with the
    explanation and, from ``claims([(row, feature), …])`` (``top_claims``), the claims that
    contribute most to its most unusual feature."""
    flagged = [(row, explain(row)) for row in scored.filter("flagged").iter_rows(named=True)]
    contributing = claims([(row, reasons[0]["feature"] if reasons else "cost_per_case") for row, reasons in flagged])
    found = []
    for row, reasons in flagged:
        key = (row["institution_id"], row["year"], row["month"])
        first, last = window_days(row)
        excess = row["compensated_amount"] - row["cases"] * row["median_paid_per_case"]
        found.append({
            "subject_key": f"institution:{codes[key[0]]}:{window_name(row)}",
            "county_code": row["county_code"], "claim_id": None, "institution_id": key[0],
            "amount": Decimal(f"{max(excess, 0.0):.2f}"), "period_start": first, "period_end": last,
            "ev_window": row["time_window"], "ev_months": row["months"],
            "ev_features": reasons, "ev_peers": row["peers"], "ev_cases": row["cases"], "ev_stays": row["stays"],
            "ev_score": round(row["score"], 3), "ev_robust_score": round(row["robust_score"], 2),
            "ev_model_score": round(row["model_score"], 3), "ev_claims": contributing.get(key, []),
        })
    return found


def top_claims(conn: sa.Connection, wanted: list[tuple[dict[str, Any], str]], n: int
               ) -> dict[tuple[int, int, int], list[dict[str, Any]]]:
    """For each (institution window, feature): its ``n`` claims that contribute most to the
    feature: the longest stays (length, cost per bed day), the cheapest stays (short cheap
    stays, admissions), the visits paid nearest the cap, or (for cost, shares, ratios) the
    costliest. One query per way of ordering, ranking the claims of all the months at once
    (claims carry no index by institution: a query per month would read them all each time)."""
    length = days_between(Claim.admission_date, Claim.discharge_date)
    orders = {"length_of_stay": (length.desc(), [Claim.kind == ClaimKind.INPATIENT]),
              "cost_per_bed_day": (length.desc(), [Claim.kind == ClaimKind.INPATIENT]),
              "cost_per_stay": (Claim.total_amount.desc(), [Claim.kind == ClaimKind.INPATIENT]),
              "cost_per_visit": (Claim.total_amount.desc(), [Claim.kind == ClaimKind.OUTPATIENT]),
              "short_cheap_share": (Claim.total_amount.asc(), [Claim.kind == ClaimKind.INPATIENT]),
              "long_cheap_share": (length.desc(), [Claim.kind == ClaimKind.INPATIENT]),
              "admissions_per_member": (Claim.total_amount.asc(), [Claim.kind == ClaimKind.INPATIENT]),
              "admissions_per_visit": (Claim.total_amount.asc(), [Claim.kind == ClaimKind.INPATIENT]),
              "readmission_rate": (Claim.total_amount.desc(), [Claim.kind == ClaimKind.INPATIENT]),
              "under_cap_share": (Claim.compensated_amount.desc(), [Claim.kind == ClaimKind.OUTPATIENT])}
    by_order: dict[tuple[str, int], dict[tuple[int, int, int], tuple[date, date]]] = {}
    for row, feature in wanted:
        by_order.setdefault((feature if feature in orders else "", WINDOWS[row["time_window"]]), {})[
            (row["institution_id"], row["year"], row["month"])] = window_days(row)
    found: dict[tuple[int, int, int], list[dict[str, Any]]] = {}
    for (feature, size), keys in by_order.items():
        order, where = orders.get(feature, (Claim.total_amount.desc(), []))
        year = year_of(Claim.admission_date)
        first = (month_of(Claim.admission_date) - 1) // size * size + 1
        ranked = (sa.select(Claim.institution_id, year.label("year"), first.label("month"), Claim.county_code,
                            Claim.source_id, Claim.admission_date, Claim.total_amount, Claim.compensated_amount,
                            length.label("days"), sa.func.row_number().over(
                                partition_by=(Claim.institution_id, year, first), order_by=(order, Claim.id))
                            .label("rank"))
                  .where(Claim.institution_id.in_({key[0] for key in keys}), Claim.voided.is_(False),
                         Claim.admission_date.between(min(d[0] for d in keys.values()),
                                                      max(d[1] for d in keys.values())), *where)
                  .subquery("ranked"))
        for r in conn.execute(sa.select(ranked).where(ranked.c.rank <= n).order_by(*ranked.c[:3], ranked.c.rank)):
            if (r.institution_id, r.year, r.month) in keys:
                found.setdefault((r.institution_id, r.year, r.month), []).append(
                    {"claim": f"{r.county_code}:{r.source_id}", "date": _iso(r.admission_date),
                     "total": str(r.total_amount), "paid": str(r.compensated_amount), "days": r.days})
    return found


def _iso(day: Any) -> str:
    return day if isinstance(day, str) else day.isoformat()
