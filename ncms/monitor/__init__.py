"""Fund monitoring: the supervision rule catalogue, its engine, and the findings it files."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ncms import lazy_exports

if TYPE_CHECKING:
    from .catalogue import CATALOGUE, RULES, Rule, Scope
    from .engine import MonitorResult, run_monitor

__all__ = ["CATALOGUE", "RULES", "MonitorResult", "Rule", "Scope", "run_monitor"]
__getattr__ = lazy_exports(__name__, {"CATALOGUE": ".catalogue", "RULES": ".catalogue", "Rule": ".catalogue",
                                      "Scope": ".catalogue", "MonitorResult": ".engine", "run_monitor": ".engine"})
