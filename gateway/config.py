"""The accounts file: which counties may connect, with which keys, and within which limits.

The file is TOML and is re-read when its modification time changes, so an operator adds
a county or rotates a key by editing it, without restarting the gateway.
"""
from __future__ import annotations

import base64
import os
import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

KEY_TYPES = ("ssh-ed25519", "ssh-rsa")
# AES-GCM authenticates as it decrypts; the CTR ciphers need an HMAC per packet, which
# costs the gateway a quarter of its upload speed. CTR is only for clients older than
# OpenSSH 6.2 (2013): list it in `ciphers` to admit them.
AEAD_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
SUPPORTED_CIPHERS = (*AEAD_CIPHERS, "aes128-ctr", "aes192-ctr", "aes256-ctr")
ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
DEFAULT_MAX_FILE_BYTES = 4 * 1024**3
# names clients give a file while they upload it, renaming it when it is whole
# (WinSCP: .filepart; lftp, curl, many scripts: .part, .tmp, ...): never delivered as such
DEFAULT_TEMP_SUFFIXES = (".filepart", ".part", ".partial", ".tmp", ".temp", ".upload", ".uploading")
TEMP_SUFFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
DEFAULT_QUIET_TIME = 24 * 3600.0


class ConfigError(ValueError):
    """The accounts file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Account:
    name: str
    keys: tuple[paramiko.PKey, ...]
    quota_bytes: int | None
    max_file_bytes: int

    def accepts(self, key: paramiko.PKey) -> bool:
        blob = key.asbytes()
        return any(k.asbytes() == blob for k in self.keys)


@dataclass(frozen=True)
class GatewayConfig:
    path: Path | None
    spool: Path
    host: str = "127.0.0.1"
    port: int = 2222
    host_key: Path | None = None
    idle_timeout: float = 300.0
    max_sessions_per_account: int = 4
    ciphers: tuple[str, ...] = AEAD_CIPHERS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    accounts: dict[str, Account] = field(default_factory=dict)
    temp_suffixes: tuple[str, ...] = DEFAULT_TEMP_SUFFIXES
    quiet_time: float = DEFAULT_QUIET_TIME  # seconds; 0 never refuses a partial upload

    def is_temp_name(self, name: str) -> bool:
        """True for a name a client uploads under before renaming it (``X.zip.filepart``)."""
        return any(name.endswith(s) and len(name) > len(s) for s in self.temp_suffixes)

    def county_dir(self, account: str) -> Path:
        return self.spool / account

    def ensure_spool(self) -> None:
        """Create inbox, outbox and .partial for every account (idempotent)."""
        for name in self.accounts:
            for sub in ("inbox", "outbox", ".partial"):
                (self.county_dir(name) / sub).mkdir(parents=True, exist_ok=True)


def parse_key(text: str, where: str) -> paramiko.PKey:
    parts = text.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise ConfigError(f"{where}: a key must look like 'ssh-ed25519 AAAA... comment' "
                          f"(allowed types: {', '.join(KEY_TYPES)})")
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a config error
        raise ConfigError(f"{where}: the key cannot be read ({exc})") from exc


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p)


def _int(table: dict, key: str, default, where: str):
    value = table.get(key, default)
    if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
        raise ConfigError(f"{where}.{key} must be a non-negative number, not {value!r}")
    return value


def _temp_suffixes(gw: dict, path: Path | None) -> tuple[str, ...]:
    value = gw.get("temp_suffixes", list(DEFAULT_TEMP_SUFFIXES))
    if not isinstance(value, list) or not all(isinstance(v, str) and TEMP_SUFFIX_RE.fullmatch(v) for v in value):
        raise ConfigError(f"{path}: [gateway] temp_suffixes must be a list of endings like \".filepart\" "
                          f"(at most 32 of A-Z a-z 0-9 _ . -), not {value!r}")
    return tuple(value)


def load_config(path: str | os.PathLike) -> GatewayConfig:
    path = Path(path).resolve()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such accounts file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return config_from_dict(data, path)


def config_from_dict(data: dict, path: Path | None = None, base: Path | None = None) -> GatewayConfig:
    base = base or (path.parent if path else Path.cwd())
    gw = data.get("gateway", {})
    if "spool" not in gw:
        raise ConfigError(f"{path}: [gateway] spool is required")
    max_file = int(_int(gw, "max_file_bytes", DEFAULT_MAX_FILE_BYTES, "gateway"))
    accounts = {}
    for name, table in (data.get("accounts") or {}).items():
        where = f"{path}: [accounts.{name}]"
        if not ACCOUNT_RE.fullmatch(name):
            raise ConfigError(f"{where}: the account name must be the county code ([A-Za-z0-9_-], at most 32)")
        keys = table.get("keys", [])
        if not isinstance(keys, list):
            raise ConfigError(f"{where}: keys must be a list of public key lines")
        quota = _int(table, "quota_bytes", None, where)
        accounts[name] = Account(
            name=name,
            keys=tuple(parse_key(k, f"{where} keys[{i}]") for i, k in enumerate(keys)),
            quota_bytes=int(quota) if quota is not None else None,
            max_file_bytes=int(_int(table, "max_file_bytes", max_file, where)),
        )
    host_key = gw.get("host_key", "var/gateway/host_ed25519")
    ciphers = tuple(gw.get("ciphers", AEAD_CIPHERS))
    unknown = [c for c in ciphers if c not in SUPPORTED_CIPHERS]
    if unknown or not ciphers:
        raise ConfigError(f"{path}: [gateway] ciphers: {', '.join(unknown) or 'empty'}; "
                          f"choose from {', '.join(SUPPORTED_CIPHERS)}")
    return GatewayConfig(
        path=path,
        spool=_resolve(base, gw["spool"]),
        host=str(gw.get("host", "127.0.0.1")),
        port=int(_int(gw, "port", 2222, "gateway")),
        host_key=_resolve(base, host_key) if host_key else None,
        idle_timeout=float(_int(gw, "idle_timeout", 300, "gateway")),
        max_sessions_per_account=int(_int(gw, "max_sessions_per_account", 4, "gateway")),
        ciphers=ciphers,
        max_file_bytes=max_file,
        accounts=accounts,
        temp_suffixes=_temp_suffixes(gw, path),
        quiet_time=float(_int(gw, "quiet_time", DEFAULT_QUIET_TIME, "gateway")),
    )


class ConfigStore:
    """Holds the current config and re-reads the file when its mtime changes.

    A file that became unreadable keeps the last good config (and the error is reported
    through ``on_error``), so a typo while editing does not lock every county out.
    """

    def __init__(self, config: GatewayConfig, on_reload=None, on_error=None):
        self._config = config
        self._lock = threading.Lock()
        self._stamp = self._mtime()
        self._on_reload = on_reload
        self._on_error = on_error

    def _mtime(self):
        if self._config.path is None:
            return None
        try:
            st = os.stat(self._config.path)
            return (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            return None

    @property
    def current(self) -> GatewayConfig:
        return self._config

    def refresh(self) -> GatewayConfig:
        if self._config.path is None:
            return self._config
        with self._lock:
            stamp = self._mtime()
            if stamp is None or stamp == self._stamp:
                return self._config
            try:
                new = load_config(self._config.path)
                new.ensure_spool()
            except (ConfigError, OSError) as exc:
                if self._on_error:
                    self._on_error(exc)
                return self._config
            # listening address and host key only change on restart
            self._config = GatewayConfig(
                path=new.path, spool=new.spool, host=self._config.host, port=self._config.port,
                host_key=self._config.host_key, idle_timeout=new.idle_timeout,
                max_sessions_per_account=new.max_sessions_per_account, ciphers=new.ciphers,
                max_file_bytes=new.max_file_bytes, accounts=new.accounts,
                temp_suffixes=new.temp_suffixes, quiet_time=new.quiet_time)
            self._stamp = stamp
            if self._on_reload:
                self._on_reload(self._config)
            return self._config
