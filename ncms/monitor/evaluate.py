"""``ncms monitor evaluate``: how well the anomaly model finds the institutions a synthetic
province makes unusual (ncms/synth/anomaly.py), by each scoring method, seed by seed.

Each seed's province is generated with labelled anomalous institutions, loaded through the
ingestion into a scratch SQLite database, and scored. An institution's score is the mean of
its months' (an anomalous institution is unusual every month); unscored institutions rank
last. Figures: ROC AUC over the judged institutions, precision at k (the labelled among the
k highest), recall (the labelled with at least one finding), and the findings on clean
institutions' months, with their rate.
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from sklearn.metrics import roc_auc_score

from ncms import migrate
from ncms.config import Settings
from ncms.db import create_engine, session_scope
from ncms.reference import load_reference, read_reference

from . import anomaly
from .features import compute_features

TODAY = date(2012, 3, 1)  # the synthetic years are 2011: packages are dated before this


def evaluate(settings: Settings, seeds: tuple[int, ...] = (1, 2, 3), claims: int = 200_000, anomalous: int = 10,
             k: int = 10, progress: Any = print) -> dict[str, Any]:
    """The figures per seed and method, with the model's version and parameters."""
    from ncms.ingest import ingest_package
    from ncms.synth import ANOMALOUS_INSTITUTION, generate, write_packages

    chosen = anomaly.read_anomaly_settings(settings.config_dir)
    reference = read_reference(settings.config_dir)
    report: dict[str, Any] = {"model": anomaly.MODEL.code, "version": anomaly.MODEL.version, "parameters": chosen.params,
                              "claims": claims, "anomalous": anomalous, "k": k, "seeds": {}}
    for seed in seeds:
        started = time.perf_counter()
        province = generate(reference, seed=seed, claims=claims, anomalous_institutions=anomalous)
        truth = set(province.truth.filter(pl.col("family") == ANOMALOUS_INSTITUTION)["subject_key"].to_list())
        with tempfile.TemporaryDirectory(prefix="ncms-evaluate-") as tmp_name:
            tmp = Path(tmp_name)
            engine = create_engine(f"sqlite:///{tmp / 'evaluate.db'}")
            migrate.upgrade(engine)
            with session_scope(engine) as session:
                load_reference(session, reference)
            scratch = replace(settings, database_url=str(engine.url), data_dir=tmp / "var")
            scratch.ensure_dirs()
            for path in write_packages(province, tmp / "packages", months_per_package=12):
                ingest_package(engine, scratch, path, today=TODAY)
            frame = compute_features(engine)
            codes, prefectures = anomaly.names(engine)
            engine.dispose()
        figures = {name: _figures(anomaly.score(frame, variant, prefectures), codes, truth, k)
                   for name, variant in _variants(chosen).items()}
        report["seeds"][str(seed)] = {"labelled": sorted(truth), "methods": figures}
        progress(f"seed {seed}: " + "; ".join(f"{method} AUC {f['roc_auc']:.3f} P@{k} {f['precision_at_k']:.2f} "
                                                f"recall {f['recall']:.2f}" for method, f in figures.items())
                 + f" ({time.perf_counter() - started:.1f} s)")
    # the worst seed's figure of each: the lowest score, the highest rate of findings on clean months
    report["summary"] = {name: {figure: worst((s["methods"][name][figure] for s in report["seeds"].values()
                                                   if s["methods"][name][figure] is not None), default=None)
                                for figure, worst in (("roc_auc", min), ("precision_at_k", min), ("recall", min),
                                                      ("clean_flag_rate", max))}
                         for name in _variants(chosen)}
    return report


def _variants(chosen: anomaly.AnomalySettings) -> dict[str, anomaly.AnomalySettings]:
    """The robust baseline alone, each multivariate model alone and each combined with it."""
    variants = {"robust": replace(chosen, method="robust")}
    for model in anomaly.MODELS:
        variants[model] = replace(chosen, method="model", model=model)
        variants[f"combined {model}"] = replace(chosen, method="combined", model=model)
    return variants


def _figures(scored: pl.DataFrame, codes: dict[int, str], truth: set[str], k: int) -> dict[str, Any]:
    """The figures of one way of scoring: every institution of the counties ranked by its months'
    mean score, those with no month judged last (a labelled one among them counts as missed)."""
    months = scored.filter(pl.col("score").is_not_null())
    ranked = (scored.group_by("institution_id").agg(pl.col("score").mean().fill_null(-1.0), pl.col("flagged").any())
              .with_columns(code=pl.col("institution_id").replace_strict(codes))
              .sort("score", "code", descending=[True, False]))
    labels = [code in truth for code in ranked["code"]]
    top = labels[:k]
    clean = months.with_columns(code=pl.col("institution_id").replace_strict(codes)).filter(
        ~pl.col("code").is_in(list(truth)))
    flagged_clean = clean.filter("flagged")
    hospitals = (clean.filter(pl.col("level") == "county").group_by("code")
                 .agg(pl.col("cases").sum(), pl.col("flagged").any()).sort("cases", "code", descending=[True, False]))
    return {
        "institutions": ranked.height,
        "roc_auc": round(float(roc_auc_score(labels, ranked["score"].to_list())), 4) if 0 < sum(labels) < len(labels)
        else None,
        "precision_at_k": round(sum(top) / k, 3),
        "recall": round(len(set(ranked.filter("flagged")["code"]) & truth) / len(truth), 3) if truth else None,
        "labelled_unjudged": sorted(truth - set(months["institution_id"].replace_strict(codes))),
        "clean_months": clean.height, "clean_months_flagged": flagged_clean.height,
        "clean_flag_rate": round(flagged_clean.height / clean.height, 4) if clean.height else None,
        "clean_institutions_flagged": sorted(set(flagged_clean["code"])),
        # large but normal: not flagged for its size
        "busiest_clean_county_hospital": hospitals.head(1).to_dicts()[0] if hospitals.height else None,
    }


def write_report(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
