"""Optional bearer-token authentication, checked before the body is read.

With no keys configured (the localhost demo) every request passes; with keys, every path but the
open ones needs ``Authorization: Bearer <key>``. Keys are compared with hmac.compare_digest against
every configured key, so the time taken says nothing about how much of a key was right.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.errors import error_response

OPEN_PATHS: frozenset[str] = frozenset(
    {"/health", "/ready", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)


def key_matches(presented: str, keys: list[str]) -> bool:
    given = presented.encode("utf-8")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode("utf-8"))
    return matched


class BearerAuthMiddleware:
    def __init__(self, app: ASGIApp, keys: list[str], open_paths: frozenset[str] = OPEN_PATHS) -> None:
        self.app = app
        self.keys = keys
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        header = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            response = error_response(
                "unauthorized",
                "missing 'Authorization: Bearer <API key>' header",
                headers={"WWW-Authenticate": "Bearer"},
            )
        elif not key_matches(token.strip(), self.keys):
            response = error_response(
                "unauthorized", "invalid API key", headers={"WWW-Authenticate": "Bearer"}
            )
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)
