"""Every mistake in config/ is one line naming the file, the line and the key, with what is
allowed, and never the name of a Python class: a bad choice, a code of the wrong length, a
missing key, a bad number. And a province may be given as "62" or as "620000"."""
from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ncms.config import KEYS, ConfigError
from ncms.ingest.mapping import load_mapping
from ncms.monitor.anomaly import read_anomaly_settings
from ncms.monitor.settings import read_rule_settings
from ncms.reference import read_reference

from .conftest import CONFIG_DIR

# Class and type names a message must never show an operator.
CLASS_NAMES = re.compile(r"\b(ItemCategory|InstitutionLevel|DeploymentMode|RestrictionKind|Sex|Severity|ClaimKind|"
                         r"int|float|str|bool|dict|list|NoneType|Decimal|KeyError|ValueError|Lines)\b")


def refusal(tmp_path: Path, file: str, old: str, new: str, read: Callable[[Path], object] = read_reference) -> str:
    """The message of reading a copy of config/ with ``old`` replaced by ``new`` in ``file``."""
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    text = (config / file).read_text(encoding="utf-8")
    assert old in text, old
    (config / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read(config)
    message = str(caught.value)
    assert "\n" not in message and not CLASS_NAMES.search(message), message
    return message


def line_of(file: str, text: str) -> int:
    """The line of config/``file`` holding ``text``, counted from 1."""
    lines = (CONFIG_DIR / file).read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize("file, old, new, start, allowed", [
    ("catalogue.csv", ",drug,盒,8.50,true", ",drug_western,盒,8.50,true", "catalogue.csv:2: category: 'drug_western'",
     "allowed: drug, exam, lab, treatment, material, bed, other"),
    ("institutions.csv", ",county,520121", ",hospital,520121", "institutions.csv:2: level: 'hospital'",
     "allowed: village, township, county, municipal, provincial, out_of_province"),
    ("restrictions.csv", "item,D0006,F", "item,D0006,W", "restrictions.csv:2: allowed_sex: 'W'", "allowed: M, F"),
    ("catalogue.csv", ",drug,盒,8.50,true", ",drug,盒,8.50,yes", "catalogue.csv:2: covered: 'yes'",
     "allowed: true, false"),
    ("province.yaml", "    mode: etl\n", "    mode: central\n",
     f"province.yaml:{line_of('province.yaml', '    mode: etl')}: counties[0].mode: 'central'", "allowed: etl, gateway"),
])
def test_a_value_not_allowed_names_file_line_key_and_the_allowed_values(tmp_path, file, old, new, start, allowed):
    message = refusal(tmp_path, file, old, new)
    assert message.startswith(start) and allowed in message, message


RULES = line_of("rules.yaml", "rules: {}")
FIRST = line_of("province.yaml", '- code: "520121"')  # the first county
PROVINCE, PREFECTURE = line_of("province.yaml", "province: {code"), line_of("province.yaml", '{code: "5201"')


@pytest.mark.parametrize("file, old, new, read, start, allowed", [
    ("rules.yaml", "rules: {}", "rules:\n  overpayment:\n    severity: grave", read_rule_settings,
     f"rules.yaml:{RULES + 2}: rules.overpayment.severity: 'grave'", "allowed: violation, suspicious"),
    ("rules.yaml", "rules: {}", "rules:\n  split_admission:\n    params:\n      readmision_days: 15", read_rule_settings,
     f"rules.yaml:{RULES + 3}: rules.split_admission.params.readmision_days: no such parameter", "readmission_days"),
    ("anomaly.yaml", "  method: combined ", "  method: isolation_forest ", read_anomaly_settings,
     f"anomaly.yaml:{line_of('anomaly.yaml', '  method:')}: anomaly.method: 'isolation_forest'",
     "allowed: combined, robust, model"),
    ("mappings/520121.yaml", "watermark_kind: sequence", "watermark_kind: serial",
     lambda config: load_mapping(config, "520121"),
     f"520121.yaml:{line_of('mappings/520121.yaml', 'watermark_kind: sequence')}: records.member.watermark_kind: "
     "'serial'", "allowed: time"),
])
def test_a_bad_setting_names_file_line_key_and_the_allowed_values(tmp_path, file, old, new, read, start, allowed):
    message = refusal(tmp_path, file, old, new, read)
    assert start in message and allowed in message, message


@pytest.mark.parametrize("old, new, start, allowed", [
    ('province: {code: "52",', 'province: {code: "5200",', f"province.yaml:{PROVINCE}: province.code: '5200'",
     'allowed: the province\'s 2-digit GB/T 2260 prefix such as "62", or its 6-digit code such as "620000"'),
    ('  - {code: "5201", name: 贵阳市', '  - {code: "520", name: 贵阳市', f"province.yaml:{PREFECTURE}: prefectures[0].code: '520'",
     'allowed: 4 digits'),
    ('  - code: "520121"', '  - code: "5201210"', f"province.yaml:{FIRST}: counties[0].code: county code '5201210'",
     "it must be 6 ASCII digits (GB/T 2260)"),
])
def test_a_code_of_the_wrong_length_says_which_length_is_expected(tmp_path, old, new, start, allowed):
    message = refusal(tmp_path, "province.yaml", old, new)
    assert message.startswith(start) and allowed in message, message


def test_an_area_code_of_the_wrong_length_is_refused_on_its_line(tmp_path):
    message = refusal(tmp_path, "institutions.csv", ",county,520121", ",county,5201")
    assert message.startswith("institutions.csv:2: area_code: '5201' is not allowed; allowed: the 6-digit code")


@pytest.mark.parametrize("file, old, new, start", [
    ("province.yaml", "    name: 开阳县\n", "",
     f"province.yaml:{FIRST}: counties[0].name: is missing; an entry of counties needs code, name, prefecture, mode"),
    ("province.yaml", "    mode: etl\n", "",
     f"province.yaml:{FIRST}: counties[0].mode: is missing; an entry of counties needs code, name, prefecture, mode"),
    ("catalogue.csv", "code,name,category,unit,price,covered", "code,name,category,unit,cost,covered",
     "catalogue.csv:1: header: column price is missing; allowed: the header code,name,category,unit,price,covered"),
])
def test_a_missing_key_names_where_it_belongs(tmp_path, file, old, new, start):
    assert refusal(tmp_path, file, old, new).startswith(start)


@pytest.mark.parametrize("file, old, new, read, start, allowed", [
    ("catalogue.csv", ",drug,盒,8.50,true", ",drug,盒,8.5x,true", read_reference,
     "catalogue.csv:2: price: '8.5x'", 'allowed: an amount in yuan'),
    ("restrictions.csv", "item,D0009,,18,", "item,D0009,,eighteen,", read_reference,
     f"restrictions.csv:{line_of('restrictions.csv', 'item,D0009')}: min_age: 'eighteen'",
     "allowed: a whole number, 0 or more"),
    ("province.yaml", "agricultural_population: 350000", "agricultural_population: many", read_reference,
     f"province.yaml:{line_of('province.yaml', 'agricultural_population: 350000')}: "
     "counties[0].agricultural_population: 'many'", "allowed: a whole number, 0 or more"),
    ("anomaly.yaml", "  trees: 200 ", "  trees: many ", read_anomaly_settings,
     f"anomaly.yaml:{line_of('anomaly.yaml', '  trees:')}: anomaly.trees: 'many'", "allowed: a whole number, e.g. "),
    ("anomaly.yaml", "  z_threshold: 3.5 ", "  z_threshold: high ", read_anomaly_settings,
     f"anomaly.yaml:{line_of('anomaly.yaml', 'z_threshold')}: anomaly.z_threshold: 'high'",
     "allowed: a number, e.g. 3.5"),
    ("rules.yaml", "rules: {}", "rules:\n  overpayment:\n    params:\n      tolerance: abc", read_rule_settings,
     f"rules.yaml:{RULES + 3}: rules.overpayment.params.tolerance: 'abc'", "allowed: a number"),
])
def test_a_bad_number_names_file_line_key_and_what_is_allowed(tmp_path, file, old, new, read, start, allowed):
    message = refusal(tmp_path, file, old, new, read)
    assert message.startswith(start) and allowed in message, message


GANSU = """\
province: {code: "620000", name: 甘肃省, name_en: Gansu}
prefectures:
  - {code: "620400", name: 白银市}
counties:
  - {code: "620421", name: 靖远县, prefecture: "6204", mode: gateway}
  - {code: "620422", name: 会宁县, prefecture: "620400", mode: etl, delivery: packages, expected_cadence: quarterly}
"""


@pytest.mark.parametrize("code", ['"620000"', '"62"', "620000", "62"])
def test_a_province_is_given_as_its_two_digit_prefix_or_its_six_digit_code(tmp_path, code):
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    (config / "province.yaml").write_text(GANSU.replace('"620000"', code, 1), encoding="utf-8")
    (config / "institutions.csv").write_text("code,name,level,area_code\n620421300001,靖远县人民医院,county,620421\n",
                                             encoding="utf-8")
    (config / "schemes.yaml").write_text("schemes: []\n", encoding="utf-8")
    ref = read_reference(config)
    assert ref.province_code == "62"
    assert [(c["code"], c["prefecture_code"]) for c in ref.counties] == [("620421", "6204"), ("620422", "6204")]
    assert ref.delivery == {"620421": "packages", "620422": "packages"}
    assert [ref.cadence[c].every for c in ("620421", "620422")] == ["monthly", "quarterly"]


def test_a_distributed_county_cannot_be_extracted(tmp_path):
    message = refusal(tmp_path, "province.yaml", "    mode: gateway\n", "    mode: gateway\n    delivery: extract\n")
    assert "counties[1].delivery (mode gateway): 'extract' is not allowed; allowed: packages" in message


def test_a_scheme_mistake_names_the_line_of_its_entry(tmp_path):
    entry = line_of("schemes.yaml", '  - county: "520121"')
    message = refusal(tmp_path, "schemes.yaml", 'township:        {deductible: "100.00"',
                      'hospital:        {deductible: "100.00"')
    assert message.startswith(f"schemes.yaml:{entry}: scheme #1 (520121 2010): 'hospital' is not allowed; "
                              "allowed: village, township, county, municipal, provincial, out_of_province"), message
    message = refusal(tmp_path / "ratio", "schemes.yaml", 'ratio: "0.80"', 'ratio: "1.80"')
    assert message.startswith(f"schemes.yaml:{entry}: scheme #1 (520121 2010): inpatient.township.ratio"), message


def test_every_environment_variable_the_code_reads_is_in_the_example_and_the_docs():
    root = CONFIG_DIR.parent
    code = "".join(p.read_text(encoding="utf-8") for folder in ("ncms", "gateway") for p in (root / folder).rglob("*.py"))
    names = set(re.findall(r"NCMS_[A-Z_]*[A-Z]", code)) - {"NCMS_SETTINGS", "NCMS_SOURCE"}  # a Flask key; a prefix
    names |= {f"NCMS_{key.upper()}" for key in KEYS} | {"NCMS_SECRET_KEY"}  # read as ENV_PREFIX + name
    example = (CONFIG_DIR / "ncms.env.example").read_text(encoding="utf-8")
    docs = (root / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert sorted(n for n in names if n not in example) == []
    assert sorted(n for n in names if f"`{n}`" not in docs) == []


@pytest.mark.parametrize("environ, file, start, allowed", [
    ({"NCMS_LOCALE": "fr"}, None, "NCMS_LOCALE: 'fr'", "allowed: zh_Hans_CN, en"),
    ({"NCMS_LOG_LEVEL": "loud"}, None, "NCMS_LOG_LEVEL: 'loud'", "allowed: DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ({}, "[ncms]\ndata_dir = 'var'\nmonitor_jobs = 'two'\n", "ncms.toml:3: monitor_jobs: 'two'",
     "allowed: a whole number, 0 or more"),
    ({"NCMS_INGEST_JOBS": "-1"}, None, "NCMS_INGEST_JOBS: '-1'", "allowed: a whole number, 0 or more"),
])
def test_a_bad_setting_names_its_variable_or_file_line_and_the_allowed_values(tmp_path, environ, file, start,
                                                                              allowed):
    from ncms.config import load_settings

    if file is not None:
        (tmp_path / "ncms.toml").write_text(file, encoding="utf-8")
        environ = {**environ, "NCMS_CONFIG_FILE": str(tmp_path / "ncms.toml")}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, cwd=tmp_path)
    message = str(caught.value)
    assert start in message and allowed in message and not CLASS_NAMES.search(message), message


def test_every_anomaly_setting_is_documented_with_its_default():
    from dataclasses import fields

    from ncms.monitor.anomaly import AnomalySettings

    docs = (CONFIG_DIR.parent / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(" `"): line.split("|")[3].strip(" `") for line in docs.splitlines()
            if line.startswith("| `") and line.count("|") == 5}
    for f in fields(AnomalySettings):
        default = getattr(AnomalySettings(), f.name)
        assert rows.get(f.name) == (str(default).lower() if isinstance(default, bool) else str(default)), f.name
