"""Conditional requests (docs/api.md "Conditional requests"): the reads that give an ETag answer
If-None-Match with 304 and no body, a change makes the old ETag stale; files answer by their
ETag and Last-Modified; the review's steps take the ETag read as If-Match instead of the version
(412 when stale, 428 when neither is sent)."""
from __future__ import annotations

import os
from datetime import date

import sqlalchemy as sa

from ncms.db import session_scope
from ncms.models import Batch, BatchSource, BatchStatus, Finding, Institution, ReportRun, ReportStatus

from .test_api import _error, api  # noqa: F401  (the fixture)
from .webauth import COUNTY, OTHER_COUNTY


def _conditional(client, url: str, headers: dict) -> str:  # type: ignore[no-untyped-def]
    first = client.get(url, headers=headers)
    assert first.status_code == 200 and first.headers.get("ETag"), (url, first.status_code)
    etag = first.headers["ETag"]
    again = client.get(url, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304, (url, again.status_code)
    assert again.get_data() == b"" and again.headers["ETag"] == etag
    other = client.get(url, headers={**headers, "If-None-Match": '"not-it"'})
    assert other.status_code == 200 and other.get_data() == first.get_data()
    return etag


def test_reads_answer_304_until_the_record_changes(api) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client, engine, headers, ids, claims = api
    auditor = headers["auditor"]
    fid = ids[COUNTY][0]
    etag = _conditional(client, f"/api/v1/findings/{fid}", auditor)
    assert client.post(f"/api/v1/findings/{fid}/comment", json={"text": "called"}, headers=auditor).status_code == 200
    changed = client.get(f"/api/v1/findings/{fid}", headers={**auditor, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag  # a new event: stale
    _conditional(client, f"/api/v1/claims/{claims[COUNTY]}", auditor)
    with session_scope(engine) as s:
        code = s.scalar(sa.select(Institution.code).where(Institution.area_code == COUNTY).limit(1))
        batch = Batch(county_code=COUNTY, source=BatchSource.API, status=BatchStatus.LOADED)
        run = ReportRun(kind="monthly", period_start=date(2011, 1, 1), period_end=date(2011, 1, 31),
                        county_code=COUNTY, scope=COUNTY, status=ReportStatus.DONE)
        s.add_all([batch, run])
        s.flush()
        batch_id, run_id = batch.id, run.id
    old = _conditional(client, f"/api/v1/institutions/{code}", auditor)
    with session_scope(engine) as s:
        s.scalar(sa.select(Institution).where(Institution.code == code)).name += " (renamed)"
    assert client.get(f"/api/v1/institutions/{code}", headers={**auditor, "If-None-Match": old}).status_code == 200
    old = _conditional(client, f"/api/v1/batches/{batch_id}", auditor)
    with session_scope(engine) as s:
        s.get(Batch, batch_id).rows_loaded = 7
    assert client.get(f"/api/v1/batches/{batch_id}", headers={**auditor, "If-None-Match": old}).status_code == 200
    _conditional(client, f"/api/v1/reports/{run_id}", auditor)
    # another county's: 404 whatever the ETag
    _error(client.get(f"/api/v1/findings/{ids[OTHER_COUNTY][0]}", headers={**headers["officer"], "If-None-Match": etag}),
           404)


def test_files_answer_by_etag_and_last_modified(api, settings) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from ncms.ingest.receipt import outbox

    client, engine, headers, *_ = api
    with session_scope(engine) as s:
        run = ReportRun(kind="monthly", period_start=date(2011, 1, 1), period_end=date(2011, 1, 31),
                        county_code=COUNTY, scope=COUNTY, status=ReportStatus.DONE, folder="etag-test",
                        outputs={"summary.csv": "summary.csv"})
        batch = Batch(county_code=COUNTY, source=BatchSource.API, status=BatchStatus.LOADED)
        s.add_all([run, batch])
        s.flush()
        run_id, batch_id = run.id, batch.id
    report = settings.reports_dir / "etag-test" / "summary.csv"
    receipt = outbox(settings.spool_dir, COUNTY) / f"receipt-{COUNTY}-000001-batch{batch_id}.json"
    for path in (report, receipt):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("county,claims\n520122,3\n", encoding="utf-8")
    for url, path in ((f"/api/v1/reports/{run_id}/files/summary.csv", report),
                      (f"/api/v1/batches/{batch_id}/receipt.json", receipt)):
        first = client.get(url, headers=headers["auditor"])
        assert first.status_code == 200, first.get_data(as_text=True)
        assert first.headers["ETag"] and first.headers["Last-Modified"]
        etag = first.headers["ETag"]
        assert client.get(url, headers={**headers["auditor"], "If-None-Match": etag}).status_code == 304
        since = client.get(url, headers={**headers["auditor"], "If-Modified-Since": first.headers["Last-Modified"]})
        assert since.status_code == 304 and since.get_data() == b""
        path.write_text("county,claims\n520122,4\n", encoding="utf-8")
        os.utime(path, (path.stat().st_mtime + 10, path.stat().st_mtime + 10))
        assert client.get(url, headers={**headers["auditor"], "If-None-Match": etag}).status_code == 200


def test_steps_take_the_etag_as_if_match(api) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client, engine, headers, ids, _ = api
    auditor, fid = headers["auditor"], ids[COUNTY][1]
    read = client.get(f"/api/v1/findings/{fid}", headers=auditor)
    etag = read.headers["ETag"]
    pushed = client.post(f"/api/v1/findings/{fid}/push", json={"note": "please explain"},
                         headers={**auditor, "If-Match": etag})
    assert pushed.status_code == 200, pushed.get_json()
    assert pushed.get_json()["status"] == "sent_to_county" and pushed.headers["ETag"] != etag
    body = _error(client.post(f"/api/v1/findings/{fid}/dismiss", json={"text": "stale"},
                              headers={**auditor, "If-Match": etag}), 412)  # read before the push
    assert "If-Match" in body["errors"]
    body = _error(client.post(f"/api/v1/findings/{fid}/dismiss", json={"text": "which?"}, headers=auditor), 428)
    assert "version" in body["errors"]
    dismissed = client.post(f"/api/v1/findings/{fid}/dismiss", json={"text": "a real visit"},
                            headers={**auditor, "If-Match": pushed.headers["ETag"]})
    assert dismissed.status_code == 200 and dismissed.get_json()["status"] == "dismissed"
    with session_scope(engine) as s:
        assert s.get(Finding, fid).status.value == "dismissed"
    spec = client.get("/api/v1/openapi.json").get_json()
    push = spec["paths"]["/api/v1/findings/{finding_id}/push"]["post"]
    assert {"412", "428", "429"} <= set(push["responses"]) and any(p["name"] == "If-Match" for p in push["parameters"])
    assert "304" in spec["paths"]["/api/v1/findings/{finding_id}"]["get"]["responses"]
