"""``config/rules.yaml``: each rule's parameters, severity and switch, province-wide and per county.

A rule not listed runs with its catalogue defaults. A mistake — an unknown rule, an unknown
parameter, a severity that does not exist — stops the run with the place named.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ncms.config import ConfigError
from ncms.configfile import choice, line_of, place, read_yaml
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
    raw = read_yaml(path)
    entries = (raw.get("rules") if isinstance(raw, dict) else None) or {}
    if not isinstance(entries, dict):
        raise ConfigError(f"{place(path, line_of(raw, 'rules'), 'rules')}: {entries!r} is not allowed; "
                          "allowed: rule codes, each with its settings (params, severity, enabled, counties)")
    for code, entry in entries.items():
        where = f"rules.{code}"
        if code not in RULES:
            raise ConfigError(f"{place(path, line_of(entries, code), where)}: no such rule; "
                              f"allowed: {', '.join(sorted(RULES))}")
        entry = entry or {}
        if not isinstance(entry, dict):
            raise ConfigError(f"{place(path, line_of(entries, code), where)}: {entry!r} is not allowed; "
                              f"allowed: {', '.join(ENTRY_KEYS)}")
        _keys(path, entry, where, ENTRY_KEYS)
        if entry.get("severity") is not None:
            choice(place(path, line_of(entry, "severity"), f"{where}.severity"), entry["severity"], Severity)
        if entry.get("enabled") is not None:
            _switch(path, entry, where)
        counties = entry.get("counties") or {}
        for county, override in counties.items():
            at = f"{where}.counties.{county}"
            if not isinstance(override, dict):
                raise ConfigError(f"{place(path, line_of(counties, county), at)}: {override!r} is not allowed; "
                                  "allowed: enabled, params")
            _keys(path, override, at, ("enabled", "params"))
            if override.get("enabled") is not None:
                _switch(path, override, at)
        for params, place_key, holder in [(entry.get("params"), f"{where}.params", entry)] + [
                ((c or {}).get("params"), f"{where}.counties.{county}.params", c)
                for county, c in counties.items()]:
            _params(path, code, params, place_key, holder)
        entries[code] = entry
    return RuleSettings(entries)


ENTRY_KEYS = ("params", "severity", "enabled", "counties")


def _keys(path: Path, entry: dict[str, Any], where: str, allowed: tuple[str, ...]) -> None:
    for key in entry:
        if key not in allowed:
            raise ConfigError(f"{place(path, line_of(entry, key), f'{where}.{key}')}: no such key; "
                              f"allowed: {', '.join(allowed)}")


def _switch(path: Path, entry: dict[str, Any], where: str) -> None:
    if not isinstance(entry["enabled"], bool):
        raise ConfigError(f"{place(path, line_of(entry, 'enabled'), f'{where}.enabled')}: {entry['enabled']!r} "
                          "is not allowed; allowed: true, false")


def _params(path: Path, code: str, params: Any, where: str, holder: Any) -> None:
    if params is None:
        return
    takes = sorted(RULES[code].params)
    if not isinstance(params, dict):
        raise ConfigError(f"{place(path, line_of(holder, 'params'), where)}: {params!r} is not allowed; "
                          f"allowed: a mapping of {', '.join(takes) or 'no parameters'}")
    for name, value in params.items():
        at = place(path, line_of(params, name), f"{where}.{name}")
        if name not in RULES[code].params:
            raise ConfigError(f"{at}: no such parameter; allowed: {', '.join(takes) or 'none'}")
        default = RULES[code].params[name]
        if isinstance(default, (int, float)) and not isinstance(default, bool) and (
                isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{at}: {value!r} is not allowed; allowed: a number, e.g. {default}")
        if name == "tolerance" and isinstance(value, (int, float)) and value < 0:  # a margin in the county's favour
            raise ConfigError(f"{at}: {value!r} is not allowed; allowed: zero or more")
