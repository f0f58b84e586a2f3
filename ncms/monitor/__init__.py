"""Fund monitoring: the supervision rule catalogue, its engine, and the findings it files."""
from .catalogue import CATALOGUE, RULES, Rule, Scope
from .engine import MonitorResult, run_monitor

__all__ = ["CATALOGUE", "RULES", "MonitorResult", "Rule", "Scope", "run_monitor"]
