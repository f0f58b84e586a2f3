"""The synthetic province (``ncms synth``): realistic, labelled data for demos, tests and benchmarks.

``generate(reference, seed=…, claims=…)`` draws members, enrolments, financing, claims and
their items for every county of the reference, with injected misuse of every rule family
and a ground truth naming each case; ``write_packages`` writes them as the counties would
send them. ``figures.py`` holds the figures it is drawn from.

What a consumer can rely on:

- ``frames[record_type]`` has the exchange fields of that record type, in schema order, as
  strings (null = no value), after a ``county_code`` column; money has exactly two
  decimals, quantities up to three, dates are YYYY-MM-DD; every row passes the screen
  except the ``malformed`` ones;
- keys: ``member_no`` (household_no + 2 digits), ``claim_id`` (county code + a number in
  settlement order), both unique per county; a claim's items are lines 1…n;
- all of a claim's dates fall in one calendar year, the year of its scheme and of its
  annual cap; the cap is consumed in settlement order (settlement_date, then claim_id);
- a person enrolled in two counties (``duplicate_enrolment``) is two members with one
  national ID, whose area code is the first county's;
- ``truth``: family, county_code, subject_kind (claim, member, institution, or for
  malformed rows the record type), subject_key (claim_id, member_no, institution code;
  member_no/year for an enrolment, claim_id/line_no for an item), detail.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ncms import lazy_exports

if TYPE_CHECKING:
    from .malformed import REASONS as MALFORMED_REASONS
    from .misuse import ANOMALOUS_INSTITUTION, FAMILIES
    from .packages import write_packages
    from .province import SyntheticProvince, generate

__all__ = ["ANOMALOUS_INSTITUTION", "FAMILIES", "MALFORMED_REASONS", "SyntheticProvince", "generate", "write_packages"]
__getattr__ = lazy_exports(__name__, {"ANOMALOUS_INSTITUTION": ".misuse", "FAMILIES": ".misuse",
                                      "MALFORMED_REASONS": ".malformed:REASONS", "write_packages": ".packages",
                                      "SyntheticProvince": ".province", "generate": ".province"})
