"""The indicators of domain.md §4 — enrolment, financing, expenditure and the fund's balance,
benefit, cost and coverage, supervision — per county and for the province, for a month, a
quarter or a year; and the start page's figures. One module shared by the console's pages,
the ministry reports and the API. They read summary tables that ingestion and monitoring keep
(``refresh``), never the claims. Definitions: docs/indicators.md.

    from ncms.indicators import Period, indicators
    table = indicators(session, Period.parse("2011-Q3"))
    table.total.fund_usage_rate, [c.participation_rate for c in table.counties]
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ncms import lazy_exports

if TYPE_CHECKING:
    from .compute import IndicatorTable, county_indicators, fund_warnings, indicators
    from .figures import ClaimFigures, FundWarning, Indicators
    from .glance import (DataStatus, InstitutionStake, MonthlySeries, RuleStake, StartPage, data_status,
                         monthly_series, stake_by_rule, start_page, top_institutions)
    from .period import Period, PeriodError
    from .refresh import (Refreshed, after_batch, after_monitor, rebuild, refresh_batch, refresh_findings,
                          refresh_summaries)
    from .rows import FIELD_NAMES, as_row

_EXPORTS = {
    **dict.fromkeys(("IndicatorTable", "county_indicators", "fund_warnings", "indicators"), ".compute"),
    **dict.fromkeys(("ClaimFigures", "FundWarning", "Indicators"), ".figures"),
    **dict.fromkeys(("DataStatus", "InstitutionStake", "MonthlySeries", "RuleStake", "StartPage", "data_status",
                     "monthly_series", "stake_by_rule", "start_page", "top_institutions"), ".glance"),
    **dict.fromkeys(("Period", "PeriodError"), ".period"),
    **dict.fromkeys(("Refreshed", "after_batch", "after_monitor", "rebuild", "refresh_batch", "refresh_findings",
                     "refresh_summaries"), ".refresh"),
    **dict.fromkeys(("FIELD_NAMES", "as_row"), ".rows"),
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
