"""Numbers, money, shares and dates as the reader's locale writes them (Jinja filters).

Money is kept in yuan as exact decimals (``ncms.models.Money``); it is shown with two decimals
and the yuan sign of the locale (¥1,234.50 / CN¥1,234.50), or compactly (1.23万元 / 12.3K yuan).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from babel import Locale
from babel.dates import format_skeleton
from babel.numbers import format_compact_decimal, format_currency as babel_currency, parse_pattern
from flask import Flask, current_app
from flask_babel import (format_currency, format_date, format_datetime, format_decimal, format_percent,
                         get_locale, gettext as _, lazy_gettext as _l)

from ncms.ids import mask_national_id
from ncms.models import FindingStatus

from .masking import mask_name

EMPTY = "—"


def number(value: Any, digits: int | None = None) -> str:
    if value is None:
        return EMPTY
    if digits is None:
        return format_decimal(value)
    return format_decimal(value, format="#,##0." + "0" * digits if digits else "#,##0")


def money(value: Any) -> str:
    """Yuan with two decimals and the locale's sign."""
    if value is None:
        return EMPTY
    value = Decimal(str(value)) if isinstance(value, float) else value
    locale = get_locale()
    if isinstance(value, Decimal) and locale is not None:
        return _yuan(str(locale))(value)
    return format_currency(value, "CNY")


_YUAN: dict[str, Callable[[Decimal], str]] = {}
_CENT = Decimal("0.01")
_PROBES = tuple(Decimal(v) for v in ("0", "-0", "0.005", "0.015", "-0.004", "1", "-1", "12.3", "999.995", "1234.5",
                                     "-1234.56", "1234567.891", "-98765432.1", "100000000000.00", "0.1E+3"))


def _yuan(locale: str) -> Callable[[Decimal], str]:
    """``money`` of a Decimal in ``locale``, as Babel's ``format_currency(value, "CNY")`` writes it
    but without reading the locale's pattern and symbols again for every amount (a page of 50
    findings formats 50): the pattern's sign, symbol and separators are read once per locale and
    the amount rounded half to even to the yuan's two decimals, as Babel does. A locale whose
    pattern the short way does not reproduce on the probes keeps Babel's own."""
    formatter = _YUAN.get(locale)
    if formatter is None:
        formatter = _YUAN[locale] = _yuan_formatter(Locale.parse(locale))
    return formatter


def _yuan_formatter(locale: Locale) -> Callable[[Decimal], str]:
    def slow(value: Decimal) -> str:
        return babel_currency(value, "CNY", locale=locale)

    pattern = parse_pattern(locale.currency_formats["standard"])
    symbols = locale.number_symbols.get("latn", locale.number_symbols)
    symbol = locale.currency_symbols.get("CNY", "CNY")
    if pattern.grouping != (3, 3) or pattern.scale != 0 or pattern.exp_prec:
        return slow
    prefixes = tuple(p.replace("¤", symbol) for p in pattern.prefix)
    suffixes = tuple(p.replace("¤", symbol) for p in pattern.suffix)
    separators = str.maketrans({",": symbols.get("group", ","), ".": symbols.get("decimal", ".")})

    def fast(value: Decimal) -> str:
        negative = int(value.is_signed())
        digits = format(abs(value).quantize(_CENT, ROUND_HALF_EVEN), ",f").translate(separators)
        return f"{prefixes[negative]}{digits}{suffixes[negative]}"

    try:
        return fast if all(fast(v) == slow(v) for v in _PROBES) else slow
    except (ArithmeticError, IndexError, KeyError, ValueError):
        return slow


def money_compact(value: Any) -> str:
    """A large amount at a glance: 236.12万元, 2.36M yuan. An amount the locale does not shorten
    (under 10,000 in Chinese, under 1,000 in English) is grouped as ``number`` groups it: 1,692.93元,
    not CLDR's bare compact pattern "0" (1692.93元)."""
    if value is None:
        return EMPTY
    locale = get_locale()
    amount = format_compact_decimal(value, locale=locale, fraction_digits=2)
    if not _shortened(amount, locale):
        amount = format_decimal(value, format="#,##0.##")
    return _("%(amount)s yuan", amount=amount)


def _shortened(amount: str, locale: Any) -> bool:
    """Whether a compact number carries a unit (万, K, M…) rather than only digits and signs."""
    symbols = locale.number_symbols.get("latn", locale.number_symbols)
    plain = set("0123456789") | {symbols.get(key, "") for key in ("decimal", "group", "minusSign", "plusSign")}
    return any(char not in plain for char in amount)


def percent(value: Any, digits: int = 1) -> str:
    """A share (0.153) as a percentage (15.3 %)."""
    if value is None:
        return EMPTY
    return format_percent(value, format="#,##0." + "0" * digits + "%" if digits else "#,##0%")


# (locale, time zone, style, day or timestamp) -> as written: a page writes the same days and
# the same timestamps (a rule run's findings share its moment) many times over
_DAYS: dict[tuple[str, str, str, date], str] = {}


def day(value: date | datetime | None, style: str = "medium") -> str:
    """A day in the locale's style; a timestamp's day in the platform's time zone (Asia/Shanghai)."""
    if value is None:
        return EMPTY
    locale = get_locale()
    if locale is None:
        return format_date(value, style)
    key = (str(locale), current_app.config.get("BABEL_DEFAULT_TIMEZONE", "UTC"), style, value)
    text = _DAYS.get(key)
    if text is None:
        if len(_DAYS) > 50_000:
            _DAYS.clear()
        text = _DAYS[key] = format_date(value, style)  # a timestamp rebased to the zone first
    return text


def moment(value: datetime | None, style: str = "short") -> str:
    """A timestamp in the platform's time zone (Asia/Shanghai)."""
    if value is None:
        return EMPTY
    return format_datetime(value, style)


def month(value: date | None) -> str:
    """2011年3月 / Mar 2011."""
    if value is None:
        return EMPTY
    return format_skeleton("yMMM", value, locale=get_locale())


def county_name(county: Any, fallback: str = "") -> str:
    """A county's name in the page's language: its English name (``name_en``) on English pages
    when it has one, else its name; ``fallback`` (say, its code) for a county not on the register."""
    if county is None:
        return fallback
    if county.name_en and get_locale().language == "en":
        return county.name_en
    return county.name


# where a finding's review stands, as every page names it (docs/review.md)
FINDING_STATUS_LABELS = {
    FindingStatus.OPEN: _l("Open"),
    FindingStatus.SENT_TO_COUNTY: _l("Sent to the county"),
    FindingStatus.COUNTY_RESPONDED: _l("County responded"),
    FindingStatus.CONFIRMED: _l("Confirmed"),
    FindingStatus.DISMISSED: _l("Dismissed"),
    FindingStatus.CLOSED: _l("Closed"),
}


def finding_status(value: Any) -> str:
    """A finding's status (the enum or its value) in the page's language."""
    try:
        return str(FINDING_STATUS_LABELS[FindingStatus(getattr(value, "value", value))])
    except ValueError:
        return str(value)


FILTERS = {
    "number": number,
    "money": money,
    "money_compact": money_compact,
    "percent": percent,
    "day": day,
    "moment": moment,
    "month": month,
    "mask_id": mask_national_id,
    "mask_name": mask_name,
    "county_name": county_name,
    "finding_status": finding_status,
}


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(FILTERS)
