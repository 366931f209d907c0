"""Property-based requests generated from the OpenAPI schema: no input may cause a server error,
responses must match their documented status codes, content types and schemas, schema-violating
requests must be refused (ST201) and schema-valid ones accepted (ST202).

ST202 has one carve-out, listed in ``SCHEMA_CANNOT_SAY``: rules about content that a JSON schema
cannot state (that bytes decode as an image, that a multipart field holds a valid request, that a
tweet's user is the path's user, ...). A refusal is excused only with the error type and message of
one of those rules; any other refusal of schema-valid data fails the test.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig

from app.api.factory import create_app
from app.engine.fake_backend import FakeBackend
from app.settings import Settings

APP = create_app(
    Settings(fake_backend=True, batch_max_wait_ms=0, max_batch_tweets=8),
    FakeBackend(),
    load_before_serving=True,
)
# 413 is how this API refuses a batch past max_batch_tweets (and a body past max_body_bytes): a
# rejection like 422, which schemathesis' default list for schema-violating requests leaves out.
REJECTED = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    APP,
    config=SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": REJECTED}}}
    ),
)

SCHEMA_CANNOT_SAY: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Whether a string or an upload is an image, and its pixel count, are known only once decoded.
    ("invalid_image", re.compile(r"(image_base64|image_\d+): ")),
    ("image_too_large", re.compile(r"(image_base64|image_\d+): ")),
    # The multipart `request` field is described as JSON text, not generated as a valid request.
    ("malformed_json", re.compile(r"^multipart field 'request'")),
    ("validation_error", re.compile(r"^multipart field 'request'|^image_\d+: there is no tweet")),
    # Cross-field rules: a stored tweet's user_id is the path's user; store: true needs user ids.
    ("validation_error", re.compile(r"is not the path's user|store: true needs a user_id")),
    # The model's dimension is known once it is loaded.
    ("validation_error", re.compile(r"^dimensions: this model has")),
    # Hashtags extracted from the text count towards the limit too.
    ("validation_error", re.compile(r"hashtags exceeds the limit")),
)


def _excused(response: schemathesis.Response) -> bool:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(
        error.get("type") == kind and rule.search(error.get("message", ""))
        for kind, rule in SCHEMA_CANNOT_SAY
    )


@schemathesis.check
def positive_data_accepted(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """positive_data_acceptance, less the refusals in SCHEMA_CANNOT_SAY."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except AssertionError:
        if _excused(response):
            return None
        raise


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_schema_conformance(case: schemathesis.Case) -> None:
    # Every built-in check (not_a_server_error, status code, content type, response schema and
    # headers conformance, negative_data_rejection, ...), with the positive-data check above.
    case.call_and_validate(
        excluded_checks=[positive_data_acceptance], additional_checks=[positive_data_accepted]
    )
