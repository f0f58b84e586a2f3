"""Signing in from tests: accounts of each role, and a test client that carries the CSRF token."""
from __future__ import annotations

import re

from sqlalchemy.engine import Engine

from ncms.accounts import create_user
from ncms.db import session_scope
from ncms.models import Role, User

PASSWORD = "correct horse battery"
COUNTY = "520122"  # the county officer's county in these tests
OTHER_COUNTY = "520121"
ACCOUNTS = {  # username: role, county
    "admin": (Role.ADMIN, None),
    "auditor": (Role.AUDITOR, None),
    "officer": (Role.COUNTY, COUNTY),
    "ministry": (Role.MINISTRY, None),
}


_hash: list[str] = []


def add_accounts(engine: Engine) -> None:
    """One account per role, all with ``PASSWORD``: the first made by ``create_user``, the others
    given its Argon2id hash (hashing costs a tenth of a second each, on purpose)."""
    with session_scope(engine) as session:
        for username, (role, county) in ACCOUNTS.items():
            if not _hash:
                _hash.append(create_user(session, username, role, PASSWORD, county_code=county).password_hash)
            else:
                session.add(User(username=username, role=role, county_code=county, password_hash=_hash[0]))


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client, username: str, password: str = PASSWORD, **environ):  # type: ignore[no-untyped-def]
    """Post the sign-in form as a browser would (token from the page); returns the response."""
    page = client.get("/sign-in", environ_overrides=environ)
    return client.post("/sign-in", data={"username": username, "password": password,
                                         "csrf_token": csrf_token(page.get_data(as_text=True))},
                       environ_overrides=environ)
