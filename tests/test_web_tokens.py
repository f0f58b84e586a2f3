"""The console's API tokens page (/tokens/) on SQLite and PostgreSQL: an administrator makes a
token for an account, its secret shown once (then only its prefix), and it works as a bearer
token of /api/v1 until revoked (then 401); making and revoking are audit lines as the CLI's
are (ncms.tokens), with the administrator as actor; every other role is refused (403), a POST
without the CSRF token too."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from ncms.db import session_scope
from ncms.models import ApiToken, AuditLog, TokenScope, User

from .webauth import add_accounts, csrf_token, sign_in


@pytest.fixture
def admin(app, loaded_engine):  # type: ignore[no-untyped-def]
    add_accounts(loaded_engine)
    client = app.test_client()
    assert sign_in(client, "admin").status_code == 302
    return client


def user_id(engine, username: str) -> int:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return s.scalar(sa.select(User.id).where(User.username == username))


def make(client, engine, username: str = "officer", scope: str = "read", days: str = "30",  # type: ignore[no-untyped-def]
         name: str = "Xifeng county HIS"):
    page = client.get("/tokens/").get_data(as_text=True)
    return client.post("/tokens/", data={"csrf_token": csrf_token(page), "user": str(user_id(engine, username)),
                                         "name": name, "scope": scope, "expires_days": days})


def secret_of(html: str) -> str:
    match = re.search(r'id="token-secret"[^>]*>(ncms_[A-Za-z0-9_-]+)<', html)
    assert match, "no secret on the page"
    return match.group(1)


def audit(engine, action: str) -> list[AuditLog]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return list(s.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_a_token_made_on_the_page_is_shown_once_and_works_until_revoked(app, admin, loaded_engine):
    made = make(admin, loaded_engine)
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    html = made.get_data(as_text=True)
    secret = secret_of(html)
    with session_scope(loaded_engine) as s:
        token = s.scalar(sa.select(ApiToken).order_by(ApiToken.id.desc()).limit(1))
        assert token.secret_hash != secret and secret not in token.secret_hash  # only its hash is kept
        assert (token.scope, token.name, token.created_by) == (TokenScope.READ, "Xifeng county HIS", "admin")
        assert token.user_id == user_id(loaded_engine, "officer")
        token_id, prefix = token.id, token.prefix
    assert secret.startswith(prefix) and f"{prefix}…" in html
    again = admin.get("/tokens/")
    listed = again.get_data(as_text=True)
    assert f'data-token="{token_id}" data-state="active"' in listed and f"{prefix}…" in listed
    assert secret not in listed and 'id="token-secret"' not in listed  # once: never on the page again

    row = admin.get("/tokens/?lang=en").get_data(as_text=True).split(f'data-token="{token_id}"')[1]
    assert "never" in row.split("</tr>")[0]  # not used yet
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/claims", headers=bearer).status_code == 200  # as the county officer: personal data
    assert api.get("/api/v1/findings", headers=bearer).status_code == 200
    with session_scope(loaded_engine) as s:
        assert s.get(ApiToken, token_id).last_used_at is not None  # the list's "last used"
    row = admin.get("/tokens/?lang=en").get_data(as_text=True).split(f'data-token="{token_id}"')[1]
    assert "never" not in row.split("</tr>")[0]

    [created] = audit(loaded_engine, "token.create")
    assert (created.actor, created.target) == ("admin", f"token:{token_id}")
    assert created.user_id == user_id(loaded_engine, "admin") and created.remote_addr == "127.0.0.1"
    assert created.detail["user"] == "officer" and created.detail["prefix"] == prefix
    assert created.detail["scope"] == "read" and secret not in str(created.detail)

    page = admin.get("/tokens/").get_data(as_text=True)
    revoked = admin.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(page)})
    assert revoked.status_code == 303 and revoked.headers["Location"].endswith("/tokens/")
    assert api.get("/api/v1/claims", headers=bearer).status_code == 401
    assert f'data-token="{token_id}" data-state="revoked"' in admin.get("/tokens/").get_data(as_text=True)
    [line] = audit(loaded_engine, "token.revoke")
    assert (line.actor, line.target, line.detail) == ("admin", f"token:{token_id}", {"prefix": prefix})
    assert line.user_id == user_id(loaded_engine, "admin") and line.remote_addr == "127.0.0.1"
    admin.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(page)})  # again: nothing more
    assert len(audit(loaded_engine, "token.revoke")) == 1


def test_a_write_token_and_its_expiry_as_asked(admin, loaded_engine):
    secret = secret_of(make(admin, loaded_engine, "auditor", "write", "7").get_data(as_text=True))
    with session_scope(loaded_engine) as s:
        token = s.scalar(sa.select(ApiToken).where(ApiToken.prefix == secret[:12]))
        assert token.scope == TokenScope.WRITE
        assert round((token.expires_at - token.created_at).total_seconds() / 86400) == 7


@pytest.mark.parametrize("change", [{"days": "0"}, {"days": "731"}, {"days": "many"}, {"name": ""},
                                    {"name": "x" * 129}, {"scope": "admin"}])
def test_a_form_out_of_bounds_makes_no_token(admin, loaded_engine, change):
    response = make(admin, loaded_engine, **change)
    assert response.status_code == 400
    assert 'id="token-secret"' not in response.get_data(as_text=True)
    with session_scope(loaded_engine) as s:
        assert s.scalar(sa.select(sa.func.count(ApiToken.id))) == 0
    assert audit(loaded_engine, "token.create") == []


def test_a_disabled_account_gets_no_token(admin, loaded_engine):
    page = admin.get("/tokens/").get_data(as_text=True)
    officer = user_id(loaded_engine, "officer")
    assert f'value="{officer}"' in page
    with session_scope(loaded_engine) as s:
        s.get(User, officer).active = False
    response = admin.post("/tokens/", data={"csrf_token": csrf_token(page), "user": str(officer), "name": "HIS",
                                            "scope": "read", "expires_days": "30"})
    assert response.status_code == 400 and 'id="token-secret"' not in response.get_data(as_text=True)
    with session_scope(loaded_engine) as s:
        assert s.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_only_an_administrator_opens_the_page_or_makes_and_revokes_tokens(app, admin, loaded_engine):
    secret = secret_of(make(admin, loaded_engine).get_data(as_text=True))
    with session_scope(loaded_engine) as s:
        token_id = s.scalar(sa.select(ApiToken.id))
    page = admin.get("/tokens/").get_data(as_text=True)
    assert 'href="/tokens/"' in page  # in the administrator's menu
    for name in ("auditor", "officer", "ministry"):
        client = app.test_client()
        assert sign_in(client, name).status_code == 302
        assert client.get("/tokens/").status_code == 403
        assert 'href="/tokens/"' not in client.get("/data/").get_data(as_text=True)
        token = csrf_token(client.get("/data/").get_data(as_text=True))
        assert client.post(f"/tokens/{token_id}/revoke", data={"csrf_token": token}).status_code == 403
        assert client.post("/tokens/", data={"csrf_token": token, "user": "1", "name": "x", "scope": "write",
                                             "expires_days": "30"}).status_code == 403
    anonymous = app.test_client()
    assert anonymous.get("/tokens/").status_code == 302
    assert admin.post(f"/tokens/{token_id}/revoke").status_code == 400  # no CSRF token: refused first
    with session_scope(loaded_engine) as s:
        assert s.scalar(sa.select(sa.func.count(ApiToken.id))) == 1
        assert s.get(ApiToken, token_id).revoked_at is None
    assert app.test_client().get("/api/v1/findings", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert audit(loaded_engine, "token.revoke") == []


def test_the_page_speaks_chinese_by_default(admin, loaded_engine):
    html = make(admin, loaded_engine).get_data(as_text=True)
    assert "API 令牌" in html and "仅显示这一次" in html
