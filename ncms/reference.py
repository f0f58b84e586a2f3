"""Reference data from ``config/``: the province's counties, institutions, schemes and catalogue.

Operators edit these files; ``ncms db load-config`` reads them, checks them and upserts
them, so loading twice changes nothing and an edited value replaces the old one.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from .config import ConfigError
from .ids import InvalidId, validate_county_code
from .models import (
    CatalogueItem,
    ClaimKind,
    CompensationScheme,
    County,
    DeploymentMode,
    Institution,
    InstitutionLevel,
    ItemCategory,
    Restriction,
    RestrictionKind,
    SchemeLevel,
    Sex,
    to_money,
)

INPATIENT_LEVELS = {lv for lv in InstitutionLevel if lv != InstitutionLevel.VILLAGE}
OUTPATIENT_LEVELS = {InstitutionLevel.VILLAGE, InstitutionLevel.TOWNSHIP}


@dataclass
class Reference:
    province_code: str
    province_name: str
    counties: list[dict[str, Any]] = field(default_factory=list)
    institutions: list[dict[str, Any]] = field(default_factory=list)
    schemes: list[dict[str, Any]] = field(default_factory=list)
    catalogue: list[dict[str, Any]] = field(default_factory=list)
    restrictions: list[dict[str, Any]] = field(default_factory=list)


def read_reference(config_dir: Path) -> Reference:
    """Parse and check every reference file; the first problem raises ConfigError naming file and entry."""
    province = _yaml(config_dir / "province.yaml")
    code = str(province["province"]["code"])
    ref = Reference(province_code=code, province_name=province["province"]["name"])
    prefectures = {str(p["code"]): p["name"] for p in province.get("prefectures", [])}
    for i, c in enumerate(province.get("counties", []), 1):
        where = f"province.yaml: county #{i}"
        county = _check(where, lambda: validate_county_code(str(c["code"]), province=code))
        prefecture = str(c["prefecture"])
        if not county.startswith(prefecture) or prefecture not in prefectures:
            raise ConfigError(f"{where} ({county}): prefecture {prefecture} is not listed or not its own")
        ref.counties.append(dict(
            code=county, name=c["name"], name_en=c.get("name_en"), prefecture_code=prefecture,
            prefecture_name=prefectures[prefecture],
            mode=_check(where, lambda: DeploymentMode(c["mode"])),
            agricultural_population=c.get("agricultural_population"),
        ))
    county_codes = {c["code"] for c in ref.counties}
    if len(county_codes) != len(ref.counties):
        raise ConfigError("province.yaml: a county code is listed twice")

    for line, row in _csv(config_dir / "institutions.csv"):
        where = f"institutions.csv:{line}"
        if not (row["area_code"].isdigit() and len(row["area_code"]) == 6):
            raise ConfigError(f"{where}: area_code must be 6 digits, got {row['area_code']!r}")
        ref.institutions.append(dict(
            code=row["code"], name=row["name"], area_code=row["area_code"],
            level=_check(where, lambda: InstitutionLevel(row["level"])),
        ))

    for i, s in enumerate(_yaml(config_dir / "schemes.yaml").get("schemes", []), 1):
        ref.schemes.append(_scheme(f"schemes.yaml: scheme #{i}", s, county_codes))

    for line, row in _csv(config_dir / "catalogue.csv"):
        where = f"catalogue.csv:{line}"
        ref.catalogue.append(dict(
            code=row["code"], name=row["name"], unit=row["unit"] or None,
            category=_check(where, lambda: ItemCategory(row["category"])),
            price=_check(where, lambda: to_money(row["price"])),
            covered=_check(where, lambda: _bool(row["covered"])),
        ))

    item_codes = {item["code"] for item in ref.catalogue}
    for line, row in _csv(config_dir / "restrictions.csv"):
        where = f"restrictions.csv:{line}"
        kind = _check(where, lambda: RestrictionKind(row["kind"]))
        if kind == RestrictionKind.ITEM and row["code"] not in item_codes:
            raise ConfigError(f"{where}: item {row['code']} is not in catalogue.csv")
        ref.restrictions.append(dict(
            kind=kind, code=row["code"], note=row.get("note") or None,
            allowed_sex=_check(where, lambda: Sex(row["allowed_sex"])) if row["allowed_sex"] else None,
            min_age=int(row["min_age"]) if row["min_age"] else None,
            max_age=int(row["max_age"]) if row["max_age"] else None,
        ))
    return ref


def _scheme(where: str, s: dict[str, Any], county_codes: set[str]) -> dict[str, Any]:
    county = str(s["county"])
    if county not in county_codes:
        raise ConfigError(f"{where}: county {county} is not in province.yaml")
    where = f"{where} ({county} {s['year']})"
    levels = []
    for kind, allowed in ((ClaimKind.INPATIENT, INPATIENT_LEVELS), (ClaimKind.OUTPATIENT, OUTPATIENT_LEVELS)):
        for name, values in (s.get(kind.value) or {}).items():
            level = _check(where, lambda: InstitutionLevel(name))
            if level not in allowed:
                raise ConfigError(f"{where}: {kind.value} care has no {name} level")
            ratio = Decimal(str(values["ratio"]))
            if not Decimal(0) < ratio <= Decimal(1):
                raise ConfigError(f"{where}: {kind.value}.{name}.ratio must be in (0, 1], got {ratio}")
            cap = values.get("per_visit_cap")
            levels.append(dict(
                kind=kind, level=level, ratio=ratio,
                deductible=_check(where, lambda: to_money(str(values["deductible"]))),
                per_visit_cap=to_money(str(cap)) if cap is not None else None,
            ))
    return dict(
        county_code=county, year=int(s["year"]), levels=levels,
        annual_cap=_check(where, lambda: to_money(str(s["annual_cap"]))),
        referral_required=bool(s.get("referral_required", True)),
        unreferred_ratio_cut=Decimal(str(s.get("unreferred_ratio_cut", "0"))),
    )


def load_reference(session: Session, ref: Reference) -> dict[str, int]:
    """Upsert every reference entry by its natural key; returns how many of each the files hold."""
    for values in ref.counties:
        _upsert(session, County, {"code": values["code"]}, values)
    session.flush()
    for values in ref.institutions:
        _upsert(session, Institution, {"code": values["code"]}, values)
    for values in ref.catalogue:
        _upsert(session, CatalogueItem, {"code": values["code"]}, values)
    for values in ref.restrictions:
        _upsert(session, Restriction, {"kind": values["kind"], "code": values["code"]}, values)
    for values in ref.schemes:
        values = dict(values)
        levels = values.pop("levels")
        scheme = _upsert(session, CompensationScheme,
                         {"county_code": values["county_code"], "year": values["year"]}, values)
        existing = {(lv.kind, lv.level): lv for lv in scheme.levels}
        for lv in levels:
            row = existing.pop((lv["kind"], lv["level"]), None)
            if row is None:
                scheme.levels.append(SchemeLevel(**lv))
                continue
            for key, value in lv.items():
                setattr(row, key, value)
        for stale in existing.values():
            scheme.levels.remove(stale)
    session.flush()
    return {
        "counties": len(ref.counties), "institutions": len(ref.institutions),
        "schemes": len(ref.schemes), "catalogue_items": len(ref.catalogue),
        "restrictions": len(ref.restrictions),
    }


def _upsert(session: Session, model: type, key: dict[str, Any], values: dict[str, Any]) -> Any:
    row = session.scalar(select(model).filter_by(**key))
    if row is None:
        row = model(**values)
        session.add(row)
    else:
        for name, value in values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
    return row


def _check(where: str, fn: Any) -> Any:
    try:
        return fn()
    except (InvalidId, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"expected true or false, got {value!r}")
    return lowered == "true"


def _yaml(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} is missing: set NCMS_CONFIG_DIR to the folder with the config files") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc


def _csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                if None in row:
                    raise ConfigError(f"{path.name}:{reader.line_num}: more fields than the header has")
                yield reader.line_num, {k: (v or "").strip() for k, v in row.items()}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} is missing: set NCMS_CONFIG_DIR to the folder with the config files") from exc
