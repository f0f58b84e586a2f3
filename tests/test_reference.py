"""The province's configuration loads, reloads without change, and refuses bad files clearly."""
from __future__ import annotations

import re
import shutil
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ncms.config import ConfigError
from ncms.db import session_scope
from ncms.models import ClaimKind, CompensationScheme, County, DeploymentMode, Institution, InstitutionLevel
from ncms.reference import load_reference, read_reference

from .conftest import CONFIG_DIR


def test_demo_province_has_six_counties_half_each_mode():
    ref = read_reference(CONFIG_DIR)
    assert len(ref.counties) >= 6
    assert all(c["code"].startswith(ref.province_code) for c in ref.counties)
    modes = [c["mode"] for c in ref.counties]
    assert modes.count(DeploymentMode.ETL) == modes.count(DeploymentMode.GATEWAY)
    years = {(s["county_code"], s["year"]) for s in ref.schemes}
    assert years == {(c["code"], y) for c in ref.counties for y in (2010, 2011, 2012)}


def test_scheme_values_stay_inside_the_domain_ranges():
    """domain.md §1: township 50-200 at 70-90 %, county 200-500 at 55-75 %, cap >= 30,000."""
    bounds = {
        InstitutionLevel.TOWNSHIP: (50, 200, Decimal("0.70"), Decimal("0.90")),
        InstitutionLevel.COUNTY: (200, 500, Decimal("0.55"), Decimal("0.75")),
        InstitutionLevel.MUNICIPAL: (500, 2000, Decimal("0.40"), Decimal("0.60")),
        InstitutionLevel.OUT_OF_PROVINCE: (500, 3000, Decimal("0.35"), Decimal("0.55")),
    }
    for scheme in read_reference(CONFIG_DIR).schemes:
        assert scheme["annual_cap"] >= Decimal("30000")
        inpatient = {lv["level"]: lv for lv in scheme["levels"] if lv["kind"] == ClaimKind.INPATIENT}
        for level, (dmin, dmax, rmin, rmax) in bounds.items():
            assert dmin <= inpatient[level]["deductible"] <= dmax, (scheme["county_code"], level)
            assert rmin <= inpatient[level]["ratio"] <= rmax, (scheme["county_code"], level)


def test_load_is_idempotent_and_applies_edits(engine):
    ref = read_reference(CONFIG_DIR)
    with session_scope(engine) as s:
        load_reference(s, ref)
    with session_scope(engine) as s:
        load_reference(s, ref)
    with session_scope(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(County)) == len(ref.counties)
        assert s.scalar(sa.select(sa.func.count()).select_from(Institution)) == len(ref.institutions)
    ref.schemes[0]["annual_cap"] = Decimal("31234.50")
    with session_scope(engine) as s:
        load_reference(s, ref)
    with session_scope(engine) as s:
        scheme = s.scalar(sa.select(CompensationScheme).filter_by(
            county_code=ref.schemes[0]["county_code"], year=ref.schemes[0]["year"]))
        assert scheme.annual_cap == Decimal("31234.50")
        assert scheme.level(ClaimKind.INPATIENT, InstitutionLevel.COUNTY).deductible > 0
        assert s.scalar(sa.select(sa.func.count()).select_from(CompensationScheme)) == len(ref.schemes)


@pytest.mark.parametrize("file, old, new, message", [
    ("province.yaml", 'code: "520121"', 'code: "520100"', "counties[0].code: county code '520100'"),
    ("province.yaml", 'code: "520121"', 'code: "530121"', "province 52"),
    ("institutions.csv", ",county,520121", ",hospital,520121", "institutions.csv:2"),
    ("schemes.yaml", 'ratio: "0.80"', 'ratio: "1.80"', "ratio must be in (0, 1]"),
    ("catalogue.csv", ",drug,盒,8.50,true", ",drug,盒,8.5x,true", "catalogue.csv:2"),
    ("restrictions.csv", "item,D0006,F", "item,ZZ999,F", "not in catalogue.csv"),
])
def test_bad_files_name_file_entry_and_problem(tmp_path, file, old, new, message):
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    text = (config / file).read_text(encoding="utf-8")
    assert old in text
    (config / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        read_reference(config)


def test_missing_config_folder_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="NCMS_CONFIG_DIR"):
        read_reference(tmp_path)
