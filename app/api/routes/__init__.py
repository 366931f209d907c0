"""HTTP routes, one module per group of endpoints."""

from __future__ import annotations

from typing import Any

from app.api.schemas import ErrorResponse


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can return, all in the one error shape."""
    return {status: {"model": ErrorResponse, "description": "Error"} for status in statuses}


COMMON_ERRORS = (400, 401, 413, 415, 422, 429, 503)
