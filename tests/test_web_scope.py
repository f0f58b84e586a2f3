"""Authorisation in one place: every route walked by every role and anonymously; a county
officer's 404 for another county's codes and ids; the ministry's 403 on personal data; masked
identities unless the role and the page need them, and an audit line for each unmasked one;
the security headers on every response."""
from __future__ import annotations

from dataclasses import replace

import pytest
from flask import Blueprint, abort, request
from sqlalchemy import func, select

from ncms.db import session_scope
from ncms.ids import national_id_check_character
from ncms.models import AuditLog, Institution
from ncms.web.database import get_session
from ncms.web.masking import identity, mask_name
from ncms.web.scope import county_or_404, personal_data, policy_of, scoped, scoped_get_or_404, signed_in
from ncms.web.security import CONTENT_SECURITY_POLICY

from .webauth import ACCOUNTS, COUNTY, OTHER_COUNTY, add_accounts, sign_in

BODY = "52012219800101123"
NATIONAL_ID = BODY + national_id_check_character(BODY)


def probes() -> Blueprint:
    """Pages as a page builder writes them, each through the scope helpers."""
    bp = Blueprint("probe", __name__)

    @bp.get("/probe/county/<code>")
    @signed_in
    def county(code):  # type: ignore[no-untyped-def]
        return county_or_404(code).name

    @bp.get("/probe/institution/<int:ident>")
    @signed_in
    def institution(ident):  # type: ignore[no-untyped-def]
        return scoped_get_or_404(Institution, ident, Institution.area_code).code

    @bp.get("/probe/institutions")
    @signed_in
    def institutions():  # type: ignore[no-untyped-def]
        return str(get_session().scalar(scoped(select(func.count(Institution.id)), Institution.area_code)))

    @bp.get("/probe/person/<code>")
    @personal_data
    def person(code):  # type: ignore[no-untyped-def]
        county_or_404(code)
        shown = identity(f"member:{code}/M1", code, NATIONAL_ID, "张三丰", reveal=request.args.get("reveal") == "1")
        return f"{shown.national_id} {shown.name}"

    @bp.get("/probe/unsaid")
    def unsaid():  # type: ignore[no-untyped-def]
        return "a view that forgot to say who may open it"

    @bp.get("/probe/broken")
    @signed_in
    def broken():  # type: ignore[no-untyped-def]
        abort(500)

    return bp


@pytest.fixture
def app(settings, loaded_engine):  # type: ignore[no-untyped-def]
    from ncms.web import create_app

    add_accounts(loaded_engine)
    app = create_app(replace(settings, secret_key="test"), {"TESTING": True})
    app.register_blueprint(probes())
    return app


@pytest.fixture
def browsers(app):  # type: ignore[no-untyped-def]
    """A signed-in test client per role, and an anonymous one (None)."""
    clients = {None: app.test_client()}
    for name in ACCOUNTS:
        clients[name] = app.test_client()
        assert sign_in(clients[name], name).status_code == 302
    return clients


def institution_of(engine, county):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return s.scalar(select(Institution.id).where(Institution.area_code == county).limit(1))


def sample_url(app, rule) -> str:  # type: ignore[no-untyped-def]
    values = {arg: 1 if type(rule._converters[arg]).__name__ == "IntegerConverter" else OTHER_COUNTY
              for arg in rule.arguments}
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def test_every_route_says_who_may_open_it(settings, loaded_engine):
    from ncms.web import create_app

    app = create_app(replace(settings, secret_key="test"))
    unsaid = [rule.endpoint for rule in app.url_map.iter_rules()
              if not rule.endpoint.endswith("static") and policy_of(app.view_functions[rule.endpoint]) is None]
    assert unsaid == []


def test_anonymous_reaches_only_sign_in_health_and_static_files(app, browsers):
    anonymous = browsers[None]
    open_to_all = {"auth.sign_in", "health.healthz", "static"}
    walked = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            continue  # bearer tokens, not sessions: tests/test_api.py
        url = sample_url(app, rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method != "GET":
                continue  # POST without a token: refused by CSRF first (test_web_auth)
            response = anonymous.open(url, method=method)
            walked.add(rule.endpoint)
            if rule.endpoint in open_to_all:
                assert response.status_code in (200, 404, 503), (rule.endpoint, response.status_code)
            else:
                assert response.status_code == 302, (rule.endpoint, response.status_code)
                assert response.headers["Location"].startswith("/sign-in?next="), rule.endpoint
    assert {"province.index", "probe.county", "probe.person"} <= walked
    assert anonymous.get("/static/ncms.css").status_code == 200
    assert anonymous.get("/static/vendor/echarts.min.js").status_code == 200


def test_a_view_that_says_nothing_is_refused_to_everyone(browsers):
    for name in ACCOUNTS:
        assert browsers[name].get("/probe/unsaid").status_code == 403


def test_a_county_officer_sees_their_county_and_nothing_else(browsers, loaded_engine):
    officer, auditor = browsers["officer"], browsers["auditor"]
    assert officer.get(f"/probe/county/{COUNTY}").status_code == 200
    for code in (OTHER_COUNTY, "520000", "999999", "52012'"):
        assert officer.get(f"/probe/county/{code}").status_code == 404, code
    assert auditor.get(f"/probe/county/{OTHER_COUNTY}").status_code == 200
    own, other = institution_of(loaded_engine, COUNTY), institution_of(loaded_engine, OTHER_COUNTY)
    assert officer.get(f"/probe/institution/{own}").status_code == 200
    assert officer.get(f"/probe/institution/{other}").status_code == 404
    assert officer.get("/probe/institution/99999999").status_code == 404  # same answer as another county's
    assert auditor.get(f"/probe/institution/{other}").status_code == 200
    with session_scope(loaded_engine) as s:
        own_count = s.scalar(select(func.count()).where(Institution.area_code == COUNTY))
        every = s.scalar(select(func.count(Institution.id)))
    assert int(officer.get("/probe/institutions").get_data(as_text=True)) == own_count < every
    assert int(auditor.get("/probe/institutions").get_data(as_text=True)) == every


def test_the_province_page_sends_a_county_officer_to_their_county_only(browsers):
    assert browsers["officer"].get("/").headers["Location"] == f"/county/{COUNTY}"
    assert browsers["officer"].get(f"/?county={OTHER_COUNTY}").status_code == 404
    assert browsers["ministry"].get("/").get_data(as_text=True).count("data-county=") == 6


def test_the_ministry_viewer_never_opens_personal_data(browsers):
    assert browsers["ministry"].get(f"/probe/person/{COUNTY}").status_code == 403
    assert browsers["ministry"].get(f"/probe/person/{COUNTY}?reveal=1").status_code == 403
    assert browsers["ministry"].get("/").status_code == 200  # province statistics


def test_identities_are_masked_unless_the_page_reveals_them_and_each_reveal_is_audited(browsers, loaded_engine):
    masked = browsers["auditor"].get(f"/probe/person/{COUNTY}").get_data(as_text=True)
    assert masked == f"{NATIONAL_ID[:6]}********{NATIONAL_ID[14:]} 张**"
    revealed = browsers["auditor"].get(f"/probe/person/{COUNTY}?reveal=1").get_data(as_text=True)
    assert revealed == f"{NATIONAL_ID} 张三丰"
    assert browsers["officer"].get(f"/probe/person/{COUNTY}?reveal=1").get_data(as_text=True) == revealed
    assert browsers["officer"].get(f"/probe/person/{OTHER_COUNTY}?reveal=1").status_code == 404
    with session_scope(loaded_engine) as s:
        rows = s.execute(select(AuditLog.actor, AuditLog.target, AuditLog.detail)
                         .where(AuditLog.action == "personal.view").order_by(AuditLog.id)).all()
    assert [(actor, target) for actor, target, _ in rows] == [("auditor", f"member:{COUNTY}/M1"),
                                                              ("officer", f"member:{COUNTY}/M1")]
    assert rows[0][2] == {"county": COUNTY, "fields": ["national_id", "name"],
                          "page": f"/probe/person/{COUNTY}"}


@pytest.mark.parametrize("name, shown", [("张三", "张*"), ("欧阳娜娜", "欧***"), ("李", "李*"),
                                         ("Li Wei", "L* W**"), ("", ""), (None, "")])
def test_names_keep_their_first_character(name, shown):
    assert mask_name(name) == shown


def test_security_headers_on_every_response(settings, loaded_engine, browsers):
    from ncms.web import create_app

    responses = {
        "sign-in": browsers[None].get("/sign-in"),
        "health": browsers[None].get("/healthz"),
        "static": browsers[None].get("/static/ncms.css"),
        "redirect": browsers[None].get("/"),
        "page": browsers["auditor"].get("/"),
        "404": browsers["auditor"].get("/no/such/page"),
        "403": browsers["ministry"].get(f"/probe/person/{COUNTY}"),
        "405": browsers["auditor"].get("/sign-out"),
    }
    served = create_app(replace(settings, secret_key="test"))  # not TESTING: a 500 is a page
    served.register_blueprint(probes())
    broken = served.test_client()
    sign_in(broken, "auditor")
    responses["500"] = broken.get("/probe/broken")
    assert responses["500"].status_code == 500
    for what, response in responses.items():
        headers = response.headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, what
        assert headers["X-Frame-Options"] == "DENY", what
        assert headers["X-Content-Type-Options"] == "nosniff", what
        assert headers["Referrer-Policy"] == "same-origin", what
        assert ("no-store" in headers.get("Cache-Control", "")) == (what != "static"), what
    for part in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'",
                 "base-uri 'self'", "form-action 'self'"):
        assert part in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY


def test_no_page_needs_inline_script_or_style(browsers):
    import re

    for name, url in (("auditor", "/"), (None, "/sign-in"), ("auditor", "/no/such/page")):
        html = browsers[name].get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), url
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", html), url


def test_error_pages_speak_the_users_language(browsers):
    auditor = browsers["auditor"]
    assert "未找到" in auditor.get("/no/such/page").get_data(as_text=True)
    english = auditor.get("/no/such/page?lang=en")
    assert english.status_code == 404 and "Not found" in english.get_data(as_text=True)
    forbidden = browsers["ministry"].get(f"/probe/person/{COUNTY}?lang=en")
    assert forbidden.status_code == 403 and "Your role does not allow this page." in forbidden.get_data(as_text=True)
