"""Cells a spreadsheet opens as text: formula injection neutralised in every CSV or workbook a
person may open in Excel (the console's exports, ``ncms findings export``).

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be taken
for a formula (``=HYPERLINK(…)`` in a claim number a county sent), so it is written with a single
quote in front (``'=1+1``); numbers stay numbers. Files machines read (the ministry's statistics,
the counties' receipts) keep their values exact and are not passed through here."""
from __future__ import annotations

from typing import Any

RISKY = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: Any) -> Any:
    """A cell's text as a spreadsheet may read it: a leading formula character quoted."""
    if isinstance(value, str) and value.startswith(RISKY):
        return "'" + value
    return value
