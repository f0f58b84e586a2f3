"""``config/rules.yaml``: each rule's parameters, severity and switch, province-wide and per county.

A rule not listed runs with its catalogue defaults. A mistake — an unknown rule, an unknown
parameter, a severity that does not exist — stops the run with the place named.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ncms.config import ConfigError
from ncms.models import Severity

from .catalogue import RULES, Rule

RULES_FILE = "rules.yaml"


@dataclass(frozen=True)
class RuleSetting:
    enabled: bool
    params: dict[str, Any]
    severity: Severity


@dataclass(frozen=True)
class RuleSettings:
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def for_county(self, rule: Rule, county: str) -> RuleSetting:
        entry = self.entries.get(rule.code, {})
        override = (entry.get("counties") or {}).get(county, {})
        params = dict(rule.params, **(entry.get("params") or {}), **(override.get("params") or {}))
        enabled = override.get("enabled", entry.get("enabled", True))
        return RuleSetting(bool(enabled), params, Severity(entry.get("severity", rule.severity.value)))


def read_rule_settings(config_dir: Path) -> RuleSettings:
    path = Path(config_dir) / RULES_FILE
    if not path.exists():
        return RuleSettings()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = raw.get("rules") or {}
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: rules must map rule codes to their settings")
    for code, entry in entries.items():
        where = f"{path}: rules.{code}"
        if code not in RULES:
            raise ConfigError(f"{where}: no such rule; the catalogue has {', '.join(sorted(RULES))}")
        entry = entry or {}
        severity = entry.get("severity")
        if severity is not None and severity not in {s.value for s in Severity}:
            raise ConfigError(f"{where}.severity: violation or suspicious, got {severity!r}")
        for params, place in [(entry.get("params"), "params")] + [
                ((c or {}).get("params"), f"counties.{county}.params")
                for county, c in (entry.get("counties") or {}).items()]:
            unknown = set(params or {}) - set(RULES[code].params)
            if unknown:
                raise ConfigError(f"{where}.{place}: unknown parameters {sorted(unknown)}; "
                                  f"the rule takes {sorted(RULES[code].params) or 'none'}")
            tolerance = (params or {}).get("tolerance")
            if isinstance(tolerance, (int, float)) and tolerance < 0:  # a margin in the county's favour
                raise ConfigError(f"{where}.{place}.tolerance: zero or more, got {tolerance}")
        entries[code] = entry
    return RuleSettings(entries)
