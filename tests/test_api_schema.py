"""schemathesis against the served OpenAPI document (/api/v1/openapi.json), with each role's
token: every operation, a bounded number of generated requests each, no server error, and every
answer (data or error) as its schema says. Bounded: NCMS_API_EXAMPLES requests per operation and
role (10 by default; about a minute a database)."""
from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .test_api import _token, api  # noqa: F401  (the fixture: findings and claims of two counties)

EXAMPLES = int(os.environ.get("NCMS_API_EXAMPLES", "10"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.slow
def test_every_operation_keeps_to_the_document_for_every_role(api):  # type: ignore[no-untyped-def]  # noqa: F811
    client, loaded_engine, *_ = api
    app = client.application
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 17
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for role in ("admin", "auditor", "officer", "ministry"):
        headers = {"Authorization": f"Bearer {_token(loaded_engine, role, 'write')}"}
        for operation in operations:

            @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                                 suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def run(case):  # type: ignore[no-untyped-def]
                statuses[case.call_and_validate(headers=headers, checks=CHECKS).status_code] += 1

            try:
                run()
            except Exception as exc:  # noqa: BLE001  (every failure of every role, said together)
                failures.append(f"{role} {operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
    assert statuses[200] > 50 and statuses[404] and statuses[403] and statuses[422], statuses
