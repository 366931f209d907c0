"""The app factory: ``create_app(settings)`` builds one independent service (its own metrics
registry, cache, store and batcher), which is what lets tests run many apps in one process."""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import Receive, Scope, Send

from app.api.auth import BearerAuthMiddleware
from app.api.body import BODY_MODELS
from app.api.errors import install_error_handlers
from app.api.middleware import (
    AdmissionMiddleware,
    BodyLimitMiddleware,
    EarlyRefusal,
    MetricsMiddleware,
    RouteTable,
)
from app.api.routes import embed, heads, ops, users
from app.engine.backend import Backend
from app.engine.metrics import ServiceMetrics
from app.engine.service import EmbeddingService
from app.settings import Settings, load_settings

log = logging.getLogger(__name__)

DESCRIPTION = """Multimodal tweet embeddings (Rivas et al. 2022): one joint space for a tweet's text, image,
hashtags, location and user, and the heads built on it (hashtag recommendation, location prediction,
bot detection, retrieval). Every error is `{"error": {"type": ..., "message": ...}}`."""


class ServiceApp(FastAPI):
    """FastAPI with the early refusal in front of everything, its own middleware included: under
    overload most requests end there, so it must cost as little as a request can."""

    early_refusal: EarlyRefusal | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.early_refusal is not None and await self.early_refusal(scope, receive, send):
            return
        await super().__call__(scope, receive, send)


def default_backend_factory(settings: Settings) -> Callable[[], Backend]:
    def load() -> Backend:
        if settings.fake_backend:
            from app.engine.fake_backend import FakeBackend

            return FakeBackend(delay_s=settings.fake_delay_ms / 1000.0)
        from app.engine.model_backend import ModelBackend

        assert settings.checkpoint is not None  # Settings validation guarantees it
        return ModelBackend.load(
            settings.checkpoint,
            device=settings.device,
            fp16=settings.fp16,
            torch_threads=settings.torch_threads,
            model_process=settings.model_process,
            model_processes=settings.model_processes,
        )

    return load


def schema_limits(components: dict[str, Any], settings: Settings) -> None:
    """Write the configured limits into the request schemas, so that the schema says what this server
    accepts: the static bounds in app/api/schemas.py are only the widest any configuration allows."""
    tweet = components["TweetIn"]["properties"]
    tweet["text"]["anyOf"][0]["maxLength"] = settings.max_text_chars
    tweet["hashtags"]["anyOf"][0]["maxItems"] = settings.max_hashtags
    for name in ("EmbedRequest", "HashtagRequest", "LocationRequest", "SearchRequest", "StoreRequest"):
        fields = components[name]["properties"]
        fields["tweets"]["maxItems"] = settings.max_batch_tweets
        if "k" in fields:
            fields["k"]["maximum"] = settings.max_k
    text, texts = components["OpenAIEmbeddingRequest"]["properties"]["input"]["anyOf"]
    text["maxLength"] = texts["items"]["maxLength"] = settings.max_text_chars
    texts["maxItems"] = settings.max_batch_tweets


def create_app(
    settings: Settings | None = None,
    backend: Backend | Callable[[], Backend] | None = None,
    load_before_serving: bool = False,
) -> FastAPI:
    """A service for ``settings`` (default: from the environment). ``backend`` overrides what is
    served: an instance (tests) or a zero-argument loader run in a worker thread at start-up.
    ``load_before_serving`` makes start-up wait for the load (no 503 window), for test harnesses."""
    settings = settings or load_settings()
    if backend is None:
        loader = default_backend_factory(settings)
    elif callable(backend) and not hasattr(backend, "embed"):
        loader = backend
    else:
        instance: Backend = backend  # type: ignore[assignment]

        def loader() -> Backend:
            return instance

    metrics = ServiceMetrics()
    service = EmbeddingService(settings, metrics, loader)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        if load_before_serving:
            await service.wait_loaded()
        try:
            yield
        finally:
            # Uvicorn has stopped accepting and drained open requests by now; finish queued batches.
            await service.stop()

    # No redirect_slashes: its 307 builds Location from the Host header; /embed/ is a 404 like any
    # unknown path.
    app = ServiceApp(
        title="tweetembed",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.service = service
    install_error_handlers(app)
    for module in (embed, heads, users, ops):
        app.include_router(module.router)

    # Routes are matched once per request, by the outermost middleware, for every one after it.
    routes = RouteTable(
        [route for module in (embed, heads, users, ops) for route in module.router.routes],
        model=[route for module in (embed, heads, users) for route in module.router.routes],
    )
    # Inside the body reader: a permit is taken once the body is in, so slow uploads cannot hold one.
    app.add_middleware(AdmissionMiddleware, admission=service.admission, routes=routes)
    # Inside auth: an unauthenticated request takes no reading place and its body is never read.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        multipart_paths=frozenset({"/embed"}),
        read_timeout_s=settings.body_read_timeout_s,
        max_reading=settings.max_reading_requests,
    )
    app.add_middleware(BearerAuthMiddleware, keys=settings.api_keys)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=routes)
    # Before all of them: with every permit taken, a refusal costs no body read and no middleware.
    app.early_refusal = EarlyRefusal(service.admission, routes, metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():
                # GET and HEAD of /health and /ready are one route, so FastAPI gives both operations
                # one id (and warns); each gets its own below.
                warnings.filterwarnings("ignore", "Duplicate Operation ID", UserWarning)
                schema = get_openapi(
                    title=app.title, version=app.version, description=app.description, routes=app.routes
                )
            for item in schema["paths"].values():
                if "get" in item and "head" in item:
                    base = item["get"]["operationId"].removesuffix("_head").removesuffix("_get")
                    item["get"] = {**item["get"], "operationId": f"{base}_get"}
                    item["head"] = {**item["head"], "operationId": f"{base}_head"}
            # Routes read their bodies themselves (app/api/body.py), so the models are registered here.
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model_name, model in BODY_MODELS.items():
                body = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, definition in body.pop("$defs", {}).items():
                    components.setdefault(name, definition)
                components[model_name] = body
            schema_limits(components, settings)
            if settings.api_keys:
                schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
                schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
