"""The data pages: which batches each county sent, how they loaded, what was refused and why,
and the archived row a record came from (docs/web.md, "Data")."""
from __future__ import annotations

from .views import bp

__all__ = ["bp"]
