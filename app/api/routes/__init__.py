"""HTTP routes, one module per group of endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.types import DecoratedCallable
from pydantic import BaseModel

from app.api.body import json_request_body
from app.api.schemas import ErrorResponse


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can return, all in the one error shape."""
    return {status: {"model": ErrorResponse, "description": "Error"} for status in statuses}


COMMON_ERRORS = (400, 401, 413, 415, 422, 429, 503)


def json_post(
    router: APIRouter,
    path: str,
    request: type[BaseModel],
    response: type[BaseModel],
    summary: str,
    **route: Any,
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """A POST route whose body ``json_body(request)`` reads: every such route documents its body and
    the common errors the same way, so that the OpenAPI document cannot differ from one to the next."""
    return router.post(
        path,
        response_model=response,
        openapi_extra=json_request_body(request),
        responses=error_responses(*COMMON_ERRORS),
        summary=summary,
        **route,
    )
