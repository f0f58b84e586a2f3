"""Settings: defaults, then an optional instance config file (TOML), then ``NCMS_*`` variables.

Nothing is read at import time; ``load_settings()`` reads when it is called, so tests
and the CLI each build the settings they need.
"""
from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import NcmsError

ENV_PREFIX = "NCMS_"
KEYS = ("data_dir", "database_url", "config_dir", "log_level", "locale", "host", "port", "ingest_jobs", "monitor_jobs",
        "sign_in_failures", "sign_in_address_failures", "sign_in_window", "sign_in_lockout",
        "session_idle", "session_lifetime", "secure_cookies")
# The web console's sign-in and sessions (docs/web.md): counts, and times in seconds; none may be 0.
WEB_DEFAULTS = {
    "sign_in_failures": 5,  # failed sign-ins of one account within the window that lock it
    "sign_in_address_failures": 20,  # ... and from one address (an office behind one NAT)
    "sign_in_window": 900,
    "sign_in_lockout": 900,  # how long a lock-out lasts after its last counted failure
    "session_idle": 1800,  # a session unused this long is over
    "session_lifetime": 43200,  # and any session after this long (a working day)
}
SECRET_KEY_FILE = "secret_key"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOCALES = ("zh_Hans_CN", "en")
MAX_AUTO_JOBS = 4  # the database, not this process, is what parallel loading saturates
# The ministry's SFTP endpoint that reports are published to (docs/reports.md): ``[ministry]`` in
# the instance file, or ``NCMS_MINISTRY_HOST`` and its siblings. Without a host nothing is published.
MINISTRY_KEYS = ("host", "port", "user", "key", "known_hosts", "remote_dir", "retries", "backoff", "retry_after")


class ConfigError(NcmsError):
    """A setting is missing or wrong; the message says which and how to fix it."""


@dataclass(frozen=True)
class MinistryEndpoint:
    """Where reports go: an SFTP account at the ministry, logged into with a key, whose host key
    must be the one in ``known_hosts`` (never trusted on first use)."""

    host: str
    user: str
    key: Path  # the province's private key (OpenSSH or PEM, unencrypted)
    known_hosts: Path  # the ministry's host key, OpenSSH known_hosts format
    port: int = 22
    remote_dir: str = "inbox"  # the folder packages are uploaded to
    retries: int = 5  # connections in a row that move nothing before a push gives up
    backoff: float = 2.0  # seconds before the first reconnection, doubled each time (at most 60)
    retry_after: int = 300  # seconds before a failed send is tried again, doubled each failure (at most 6 h)

    @property
    def label(self) -> str:
        """``user@host:port/folder``: how sends name the endpoint."""
        return f"{self.user}@{self.host}:{self.port}/{self.remote_dir.strip('/')}"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    config_dir: Path
    log_level: str = "INFO"
    locale: str = "zh_Hans_CN"
    host: str = "127.0.0.1"
    port: int = 5000
    ingest_jobs: int = 0  # counties loaded side by side; 0: one per core on PostgreSQL, 1 on SQLite
    monitor_jobs: int = 0  # supervision rules run side by side; 0: one per core
    sign_in_failures: int = WEB_DEFAULTS["sign_in_failures"]
    sign_in_address_failures: int = WEB_DEFAULTS["sign_in_address_failures"]
    sign_in_window: int = WEB_DEFAULTS["sign_in_window"]
    sign_in_lockout: int = WEB_DEFAULTS["sign_in_lockout"]
    session_idle: int = WEB_DEFAULTS["session_idle"]
    session_lifetime: int = WEB_DEFAULTS["session_lifetime"]
    secure_cookies: bool = False  # session cookie sent over HTTPS only: set it behind TLS
    secret_key: str | None = field(default=None, repr=False)
    source_file: Path | None = None
    ministry: MinistryEndpoint | None = None  # None: reports are built, not published

    @property
    def spool_dir(self) -> Path:
        """Where the gateway hands packages to the core: ``<county>/inbox`` and ``outbox``."""
        return self.data_dir / "spool"

    @property
    def archive_dir(self) -> Path:
        """Raw uploads and extracts, content-addressed by SHA-256."""
        return self.data_dir / "archive"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def loading_jobs(self, requested: int | None = None) -> int:
        """How many counties' packages load at once: ``requested`` (a command's ``--jobs``),
        else the setting, else one per core. SQLite has one writer, so one whatever is asked."""
        if self.is_sqlite:
            return 1
        return requested or self.ingest_jobs or max(1, min(os.cpu_count() or 1, MAX_AUTO_JOBS))

    def rule_jobs(self) -> int:
        """How many rules run at once: the setting, else one per core. Rules only read while
        they query (SQLite in WAL mode lets readers run side by side) and write their own
        findings; an in-memory SQLite database is one connection's, so one."""
        from .db import sqlite_path

        if self.is_sqlite and sqlite_path(self.database_url) is None:
            return 1
        return self.monitor_jobs or max(1, min(os.cpu_count() or 1, MAX_AUTO_JOBS))

    def ensure_dirs(self) -> None:
        for folder in (self.data_dir, self.spool_dir, self.archive_dir, self.reports_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def with_secret_key(self) -> "Settings":
        """Read the instance secret key, creating it (mode 0600) on first run."""
        if self.secret_key:
            return self
        path = self.data_dir / SECRET_KEY_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return replace(self, secret_key=path.read_text().strip())


def load_settings(
    environ: Mapping[str, str] | None = None, *, cwd: Path | None = None, **overrides: Any
) -> Settings:
    """Build the settings; explicit ``overrides`` win over the environment, which wins over the file."""
    env = os.environ if environ is None else environ
    base = Path.cwd() if cwd is None else cwd
    values: dict[str, Any] = {}

    origin: dict[str, str] = {}  # where each value came from, for a refusal to name
    ministry: dict[str, Any] = {}
    config_file = env.get(f"{ENV_PREFIX}CONFIG_FILE")
    if config_file:
        path = _resolve(base, config_file)
        values.update(_read_file(path))
        origin.update({key: f"{path}:{_line_in(path, key)}: {key}" for key in values})
        ministry.update(_read_ministry(path))
        origin.update({f"ministry_{key}": f"{path}:{_line_in(path, key)}: [ministry] {key}" for key in ministry})
    for key in MINISTRY_KEYS:
        if f"{ENV_PREFIX}MINISTRY_{key.upper()}" in env:
            ministry[key] = env[f"{ENV_PREFIX}MINISTRY_{key.upper()}"]
            origin[f"ministry_{key}"] = f"{ENV_PREFIX}MINISTRY_{key.upper()}"
    for key in KEYS:
        if f"{ENV_PREFIX}{key.upper()}" in env:
            values[key] = env[f"{ENV_PREFIX}{key.upper()}"]
            origin[key] = f"{ENV_PREFIX}{key.upper()}"
    values.update({k: v for k, v in overrides.items() if v is not None})
    origin.update({k: f"--{k.replace('_', '-')}" for k, v in overrides.items() if v is not None})

    data_dir = _resolve(base, values.get("data_dir", "var"))
    database_url = values.get("database_url") or f"sqlite:///{data_dir / 'ncms.db'}"
    port, ingest_jobs = _number(values, origin, "port", 5000), _number(values, origin, "ingest_jobs", 0)
    monitor_jobs = _number(values, origin, "monitor_jobs", 0)
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        config_dir=_resolve(base, values.get("config_dir", "config")),
        log_level=_one_of(values, origin, "log_level", "INFO", LOG_LEVELS, str.upper),
        locale=_one_of(values, origin, "locale", "zh_Hans_CN", LOCALES),
        host=str(values.get("host", "127.0.0.1")),
        port=port,
        ingest_jobs=ingest_jobs,
        monitor_jobs=monitor_jobs,
        **{key: _number(values, origin, key, default, minimum=1) for key, default in WEB_DEFAULTS.items()},
        secure_cookies=_flag(values, origin, "secure_cookies"),
        secret_key=env.get(f"{ENV_PREFIX}SECRET_KEY") or None,
        source_file=_resolve(base, config_file) if config_file else None,
        ministry=_ministry(ministry, origin, base),
    )


def _ministry(values: dict[str, Any], origin: dict[str, str], base: Path) -> MinistryEndpoint | None:
    """The ministry's endpoint, or None when no host is set; a host without its user, key or
    known host key is refused, naming what is missing."""
    if not str(values.get("host") or "").strip():
        return None
    missing = [k for k in ("user", "key", "known_hosts") if not str(values.get(k) or "").strip()]
    if missing:
        where = origin.get("ministry_host", f"{ENV_PREFIX}MINISTRY_HOST")
        raise ConfigError(f"{where}: the ministry's endpoint also needs "
                          + ", ".join(f"{ENV_PREFIX}MINISTRY_{k.upper()} ([ministry] {k})" for k in missing))
    numbers = {f"ministry_{k}": values[k] for k in ("port", "retries", "retry_after") if k in values}
    backoff = values.get("backoff", 2.0)
    try:
        backoff = float(backoff) if not isinstance(backoff, bool) else -1.0
    except ValueError:
        backoff = -1.0
    if not backoff > 0:
        raise ConfigError(f"{origin.get('ministry_backoff')}: {values['backoff']!r} is not allowed; "
                          "allowed: seconds, more than 0 (e.g. 2 or 0.5)")
    return MinistryEndpoint(
        host=str(values["host"]).strip(), user=str(values["user"]).strip(),
        key=_resolve(base, str(values["key"])), known_hosts=_resolve(base, str(values["known_hosts"])),
        port=_number(numbers, origin, "ministry_port", 22, minimum=1),
        remote_dir=str(values.get("remote_dir") or "inbox").strip(),
        retries=_number(numbers, origin, "ministry_retries", 5, minimum=1), backoff=backoff,
        retry_after=_number(numbers, origin, "ministry_retry_after", 300, minimum=1),
    )


def _number(values: dict[str, Any], origin: dict[str, str], key: str, default: int, minimum: int = 0) -> int:
    value = values.get(key, default)
    try:
        number = int(value) if not isinstance(value, (bool, float)) else -1
    except ValueError:
        number = -1
    if number < minimum:
        raise ConfigError(f"{origin.get(key, ENV_PREFIX + key.upper())}: {value!r} is not allowed; "
                          f"allowed: a whole number, {minimum} or more")
    return number


def _flag(values: dict[str, Any], origin: dict[str, str], key: str) -> bool:
    value = values.get(key, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("0", "1", "true", "false", "yes", "no", ""):
        raise ConfigError(f"{origin.get(key, ENV_PREFIX + key.upper())}: {value!r} is not allowed; "
                          "allowed: 1, true, yes or 0, false, no")
    return text in ("1", "true", "yes")


def _one_of(values: dict[str, Any], origin: dict[str, str], key: str, default: str,
            allowed: tuple[str, ...], normal: Any = str) -> str:
    value = normal(str(values.get(key, default)))
    if value not in allowed:
        raise ConfigError(f"{origin.get(key, ENV_PREFIX + key.upper())}: {values[key]!r} is not allowed; "
                          f"allowed: {', '.join(allowed)}")
    return value


def _line_in(path: Path, key: str) -> int | str:
    """The line of ``key = ...`` in a TOML file (tomllib keeps no positions)."""
    import re

    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return n
    return "?"


def _resolve(base: Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"NCMS_CONFIG_FILE points at {path}, which does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    section = {k: v for k, v in data.get("ncms", data).items() if not (k == "ministry" and isinstance(v, dict))}
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise ConfigError(f"{path}:{_line_in(path, unknown[0])}: {unknown[0]}: no such setting; "
                          f"allowed: {', '.join(KEYS)}")
    return dict(section)


def _read_ministry(path: Path) -> dict[str, Any]:
    """The ``[ministry]`` table of the instance file (the file was read once already: it is valid)."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    table = data.get("ministry") or data.get("ncms", {}).get("ministry") or {}
    unknown = sorted(set(table) - set(MINISTRY_KEYS))
    if unknown:
        raise ConfigError(f"{path}:{_line_in(path, unknown[0])}: [ministry] {unknown[0]}: no such setting; "
                          f"allowed: {', '.join(MINISTRY_KEYS)}")
    return dict(table)
