"""The province at a glance: the auditors' start page (``province.index`` at ``/``)."""
from __future__ import annotations

from .views import bp

__all__ = ["bp"]
