"""Bearer tokens of the REST API (docs/api.md): made and revoked by an administrator (``ncms
tokens``), shown once, kept as the SHA-256 of their secret.

A token reads ``ncms_<43 characters>``: 32 random bytes, URL-safe base64. Its first 12
characters (``prefix``) name it in lists and in the audit log; the whole is never stored. A
request's token is found by its hash (one unique-index read); an expired, revoked or unknown
token, or one whose user is disabled, authenticates no one."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ncms.errors import NcmsError
from ncms.models import ApiToken, AuditLog, TokenScope, User
from ncms.models.base import utcnow

TOKEN_PREFIX = "ncms_"
PREFIX_LENGTH = 12  # "ncms_" and 7 characters of the secret: shown, never enough to guess the rest
MAX_DAYS = 730
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token


class TokenError(NcmsError):
    """A token that cannot be made or revoked as asked."""


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    secret: str  # the whole token: shown once, to whoever made it


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create(session: Session, user: User, name: str, scope: TokenScope | str, expires_days: int,
           created_by: str, *, now: datetime | None = None, actor_id: int | None = None,
           remote_addr: str | None = None) -> Issued:
    """A new token for ``user``; the secret is in the result only. ``actor_id`` and
    ``remote_addr``: the console's administrator and their address, for the audit line (the CLI
    has neither)."""
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise TokenError("a token needs a name of 1 to 128 characters (what or who uses it)")
    if not 1 <= expires_days <= MAX_DAYS:
        raise TokenError(f"a token expires after 1 to {MAX_DAYS} days")
    if not user.active:
        raise TokenError(f"the account {user.username} is disabled")
    now = now or utcnow()
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=secret[:PREFIX_LENGTH], secret_hash=digest(secret),
                     scope=TokenScope(scope), created_at=now, created_by=created_by,
                     expires_at=now + timedelta(days=expires_days))
    session.add(token)
    session.flush()
    session.add(AuditLog(user_id=actor_id, actor=created_by, action="token.create", target=f"token:{token.id}",
                         detail={"user": user.username, "prefix": token.prefix, "scope": token.scope.value,
                                 "expires_at": token.expires_at.isoformat(), "name": name},
                         remote_addr=remote_addr))
    return Issued(token, secret)


def revoke(session: Session, token_id: int, revoked_by: str, *, now: datetime | None = None,
           actor_id: int | None = None, remote_addr: str | None = None) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise TokenError(f"no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()
        session.add(AuditLog(user_id=actor_id, actor=revoked_by, action="token.revoke", target=f"token:{token.id}",
                             detail={"prefix": token.prefix}, remote_addr=remote_addr))
    return token


def authenticate(session: Session, secret: str, *, now: datetime | None = None) -> tuple[ApiToken, User] | None:
    """The token and its user for the secret of a request, or None: unknown, expired, revoked,
    or its user disabled. Notes when it was used (at most once a minute)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    token = session.scalar(sa.select(ApiToken).where(ApiToken.secret_hash == digest(secret)))
    now = now or utcnow()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        session.execute(sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
        session.commit()
    return token, user


def state(token: ApiToken, now: datetime | None = None) -> str:
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= (now or utcnow()) else "active"
