"""Structured log lines: one JSON object per line, on the ``gateway`` logger (stderr in ``serve``).

Also the one shape of a refusal the county must read: a :class:`Refusal` is the SFTP
status code of a refused request together with the sentence that says which limit refused
it, so the SFTP server can send the sentence to the county and log it in one place.
"""
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


class Refusal(int):
    """An SFTP status code that also says why, e.g. which limit a write went over.

    It is an ``int`` so that any code expecting a status code still works; the gateway's
    SFTP server sends ``message`` as the status text, on the channel's stderr (which stock
    ``sftp`` and ``scp`` print, where they only print "Failure" for the status) and to the
    log with ``fields``.
    """

    message: str
    fields: dict

    def __new__(cls, code: int, message: str, **fields) -> "Refusal":
        refusal = super().__new__(cls, code)
        refusal.message = message
        refusal.fields = fields
        return refusal
