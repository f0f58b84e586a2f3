"""Candidate schemes (候选补偿方案) read from a YAML file: the same structure as an entry of
``config/schemes.yaml`` without its county and year, each with a name, checked as
``ncms db load-config`` checks schemes.yaml (a mistake names the file and line)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ncms.compensation import Scheme
from ncms.config import ConfigError
from ncms.configfile import line_of, parse_yaml, place, read_yaml
from ncms.reference import scheme_terms_entry

MAX_CANDIDATES = 4  # the page's and the benchmark's; the command line takes more


@dataclass(frozen=True)
class Candidate:
    """A named scheme to simulate. ``scheme``'s county and year are blank: it applies to any."""

    name: str
    scheme: Scheme


def read_candidates(path: Path | str) -> list[Candidate]:
    """The candidates of a file: ``candidates:`` a list of named schemes, or one named scheme."""
    path = Path(path)
    return parse_candidates(read_yaml(path), path.name)


def parse_candidates_text(text: str, file: str = "candidates.yaml") -> list[Candidate]:
    """Candidates typed or uploaded (the web page): as ``read_candidates`` reads a file."""
    import yaml

    try:
        raw = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{place(file, mark.line + 1 if mark else None, 'YAML')}: not valid YAML "
                          f"({getattr(exc, 'problem', exc)})") from exc
    return parse_candidates(raw, file)


def parse_candidates(raw: Any, file: str) -> list[Candidate]:
    if isinstance(raw, dict) and "candidates" in raw:
        entries = raw["candidates"]
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{place(file, line_of(raw, 'candidates'), 'candidates')}: expected a list of "
                              "named schemes (- name: ...)")
    elif isinstance(raw, dict) and raw:
        entries = [raw]
    else:
        raise ConfigError(f"{place(file, None, 'candidates')}: is missing; allowed: candidates: a list of named "
                          "schemes, or one named scheme (name, annual_cap, inpatient, outpatient, ...)")
    listed = "candidates" in raw
    out: list[Candidate] = []
    for i, entry in enumerate(entries):
        line = line_of(entries, i) if listed else getattr(raw, "line", None)
        key = f"candidates[{i}]" if listed else "candidate"
        if not isinstance(entry, dict):
            raise ConfigError(f"{place(file, line, key)}: {entry!r} is not allowed; allowed: a named scheme")
        name = entry.get("name")
        if name in (None, ""):
            raise ConfigError(f"{place(file, line, key + '.name')}: is missing; each candidate needs a name")
        name = str(name)
        if name in {c.name for c in out}:
            raise ConfigError(f"{place(file, line_of(entry, 'name'), key + '.name')}: {name!r} is named twice; "
                              "allowed: a name once per file")
        values = scheme_terms_entry(place(file, line, f"{key} ({name})"), entry)
        out.append(Candidate(name, Scheme.from_values(dict(county_code="", year=0, **values))))
    return out
