"""``ncms ingest status`` judges a county against the periods it should have sent by now, within
the data's own year: a historic year loaded years later is judged as that year closed, not as
thousands of days behind today."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ncms.exchange.package import write_package
from ncms.ingest.status import Cadence, CountyStatus, judge_all
from ncms.models import DeploymentMode

from .packages import claim, frame, items, member

LATE, ON_TIME = "520122", "520322"  # two gateway counties of the demo province


def months(path: Path, county: str, last_month: int) -> Path:
    """One package of a county's 2011 claims, January to ``last_month``."""
    end = date(2011, last_month + 1, 1).replace(day=1) if last_month < 12 else date(2012, 1, 1)
    end = date.fromordinal(end.toordinal() - 1)
    stay = dict(admission_date=f"2011-{last_month:02d}-01", discharge_date=f"2011-{last_month:02d}-05",
                settlement_date=f"2011-{last_month:02d}-06", institution_code=f"{county}300001")
    records = {"member": frame([member("M1")]),
               "enrolment": frame([dict(member_no="M1", year="2011", contribution="30.00", enrolled_on="2011-01-05")]),
               "claim": frame([claim("C1", **stay)]), "claim_item": frame(items("C1", "17.00", "13.00"))}
    return write_package(path, county_code=county, sequence=1, period=(date(2011, 1, 1), end), records=records)


@pytest.fixture
def loaded(cli):  # type: ignore[no-untyped-def]
    assert cli("db", "upgrade").exit_code == 0 and cli("db", "load-config").exit_code == 0
    return cli


def status_line(output: str, county: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(county))


def test_a_historic_year_missing_its_last_quarter_is_three_months_behind_and_late(loaded, tmp_path):
    for county, last in ((LATE, 9), (ON_TIME, 12)):
        done = loaded("ingest", str(months(tmp_path / f"{county}.zip", county, last)), "--county", county)
        assert done.exit_code == 0, done.output
    status = loaded("ingest", "status", "--as-of", "2026-12-06")
    assert status.exit_code == 0, status.output
    late, on_time = status_line(status.output, LATE), status_line(status.output, ON_TIME)
    assert "3 months of 2011 (2011-10 to 2011-12)" in late and "late" in late.split("2011-12)")[1], late
    assert "on time" in on_time and "late" not in on_time, on_time
    assert "days" not in status.output.splitlines()[0]
    nothing = status_line(status.output, "520121")  # a county that sent nothing is late too
    assert "nothing received" in nothing and nothing.rstrip().endswith("late")


def status(county: str, last: date | None) -> CountyStatus:
    return CountyStatus(county, county, DeploymentMode.GATEWAY, batches=1, last_period_end=last)


def test_the_current_year_is_judged_against_today_with_the_grace_days() -> None:
    counties = [status(LATE, date(2011, 12, 31)), status(ON_TIME, date(2012, 5, 31))]
    judged = judge_all(counties, {}, date(2012, 6, 15))  # May is due on 15 June: not yet
    assert judged[ON_TIME].describe() == "on time" and not judged[ON_TIME].late
    assert judged[LATE].describe() == "4 months of 2012 (2012-01 to 2012-04)" and judged[LATE].late
    judged = judge_all(counties, {}, date(2012, 6, 16))
    assert judged[ON_TIME].late is False and judged[LATE].behind == 5
    assert judge_all([status(LATE, date(2011, 12, 31))], {}, date(2012, 1, 15))[LATE].late is False


def test_a_county_sending_quarterly_is_judged_by_quarter() -> None:
    counties = [status(LATE, date(2011, 9, 30)), status(ON_TIME, date(2011, 12, 31))]
    quarterly = {LATE: Cadence("quarterly", 30), ON_TIME: Cadence("quarterly", 30)}
    judged = judge_all(counties, quarterly, date(2026, 12, 6))
    assert judged[LATE].describe() == "1 quarter of 2011 (2011-Q4)"
    assert not judged[ON_TIME].late
    live = judge_all([status(LATE, date(2012, 3, 31))], {LATE: Cadence("quarterly", 30)}, date(2012, 7, 30))
    assert not live[LATE].late  # the second quarter is due on 30 July: on time that day
