"""Rate limits per token (ncms/web/api/limits.py, docs/api.md "Rate limits"): a token over its
limit is 429 in the API's error body with Retry-After, another token is not, the window passes;
the console's pages are never counted; the document says 429 where it can occur."""
from __future__ import annotations

import time
import uuid
from dataclasses import replace

import pytest

from ncms.config import ConfigError

from .test_api import ERROR_KEYS, _token
from .webauth import add_accounts, sign_in


def _app(settings, **config):  # type: ignore[no-untyped-def]
    from ncms.web import create_app

    return create_app(replace(settings, secret_key="test"), {"TESTING": True, **config})


def test_a_token_over_its_limit_is_429_and_another_token_is_not(settings, loaded_engine) -> None:  # type: ignore[no-untyped-def]
    add_accounts(loaded_engine)
    client = _app(settings, NCMS_API_RATE_LIMIT="3 per 1 second").test_client()
    one = {"Authorization": f"Bearer {_token(loaded_engine, 'auditor')}"}
    two = {"Authorization": f"Bearer {_token(loaded_engine, 'auditor')}"}  # the same user, another token
    answers = [client.get("/api/v1/institutions?limit=1", headers=one) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    refused = client.get("/api/v1/institutions?limit=1", headers=one)
    assert refused.status_code == 429, refused.get_data(as_text=True)
    body = refused.get_json()
    assert set(body) == ERROR_KEYS and body["code"] == 429 and "3 per 1 second" in body["message"]
    assert refused.headers["Retry-After"] and refused.headers["X-RateLimit-Remaining"] == "0"
    assert client.get("/api/v1/institutions?limit=1", headers=two).status_code == 200  # its own count
    time.sleep(1.1)  # the window passes
    assert client.get("/api/v1/institutions?limit=1", headers=one).status_code == 200


def test_the_console_and_the_document_are_not_counted(settings, loaded_engine) -> None:  # type: ignore[no-untyped-def]
    add_accounts(loaded_engine)
    client = _app(settings, NCMS_API_RATE_LIMIT="2/minute").test_client()
    for _ in range(4):
        assert client.get("/api/v1/openapi.json").status_code == 200
        assert client.get("/api/v1/findings").status_code == 401  # no token: refused before it counts
    assert sign_in(client, "admin").status_code == 302
    pages = [client.get("/findings/") for _ in range(4)]
    assert [p.status_code for p in pages] == [200] * 4 and "X-RateLimit-Limit" not in pages[0].headers
    token = {"Authorization": f"Bearer {_token(loaded_engine, 'admin')}"}
    assert [client.get("/api/v1/institutions", headers=token).status_code for _ in range(3)] == [200, 200, 429]


def test_429_is_in_the_document_and_a_bad_setting_is_refused(settings, loaded_engine) -> None:  # type: ignore[no-untyped-def]
    client = _app(settings).test_client()
    spec = client.get("/api/v1/openapi.json").get_json()
    operations = [op for path in spec["paths"].values() for op in path.values() if isinstance(op, dict)
                  and "responses" in op]
    assert len(operations) > 15 and all("429" in op["responses"] for op in operations)
    assert "TOO_MANY_REQUESTS" in spec["components"]["responses"]
    with pytest.raises(ConfigError, match="NCMS_API_RATE_LIMIT: 'lots' is not allowed; allowed"):
        _app(settings, NCMS_API_RATE_LIMIT="lots")
    with pytest.raises(ConfigError, match="NCMS_API_RATE_LIMIT_STORAGE: 'ftp://x' is not allowed"):
        _app(settings, NCMS_API_RATE_LIMIT_STORAGE="ftp://x")


def test_a_shared_store_counts_across_processes(settings, loaded_engine) -> None:  # type: ignore[no-untyped-def]
    """Two apps (as two workers of ncms serve) on one Redis count one token once."""
    redis = pytest.importorskip("redis")
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001
        pytest.skip("no Redis on 127.0.0.1:6379")
    add_accounts(loaded_engine)
    config = {"NCMS_API_RATE_LIMIT": "3/minute", "NCMS_API_RATE_LIMIT_STORAGE": "redis://127.0.0.1:6379",
              "RATELIMIT_KEY_PREFIX": f"ncms-test-{uuid.uuid4().hex}"}  # this run's counts only
    first, second = _app(settings, **config).test_client(), _app(settings, **config).test_client()
    token = {"Authorization": f"Bearer {_token(loaded_engine, 'auditor')}"}
    answers = [client.get("/api/v1/institutions?limit=1", headers=token).status_code
               for client in (first, second, first, second)]
    assert answers == [200, 200, 200, 429]
