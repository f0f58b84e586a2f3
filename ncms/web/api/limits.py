"""Rate limits per token (Flask-Limiter): each token may make ``NCMS_API_RATE_LIMIT`` requests
(600 a minute by default) in a fixed window; one more is 429 in the API's error body, with
``Retry-After``. Counted by the token's id, not by the address (many county systems sit behind
one NAT, and one system may move between addresses), and only once the gate has found the
token: a request without a valid token is 401 before it counts, and the console's pages and the
public document are not limited at all.

The counts live in ``NCMS_API_RATE_LIMIT_STORAGE`` (``memory://`` by default: each process of
``ncms serve`` counts on its own, so N workers let a token through up to N times the limit; a
shared store such as ``redis://127.0.0.1:6379`` counts once for all of them). A store that
cannot be reached lets requests through (logged), rather than taking the API down with it."""
from __future__ import annotations

import os
from typing import Any

from flask import Flask, g
from flask_limiter import Limiter
from limits import parse_many

from ncms.config import ConfigError

DEFAULT_RATE = "600/minute"
DEFAULT_STORAGE = "memory://"
RATE_VARIABLE = "NCMS_API_RATE_LIMIT"
STORAGE_VARIABLE = "NCMS_API_RATE_LIMIT_STORAGE"
STORAGES = ("memory://", "redis://", "rediss://", "redis+sentinel://", "redis+cluster://", "memcached://",
            "mongodb://", "valkey://")


def setting(app: Flask, name: str, default: str) -> str:
    """The app's config (a test's) first, then the environment, then the default."""
    return str(app.config.get(name) or os.environ.get(name) or default).strip()


def rate_of(app: Flask) -> str:
    rate = setting(app, RATE_VARIABLE, DEFAULT_RATE)
    try:
        if not parse_many(rate):
            raise ValueError
    except ValueError:
        raise ConfigError(f"{RATE_VARIABLE}: {rate!r} is not allowed; allowed: requests per window, "
                          "e.g. 600/minute, 10/second, 5000/hour or 100 per 10 seconds") from None
    return rate


def storage_of(app: Flask) -> str:
    uri = setting(app, STORAGE_VARIABLE, DEFAULT_STORAGE)
    if not uri.startswith(STORAGES):
        raise ConfigError(f"{STORAGE_VARIABLE}: {uri!r} is not allowed; allowed: a storage URI of "
                          f"Flask-Limiter: {', '.join(STORAGES)} (e.g. redis://127.0.0.1:6379)")
    return uri


def _token_key() -> str:
    token = g.get("ncms_token")
    return f"token:{token.id}" if token is not None else "none"


def _unlimited() -> bool:
    """Not counted: anything but a request the API's gate let in with a token (the console, the
    document, the documentation page)."""
    return g.get("ncms_token") is None


def init_app(app: Flask) -> Limiter:
    """After the API's gate (its ``before_request`` runs first, so the token is known)."""
    limiter = Limiter(_token_key, default_limits=[rate_of(app)], default_limits_exempt_when=_unlimited,
                      storage_uri=storage_of(app), strategy="fixed-window", headers_enabled=True,
                      swallow_errors=True,
                      key_prefix=app.config.get("RATELIMIT_KEY_PREFIX") or "ncms-api")
    limiter.init_app(app)
    app.extensions["ncms.api.limiter"] = limiter
    return limiter


def document(spec: Any) -> None:
    """429 on every operation of the document that takes a token, with its headers."""
    ref = spec.components.get_ref("response", "TOO_MANY_REQUESTS")
    for operations in spec._paths.values():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete") and operation.get("security") != []:
                operation.setdefault("responses", {}).setdefault("429", ref)
