"""Reference data from ``config/``: the province's counties, institutions, schemes and catalogue.

Operators edit these files; ``ncms db load-config`` reads them, checks them and upserts
them, so loading twice changes nothing and an edited value replaces the old one.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from .config import ConfigError
from .configfile import choice, line_of, place, read_yaml, whole_number
from .ingest.status import Cadence, read_cadence
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

INSTITUTION_COLUMNS = ("code", "name", "level", "area_code")
CATALOGUE_COLUMNS = ("code", "name", "category", "unit", "price", "covered")
RESTRICTION_COLUMNS = ("kind", "code", "allowed_sex", "min_age", "max_age")
DELIVERIES = ("extract", "packages")
INPATIENT_LEVELS = {lv for lv in InstitutionLevel if lv != InstitutionLevel.VILLAGE}
# outpatient pooling (门诊统筹) at whichever levels a county pays it, up to care out of the province
OUTPATIENT_LEVELS = set(InstitutionLevel)
OUT_OF_COUNTY_LEVELS = (InstitutionLevel.MUNICIPAL, InstitutionLevel.PROVINCIAL, InstitutionLevel.OUT_OF_PROVINCE)


@dataclass
class Reference:
    province_code: str
    province_name: str
    province_name_en: str | None = None
    counties: list[dict[str, Any]] = field(default_factory=list)
    institutions: list[dict[str, Any]] = field(default_factory=list)
    schemes: list[dict[str, Any]] = field(default_factory=list)
    catalogue: list[dict[str, Any]] = field(default_factory=list)
    restrictions: list[dict[str, Any]] = field(default_factory=list)
    delivery: dict[str, str] = field(default_factory=dict)  # county: extract | packages
    cadence: dict[str, Cadence] = field(default_factory=dict)  # county: when its data is due


def read_reference(config_dir: Path) -> Reference:
    """Parse and check every reference file; the first problem raises ConfigError naming file, line and key."""
    ref = read_province(config_dir)
    county_codes = {c["code"] for c in ref.counties}

    for line, row in _csv(config_dir / "institutions.csv", INSTITUTION_COLUMNS):
        where = f"institutions.csv:{line}"
        ref.institutions.append(dict(
            code=_text(f"{where}: code", row["code"]), name=_text(f"{where}: name", row["name"]),
            area_code=_area_code(f"{where}: area_code", row["area_code"]),
            level=InstitutionLevel(choice(f"{where}: level", row["level"], InstitutionLevel)),
        ))

    schemes = _yaml(config_dir / "schemes.yaml").get("schemes") or []
    for i, s in enumerate(schemes, 1):
        ref.schemes.append(_scheme(place("schemes.yaml", line_of(schemes, i - 1), f"scheme #{i}"), s, county_codes))

    for line, row in _csv(config_dir / "catalogue.csv", CATALOGUE_COLUMNS):
        where = f"catalogue.csv:{line}"
        ref.catalogue.append(dict(
            code=_text(f"{where}: code", row["code"]), name=_text(f"{where}: name", row["name"]),
            unit=row["unit"] or None,
            category=ItemCategory(choice(f"{where}: category", row["category"], ItemCategory)),
            price=_money(f"{where}: price", row["price"]),
            covered=_bool(f"{where}: covered", row["covered"]),
        ))

    item_codes = {item["code"] for item in ref.catalogue}
    for line, row in _csv(config_dir / "restrictions.csv", RESTRICTION_COLUMNS):
        where = f"restrictions.csv:{line}"
        kind = RestrictionKind(choice(f"{where}: kind", row["kind"], RestrictionKind))
        if kind == RestrictionKind.ITEM and row["code"] not in item_codes:
            raise ConfigError(f"{where}: code: item {row['code']!r} is not in catalogue.csv; "
                              "allowed: a code of catalogue.csv")
        ref.restrictions.append(dict(
            kind=kind, code=_text(f"{where}: code", row["code"]), note=row.get("note") or None,
            allowed_sex=Sex(choice(f"{where}: allowed_sex", row["allowed_sex"], Sex)) if row["allowed_sex"] else None,
            min_age=whole_number(f"{where}: min_age", row["min_age"]) if row["min_age"] else None,
            max_age=whole_number(f"{where}: max_age", row["max_age"]) if row["max_age"] else None,
        ))
    return ref


def read_province(config_dir: Path) -> Reference:
    """province.yaml alone: the counties, how each delivers and when its data is due."""
    return _province(_yaml(Path(config_dir) / "province.yaml"))


def _scheme(where: str, s: dict[str, Any], county_codes: set[str]) -> dict[str, Any]:
    """One county's scheme of a year: the terms per kind of care and level, outpatient care at
    any level the county pays it (village to out of province), and the referral cut per level."""
    county = str(s["county"])
    if county not in county_codes:
        raise ConfigError(f"{where}: county {county} is not in province.yaml")
    return dict(county_code=county, year=int(s["year"]), **scheme_terms_entry(f"{where} ({county} {s['year']})", s))


def scheme_terms_entry(where: str, s: dict[str, Any]) -> dict[str, Any]:
    """The terms of a scheme entry without its county and year (``levels``, ``annual_cap``,
    ``outpatient_annual_cap``, ``referral_required``), checked as ``ncms db load-config`` checks
    schemes.yaml: a candidate scheme (ncms.simulation) is read by this too. A mistake raises
    ConfigError starting with ``where``."""
    if not isinstance(s, dict):
        raise ConfigError(f"{where}: {s!r} is not allowed; allowed: a scheme (annual_cap, inpatient, outpatient, ...)")
    levels = []
    for kind, allowed in ((ClaimKind.INPATIENT, INPATIENT_LEVELS), (ClaimKind.OUTPATIENT, OUTPATIENT_LEVELS)):
        for name, values in (s.get(kind.value) or {}).items():
            level = _check(where, lambda: InstitutionLevel(name))
            if level not in allowed:
                raise ConfigError(f"{where}: {kind.value}.{name}: {kind.value} care has no {name} level; "
                                  f"allowed: {', '.join(lv.value for lv in InstitutionLevel if lv in allowed)}")
            ratio = _share(f"{where}: {kind.value}.{name}.ratio", values.get("ratio"), above_zero=True)
            levels.append(dict(
                kind=kind, level=level, ratio=ratio,
                deductible=_check(f"{where}: {kind.value}.{name}.deductible", lambda: to_money(str(values["deductible"]))),
                per_visit_cap=_cap(f"{where}: {kind.value}.{name}.per_visit_cap", values.get("per_visit_cap")),
                unreferred_ratio_cut=Decimal(0),
            ))
    for level, cut in _referral_cuts(where, s.get("unreferred_ratio_cut"), levels).items():
        for terms in levels:
            if terms["kind"] is ClaimKind.INPATIENT and terms["level"] is level:
                terms["unreferred_ratio_cut"] = cut
    return dict(
        levels=levels,
        annual_cap=_check(f"{where}: annual_cap", lambda: to_money(str(s["annual_cap"]))),
        outpatient_annual_cap=_cap(f"{where}: outpatient_annual_cap", s.get("outpatient_annual_cap")),
        referral_required=bool(s.get("referral_required", True)),
    )


def _referral_cuts(where: str, value: Any, levels: list[dict[str, Any]]) -> dict[InstitutionLevel, Decimal]:
    """The ratio points cut per inpatient level from an admission without a referral: one number
    for every level out of the county (municipal and above), or a mapping by level (levels not
    named: no cut). A named level must have inpatient terms in the scheme."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        cut = _share(f"{where}: unreferred_ratio_cut", value)
        return {level: cut for level in OUT_OF_COUNTY_LEVELS}
    inpatient = [terms["level"].value for terms in levels if terms["kind"] is ClaimKind.INPATIENT]
    cuts = {}
    for name, cut in value.items():
        if name not in inpatient:
            raise ConfigError(f"{where}: unreferred_ratio_cut.{name}: {name!r} is not allowed; allowed: a level "
                              f"with inpatient terms in this scheme ({', '.join(inpatient)})")
        cuts[InstitutionLevel(name)] = _share(f"{where}: unreferred_ratio_cut.{name}", cut)
    return cuts


def _share(where: str, value: Any, above_zero: bool = False) -> Decimal:
    """A ratio between 0 and 1, given as a string ("0.40") or a number."""
    try:
        share = Decimal(str(value)) if value is not None and not isinstance(value, bool) else None
    except ArithmeticError:
        share = None
    if share is None or not share.is_finite() or not (Decimal(0) <= share <= Decimal(1)) \
            or (above_zero and share == 0):
        interval = "(0, 1]" if above_zero else "[0, 1]"
        raise ConfigError(f"{where} must be in {interval}, got {value}; allowed: a share such as \"0.40\"")
    return share


def _cap(where: str, value: Any) -> Decimal | None:
    """An optional cap in yuan (absent: none), above zero."""
    if value is None:
        return None
    cap = _check(where, lambda: to_money(str(value)))
    if cap <= 0:
        raise ConfigError(f"{where}: {value!r} is not allowed; allowed: an amount above 0, e.g. \"300.00\", "
                          "or no key for no cap")
    return cap


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
    """``fn()``, its refusal said at ``where`` in words: a missing key, or a value not allowed
    with the values that are (never the name of the class that refused it)."""
    try:
        return fn()
    except KeyError as exc:
        raise ConfigError(f"{where}: {exc.args[0]} is missing") from exc
    except (InvalidId, ValueError, TypeError) as exc:
        message = str(exc)
        refused = _ENUM_REFUSAL.fullmatch(message)
        enum = _ENUMS.get(refused.group(2)) if refused else None
        amount = _MONEY_REFUSAL.search(message)
        if enum is not None:
            message = f"{refused.group(1)} is not allowed; allowed: {', '.join(m.value for m in enum)}"
        elif amount is not None:
            message = f"{amount.group(1)} is not allowed; allowed: an amount in yuan, at most 2 decimals, e.g. \"100.00\""
        raise ConfigError(f"{where}: {message}") from exc


_ENUM_REFUSAL = re.compile(r"('.*'|\S+) is not a valid (\w+)")
_MONEY_REFUSAL = re.compile(r"(?:not a decimal number|not float): (.*)$")
_ENUMS = {e.__name__: e for e in (ClaimKind, DeploymentMode, InstitutionLevel, ItemCategory, RestrictionKind, Sex)}


def _province(raw: Any) -> Reference:
    """province.yaml: the province, its prefectures and counties, each checked where it stands."""
    file = "province.yaml"
    head = raw.get("province") if isinstance(raw, dict) else None
    if not isinstance(head, dict):
        raise ConfigError(f"{place(file, line_of(raw, 'province'), 'province')}: is missing; "
                          'allowed: {code: "62", name: 甘肃省}')
    code = _province_code(place(file, line_of(head, "code"), "province.code"), _need(file, head, "code", "province"))
    ref = Reference(province_code=code, province_name=str(_need(file, head, "name", "province")),
                    province_name_en=head.get("name_en"))
    province_cadence = read_cadence(file, raw, "", default=None)
    prefectures = {}
    for i, p in enumerate(_entries(raw, "prefectures", file)):
        key = f"prefectures[{i}]"
        prefectures[_division(place(file, line_of(p, "code"), f"{key}.code"), _need(file, p, "code", key), 4)] = \
            str(_need(file, p, "name", key))
    for i, c in enumerate(_entries(raw, "counties", file)):
        key = f"counties[{i}]"
        at = place(file, line_of(c, "code"), f"{key}.code")
        county = _check(at, lambda: validate_county_code(str(_need(file, c, "code", key)), province=code))
        prefecture = _division(place(file, line_of(c, "prefecture"), f"{key}.prefecture"),
                               _need(file, c, "prefecture", key), 4)
        if not county.startswith(prefecture) or prefecture not in prefectures:
            raise ConfigError(f"{place(file, line_of(c, 'prefecture'), key + '.prefecture')}: {prefecture!r} "
                              f"is not allowed for county {county}; allowed: the first 4 digits of its code "
                              f"({county[:4]}), listed under prefectures")
        mode = DeploymentMode(choice(place(file, line_of(c, "mode"), f"{key}.mode"), _need(file, c, "mode", key),
                                     DeploymentMode))
        population = c.get("agricultural_population")
        ref.counties.append(dict(
            code=county, name=str(_need(file, c, "name", key)), name_en=c.get("name_en"),
            prefecture_code=prefecture, prefecture_name=prefectures[prefecture], mode=mode,
            agricultural_population=None if population is None else whole_number(
                place(file, line_of(c, "agricultural_population"), f"{key}.agricultural_population"), population),
        ))
        ref.delivery[county] = _delivery(file, c, key, mode)
        if county in ref.cadence:
            raise ConfigError(f"{at}: {county} is listed twice; allowed: each county once")
        ref.cadence[county] = read_cadence(file, c, key, default=province_cadence)
    return ref


def _delivery(file: str, c: Any, key: str, mode: DeploymentMode) -> str:
    """How a county's claims arrive: ``extract`` (``ncms etl`` through its mapping) or
    ``packages``. A centralised county may still send packages; a distributed one cannot be extracted."""
    default = "extract" if mode == DeploymentMode.ETL else "packages"
    if "delivery" not in c:
        return default
    where = place(file, line_of(c, "delivery"), f"{key}.delivery")
    allowed = DELIVERIES if mode == DeploymentMode.ETL else ("packages",)
    return choice(where + f" (mode {mode.value})", c["delivery"], allowed)


def _province_code(where: str, value: Any) -> str:
    """The province's 2-digit GB/T 2260 prefix, given as itself ("62") or as the 6-digit code ("620000")."""
    text = str(value).strip()
    if re.fullmatch(r"[0-9]{2}", text):
        return text
    if re.fullmatch(r"[0-9]{2}0000", text):
        return text[:2]
    raise ConfigError(f"{where}: {value!r} is not allowed; allowed: the province's 2-digit GB/T 2260 prefix "
                      'such as "62", or its 6-digit code such as "620000"')


def _division(where: str, value: Any, digits: int) -> str:
    """A prefecture's 4-digit code, also accepted as its 6-digit form ("620100")."""
    text = str(value).strip()
    if re.fullmatch(rf"[0-9]{{{digits}}}", text):
        return text
    if re.fullmatch(rf"[0-9]{{{digits}}}" + "0" * (6 - digits), text):
        return text[:digits]
    raise ConfigError(f"{where}: {value!r} is not allowed; allowed: {digits} digits such as \"6204\", "
                      'or the 6-digit form "620400"')


_REQUIRED = {"province": "code, name", "prefectures": "code, name", "counties": "code, name, prefecture, mode"}


def _need(file: str, entry: Any, key: str, parent: str) -> Any:
    required = _REQUIRED[parent.split("[")[0]]
    if not isinstance(entry, dict):
        raise ConfigError(f"{place(file, getattr(entry, 'line', None), parent)}: {entry!r} is not allowed; "
                          f"allowed: an entry with {required}")
    if entry.get(key) in (None, ""):
        raise ConfigError(f"{place(file, getattr(entry, 'line', None), f'{parent}.{key}')}: is missing; "
                          f"an entry of {parent.split('[')[0]} needs {required}")
    return entry[key]


def _entries(raw: Any, key: str, file: str) -> list[Any]:
    entries = raw.get(key) or []
    if not isinstance(entries, list):
        raise ConfigError(f"{place(file, line_of(raw, key), key)}: expected a list of entries (- code: ...)")
    return entries


def _text(where: str, value: str) -> str:
    if not value:
        raise ConfigError(f"{where}: is missing")
    return value


def _area_code(where: str, value: str) -> str:
    if not (re.fullmatch(r"[0-9]{6}", value)):
        raise ConfigError(f"{where}: {value!r} is not allowed; allowed: the 6-digit code of the county "
                          "the institution serves, e.g. 620421")
    return value


def _money(where: str, value: str) -> Decimal:
    return _check(where, lambda: to_money(value))


def _bool(where: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ConfigError(f"{where}: {value!r} is not allowed; allowed: true, false")
    return lowered == "true"


def _yaml(path: Path) -> Any:
    return read_yaml(path)


def _csv(path: Path, columns: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows with their line numbers; a missing column or an extra field names the line."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError(f"{path.name}:1: header: column {', '.join(missing)} is missing; "
                                  f"allowed: the header {','.join(columns)}")
            for row in reader:
                if None in row:
                    raise ConfigError(f"{path.name}:{reader.line_num}: more fields than the header has; "
                                      f"allowed: {len(reader.fieldnames or [])} fields ({','.join(reader.fieldnames or [])})")
                yield reader.line_num, {k: (v or "").strip() for k, v in row.items()}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} is missing: set NCMS_CONFIG_DIR to the folder with the config files") from exc
