"""A county's answer with files through the API (POST /api/v1/findings/{id}/answer-with-files):
checked and kept as the console keeps them, listed on the finding's steps, downloaded within
the county's scope (another county's: 404), one refused file refusing the whole answer."""
from __future__ import annotations

import io

import sqlalchemy as sa

from ncms.db import session_scope
from ncms.models import Finding, FindingAttachment, FindingStatus

from .test_api import _error, api  # noqa: F401  (the fixture: findings of two counties)
from .webauth import COUNTY, OTHER_COUNTY

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CSV = "村卫生室,金额\n清水村,12.50\n".encode()


def _pushed(client, headers, fid: int) -> int:  # type: ignore[no-untyped-def]
    version = client.get(f"/api/v1/findings/{fid}", headers=headers["auditor"]).get_json()["version"]
    pushed = client.post(f"/api/v1/findings/{fid}/push", json={"version": version}, headers=headers["auditor"])
    assert pushed.status_code == 200, pushed.get_json()
    return pushed.get_json()["version"]


def _answer(client, headers, fid: int, version: int, files):  # type: ignore[no-untyped-def]
    data = {"version": str(version), "kind": "explanation", "text": "the discharge note attached",
            "files": [(io.BytesIO(content), name) for name, content in files]}
    return client.post(f"/api/v1/findings/{fid}/answer-with-files", data=data, headers=headers["officer"],
                       content_type="multipart/form-data")


def test_an_answer_with_files_is_kept_listed_and_downloaded_in_scope(api) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client, engine, headers, ids, _ = api
    fid = ids[COUNTY][0]
    version = _pushed(client, headers, fid)
    answered = _answer(client, headers, fid, version, [("说明.pdf", PDF), ("清单.csv", CSV)])
    assert answered.status_code == 200, answered.get_json()
    detail = answered.get_json()
    assert detail["status"] == "county_responded"
    [event] = [e for e in detail["events"] if e["kind"] == "county_response"]
    files = {a["file_name"]: a for a in event["attachments"]}
    assert set(files) == {"说明.pdf", "清单.csv"} and files["说明.pdf"]["media_type"] == "application/pdf"
    assert files["清单.csv"]["size"] == len(CSV)
    for who in ("officer", "auditor"):  # the county's officer and the province read it back
        got = client.get(f"/api/v1/findings/attachments/{files['说明.pdf']['id']}", headers=headers[who])
        assert got.status_code == 200 and got.get_data() == PDF and got.mimetype == "application/pdf"
        assert got.headers["Content-Disposition"].startswith("attachment;")
    again = client.get(f"/api/v1/findings/attachments/{files['说明.pdf']['id']}",
                       headers={**headers["officer"], "If-None-Match": got.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    _error(client.get(f"/api/v1/findings/attachments/{files['说明.pdf']['id']}", headers=headers["ministry"]), 403)
    # the finding's detail lists them too, for whoever reads it later
    read = client.get(f"/api/v1/findings/{fid}", headers=headers["auditor"]).get_json()
    assert [a["file_name"] for e in read["events"] for a in e["attachments"]] == [a["file_name"] for a in
                                                                                 event["attachments"]]
    with session_scope(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(FindingAttachment)
                        .where(FindingAttachment.finding_id == fid)) == 2


def test_another_countys_attachment_is_not_found(api) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from ncms.models import User

    client, engine, headers, ids, _ = api
    fid = ids[OTHER_COUNTY][0]
    version = _pushed(client, headers, fid)
    with session_scope(engine) as s:  # the other county's officer: the same account, moved there for a moment
        officer = s.scalar(sa.select(User).where(User.username == "officer"))
        officer.county_code = OTHER_COUNTY
    answered = _answer(client, headers, fid, version, [("说明.pdf", PDF)])
    assert answered.status_code == 200, answered.get_json()
    with session_scope(engine) as s:
        s.scalar(sa.select(User).where(User.username == "officer")).county_code = COUNTY
        attachment_id = s.scalar(sa.select(FindingAttachment.id).where(FindingAttachment.finding_id == fid))
    _error(client.get(f"/api/v1/findings/attachments/{attachment_id}", headers=headers["officer"]), 404)
    assert client.get(f"/api/v1/findings/attachments/{attachment_id}", headers=headers["auditor"]).status_code == 200
    _error(client.get("/api/v1/findings/attachments/999999", headers=headers["auditor"]), 404)


def test_one_refused_file_refuses_the_answer(api) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client, engine, headers, ids, _ = api
    fid = ids[COUNTY][1]
    version = _pushed(client, headers, fid)
    body = _error(_answer(client, headers, fid, version, [("说明.pdf", PDF), ("invoice.pdf", b"MZ\x90\x00exe")]), 422)
    assert "invoice.pdf" in body["message"]
    body = _error(_answer(client, headers, fid, version, [(f"p{n}.pdf", PDF) for n in range(11)]), 422)
    assert "11" in body["message"]
    _error(client.post(f"/api/v1/findings/{fid}/answer-with-files", data={"version": str(version)},
                       headers=headers["officer"], content_type="multipart/form-data"), 422)
    _error(_answer(client, {**headers, "officer": headers["auditor"]}, fid, version, [("a.pdf", PDF)]), 403)
    with session_scope(engine) as s:
        assert s.get(Finding, fid).status is FindingStatus.SENT_TO_COUNTY
        assert s.scalar(sa.select(sa.func.count()).select_from(FindingAttachment)
                        .where(FindingAttachment.finding_id == fid)) == 0
