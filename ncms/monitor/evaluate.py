"""``ncms monitor evaluate``: how well the anomaly model finds the institutions a synthetic
province makes unusual (ncms/synth/anomaly.py), by each scoring method, seed by seed, and for
the configured method per pattern and per institution size.

Each seed's province is generated with labelled anomalous institutions (one pattern each,
picked across sizes: township centres under 40 stays a year, larger ones, county hospitals),
loaded through the ingestion into a scratch SQLite database, and scored. An institution's
score is the mean of its judged windows' (an anomalous institution is unusual in every one);
unscored institutions rank last. Figures: ROC AUC over the institutions, precision at k (the
labelled among the k highest), recall (the labelled with at least one finding), and the
findings on clean institutions' judged windows (months, quarters, years to date), with their
rate; per pattern and per size the same over the labelled of that pattern or size against the
clean institutions (of that size), precision at k with k at most their number.
"""
from __future__ import annotations

import json
import re
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

from ncms.synth import figures as F
from ncms.synth.anomaly import PATTERNS, SIZES, size_of

from . import anomaly
from .features import compute_features

TODAY = date(2012, 3, 1)  # the synthetic years are 2011: packages are dated before this
# fewer claims leave a county too few institutions with claims to be one another's peers
MIN_CLAIMS = 20_000
CLAIMS, ANOMALOUS = 80_000, 12  # township centres of 12-200 stays a year, county hospitals of 80-270
LABEL = re.compile(r"^(?P<pattern>\w+) \((?P<size>[^)]+)\)")


def evaluate(settings: Settings, seeds: tuple[int, ...] = (1, 2, 3), claims: int = CLAIMS,
             anomalous: int = ANOMALOUS, k: int = 10, progress: Any = print) -> dict[str, Any]:
    """The figures per seed and method, with the model's version and parameters; ValueError for
    a province too small to judge."""
    from ncms.ingest import ingest_package
    from ncms.synth import ANOMALOUS_INSTITUTION, generate, write_packages

    if claims < MIN_CLAIMS:
        raise ValueError(f"{claims} claims are too few for peers to compare: give at least {MIN_CLAIMS:,}")
    if anomalous < 1 or k < 1:
        raise ValueError("the anomalous institutions and k must be at least 1")

    chosen = anomaly.read_anomaly_settings(settings.config_dir)
    reference = read_reference(settings.config_dir)
    report: dict[str, Any] = {"model": anomaly.MODEL.code, "version": anomaly.MODEL.version, "parameters": chosen.params,
                              "claims": claims, "anomalous": anomalous, "k": k, "seeds": {}}
    for seed in seeds:
        started = time.perf_counter()
        province = generate(reference, seed=seed, claims=claims, anomalous_institutions=anomalous)
        labelled = province.truth.filter(pl.col("family") == ANOMALOUS_INSTITUTION)
        truth = {key: LABEL.match(detail).groupdict()  # type: ignore[union-attr]
                 for key, detail in zip(labelled["subject_key"], labelled["detail"])}
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
        variants = {name: anomaly.score(frame, variant, prefectures) for name, variant in _variants(chosen).items()}
        figures = {name: _figures(scored, codes, set(truth), k) for name, scored in variants.items()}
        sizes = _sizes(frame, codes, truth)
        report["seeds"][str(seed)] = {"labelled": truth, "methods": figures,
                                      "groups": _groups(variants[_default(chosen)], codes, truth, sizes, k)}
        progress(f"seed {seed}: " + "; ".join(f"{method} AUC {f['roc_auc']:.3f} P@{k} {f['precision_at_k']:.2f} "
                                                f"recall {f['recall']:.2f}" for method, f in figures.items())
                 + f" ({time.perf_counter() - started:.1f} s)")
    # the worst seed's figure of each: the lowest score, the highest rate of findings on clean months
    report["summary"] = {name: {figure: worst((s["methods"][name][figure] for s in report["seeds"].values()
                                                   if s["methods"][name][figure] is not None), default=None)
                                for figure, worst in (("roc_auc", min), ("precision_at_k", min), ("recall", min),
                                                      ("clean_flag_rate", max),
                                                      ("busiest_clean_townships_flagged", max))}
                         for name in _variants(chosen)}
    groups = {group for s in report["seeds"].values() for group in s["groups"]}
    report["groups"] = {group: {figure: worst((s["groups"][group][figure] for s in report["seeds"].values()
                                               if group in s["groups"] and s["groups"][group][figure] is not None),
                                              default=None)
                                for figure, worst in (("roc_auc", min), ("precision_at_k", min), ("recall", min))}
                        | {"labelled": sum(s["groups"].get(group, {}).get("labelled", 0)
                                           for s in report["seeds"].values())}
                        for group in sorted(groups, key=_group_order)}
    report["method"] = _default(chosen)
    return report


def _default(chosen: anomaly.AnomalySettings) -> str:
    """The variant that is the configured method."""
    return "robust" if chosen.method == "robust" else (
        chosen.model if chosen.method == "model" else f"combined {chosen.model}")


def _group_order(group: str) -> tuple[int, int, str]:
    kind, _, name = group.partition(": ")
    names = (*PATTERNS, *SIZES)
    first = name.split(" / ")[0]
    return (("pattern", "size", "pattern / size").index(kind), names.index(first) if first in names else 99, name)


def _sizes(frame: pl.DataFrame, codes: dict[int, str], truth: dict[str, dict[str, str]]) -> dict[str, str]:
    """Each township centre's and county hospital's size class: a labelled one's as the
    synthetic province drew it (before its pattern changed its stays), the others' by their
    stays a year."""
    years = frame.filter(pl.col("time_window") == "year").group_by("institution_id", "level").agg(
        pl.col("stays").sum(), pl.col("months").sum())
    sizes = {}
    for row in years.iter_rows(named=True):
        level = str(getattr(row["level"], "value", row["level"]))
        if level not in ("township", "county"):
            continue
        code = codes[row["institution_id"]]
        stays = row["stays"] * 12 / max(row["months"], 1)
        sizes[code] = truth[code]["size"] if code in truth else size_of(F.LEVELS.index(level), stays)
    return sizes


def _groups(scored: pl.DataFrame, codes: dict[int, str], truth: dict[str, dict[str, str]], sizes: dict[str, str],
            k: int) -> dict[str, dict[str, Any]]:
    """ROC AUC, precision at k and recall of each pattern, each size and each pattern at each
    size: its labelled institutions against the clean ones (of that size)."""
    ranked = (scored.group_by("institution_id").agg(pl.col("score").mean().fill_null(-1.0), pl.col("flagged").any())
              .with_columns(code=pl.col("institution_id").replace_strict(codes, return_dtype=pl.String))
              .sort("score", "code", descending=[True, False]))
    rows = [(code, score, flagged) for code, score, flagged in zip(ranked["code"], ranked["score"], ranked["flagged"])
            if code in sizes]
    groups: dict[str, dict[str, Any]] = {}
    for pattern, size in {(t["pattern"], t["size"]) for t in truth.values()} | {(None, None)}:
        for kind, name, wanted in (("pattern", pattern, lambda t, s, p=pattern: t["pattern"] == p),
                                   ("size", size, lambda t, s, z=size: s == z),
                                   ("pattern / size", f"{pattern} / {size}",
                                    lambda t, s, p=pattern, z=size: t["pattern"] == p and s == z)):
            if pattern is None or f"{kind}: {name}" in groups:
                continue
            same_size = kind != "pattern"
            chosen = [(code in truth and wanted(truth[code], sizes[code]), score, flagged)
                      for code, score, flagged in rows
                      if (code in truth and wanted(truth[code], sizes[code]))
                      or (code not in truth and (not same_size or sizes[code] == size))]
            groups[f"{kind}: {name}"] = _group_figures(chosen, k)
    return groups


def _group_figures(rows: list[tuple[bool, float, bool]], k: int) -> dict[str, Any]:
    labels = [label for label, _, _ in rows]
    positives = sum(labels)
    top = min(k, positives)
    return {"labelled": positives, "clean": len(labels) - positives,
            "roc_auc": round(float(roc_auc_score(labels, [s for _, s, _ in rows])), 4)
            if 0 < positives < len(labels) else None,
            "precision_at_k": round(sum(labels[:top]) / top, 3) if top else None,
            "recall": round(sum(1 for label, _, flagged in rows if label and flagged) / positives, 3)
            if positives else None}


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
    whole = scored.with_columns(code=pl.col("institution_id").replace_strict(codes, return_dtype=pl.String),
                                level=pl.col("level").cast(pl.String)).filter(~pl.col("code").is_in(list(truth)))
    busiest = (whole.filter(pl.col("level") == "township").group_by("code", "county_code")
               .agg(pl.col("cases").sum(), pl.col("stays").sum(), pl.col("flagged").any())
               .sort("cases", "code", descending=[True, False]).group_by("county_code", maintain_order=True).first()
               .sort("county_code"))
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
        # large but normal: the busiest clean township centre of each county, never flagged for its size
        "busiest_clean_townships": busiest.to_dicts(),
        "busiest_clean_townships_flagged": int(busiest["flagged"].sum()) if busiest.height else 0,
    }


def write_report(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
