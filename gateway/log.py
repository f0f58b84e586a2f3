"""Structured log lines: one JSON object per line, on the ``gateway`` logger (stderr in ``serve``)."""
from __future__ import annotations

import json
import logging
import sys
import time

logger = logging.getLogger("gateway")


def event(name: str, **fields) -> None:
    record = {"event": name, "ts": round(time.time(), 3), **fields}
    logger.info(json.dumps(record, ensure_ascii=False, default=str))


def configure_stderr(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
