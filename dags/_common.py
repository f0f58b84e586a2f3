"""What the NCMS DAG files share (no DAG here). Nothing in this module touches a database,
the network or ``ncms`` when a DAG file is parsed: ``ncms`` is imported inside tasks."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pendulum
import yaml

TIMEZONE = "Asia/Shanghai"
START = pendulum.datetime(2026, 1, 1, tz=TIMEZONE)  # fixed: a DAG's dates never come from the clock
DEFAULT_ARGS = {
    "owner": "ncms",
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(hours=6),
}


def config_dir() -> Path:
    """NCMS_CONFIG_DIR, else the project's config/ beside this folder."""
    return Path(os.environ.get("NCMS_CONFIG_DIR") or Path(__file__).resolve().parents[1] / "config")


def etl_counties() -> list[tuple[str, str]]:
    """(code, name) of every centralised county in config/province.yaml that the province
    extracts (not those with ``delivery: packages``, which send packages): a local file read."""
    province = yaml.safe_load((config_dir() / "province.yaml").read_text(encoding="utf-8"))
    return [(c["code"], c.get("name_en") or c["name"]) for c in province["counties"]
            if c.get("mode") == "etl" and c.get("delivery", "extract") == "extract"]
