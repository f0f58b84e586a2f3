"""The re-upload race: while ``ncms ingest --inbox`` loads package A, delivered by the real
gateway as X.zip (``ncms-gateway push``), the county sends a different package B under the
same name X.zip with the stock OpenSSH ``sftp put``, which writes the name afresh, started at
a seeded moment of the ingest. Whatever the timing,
both packages end with a batch, their archive copy and a receipt, their records once, and
nothing waiting anywhere: the core takes a package before it reads it, and the gateway
never delivers onto a name the inbox still holds."""
from __future__ import annotations

import shutil
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

from ..packages import claim, items, member, national_id, package
from .conftest import Province
from .harness import Campaign, fault_seeds, kill_time, ncms, run_to_end
from .state import (assert_batches_true, assert_delivered, assert_nothing_left, assert_receipts_for_batches,
                    assert_records_once, leftovers, sha256_of)

COUNTY = "520122"
NAME = f"{COUNTY}-resent.zip"  # the one name every package of this scenario travels under
LOADED = 300  # claims of package A: loading it takes a moment, for B to arrive in
SENT_AGAIN = 20  # claims of package B


def test_a_package_sent_again_under_its_name_while_the_first_loads_loses_neither(  # type: ignore[no-untyped-def]
        province: Province, gateway_process, tmp_path: Path) -> None:
    data_dir = province.data_dir("province")
    spool = data_dir / "spool"
    gateway = gateway_process(spool, (COUNTY,))
    ingest = ncms(province.args(data_dir), "ingest", "--inbox")

    first = _package(tmp_path / "clean", "A", 99, LOADED)
    _push(gateway, first.path, "the clean round's upload")
    started = time.monotonic()
    run_to_end(ingest, "a clean ingest of the inbox")
    duration = time.monotonic() - started
    _check(province, data_dir, [first], "the clean round")

    campaign = Campaign("re-upload race (sftp put of B as X.zip during ncms ingest --inbox of A)", duration)
    for seed in fault_seeds():
        def body(seed: int = seed) -> str:
            _clear_waiting(data_dir)  # what an earlier failed round left must not fail this one
            a = _package(tmp_path / f"round-{seed}", "A", seed, LOADED)
            b = _package(tmp_path / f"round-{seed}", "B", seed, SENT_AGAIN)
            _push(gateway, a.path, f"seed {seed}: A's upload")
            at = kill_time(seed, duration)
            where = f"seed {seed}, B pushed {at:.2f} s into the ingest of A (ingest alone: {duration:.2f} s)"
            loading = subprocess.Popen(ingest, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(at)
            racing = loading.poll() is None
            resent = _put(gateway, b.path)
            out, _ = loading.communicate(timeout=300)
            assert loading.returncode == 0, f"{where}: the ingest failed: {out[-800:]}"
            refusals = 0
            while resent.returncode != 0 and refusals < 3:  # told to try again: the county does
                refusals += 1
                time.sleep(0.5)
                resent = _put(gateway, b.path)
            assert resent.returncode == 0, f"{where}: B could not be delivered: {resent.stderr[-600:]}"
            if leftovers(data_dir):  # B (or anything) still waiting: the next scheduled ingest takes it
                run_to_end(ingest, f"{where}: the next ingest")
            _check(province, data_dir, [a, b], where)
            return (f"B sent {at:.2f} s in, {'while A loaded' if racing else 'after the ingest ended'}"
                    f"{f', refused {refusals}x first' if refusals else ''}")

        campaign.run(seed, body)
    campaign.check()


class _Sent:
    def __init__(self, path: Path, keys: dict[str, set[tuple[str, ...]]]) -> None:
        self.path, self.keys, self.sha = path, keys, sha256_of(path)


def _package(folder: Path, tag: str, seed: int, claims: int) -> _Sent:
    """A valid package of ``claims`` claims (two items each), their members and enrolments,
    with ids of its own; written as NAME in its own folder (the client sends the file's name)."""
    born = date(1950, 1, 1) + timedelta(days=(seed + 1) * 7 + (tag == "B") * 3)
    people = [member(f"{tag}{seed:03d}{n:04d}", household_no=f"H{tag}{seed:03d}{n:04d}",
                     national_id=national_id(f"{COUNTY}{born + timedelta(days=n // 800):%Y%m%d}{100 + n % 800:03d}"))
              for n in range(claims)]
    bills = [claim(f"{tag}{seed:03d}C{n:04d}", p["member_no"], national_id=p["national_id"])
             for n, p in enumerate(people)]
    lines = [line for c in bills for line in items(c["claim_id"], "17.00", "13.00")]
    path = package(folder / tag / NAME, seq=2 * seed + 3 + (tag == "B"), members=people,
                   enrolments=[dict(member_no=p["member_no"], year="2011", contribution="30.00",
                                    enrolled_on="2011-01-05") for p in people],
                   claims=bills, claim_items=lines)
    keys = {"member": {(COUNTY, p["member_no"]) for p in people},
            "enrolment": {(COUNTY, p["member_no"], "2011") for p in people},
            "claim": {(COUNTY, c["claim_id"]) for c in bills},
            "claim_item": {(COUNTY, line["claim_id"], line["line_no"]) for line in lines}}
    return _Sent(path, keys)


def _push(gateway, path: Path, what: str) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run(gateway.push(path, COUNTY), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{what} failed: {done.stderr[-600:]}"


def _put(gateway, path: Path) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    command, script = gateway.put(path, COUNTY, NAME)
    return subprocess.run(command, input=script, capture_output=True, text=True, timeout=120)


def _check(province: Province, data_dir: Path, sent: list[_Sent], where: str) -> None:
    expected = {record_type: set().union(*(s.keys[record_type] for s in sent)) for record_type in sent[0].keys}
    assert_delivered(province.engine, data_dir, {s.sha: f"{s.path.parent.name}: {s.path.name}" for s in sent}, where)
    assert_records_once(province.engine, expected, where, only=True)
    assert_batches_true(province.engine, where)
    assert_receipts_for_batches(province.engine, data_dir, where)
    assert_nothing_left(data_dir, where)


def _clear_waiting(data_dir: Path) -> None:
    for left in leftovers(data_dir):
        (data_dir / left).unlink(missing_ok=True)
    for folder in (data_dir / "work", *(data_dir / "spool").glob("*/.taken")):
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
