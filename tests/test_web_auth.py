"""Signing in and out: Argon2 hashes, throttling per account and address kept in the database,
sessions that expire, CSRF on every form, and the audit lines of each."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from ncms.db import session_scope
from ncms.models import AuditLog, SignInAttempt, User
from ncms.web.auth import sessions

from .webauth import PASSWORD, add_accounts, csrf_token, sign_in


@pytest.fixture
def accounts(loaded_engine):  # type: ignore[no-untyped-def]
    add_accounts(loaded_engine)
    return loaded_engine


@pytest.fixture
def make_app(settings, accounts):  # type: ignore[no-untyped-def]
    from ncms.web import create_app

    def make(**changes):  # type: ignore[no-untyped-def]
        return create_app(replace(settings, secret_key="test", **changes), {"TESTING": True})

    return make


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    """The web's clock, moved by hand: ``clock.advance(seconds)``."""
    class Clock:
        def __init__(self) -> None:
            self.at = sessions.now()

        def advance(self, seconds: float) -> None:
            self.at += timedelta(seconds=seconds)

    moved = Clock()
    monkeypatch.setattr(sessions, "now", lambda: moved.at)
    return moved


def audit_actions(engine, actor=None):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        query = select(AuditLog.action).order_by(AuditLog.id)
        if actor:
            query = query.where(AuditLog.actor == actor)
        return list(s.scalars(query))


def user(engine, name):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return s.scalar(select(User).where(User.username == name))


def test_sign_in_lands_on_the_start_page_and_is_audited(make_app, accounts):
    client = make_app().test_client()
    response = sign_in(client, "auditor")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    html = client.get("/").get_data(as_text=True)
    assert 'data-role="auditor"' in html and "省级审计员" in html
    assert audit_actions(accounts, "auditor") == ["sign_in"]
    assert user(accounts, "auditor").last_login_at is not None


@pytest.mark.parametrize("name, password", [("auditor", "wrong password!"), ("nobody", PASSWORD)])
def test_a_wrong_password_or_unknown_name_is_refused_alike(make_app, accounts, name, password):
    client = make_app().test_client()
    response = sign_in(client, name, password)
    assert response.status_code == 401
    assert "用户名或密码不正确" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still anonymous
    assert audit_actions(accounts, name) == ["sign_in.failed"]


def test_passwords_are_stored_as_argon2id(make_app, accounts):
    from ncms.accounts import create_user
    from ncms.models import Role

    with session_scope(accounts) as s:
        create_user(s, "li", Role.AUDITOR, "another good password")
    stored = user(accounts, "li").password_hash
    assert stored.startswith("$argon2id$") and "another good password" not in stored
    assert sign_in(make_app().test_client(), "li", "another good password").status_code == 302


def test_an_older_werkzeug_hash_still_signs_in_and_is_rehashed(make_app, accounts):
    with session_scope(accounts) as s:
        s.scalar(select(User).where(User.username == "auditor")).password_hash = generate_password_hash(PASSWORD)
    assert not user(accounts, "auditor").password_hash.startswith("$argon2")
    assert sign_in(make_app().test_client(), "auditor").status_code == 302
    assert user(accounts, "auditor").password_hash.startswith("$argon2id$")
    with session_scope(accounts) as s:
        assert s.scalar(select(AuditLog.detail).where(AuditLog.action == "sign_in")) == {"rehashed": True}


def test_an_account_is_locked_after_failures_then_freed(make_app, accounts, clock):
    app = make_app(sign_in_failures=3, sign_in_window=600, sign_in_lockout=300)
    client = app.test_client()
    for _ in range(2):
        assert sign_in(client, "auditor", "wrong password!").status_code == 401
    assert sign_in(client, "auditor", "wrong password!").status_code == 429  # the third locks
    refused = sign_in(client, "auditor")  # the right password, but locked
    assert refused.status_code == 429 and "登录失败次数过多" in refused.get_data(as_text=True)
    assert sign_in(app.test_client(), "admin").status_code == 302  # another account, same address
    clock.advance(299)
    assert sign_in(client, "auditor").status_code == 429  # refusals do not extend the lock
    clock.advance(2)
    assert sign_in(client, "auditor").status_code == 302
    assert audit_actions(accounts, "auditor") == ["sign_in.failed"] * 3 + [
        "sign_in.locked_out", "sign_in.refused", "sign_in.refused", "sign_in"]


def test_failures_outside_the_window_do_not_lock(make_app, accounts, clock):
    client = make_app(sign_in_failures=3, sign_in_window=600).test_client()
    for _ in range(2):
        sign_in(client, "auditor", "wrong password!")
    clock.advance(601)
    sign_in(client, "auditor", "wrong password!")
    assert sign_in(client, "auditor").status_code == 302


def test_an_address_is_locked_whatever_names_it_tries(make_app, accounts):
    app = make_app(sign_in_failures=10, sign_in_address_failures=4)
    here, there = {"REMOTE_ADDR": "10.0.0.7"}, {"REMOTE_ADDR": "10.0.0.8"}
    for name in ("a1", "a2", "a3"):
        assert sign_in(app.test_client(), name, "guess guess", **here).status_code == 401
    assert sign_in(app.test_client(), "a4", "guess guess", **here).status_code == 429
    assert sign_in(app.test_client(), "auditor", **here).status_code == 429
    assert sign_in(app.test_client(), "auditor", **there).status_code == 302
    with session_scope(accounts) as s:
        assert s.scalar(select(AuditLog.remote_addr).where(AuditLog.action == "sign_in.locked_out")) == "10.0.0.7"


def test_several_server_processes_count_the_same_failures(make_app, accounts):
    """Two apps on one database, as two ``ncms serve`` processes behind a balancer."""
    first, second = make_app(sign_in_failures=2), make_app(sign_in_failures=2)
    sign_in(first.test_client(), "auditor", "wrong password!")
    sign_in(second.test_client(), "auditor", "wrong password!")
    assert sign_in(first.test_client(), "auditor").status_code == 429
    with session_scope(accounts) as s:
        assert len(s.scalars(select(SignInAttempt)).all()) == 3


def test_a_session_ends_when_idle(make_app, accounts, clock):
    client = make_app(session_idle=600).test_client()
    sign_in(client, "auditor")
    clock.advance(599)
    assert client.get("/").status_code == 200
    clock.advance(599)  # idle counts from the last request
    assert client.get("/").status_code == 200
    clock.advance(601)
    response = client.get("/?period=2011")
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in?next=")
    assert "会话已过期" in client.get("/sign-in").get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert audit_actions(accounts, "auditor")[-1] == "session.expired"


def test_a_session_ends_after_its_lifetime_however_busy(make_app, accounts, clock):
    client = make_app(session_idle=600, session_lifetime=1800).test_client()
    sign_in(client, "auditor")
    for _ in range(3):
        clock.advance(590)
        assert client.get("/").status_code == 200
    clock.advance(60)  # 1,830 s after signing in
    assert client.get("/").status_code == 302


def test_a_json_client_is_told_401_instead_of_redirected(make_app, accounts):
    response = make_app().test_client().get("/", headers={"Accept": "application/json"})
    assert response.status_code == 401 and response.get_json()["error"]


def test_sign_out_is_a_post_with_its_token(make_app, accounts):
    client = make_app().test_client()
    sign_in(client, "auditor")
    assert client.get("/sign-out").status_code == 405
    assert client.post("/sign-out").status_code == 400  # no CSRF token
    assert client.get("/").status_code == 200  # still signed in
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in"
    assert client.get("/").status_code == 302
    assert audit_actions(accounts, "auditor") == ["sign_in", "sign_out"]


def test_sign_in_without_a_token_is_refused(make_app, accounts):
    client = make_app().test_client()
    response = client.post("/sign-in", data={"username": "auditor", "password": PASSWORD})
    assert response.status_code == 400 and "重新加载" in response.get_data(as_text=True)
    assert audit_actions(accounts, "auditor") == []


def test_a_token_of_another_session_is_refused(make_app, accounts):
    app = make_app()
    token = csrf_token(app.test_client().get("/sign-in").get_data(as_text=True))
    response = app.test_client().post("/sign-in", data={"username": "auditor", "password": PASSWORD,
                                                        "csrf_token": token})
    assert response.status_code == 400


def test_signing_in_renews_the_session_but_keeps_the_language(make_app, accounts):
    client = make_app().test_client()
    client.get("/sign-in?lang=en")
    before = csrf_token(client.get("/sign-in").get_data(as_text=True))
    sign_in(client, "auditor")
    html = client.get("/").get_data(as_text=True)
    assert 'lang="en"' in html and "Provincial auditor" in html
    assert csrf_token(html) != before


@pytest.mark.parametrize("target, lands", [("/?lang=en", "/?lang=en"), ("//evil.example/x", "/"),
                                           ("https://evil.example/", "/"), ("/\\evil.example", "/")])
def test_sign_in_returns_only_to_a_page_of_this_site(make_app, accounts, target, lands):
    client = make_app().test_client()
    page = client.get("/sign-in", query_string={"next": target}).get_data(as_text=True)
    response = client.post("/sign-in", data={"username": "auditor", "password": PASSWORD,
                                             "next": target, "csrf_token": csrf_token(page)})
    assert response.headers["Location"] == lands


def test_a_disabled_account_cannot_sign_in_and_its_session_ends(make_app, accounts):
    client = make_app().test_client()
    sign_in(client, "auditor")
    with session_scope(accounts) as s:
        s.scalar(select(User).where(User.username == "auditor")).active = False
    assert client.get("/").status_code == 302
    assert sign_in(make_app().test_client(), "auditor").status_code == 401
