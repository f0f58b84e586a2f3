"""``money`` and ``day`` as the pages write them: the per-locale short ways
(ncms/web/formatting.py) give exactly what Babel's ``format_currency`` and ``format_date`` give."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from babel.dates import format_date
from babel.numbers import format_currency
from flask import Flask
from flask_babel import Babel
from hypothesis import given, settings as hsettings, strategies as st

from ncms.web.formatting import day, money

LOCALES = ("zh_Hans_CN", "en")


def context(locale: str):  # type: ignore[no-untyped-def]
    app = Flask(__name__)
    app.config.update(BABEL_DEFAULT_LOCALE=locale, BABEL_DEFAULT_TIMEZONE="Asia/Shanghai")
    Babel(app)
    return app.test_request_context()


@pytest.mark.parametrize("locale", LOCALES)
@hsettings(max_examples=300, deadline=None)
@given(value=st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, places=3)
       | st.decimals(min_value=Decimal("-1e6"), max_value=Decimal("1e6"), allow_nan=False, places=2)
       | st.floats(min_value=-1e9, max_value=1e9, allow_nan=False) | st.integers(-10**9, 10**9))
def test_money_is_babels_format_currency(locale, value):
    with context(locale):
        expected = format_currency(Decimal(str(value)) if isinstance(value, float) else value, "CNY", locale=locale)
        assert money(value) == expected


@pytest.mark.parametrize("locale", LOCALES)
def test_money_edges(locale):
    with context(locale):
        for text in ("0", "-0", "-0.001", "0.005", "0.015", "0.025", "-2.675", "999999999.995", "1E+3", "12.5"):
            assert money(Decimal(text)) == format_currency(Decimal(text), "CNY", locale=locale), text
        assert money(None) == "—"


@pytest.mark.parametrize("locale", LOCALES)
def test_day_is_the_day_in_beijing_as_babel_writes_it(locale):
    beijing = timezone(timedelta(hours=8))
    with context(locale):
        for moment in (datetime(2011, 7, 1, 15, 59, tzinfo=timezone.utc), datetime(2011, 7, 1, 16, 0, tzinfo=timezone.utc),
                       datetime(2011, 12, 31, 16, 30), datetime(2026, 2, 28, 23, 0, tzinfo=beijing)):
            aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # naive: UTC
            expected = format_date(aware.astimezone(beijing).date(), "medium", locale=locale)
            assert day(moment) == expected and day(moment) == expected  # the kept one too
        assert day(date(2011, 7, 1), "short") == format_date(date(2011, 7, 1), "short", locale=locale)
        assert day(None) == "—"
