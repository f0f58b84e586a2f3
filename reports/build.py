"""Building a report: its content from the indicators, the PDF, the machine-readable statistics
and manifest, the package, all recorded as a new revision (``reports.registry``). The command
line, the console and the reporting DAG all build through ``build_report``.

    run = build_report(engine, settings, "quarterly", "2011-Q2")
    run.revision, run.folder, run.package
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from ncms import log
from ncms.config import Settings
from ncms.db import session_scope
from ncms.indicators import Period
from ncms.models import ReportRun

from .content import ReportContent, build_content

logger = logging.getLogger(__name__)


@dataclass
class Timings:
    """Seconds each step took (the benchmark's breakdown)."""

    content: float = 0.0
    pdf: float = 0.0
    statistics: float = 0.0
    total: float = 0.0


def build_report(engine: Engine, settings: Settings, kind: str, period: Period | str, county: str | None = None,
                 lang: str = "zh", *, requested_by: str | None = None, today: date | None = None,
                 timings: Timings | None = None) -> ReportRun:
    """Build a new revision of the ``kind`` report of ``period`` (the province, or ``county``
    alone) in ``lang``: the PDF, one CSV and one XML file per table, the XSD and the manifest
    (naming the revision it supersedes), packed into the ZIP the ministry receives. Returns the
    run as recorded (detached): done, or failed and the error raised."""
    from .pdf import render_pdf
    from .registry import recording
    from .statistics import write_statistics

    timings = timings if timings is not None else Timings()
    started = time.perf_counter()
    province = _province(settings)
    with recording(engine, settings, kind, period, county, lang, requested_by) as draft:
        step = time.perf_counter()
        with session_scope(engine) as session:
            content = build_content(session, kind, period, county, province=province, today=today)
        timings.content = time.perf_counter() - step
        step = time.perf_counter()
        render_pdf(content, draft.folder / pdf_name(content, lang), lang=lang)
        timings.pdf = time.perf_counter() - step
        step = time.perf_counter()
        write_statistics(content, draft.folder, revision=draft.revision, lang=lang, supersedes=draft.supersedes)
        timings.statistics = time.perf_counter() - step
    timings.total = time.perf_counter() - started
    with session_scope(engine) as session:
        run = session.get(ReportRun, draft.run_id)
        session.expunge(run)
    log.event(logger, "report.built", kind=kind, period=str(period), county=county or "province", lang=lang,
              revision=run.revision, package=run.package, seconds=round(timings.total, 2),
              content=round(timings.content, 2), pdf=round(timings.pdf, 2),
              statistics=round(timings.statistics, 2))
    return run


def pdf_name(content: ReportContent, lang: str) -> str:
    """``ncms-520000-quarterly-2011-Q2-zh.pdf``: the area's code, the kind, the period, the language."""
    return f"ncms-{content.county or content.province_code}-{content.kind}-{content.period.label}-{lang}.pdf"


def _province(settings: Settings) -> Any:
    """The province's reference (its name, its counties' English names and cadences), or None
    when the configuration folder has no province.yaml (the province is then named by its code)."""
    from ncms.reference import read_province

    folder = Path(settings.config_dir)
    return read_province(folder) if (folder / "province.yaml").is_file() else None
