"""Text laid out for a terminal, where a Chinese character takes two columns."""
from __future__ import annotations

import unicodedata


def columns(text: str) -> int:
    """The terminal columns ``text`` takes: two for each wide (Chinese) character."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def fit(text: str, width: int) -> str:
    """Cut (with "…") and pad to ``abs(width)`` columns; a negative width aligns right."""
    room = abs(width)
    if columns(text) > room:
        cut, used = "", 0
        for ch in text:
            if used + columns(ch) > room - 1:
                break
            cut, used = cut + ch, used + columns(ch)
        text = cut + "…"
    pad = " " * max(0, room - columns(text))
    return pad + text if width < 0 else text + pad
