"""The figures the synthetic province is drawn from, in one place so a demo can be tuned.

They are plausible for a poor inland province (Guizhou) around 2010-2012, not statistics:

- utilisation: 1.5 compensated outpatient visits and 0.08 admissions per enrolled member and
  year, so the register holds about claims / (0.95 x 1.58 x years) members; households of
  1-6 (mean 3.6); 95 % of households enrol each year; a crude death rate of 7 per mille;
- financing per enrolled member: 100 yuan in 2008-2009 (20 individual + 40 central + 24
  provincial + 16 local), 150 in 2010 (30 + 60 + 36 + 24), 230 in 2011 (50 + 124 + 40 + 16),
  290 in 2012 (60 + 156 + 50 + 24): the totals of docs/domain.md §1, the split between
  sources chosen here;
- outpatient care: 70 % at the village clinic, 30 % at the township health centre, median
  40 and 65 yuan, between 20 and 150, 1-3 lines;
- admissions: 42 % township, 42 % county, 9 % municipal, 5 % provincial, 2 % outside the
  province (about 15 % out of the county); median cost 1 300, 3 800, 8 500, 13 000 and
  20 000 yuan (log-normal, sigma 0.55, times a factor per diagnosis); mean stay 6, 8, 10,
  12, 12 days; more admissions in winter (December-February 1.2-1.25 x July's);
- drug share of a stay: aimed at 46 % (township), 40 % (county), 35 %, 31 %, 28 %; measured
  medians are about 45 %, 50 %, 60 %, 70 %, 78 %: the demo catalogue has no surgery or
  high-technology fees, so the non-drug part of an expensive stay can only be billed as
  tests and imaging at most a few a day, and the drugs take the rest;
- 20 % of stays at county level and above bill an item outside policy scope.

Money is in fen.
"""
from __future__ import annotations

# --- enrolment and financing (domain.md §1) ---------------------------------------------
ENROLMENT_RATE = 0.95  # households enrolling in a year
# yuan per enrolled member and year: individual (the contribution), central, provincial, local
FINANCING_PER_CAPITA: dict[int, tuple[int, int, int, int]] = {
    2008: (20, 40, 24, 16),    # 100 yuan
    2009: (20, 40, 24, 16),    # 100
    2010: (30, 60, 36, 24),    # 150
    2011: (50, 124, 40, 16),   # 230
    2012: (60, 156, 50, 24),   # 290
}
FUNDING_SOURCES = ("individual", "central", "provincial", "local")
# share of a source's yearly amount received in each month: contributions are collected
# in the autumn before and booked when the fund year opens, subsidies come in tranches
FINANCING_MONTHS: dict[str, dict[int, float]] = {
    "individual": {1: 0.55, 2: 0.30, 3: 0.10, 4: 0.05},
    "central": {3: 0.50, 6: 0.30, 9: 0.20},
    "provincial": {2: 0.40, 5: 0.40, 8: 0.20},
    "local": {1: 0.40, 2: 0.30, 4: 0.20, 7: 0.10},
}

# --- utilisation ------------------------------------------------------------------------
OUTPATIENT_PER_MEMBER_YEAR = 1.5
ADMISSIONS_PER_MEMBER_YEAR = 0.08
DEATH_RATE = 0.007  # crude death rate per year, rural China ~7 per mille
HOUSEHOLD_SIZES = (1, 2, 3, 4, 5, 6)
HOUSEHOLD_SIZE_P = (0.08, 0.17, 0.22, 0.25, 0.18, 0.10)  # mean 3.58
# age of household heads (band start, band end inclusive, share)
HEAD_AGES = ((25, 34, 0.15), (35, 44, 0.22), (45, 54, 0.25), (55, 64, 0.20), (65, 74, 0.12), (75, 85, 0.06))

# relative chance that a member of this age is the patient (age band start -> weight)
OUTPATIENT_AGE_WEIGHT = {0: 1.6, 5: 0.9, 15: 0.7, 45: 1.2, 65: 1.8}
INPATIENT_AGE_WEIGHT = {0: 2.0, 2: 0.8, 5: 0.4, 15: 0.7, 45: 1.2, 65: 2.5}
FERTILE_WOMEN_INPATIENT_BOOST = 2.5  # women 18-40: deliveries

# month -> relative number of admissions / visits (winter respiratory season)
INPATIENT_SEASON = (1.25, 1.2, 1.05, 0.95, 0.9, 0.85, 0.85, 0.9, 0.95, 1.0, 1.1, 1.25)
OUTPATIENT_SEASON = (1.1, 1.05, 1.0, 1.0, 0.95, 0.95, 0.95, 0.95, 1.0, 1.0, 1.05, 1.1)

# --- institutions and cost by level -----------------------------------------------------
LEVELS = ("village", "township", "county", "municipal", "provincial", "out_of_province")
VILLAGE, TOWNSHIP, COUNTY, MUNICIPAL, PROVINCIAL, OUT_OF_PROVINCE = range(6)
OUTPATIENT_LEVEL_P = {VILLAGE: 0.7, TOWNSHIP: 0.3}
# where a county's scheme pays outpatient care at the county hospital (门诊统筹 at county level)
OUTPATIENT_LEVEL_P_COUNTY_PAID = {VILLAGE: 0.6, TOWNSHIP: 0.28, COUNTY: 0.12}
INPATIENT_LEVEL_P = {TOWNSHIP: 0.42, COUNTY: 0.42, MUNICIPAL: 0.09, PROVINCIAL: 0.05, OUT_OF_PROVINCE: 0.02}
REFERRAL_SHARE = 0.95  # out-of-county admissions that were referred
# inpatient: median total cost (yuan), mean length of stay (days), drug share of cost
INPATIENT_COST_MEDIAN = {TOWNSHIP: 1300, COUNTY: 3800, MUNICIPAL: 8500, PROVINCIAL: 13000, OUT_OF_PROVINCE: 20000}
INPATIENT_COST_SIGMA = 0.55  # log-normal
INPATIENT_LOS_MEAN = {TOWNSHIP: 6, COUNTY: 8, MUNICIPAL: 10, PROVINCIAL: 12, OUT_OF_PROVINCE: 12}
LOS_RANGE = (2, 25)
DRUG_SHARE = {VILLAGE: 0.65, TOWNSHIP: 0.46, COUNTY: 0.40, MUNICIPAL: 0.35, PROVINCIAL: 0.31, OUT_OF_PROVINCE: 0.28}
MIN_COST_PER_DAY = 100  # yuan: a clean stay always costs more per day (ghost stays cost ~20)
OUTPATIENT_COST_MEDIAN = {VILLAGE: 40, TOWNSHIP: 65, COUNTY: 100}
OUTPATIENT_COST_RANGE = (20, 150)
UNCOVERED_SHARE = 0.2  # stays at county level and above with an item outside policy scope
INPATIENT_LINES = (3, 12)
OUTPATIENT_LINES_P = (0.2, 0.5, 0.3)  # 1, 2 or 3 lines
SETTLEMENT_DELAY = (0, 5)  # days after discharge or visit

# --- diagnoses --------------------------------------------------------------------------
# code, kind, weight, sex (None = any), min age, max age, cost factor, LOS factor
DIAGNOSES = (
    ("J06.9", "outpatient", 20, None, 0, 120, 1.0, 1.0),
    ("J02.9", "outpatient", 8, None, 0, 120, 1.0, 1.0),
    ("J20.9", "outpatient", 10, None, 0, 120, 1.0, 1.0),
    ("I10", "outpatient", 12, None, 35, 120, 1.0, 1.0),
    ("K29.7", "outpatient", 8, None, 15, 120, 1.0, 1.0),
    ("E11.9", "outpatient", 4, None, 30, 120, 1.0, 1.0),
    ("M54.5", "outpatient", 6, None, 20, 120, 1.0, 1.0),
    ("A09", "outpatient", 6, None, 0, 120, 1.0, 1.0),
    ("K02.9", "outpatient", 3, None, 3, 120, 1.0, 1.0),
    ("L30.9", "outpatient", 4, None, 0, 120, 1.0, 1.0),
    ("R50.9", "outpatient", 4, None, 0, 120, 1.0, 1.0),
    ("M17.9", "outpatient", 4, None, 45, 120, 1.0, 1.0),
    ("N76.0", "outpatient", 2, "F", 18, 60, 1.0, 1.0),
    ("N40", "outpatient", 1.5, "M", 50, 120, 1.0, 1.0),
    ("J18.9", "inpatient", 14, None, 0, 120, 1.0, 1.0),
    ("I10", "inpatient", 4, None, 50, 120, 0.8, 0.9),
    ("J44.1", "inpatient", 8, None, 45, 120, 1.1, 1.2),
    ("I63.9", "inpatient", 7, None, 45, 120, 1.5, 1.4),
    ("I25.1", "inpatient", 5, None, 45, 120, 1.3, 1.0),
    ("I50.9", "inpatient", 3, None, 55, 120, 1.3, 1.2),
    ("E11.9", "inpatient", 3, None, 30, 120, 0.9, 1.0),
    ("K35.8", "inpatient", 5, None, 5, 120, 1.3, 0.9),
    ("K80.2", "inpatient", 4, None, 25, 120, 1.4, 1.0),
    ("O80", "inpatient", 8, "F", 16, 48, 0.6, 0.5),
    ("O82", "inpatient", 3, "F", 16, 48, 1.3, 0.9),
    ("S72.0", "inpatient", 3, None, 50, 120, 2.0, 1.6),
    ("C34.9", "inpatient", 2, None, 45, 120, 2.2, 1.3),
    ("N40", "inpatient", 2, "M", 55, 120, 1.4, 1.0),
    ("P59.9", "inpatient", 2, None, 0, 1, 0.5, 0.8),
    ("A09", "inpatient", 4, None, 0, 120, 0.6, 0.7),
    ("N39.0", "inpatient", 2, None, 15, 120, 0.8, 0.9),
    ("N70.9", "inpatient", 1.5, "F", 18, 55, 0.9, 1.0),
    ("M51.2", "inpatient", 2, None, 25, 120, 1.1, 1.2),
)
# conditions treated as outpatients: never a clean admission (low-standard admission rule)
OUTPATIENT_GRADE = ("J06.9", "J02.9", "K02.9", "L30.9", "M54.5", "R50.9")
CHEMOTHERAPY = "Z51.1"
CANCER_ADMISSION = "C34.9"
# readmissions of a split stay: the same condition, sometimes coded more precisely
RELATED_DIAGNOSIS = {"J18.9": "J18.0", "I63.9": "I63.8", "J44.1": "J44.0", "I50.9": "I50.0"}
ADULT_ADMISSIONS = ("J18.9", "J44.1", "I63.9", "I25.1", "I50.9", "E11.9", "M51.2")

# dx -> items billed for it besides the bed: (code, quantity rule); rules: one, few, los, hours
DIAGNOSIS_ITEMS: dict[str, tuple[tuple[str, str], ...]] = {
    "J18.9": (("E0001", "one"), ("L0001", "one")),
    "J18.0": (("E0001", "one"), ("L0001", "one")),
    "I63.9": (("E0003", "one"), ("T0010", "los")),
    "I63.8": (("E0003", "one"), ("T0010", "los")),
    "J44.1": (("T0011", "hours"),),
    "J44.0": (("T0011", "hours"),),
    "I25.1": (("E0004", "one"), ("T0011", "hours")),
    "I50.9": (("E0004", "one"), ("T0011", "hours")),
    "I50.0": (("E0004", "one"), ("T0011", "hours")),
    "K35.8": (("T0003", "one"), ("M0003", "few")),
    "K80.2": (("E0002", "one"),),
    "O80": (("T0005", "one"), ("D0006", "few")),
    "O82": (("T0004", "one"), ("D0006", "few"), ("M0004", "one")),
    "S72.0": (("E0001", "one"), ("M0003", "few")),
    "C34.9": (("E0003", "one"),),
    "N40": (("T0012", "one"), ("L0006", "one")),
    "P59.9": (("T0007", "hours"), ("L0008", "few"), ("T0008", "los")),
    "Z51.1": (("L0001", "one"), ("L0003", "one")),
}
OUTPATIENT_DIAGNOSIS_ITEMS: dict[str, tuple[tuple[str, str], ...]] = {
    "I10": (("D0011", "one"),),
    "E11.9": (("D0012", "one"),),
    "N76.0": (("E0007", "one"),),
    "N40": (("D0018", "one"),),
}
BED_ITEM = "B0001"
INTENSIVE_BED_ITEM = "B0002"  # the whole stay in intensive care, at municipal level and above
INTENSIVE_CARE_DIAGNOSES = ("I63.9", "I50.9", "S72.0")
NEONATAL_BED_ITEM = "B0003"
NEONATAL_DIAGNOSES = ("P59.9",)
CONSULTATION_ITEM = "O0001"

# items drawn at random for any patient (none has a sex or age restriction)
GENERIC_ITEMS = {
    "drug": ("D0001", "D0002", "D0003", "D0004", "D0007", "D0008", "D0010", "D0011", "D0012",
             "D0013", "D0014", "D0015", "D0016"),
    "exam": ("E0001", "E0002", "E0003", "E0004", "E0009", "E0010"),
    "lab": ("L0001", "L0002", "L0003", "L0004", "L0005", "L0009"),
    "treatment": ("T0001", "T0009", "T0010", "T0014"),
    "material": ("M0001", "M0002", "M0004"),
}
OUTPATIENT_ITEMS = {
    "drug": ("D0001", "D0003", "D0004", "D0007", "D0011", "D0012", "D0013", "D0014", "D0015"),
    "lab": ("L0001", "L0002", "L0005"),
    "treatment": ("T0001", "T0009", "T0014"),
    "material": ("M0001", "M0002"),
}
# the last line of a claim balances it to its cost: a drug with a price of a few yuan
BALANCING_DRUGS = ("D0001", "D0002", "D0008", "D0011", "D0012", "D0014")
# before it, a stay's non-drug part is balanced with tests and imaging repeated through the stay
BALANCING_EXAMS = ("E0003", "E0009", "E0010", "E0001")
BALANCING_TESTS = ("L0003", "L0009", "L0004")
UNCOVERED_ITEMS = ("D0020", "D0021", "O0002")
# category of the flexible lines: inpatient / outpatient
FLEX_CATEGORIES = {"inpatient": {"drug": 0.4, "lab": 0.25, "exam": 0.2, "treatment": 0.1, "material": 0.05},
                   "outpatient": {"drug": 0.6, "lab": 0.2, "treatment": 0.15, "material": 0.05}}
PRICE_DISCOUNT_SHARE = 0.2  # lines billed below the catalogue ceiling

# --- names --------------------------------------------------------------------------------
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗高林梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
MALE_GIVEN = "伟强军勇明华建国平刚杰涛斌林海波鹏超文辉成龙永志德福贵发才顺兵忠富荣"
FEMALE_GIVEN = "芳秀英丽敏静燕红霞梅兰琴艳娟玲桂凤萍珍莲翠花春云芬娥琼玉菊香"
VILLAGE_NAMES = ("新寨村", "大坪村", "石板村", "河坝村", "高坡村", "沙坝村", "田坝村", "红岩村", "新田村",
                 "马场村", "大寨村", "水口村", "青山村", "平寨村", "三合村", "堡子村", "龙井村", "团结村",
                 "新华村", "元田村", "下坝村", "水母村", "大河村", "三星村", "坪上村", "石牛村")
