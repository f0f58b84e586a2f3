"""What several commands take alike — a period, county codes, rule codes — checked before any
work starts. A refusal is one line naming what was given and what is allowed."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import UsageError

PERIOD_HELP = "FROM:TO (dates YYYY-MM-DD), or a year: 2011"
SHOWN = 20  # codes listed in a refusal; more are counted


class OptionError(UsageError):
    """A value on the command line that cannot be: one line, and exit code 2, as click's own
    refusals of an option have."""

    exit_code = 2


def parse_period(text: str | None, option: str = "--period") -> tuple[date, date] | None:
    """``FROM:TO`` (both days included) or a year; None when not given."""
    if not text:
        return None
    try:
        if ":" in text:
            start, end = (date.fromisoformat(part.strip()) for part in text.split(":", 1))
        else:
            year = int(text)
            start, end = date(year, 1, 1), date(year, 12, 31)
    except ValueError:
        raise OptionError(f"{option} {text!r}: give FROM:TO as dates (2011-01-01:2011-06-30) or a year (2011)") from None
    if start > end:
        raise OptionError(f"{option} {text!r}: it starts after it ends; give FROM:TO with FROM on or before TO")
    return start, end


def parse_time(text: str | None, option: str) -> datetime | None:
    """An update time, as a county database's watermark holds one: a date or a date and time."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise OptionError(f"{option} {text!r}: give an update time, 2011-03-01 or '2011-03-01 12:00:00'") from None


def check_counties(engine: Engine, codes: Iterable[str]) -> None:
    """Refuse a county code the database does not know, listing those it does."""
    from ncms.models import County

    codes = list(codes)
    if not codes:
        return
    with engine.connect() as conn:
        known = list(conn.scalars(sa.select(County.code).order_by(County.code)))
    unknown = [code for code in dict.fromkeys(codes) if code not in known]
    if not unknown:
        return
    if not known:
        raise OptionError(f"--county {', '.join(unknown)}: no county is loaded yet; "
                         "`ncms db load-config` loads those of config/province.yaml")
    raise OptionError(f"--county {', '.join(unknown)}: not a county of this province; "
                     f"its counties are {listed(known)} (config/province.yaml)")


def check_rules(codes: Iterable[str], known: Iterable[str]) -> None:
    """Refuse a rule code that is not among ``known``, listing them."""
    known = sorted(set(known))
    unknown = [code for code in dict.fromkeys(codes) if code not in known]
    if unknown:
        raise OptionError(f"--rule {', '.join(unknown)}: no such rule; the rules are {listed(known, every=True)} "
                         "(docs/rules.md, docs/anomaly.md)")


def listed(codes: list[str], every: bool = False) -> str:
    """Codes for a one-line message: all of them, or the first ``SHOWN`` and how many in all."""
    if every or len(codes) <= SHOWN:
        return ", ".join(codes)
    return f"{', '.join(codes[:SHOWN])} … ({len(codes)} in all)"
