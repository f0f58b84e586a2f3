"""User accounts: who may log in, with which role and which county in scope."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import NcmsError
from .models import AuditLog, County, Role, User

MIN_PASSWORD_LENGTH = 10


class AccountError(NcmsError):
    pass


def create_user(session: Session, username: str, role: Role, password: str, *,
                county_code: str | None = None, full_name: str | None = None,
                actor: str = "system") -> User:
    """Add an account (and its audit line); a county user is scoped to exactly one county."""
    if (role == Role.COUNTY) != (county_code is not None):
        raise AccountError("a county code is required for the county role, and only for it")
    if county_code and session.get(County, county_code) is None:
        raise AccountError(f"no county {county_code}: load the configuration first (`ncms db load-config`)")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username} already exists")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    user = User(username=username, role=role, county_code=county_code, full_name=full_name)
    user.set_password(password)
    session.add(user)
    session.add(AuditLog(actor=actor, action="user.create", target=username,
                         detail={"role": role.value, "county": county_code}))
    session.flush()
    return user
