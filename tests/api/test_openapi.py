"""The OpenAPI document: well-formed, complete, and obeyed by the running server (checked with schemathesis)."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, ignored_auth, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from cryptobot.api.openapi import build_openapi
from cryptobot.api.routes import ROUTES
from cryptobot.tests.api.conftest import start_engine

DOCUMENT = build_openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, ignored_auth]
JWT_ONLY = {(r.method, r.path) for r in ROUTES if r.access.schemes == ("jwt",)}


def test_document_lists_every_route():
    operations = {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item}
    assert operations == {(r.method, r.path) for r in ROUTES} | {("GET", "/api/v1/openapi.json")}
    assert DOCUMENT["openapi"] == "3.1.0"
    assert set(DOCUMENT["webhooks"]) == {"trade.executed", "trade.closed", "strategy.started", "strategy.stopped",
                                         "api_key.rotated", "security.alert"}


def test_every_error_response_uses_error_body():
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, \
                        (method, path, status)
                assert "X-RateLimit-Remaining" in response["headers"], (method, path, status)


@pytest.fixture(scope="module")
def live(pg_server, clickhouse_data_dir, sample_data):
    """An engine of its own (the generated requests change its state) with an admin's credentials.

    Background jobs stay off, so webhooks registered with generated URLs
    never receive a delivery.
    """
    engine, url = start_engine(pg_server, clickhouse_data_dir, sample_data, app_options={"background_jobs": False})
    admin = engine.run_sync(lambda: engine.new_user(roles=("admin",)))
    yield engine, admin
    engine.stop()
    pg_server.supply.give_back(url)


@schema.parametrize()
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_server_obeys_document(case, live):
    engine, admin = live
    jwt_only = (case.method.upper(), case.path) in JWT_ONLY
    headers = admin.bearer() if jwt_only else admin.key()
    with requests.Session() as session:
        response = case.call(base_url=engine.url, session=session, headers=headers, timeout=10)
    case.validate_response(response, checks=CHECKS, headers=headers)

