"""Liveness, readiness, metrics and what is being served."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import ServiceDep, SettingsDep
from app.api.routes import error_responses
from app.api.schemas import InfoResponse, StatusResponse

router = APIRouter(tags=["operations"])


# HEAD answers as GET does; the server sends no body (load balancers and `curl -I` probe with it).
@router.api_route(
    "/health",
    methods=["GET", "HEAD"],
    response_model=StatusResponse,
    summary="Liveness: the process answers",
)
async def health() -> StatusResponse:
    return StatusResponse(status="ok")


@router.api_route(
    "/ready",
    methods=["GET", "HEAD"],
    response_model=StatusResponse,
    responses={503: {"model": StatusResponse}},
    summary="Readiness: 503 until the checkpoint and heads are loaded, and if the model process dies",
)
async def ready(service: ServiceDep) -> Response:
    backend = service.backend
    if backend is None or not backend.alive:
        if backend is not None:
            detail = "the model process died; restart the service"
        elif service.load_error:
            detail = f"loading failed: {service.load_error}"
        else:
            detail = "loading the checkpoint"
        return JSONResponse(
            StatusResponse(status="not ready", detail=detail).model_dump(),
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse(StatusResponse(status="ready").model_dump())


@router.get(
    "/metrics",
    response_class=Response,
    responses=error_responses(401),
    summary="Prometheus metrics: requests, latencies, batch sizes, queue depth, cache hit rate",
)
async def metrics(service: ServiceDep) -> Response:
    return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/info",
    response_model=InfoResponse,
    responses=error_responses(401, 503),
    summary="Checkpoint config, components, dims, manifest hash, device, heads, limits",
)
async def info(service: ServiceDep, settings: SettingsDep) -> InfoResponse:
    backend = service.require_backend()
    details = backend.info()
    limits: dict[str, int | float] = {
        name: getattr(settings, name)
        for name in (
            "max_body_bytes",
            "max_batch_tweets",
            "max_text_chars",
            "max_hashtags",
            "max_image_bytes",
            "max_image_pixels",
            "max_k",
            "batch_max_size",
            "batch_max_wait_ms",
            "queue_max",
            "store_max_tweets",
        )
    }
    limits["max_inflight_requests"] = settings.inflight_limit
    redis = None
    if service.redis is not None:
        redis = "up" if await service.redis.ping() else "down"
    return InfoResponse(
        backend=backend.kind,
        checkpoint_digest=backend.checkpoint_digest,
        manifest_hash=backend.checkpoint_digest,
        components=list(backend.components),
        dim=backend.dim,
        device=str(details.get("device", "cpu")),
        fp16=bool(details.get("fp16", False)),
        model_process=bool(details.get("model_process", False)),
        model_processes=int(details.get("model_processes", 0)),
        heads=backend.heads_available(),
        cache=service.cache.kind,
        store=service.store.kind,
        redis=redis,
        config=dict(details.get("config", {})),
        limits=limits,
        bot_detector=details.get("bot_detector"),
    )
