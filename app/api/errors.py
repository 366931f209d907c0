"""The one error model: every failure is ``{"error": {"type": ..., "message": ...}}``.

Statuses come from ``ERROR_STATUS`` alone, and docs/SERVICE.md's table is generated from it
(`make docs`), so that the docs and the code cannot drift. This module is also the only place where
the engine's domain errors (app/engine/errors.py) become HTTP: ``ENGINE_ERRORS`` names each one's type.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.engine.errors import (
    BackendUnavailableError,
    DependencyDownError,
    EngineError,
    HeadMissingError,
    NotReadyError,
    OverloadedError,
    ShuttingDownError,
    UserNotFoundError,
)

log = logging.getLogger(__name__)

ERROR_STATUS: dict[str, int] = {
    "malformed_json": 400,
    "bad_request": 400,
    "unauthorized": 401,
    "not_found": 404,
    "user_not_found": 404,
    "method_not_allowed": 405,
    "request_timeout": 408,
    "body_too_large": 413,
    "batch_too_large": 413,
    "image_too_large": 413,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "invalid_image": 422,
    "queue_full": 429,
    "internal_error": 500,
    "not_ready": 503,
    "model_unavailable": 503,
    "head_unavailable": 503,
    "store_unavailable": 503,
    "shutting_down": 503,
}


# Most specific first: the first class an error is an instance of picks its type.
ENGINE_ERRORS: tuple[tuple[type[EngineError], str], ...] = (
    (NotReadyError, "not_ready"),
    (ShuttingDownError, "shutting_down"),
    (OverloadedError, "queue_full"),
    (HeadMissingError, "head_unavailable"),
    (UserNotFoundError, "user_not_found"),
    (DependencyDownError, "store_unavailable"),
    (BackendUnavailableError, "model_unavailable"),
)


class ApiError(Exception):
    """An error the client should see; ``type`` picks the status from ERROR_STATUS."""

    def __init__(self, type: str, message: str, headers: dict[str, str] | None = None) -> None:
        if type not in ERROR_STATUS:
            raise ValueError(f"unknown error type {type!r}")
        super().__init__(message)
        self.type = type
        self.message = message
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.type]


def error_body(type: str, message: str) -> dict[str, Any]:
    return {"error": {"type": type, "message": message}}


def error_response(type: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(type, message), status_code=ERROR_STATUS[type], headers=headers)


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _is_type_tag(part: str) -> bool:
    # Union members appear in pydantic's locations ("constrained-str", "function-after[...]"); a client
    # thinks in field names only.
    return part in _TYPE_TAGS or "[" in part or part.startswith(("constrained-", "function-"))


def _field_path(loc: tuple[int | str, ...]) -> str:
    # ("body", "tweets", 0, "text") -> "tweets[0].text": the form a client writes the field in.
    parts = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _is_type_tag(part):
            out += f".{part}" if out else part
    return out or (str(loc[0]) if loc else "body")


def describe_validation(errors: list[dict[str, Any]]) -> str:
    parts = []
    for e in errors[:5]:
        message = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{_field_path(tuple(e.get('loc', ())))}: {message}")
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.type, exc.message, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = errors[0].get("ctx", {}) or {}
        return error_response(
            "malformed_json", f"request body is not valid JSON: {ctx.get('error', 'parse error')}"
        )
    return error_response("validation_error", describe_validation(errors))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    by_status = {
        404: "not_found",
        405: "method_not_allowed",
        401: "unauthorized",
        413: "body_too_large",
        415: "unsupported_media_type",
        422: "validation_error",
        503: "not_ready",
    }
    type = by_status.get(exc.status_code, "bad_request")
    message = str(exc.detail) if exc.detail else type.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = "no such endpoint; see /docs"
    headers = dict(exc.headers) if exc.headers else None
    return error_response(type, message, headers)


async def _engine_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EngineError)
    type = next(name for cls, name in ENGINE_ERRORS if isinstance(exc, cls))
    message = exc.message
    retry_after = exc.retry_after_s
    if isinstance(exc, BackendUnavailableError):
        log.error("model unavailable: %s", exc)
        # The detail (which process, its exit code) is for the log; the client learns which part failed.
        message = "the model cannot answer: its process is not running; see the server log"
        retry_after = 5
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return error_response(type, message, headers)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response("internal_error", "internal error; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(EngineError, _engine_error)
    app.add_exception_handler(Exception, _unexpected)
