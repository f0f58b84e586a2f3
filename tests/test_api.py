"""The REST API (/api/v1, docs/api.md): tokens (expired, revoked, wrong: 401; a read token
writing: 403), the console's county scoping (another county's row is 404, by list and by id),
cursor pages stable while findings arrive, the review steps with optimistic locking (409), one
error body, the audit log of writes, and the CLI that makes and revokes tokens."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ncms import tokens
from ncms.db import session_scope
from ncms.models import ApiToken, AuditLog, Claim, ClaimKind, Finding, FindingStatus, Institution, Severity, User

from .webauth import COUNTY, OTHER_COUNTY, add_accounts

NOW = datetime.now(timezone.utc).replace(microsecond=0)
ERROR_KEYS = {"status", "code", "message", "errors"}


def _token(engine, username: str, scope: str = "write", days: int = 30) -> str:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        user = s.scalar(sa.select(User).where(User.username == username))
        return tokens.create(s, user, f"{username} test", scope, days, "test").secret


@pytest.fixture
def api(settings, loaded_engine):  # type: ignore[no-untyped-def]
    """(client, engine, {name: bearer headers}, {county: [finding ids]}, {county: claim id})."""
    from dataclasses import replace

    from ncms.web import create_app

    add_accounts(loaded_engine)
    ids: dict[str, list[int]] = {COUNTY: [], OTHER_COUNTY: []}
    claims: dict[str, int] = {}
    with session_scope(loaded_engine) as s:
        for n in range(30):
            county = OTHER_COUNTY if n % 3 == 0 else COUNTY
            f = Finding(rule_code="duplicate_claim", rule_version="1", subject_key=f"claim:{county}:A{n:03d}",
                        county_code=county, severity=Severity.VIOLATION if n % 2 else Severity.SUSPICIOUS,
                        amount_at_stake=Decimal(10 * (n % 7 + 1)), first_seen_at=NOW - timedelta(days=n % 5),
                        last_seen_at=NOW, evidence={"n": n})
            s.add(f)
            s.flush()
            ids[county].append(f.id)
        for county in (COUNTY, OTHER_COUNTY):
            institution = s.scalar(sa.select(Institution.id).where(Institution.area_code == county).limit(1))
            claim = Claim(county_code=county, source_id=f"C-{county}", kind=ClaimKind.OUTPATIENT, member_no="M0001",
                          national_id="520121198001011234", institution_id=institution,
                          admission_date=date(2011, 3, 1), settlement_date=date(2011, 3, 2), diagnosis_code="J00",
                          total_amount=Decimal("100"), eligible_amount=Decimal("90"),
                          compensated_amount=Decimal("50"))
            s.add(claim)
            s.flush()
            claims[county] = claim.id
    headers = {name: {"Authorization": f"Bearer {_token(loaded_engine, name)}"}
               for name in ("admin", "auditor", "officer", "ministry")}
    headers["auditor_read"] = {"Authorization": f"Bearer {_token(loaded_engine, 'auditor', 'read')}"}
    # a limit no test reaches (schemathesis sends hundreds a token); tests/test_api_limits.py tries one
    app = create_app(replace(settings, secret_key="test"), {"TESTING": True, "NCMS_API_RATE_LIMIT": "100000/minute"})
    return app.test_client(), loaded_engine, headers, ids, claims


def _error(response, code: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == code, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == ERROR_KEYS and body["code"] == code and isinstance(body["errors"], dict)
    return body


def test_token_lifecycle(api) -> None:  # type: ignore[no-untyped-def]
    client, engine, headers, ids, _ = api
    assert client.get("/api/v1/findings", headers=headers["auditor"]).status_code == 200
    _error(client.get("/api/v1/findings"), 401)
    _error(client.get("/api/v1/findings", headers={"Authorization": "Bearer ncms_wrong"}), 401)
    _error(client.get("/api/v1/findings", headers={"Authorization": "Basic YWRtaW46eA=="}), 401)
    secret = headers["auditor"]["Authorization"].split()[1]
    with session_scope(engine) as s:  # expired
        token = s.scalar(sa.select(ApiToken).where(ApiToken.secret_hash == tokens.digest(secret)))
        token.expires_at = NOW - timedelta(seconds=1)
        assert token.last_used_at is not None  # noted at use
        assert secret not in {token.secret_hash, token.prefix} and len(token.prefix) == 12
    _error(client.get("/api/v1/findings", headers=headers["auditor"]), 401)
    admin_secret = headers["admin"]["Authorization"].split()[1]
    with session_scope(engine) as s:
        token_id = s.scalar(sa.select(ApiToken.id).where(ApiToken.secret_hash == tokens.digest(admin_secret)))
        tokens.revoke(s, token_id, "test")
    _error(client.get("/api/v1/findings", headers=headers["admin"]), 401)
    # a read token writes nothing: 403, and the finding is as it was
    finding = client.get(f"/api/v1/findings/{ids[COUNTY][0]}", headers=headers["auditor_read"]).get_json()
    body = _error(client.post(f"/api/v1/findings/{finding['id']}/comment", json={"text": "hello"},
                              headers=headers["auditor_read"]), 403)
    assert "scope" in body["message"]
    # the ministry reads no personal data: 403, as on the console
    _error(client.get("/api/v1/findings", headers=headers["ministry"]), 403)
    assert client.get("/api/v1/institutions", headers=headers["ministry"]).status_code == 200


def test_a_session_cookie_is_not_a_token(api) -> None:  # type: ignore[no-untyped-def]
    from .webauth import sign_in

    client, *_ = api
    assert sign_in(client, "admin").status_code == 302
    assert client.get("/findings/").status_code == 200  # the console is signed in …
    _error(client.get("/api/v1/findings"), 401)  # … the API is not
    token = {"Authorization": f"Bearer {_token(api[1], 'admin')}"}
    answer = client.get("/api/v1/findings?lang=en", headers=token)
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers  # nor renewed
    assert client.get("/findings/").status_code == 200


def test_county_scoping(api) -> None:  # type: ignore[no-untyped-def]
    client, _, headers, ids, claims = api
    officer = headers["officer"]
    seen = client.get("/api/v1/findings?limit=500", headers=officer).get_json()["items"]
    assert sorted(f["id"] for f in seen) == sorted(ids[COUNTY]) and {f["county_code"] for f in seen} == {COUNTY}
    everyone = client.get("/api/v1/findings?limit=500", headers=headers["auditor"]).get_json()["items"]
    assert len(everyone) == 30
    other = ids[OTHER_COUNTY][0]
    _error(client.get(f"/api/v1/findings/{other}", headers=officer), 404)
    _error(client.get(f"/api/v1/findings?county={OTHER_COUNTY}", headers=officer), 404)
    _error(client.post(f"/api/v1/findings/{other}/comment", json={"text": "mine?"}, headers=officer), 404)
    _error(client.get(f"/api/v1/claims/{claims[OTHER_COUNTY]}", headers=officer), 404)
    assert client.get(f"/api/v1/claims/{claims[COUNTY]}", headers=officer).status_code == 200
    listed = client.get("/api/v1/claims", headers=officer).get_json()["items"]
    assert [c["id"] for c in listed] == [claims[COUNTY]] and listed[0]["national_id"] != "520121198001011234"
    institutions = client.get("/api/v1/institutions?limit=500", headers=officer).get_json()["items"]
    assert institutions and {i["area_code"] for i in institutions} == {COUNTY}
    with_other = client.get("/api/v1/institutions?limit=500", headers=headers["auditor"]).get_json()["items"]
    code = next(i["code"] for i in with_other if i["area_code"] == OTHER_COUNTY)
    _error(client.get(f"/api/v1/institutions/{code}", headers=officer), 404)
    with session_scope(api[1]) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action.like("api.%"))) == 0


def test_cursor_pages_stay_stable_while_findings_arrive(api) -> None:  # type: ignore[no-untyped-def]
    client, engine, headers, ids, _ = api
    for sort in ("first_seen", "amount", "severity", "id"):
        url, seen = f"/api/v1/findings?sort={sort}&limit=7", []
        first = True
        while url:
            page = client.get(url, headers=headers["auditor"]).get_json()
            seen += [f["id"] for f in page["items"]]
            if first:  # findings arrive after the first page: first seen now, so at the head of the sort
                with session_scope(engine) as s:
                    for n in range(5):
                        s.add(Finding(rule_code="care_after_death", rule_version="1",
                                      subject_key=f"claim:{COUNTY}:{sort}{n}", county_code=COUNTY,
                                      severity=Severity.VIOLATION, amount_at_stake=Decimal(1000 + n),
                                      first_seen_at=NOW + timedelta(hours=1), last_seen_at=NOW))
                first = False
            url = page["next_cursor"] and f"/api/v1/findings?sort={sort}&limit=7&cursor={page['next_cursor']}"
        original = set(ids[COUNTY] + ids[OTHER_COUNTY])
        assert len(seen) == len(set(seen)), f"{sort}: a finding given twice"
        assert original <= set(seen), f"{sort}: a finding skipped"
    _error(client.get("/api/v1/findings?sort=amount&cursor=bm9wZQ", headers=headers["auditor"]), 400)
    body = _error(client.get("/api/v1/findings?limit=0&status=nope", headers=headers["auditor"]), 422)
    assert "limit" in body["errors"] and "status.0" in body["errors"]


def test_review_steps_with_versions(api) -> None:  # type: ignore[no-untyped-def]
    client, engine, headers, ids, _ = api
    fid = ids[COUNTY][0]
    finding = client.get(f"/api/v1/findings/{fid}", headers=headers["auditor"]).get_json()
    version = finding["version"]
    pushed = client.post(f"/api/v1/findings/{fid}/push", json={"version": version, "note": "please explain"},
                         headers=headers["auditor"])
    assert pushed.status_code == 200 and pushed.get_json()["status"] == "sent_to_county"
    _error(client.post(f"/api/v1/findings/{fid}/dismiss", json={"version": version, "text": "stale"},
                       headers=headers["auditor"]), 409)  # read before the push
    _error(client.post(f"/api/v1/findings/{fid}/push", json={"version": version + 1},
                       headers=headers["officer"]), 403)  # the province's step
    answered = client.post(f"/api/v1/findings/{fid}/answer",
                           json={"version": version + 1, "text": "a real visit", "kind": "explanation"},
                           headers=headers["officer"])
    assert answered.status_code == 200, answered.get_json()
    detail = answered.get_json()
    assert detail["status"] == "county_responded" and [e["kind"] for e in detail["events"]][-2:] == [
        "pushed", "county_response"]
    decided = client.post(f"/api/v1/findings/{fid}/decide",
                          json={"version": detail["version"], "amount": "12.50", "text": "not a real visit"},
                          headers=headers["auditor"])
    assert decided.status_code == 200 and decided.get_json()["amount_to_recover"] == "12.50"
    body = _error(client.post(f"/api/v1/findings/{fid}/answer",
                              json={"version": decided.get_json()["version"], "text": "x", "kind": "appeal"},
                              headers=headers["officer"]), 422)  # not pushed any more
    assert body["message"]
    _error(client.post(f"/api/v1/findings/{fid}/decide", json={"amount": "x"}, headers=headers["auditor"]), 422)
    with session_scope(engine) as s:
        lines = s.execute(sa.select(AuditLog.action, AuditLog.actor, AuditLog.detail)
                          .where(AuditLog.action.like("api.%")).order_by(AuditLog.id)).all()
        assert [(a, who) for a, who, _ in lines] == [("api.push", "auditor"), ("api.answer", "officer"),
                                                      ("api.determine", "auditor")]
        assert all(d["token"].startswith("ncms_") for *_, d in lines)
        assert s.get(Finding, fid).status is FindingStatus.CONFIRMED


def test_tokens_cli(cli, loaded_engine) -> None:  # type: ignore[no-untyped-def]
    add_accounts(loaded_engine)
    made = cli("tokens", "create", "officer", "--scope", "read", "--expires-days", "10", "--name", "county HIS")
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    assert secret.startswith("ncms_") and len(secret) > 40
    listed = cli("tokens", "list").output
    assert "officer" in listed and "read" in listed and "active" in listed and secret not in listed
    with session_scope(loaded_engine) as s:
        token = s.scalar(sa.select(ApiToken))
        assert token.secret_hash == tokens.digest(secret) and token.created_by == "cli"
        token_id = token.id
    assert cli("tokens", "revoke", str(token_id)).exit_code == 0
    assert "revoked" in cli("tokens", "list").output
    assert cli("tokens", "create", "nobody", "--name", "x").exit_code != 0


def test_indicators_and_reports_by_scope(api) -> None:  # type: ignore[no-untyped-def]
    from ncms.models import ReportRun, ReportStatus

    client, engine, headers, *_ = api
    province = client.get("/api/v1/indicators?period=2011-Q1", headers=headers["ministry"]).get_json()
    assert province["period"] == "2011-Q1" and len(province["counties"]) > 2 and province["total"]["county"] == "total"
    own = client.get("/api/v1/indicators?period=2011-Q1", headers=headers["officer"]).get_json()
    assert [row["county"] for row in own["counties"]] == [COUNTY]
    _error(client.get(f"/api/v1/indicators?period=2011&county={OTHER_COUNTY}", headers=headers["officer"]), 404)
    assert "period" in _error(client.get("/api/v1/indicators?period=2011-Q5", headers=headers["auditor"]), 422)["errors"]
    with session_scope(engine) as s:
        runs = {}
        for county in (COUNTY, OTHER_COUNTY):
            run = ReportRun(kind="monthly", period_start=date(2011, 1, 1), period_end=date(2011, 1, 31),
                            county_code=county, scope=county, status=ReportStatus.DONE)
            s.add(run)
            s.flush()
            runs[county] = run.id
    listed = client.get("/api/v1/reports", headers=headers["officer"]).get_json()["items"]
    assert [r["id"] for r in listed] == [runs[COUNTY]]
    assert len(client.get("/api/v1/reports", headers=headers["auditor"]).get_json()["items"]) == 2
    _error(client.get(f"/api/v1/reports/{runs[OTHER_COUNTY]}", headers=headers["officer"]), 404)
    _error(client.get(f"/api/v1/reports/{runs[COUNTY]}/files/report.pdf", headers=headers["officer"]), 404)


def test_a_request_over_the_limit_is_413_before_any_read(api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import ncms.web.api as api_module

    client, _, headers, ids, _ = api
    monkeypatch.setattr(api_module, "MAX_REQUEST", 1024)
    body = _error(client.post(f"/api/v1/findings/{ids[COUNTY][0]}/comment", json={"text": "x" * 2000},
                              headers=headers["auditor"]), 413)
    assert "larger" in body["message"]
    assert client.post(f"/api/v1/findings/{ids[COUNTY][0]}/comment", json={"text": "x" * 100},
                       headers=headers["auditor"]).status_code == 200


def test_the_documentation_page_runs_no_inline_script(api) -> None:  # type: ignore[no-untyped-def]
    import re

    client, *_ = api
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    for asset in ("/static/vendor/swagger-ui-bundle.js", "/static/vendor/swagger-ui.css", "/static/api-docs.js"):
        assert client.get(asset).status_code == 200, asset
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert {"/api/v1/findings", "/api/v1/batches", "/api/v1/indicators", "/api/v1/reports"} <= set(spec["paths"])


def test_a_countys_claims_page_newest_first_through_the_cursor(api) -> None:  # type: ignore[no-untyped-def]
    """The one-county list (the officer's, or ?county= of an auditor's) is ordered by county
    and id for its index (migration 0021): the pages must still be the county's claims only,
    newest first, each once, and the province-wide list every claim."""
    client, engine, headers, _, claims = api
    added: dict[str, list[int]] = {COUNTY: [claims[COUNTY]], OTHER_COUNTY: [claims[OTHER_COUNTY]]}
    with session_scope(engine) as s:
        for n in range(7):  # interleaved, as two counties' batches may be
            county = COUNTY if n % 2 else OTHER_COUNTY
            template = s.get(Claim, claims[county])
            claim = Claim(**{c: getattr(template, c) for c in ("county_code", "kind", "member_no", "national_id",
                                                                "institution_id", "admission_date", "settlement_date",
                                                                "diagnosis_code", "total_amount", "eligible_amount",
                                                                "compensated_amount")},
                          source_id=f"P-{county}-{n}")
            s.add(claim)
            s.flush()
            added[county].append(claim.id)

    def pages(url: str, who: dict[str, str]) -> list[int]:
        seen, cursor = [], None
        for _ in range(20):
            body = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=who).get_json()
            assert len(body["items"]) <= 2
            seen += [c["id"] for c in body["items"]]
            if not (cursor := body["next_cursor"]):
                return seen
        raise AssertionError("the cursor never ran out")

    mine = sorted(added[COUNTY], reverse=True)
    assert pages("/api/v1/claims?limit=2", headers["officer"]) == mine
    assert pages(f"/api/v1/claims?limit=2&county={COUNTY}", headers["auditor"]) == mine
    assert pages(f"/api/v1/claims?limit=2&county={OTHER_COUNTY}", headers["auditor"]) == \
        sorted(added[OTHER_COUNTY], reverse=True)
    assert pages("/api/v1/claims?limit=2", headers["auditor"]) == sorted(mine + added[OTHER_COUNTY], reverse=True)


def test_the_lists_rows_are_dumped_as_their_schemas_dump_them(api) -> None:  # type: ignore[no-untyped-def]
    """The findings and claims lists dump their rows with ``row_dumper`` (the fields' own
    conversions, without marshmallow's lookups): every row as ``schema.dump`` gives it, and the
    pages the same."""
    from ncms.web.api.reference import ClaimSchema
    from ncms.web.api.schemas import FindingSchema, row_dumper

    client, engine, headers, _, _ = api
    with session_scope(engine) as s:
        s.get(Finding, s.scalar(sa.select(Finding.id).limit(1))).due_on = date(2011, 5, 1)  # a date among them
    for model, schema in ((Finding, FindingSchema()), (Claim, ClaimSchema())):
        with session_scope(engine) as s:
            rows = s.scalars(sa.select(model).order_by(model.id.desc())).all()
            dumped = schema.dump(rows, many=True)
            assert rows and [row_dumper(schema)(row) for row in rows] == dumped
        listed = client.get(f"/api/v1/{model.__tablename__}s?limit=500", headers=headers["auditor"]).get_json()
        assert sorted(listed["items"], key=lambda row: row["id"]) == sorted(dumped, key=lambda row: row["id"])
        assert listed["next_cursor"] is None
