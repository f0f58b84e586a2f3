"""Numbers, money, shares and dates as the reader's locale writes them (Jinja filters).

Money is kept in yuan as exact decimals (``ncms.models.Money``); it is shown with two decimals
and the yuan sign of the locale (¥1,234.50 / CN¥1,234.50), or compactly (1.23万元 / 12.3K yuan).
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from babel.dates import format_skeleton
from babel.numbers import format_compact_decimal
from flask import Flask
from flask_babel import (format_currency, format_date, format_datetime, format_decimal, format_percent,
                         get_locale, gettext as _)

from ncms.ids import mask_national_id

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
    return format_currency(Decimal(str(value)) if isinstance(value, float) else value, "CNY")


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


def day(value: date | datetime | None, style: str = "medium") -> str:
    if value is None:
        return EMPTY
    return format_date(value, style)


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
}


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(FILTERS)
