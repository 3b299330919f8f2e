"""Schemathesis generates requests from the app's OpenAPI description (valid and invalid
bodies, parameters and identifiers) and sends them as an administrator and anonymously:
no answer may be a server error."""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings

sys.path.insert(0, str(Path(__file__).parent))
from security_app import PASSWORD, open_secure_app  # noqa: E402

schemathesis = pytest.importorskip("schemathesis")


def test_no_server_error_for_any_generated_request(sqlite_settings):
    sec = asyncio.run(open_secure_app(sqlite_settings, password_user=True))
    from hounsfield.auth import accounts

    accounts.update_user(sec.db, "rad", roles=["admin"])  # Basic: immune to token revocation
    basic = "Basic " + base64.b64encode(f"rad:{PASSWORD}".encode()).decode()
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", sec.app)
    failures: list[str] = []
    operations = 0
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            @hypothesis_settings(max_examples=20, deadline=None, database=None,
                                 suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def check(case) -> None:
                for headers in ({"Authorization": basic}, {}):
                    response = case.call(headers=headers)
                    if response.status_code >= 500:
                        failures.append(f"{case.method} {case.formatted_path} "
                                        f"{case.query} {case.body!r}: {response.status_code} "
                                        f"{response.text[:200]}")
            check()
    finally:
        asyncio.run(sec.close())
    assert operations >= 25
    assert failures == []
