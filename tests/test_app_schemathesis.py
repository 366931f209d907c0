"""Property-based requests generated from the OpenAPI schema: no input may cause a server error,
and responses must match their documented status codes, content types and schemas."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.fake_backend import FakeBackend
from app.main import create_app
from app.settings import Settings

APP = create_app(
    Settings(fake_backend=True, batch_max_wait_ms=0, max_batch_tweets=8),
    FakeBackend(),
    load_before_serving=True,
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
