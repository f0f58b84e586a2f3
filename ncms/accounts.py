"""User accounts: who may sign in, with which role and which county in scope, and the sign-in
itself, throttled per account and per address in the database so that every server process
counts the same failures."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .errors import NcmsError
from .models import AuditLog, County, Role, SignInAttempt, SignInOutcome, User
from .models.auth import spend_a_password_check

MIN_PASSWORD_LENGTH = 10
USERNAME = re.compile(r"[^\s\x00-\x1f\x7f]{1,64}")  # no spaces, no control characters


class AccountError(NcmsError):
    pass


def create_user(session: Session, username: str, role: Role, password: str, *,
                county_code: str | None = None, full_name: str | None = None,
                actor: str = "system") -> User:
    """Add an account (and its audit line); a county user is scoped to exactly one county."""
    if not USERNAME.fullmatch(username):
        raise AccountError(f"username {username!r} is not allowed: 1 to 64 characters, no spaces")
    if (role == Role.COUNTY) != (county_code is not None):
        raise AccountError("a county code is required for the county role, and only for it")
    if county_code and session.get(County, county_code) is None:
        raise AccountError(f"no county {county_code}: load the configuration first (`ncms db load-config`)")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username} already exists")
    check_password_length(password)
    user = User(username=username, role=role, county_code=county_code, full_name=full_name)
    user.set_password(password)
    session.add(user)
    session.add(AuditLog(actor=actor, action="user.create", target=username,
                         detail={"role": role.value, "county": county_code}))
    session.flush()
    return user


def check_password_length(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


@dataclass(frozen=True)
class Throttle:
    """``failures`` failed sign-ins of one account (``address_failures`` from one address) within
    ``window`` lock it out for ``lockout`` after the last of them."""

    failures: int
    address_failures: int
    window: timedelta
    lockout: timedelta


@dataclass(frozen=True)
class SignIn:
    user: User | None  # None: refused
    locked_until: datetime | None = None  # set when refused for a lock-out, not a wrong password


def authenticate(session: Session, username: str, password: str, *, remote_addr: str,
                 throttle: Throttle, at: datetime) -> SignIn:
    """Check a password unless the account or the address is locked out; record the attempt and
    its audit line either way, and re-hash a password kept in an older scheme."""
    username = username.strip()[:64]
    locked = locked_until(session, throttle, username, remote_addr, at)
    if locked is not None:
        _record(session, username, remote_addr, at, SignInOutcome.REFUSED, None, "sign_in.refused",
                {"locked_until": locked.isoformat()})
        return SignIn(None, locked)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        spend_a_password_check(password)
    if user is None or not user.active or not user.check_password(password):
        _record(session, username, remote_addr, at, SignInOutcome.FAILED, user, "sign_in.failed",
                {"reason": "unknown" if user is None else "inactive" if not user.active else "password"})
        locked = locked_until(session, throttle, username, remote_addr, at)
        if locked is not None:
            _record(session, username, remote_addr, at, None, user, "sign_in.locked_out",
                    {"locked_until": locked.isoformat()})
        return SignIn(None, locked)
    rehashed = user.password_needs_rehash
    if rehashed:
        user.set_password(password)
    user.last_login_at = at
    _record(session, username, remote_addr, at, SignInOutcome.OK, user, "sign_in",
            {"rehashed": True} if rehashed else None)
    return SignIn(user)


def locked_until(session: Session, throttle: Throttle, username: str, remote_addr: str,
                 at: datetime) -> datetime | None:
    """When the later of the account's and the address's lock-outs ends, if either is on at ``at``.
    An account's failures before its last successful sign-in do not count; an address's all do."""
    since = at - throttle.window - throttle.lockout
    last_ok = session.scalar(select(func.max(SignInAttempt.at)).where(
        SignInAttempt.username == username, SignInAttempt.outcome == SignInOutcome.OK,
        SignInAttempt.at > since))
    ends = [
        _lock_end(_failures(session, SignInAttempt.username == username, max(since, last_ok or since)),
                  throttle.failures, throttle),
        _lock_end(_failures(session, SignInAttempt.remote_addr == remote_addr, since),
                  throttle.address_failures, throttle),
    ]
    end = max((e for e in ends if e is not None), default=None)
    return end if end is not None and end > at else None


def _failures(session: Session, who, since: datetime) -> list[datetime]:  # type: ignore[no-untyped-def]
    return list(session.scalars(select(SignInAttempt.at).where(
        who, SignInAttempt.outcome == SignInOutcome.FAILED, SignInAttempt.at > since).order_by(SignInAttempt.at)))


def _lock_end(times: list[datetime], limit: int, throttle: Throttle) -> datetime | None:
    """The end of the last lock-out: ``limit`` failures within a window lock until ``lockout``
    after the last of them (attempts refused while locked are not failures, so never extend it)."""
    end = None
    for last in range(limit - 1, len(times)):
        if times[last] - times[last - limit + 1] <= throttle.window:
            end = times[last] + throttle.lockout
    return end


def _record(session: Session, username: str, remote_addr: str, at: datetime, outcome: SignInOutcome | None,
            user: User | None, action: str, detail: dict | None) -> None:  # type: ignore[type-arg]
    if outcome is not None:
        session.add(SignInAttempt(at=at, username=username, remote_addr=remote_addr, outcome=outcome))
    session.add(AuditLog(at=at, user_id=user.id if user else None, actor=username, action=action,
                         detail=detail, remote_addr=remote_addr))
    session.flush()
