"""Compensation scheme simulation (补偿方案测算): a county's claims of a year recomputed under
candidate schemes, set-based in SQL with the rules' arithmetic, and the next year's fund they
leave (docs/simulation.md)."""
from .candidates import MAX_CANDIDATES, Candidate, parse_candidates_text, read_candidates
from .simulate import CURRENT, Affected, BalanceCheck, CountyResult, Outcome, per_claim, simulate

__all__ = ["CURRENT", "MAX_CANDIDATES", "Affected", "BalanceCheck", "Candidate", "CountyResult", "Outcome",
           "parse_candidates_text", "per_claim", "read_candidates", "simulate"]
