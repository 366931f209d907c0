"""The one way a JSON request body becomes a request model, on every endpoint.

FastAPI's own body handling answers invalid JSON, an empty body and an integer too long to convert
each in its own way (400, 422, a 500 from Python's int-size ValueError), so routes take their body
through ``json_body`` instead, and /embed's JSON and multipart ``request`` field go through
``parse_json`` and ``validate_body`` too. The OpenAPI request bodies of these routes come from
``json_request_body``; the models it names are registered with the schema in app/api/factory.py.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from app.api.errors import ApiError, describe_validation

M = TypeVar("M", bound=BaseModel)

# Models whose schema the OpenAPI document must carry because a route names them by reference.
BODY_MODELS: dict[str, type[BaseModel]] = {}


def parse_json(raw: bytes | str, what: str) -> Any:
    """``raw`` as JSON; ``what`` names it in messages ("request body", "multipart field 'request'")."""
    if not raw.strip():
        raise ApiError("validation_error", f"{what}: is empty; send a JSON object")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError("malformed_json", f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError("malformed_json", f"{what} is not valid JSON: nested too deeply") from None
    except ValueError:
        # Python refuses to convert integers of more than sys.get_int_max_str_digits() digits: valid
        # JSON, but no field of this API takes such a number.
        raise ApiError("validation_error", f"{what}: contains an integer with too many digits") from None


def validate_body(model: type[M], obj: Any) -> M:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise ApiError("validation_error", describe_validation([dict(e) for e in exc.errors()])) from None


def json_body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency that reads the request's JSON body into ``model`` (body already bounded by the
    body-limit middleware)."""

    async def read(request: Request) -> M:
        return validate_body(model, parse_json(await request.body(), "request body"))

    read.__name__ = f"json_body_{model.__name__}"
    return read


def json_request_body(model: type[BaseModel], **extra_content: Any) -> dict[str, Any]:
    """``openapi_extra`` for a route whose body ``json_body`` reads: the model, by reference."""
    BODY_MODELS[model.__name__] = model
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
                **extra_content,
            },
        }
    }
