"""Who uses the platform, what they may see, and what they did."""
from __future__ import annotations

import enum
from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash

from .base import Base, TimestampMixin, UTCDateTime, enum_column, utcnow
from .enums import Role

# Argon2id with argon2-cffi's defaults (RFC 9106's low-memory choice: 64 MiB, 3 passes, 4 lanes).
_HASHER = PasswordHasher()


class User(TimestampMixin, Base):
    """A person with a login: provincial auditors see every county, county users their own,
    ministry viewers the province's statistics and no personal data."""

    __tablename__ = "user_account"  # "user" is reserved in PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    county_code: Mapped[str | None] = mapped_column(ForeignKey("county.code"))
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint(
            "(role = 'county') = (county_code IS NOT NULL)", name="county_scope"
        ),
    )

    def set_password(self, password: str) -> None:
        self.password_hash = _HASHER.hash(password)

    def check_password(self, password: str) -> bool:
        """Argon2id hashes, and the werkzeug (scrypt, pbkdf2) hashes of accounts made before them."""
        if not self.password_hash.startswith("$argon2"):
            return check_password_hash(self.password_hash, password)
        try:
            return _HASHER.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    @property
    def password_needs_rehash(self) -> bool:
        """True for a werkzeug hash or Argon2 parameters weaker than today's: re-hash on sign-in."""
        return not self.password_hash.startswith("$argon2id") or _HASHER.check_needs_rehash(self.password_hash)

    def can_see_county(self, county_code: str) -> bool:
        return self.role != Role.COUNTY or self.county_code == county_code

    # What Flask-Login asks of a signed-in user (without importing it into the models).
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)


@cache
def _dummy_hash() -> str:
    return _HASHER.hash("not a password of anyone")


def spend_a_password_check(password: str) -> None:
    """The time of one password check, for an unknown username: a wrong name costs as long as a
    wrong password, so names cannot be told apart by timing."""
    try:
        _HASHER.verify(_dummy_hash(), password)
    except VerificationError:
        pass


class AuditLog(Base):
    """An append-only record of who did what; never updated, never deleted by the app."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor: Mapped[str] = mapped_column(String(64))  # username, or "system" / "cli"
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict | None] = mapped_column(JSON)
    remote_addr: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_log_at", "at"),)


class SignInOutcome(str, enum.Enum):
    OK = "ok"
    FAILED = "failed"  # wrong password or unknown name: counts towards a lock-out
    REFUSED = "refused"  # not checked, the account or address being locked: counts for nothing


class SignInAttempt(Base):
    """Every sign-in attempt, kept in the database so that every server process counts the
    same failures (per account and per address) before locking either out."""

    __tablename__ = "sign_in_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    username: Mapped[str] = mapped_column(String(64))  # as typed, also when no such account exists
    remote_addr: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[SignInOutcome] = mapped_column(enum_column(SignInOutcome, "sign_in_outcome"))

    __table_args__ = (
        Index("ix_sign_in_attempt_username_at", "username", "at"),
        Index("ix_sign_in_attempt_remote_addr_at", "remote_addr", "at"),
    )


class TokenScope(str, enum.Enum):
    READ = "read"  # GET only
    WRITE = "write"  # read, and every step a person of the same role may take (POST …)


class ApiToken(Base):
    """A bearer token of the REST API (/api/v1, docs/api.md), for a person or a service account:
    it acts as its user, with the user's role and county. Only the SHA-256 of the secret is kept
    (the secret is 256 random bits, shown once); ``prefix`` names it in lists and logs."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[TokenScope] = mapped_column(enum_column(TokenScope, "token_scope"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))  # username, or "cli"
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_api_token_user_id", "user_id"),)
