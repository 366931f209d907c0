"""The service on Ray Serve: the same FastAPI app (``create_app``) behind ``serve.ingress``, N replicas.

Each replica builds its own app from Settings (the ``TWEETEMBED_*`` variables of the replica plus the
overrides given here or in serve.yaml) and loads the model once, in its lifespan, as ``tweetembed
serve`` does; every middleware, limit and error of the service applies unchanged.

Request limits: the replica's admission bound (``Settings.inflight_limit``) is the limit that answers
an overload, with the service's own 429 (``queue_full``, Retry-After). Ray's per-replica
``max_ongoing_requests`` is therefore set above it, by ``OPS_HEADROOM`` requests for /health, /ready,
/metrics and the 429 answers themselves, so that Ray hands the replica every request the replica would
admit and the replica refuses the rest itself. Ray's proxy also counts a request as queued while it
picks a replica for it, so a burst queues there briefly even when replicas have room: its bound,
``max_queued_requests``, is ``PROXY_QUEUE_FACTOR`` times what the replicas hold at Ray's limit, a
last resort for when the replicas cannot even answer 429 fast enough. Ray answers those with 429 too
(``backpressure_config``, plain text), so a client sees one status, 429, for "too much load".

Ray is an optional extra (``pip install -e '.[ray]'``); nothing else in app/ imports this module.
"""

from __future__ import annotations

from typing import Any

from app.settings import Settings, load_settings

OPS_HEADROOM = 8
PROXY_RETRY_AFTER_S = 1.0
PROXY_QUEUE_FACTOR = 4
MISSING = "Ray Serve is not installed: it needs the optional extra, pip install -e '.[ray]'"
SERVE_OPTIONS = ("num_replicas", "num_cpus", "num_gpus")  # builder args that are Ray's, not Settings


def import_serve() -> Any:
    try:
        from ray import serve
    except ImportError as exc:
        raise RuntimeError(MISSING) from exc
    return serve


def deployment_options(
    settings: Settings, num_replicas: int = 1, num_cpus: float = 1.0, num_gpus: float = 0.0
) -> dict[str, Any]:
    """Ray's options for one deployment of ``settings``: its request limits derived from the service's."""
    ongoing = settings.inflight_limit + OPS_HEADROOM
    return {
        "num_replicas": num_replicas,
        "max_ongoing_requests": ongoing,
        "max_queued_requests": PROXY_QUEUE_FACTOR * ongoing * num_replicas,
        "backpressure_config": {"status_code": 429, "retry_after_s": PROXY_RETRY_AFTER_S},
        "ray_actor_options": {"num_cpus": num_cpus, "num_gpus": num_gpus},
        # Shutdown follows the service's own drain time (SIGTERM handling of `tweetembed serve`).
        "graceful_shutdown_timeout_s": settings.graceful_shutdown_s,
    }


class _TweetembedReplica:
    """One replica: settings built in the replica's process, the app built from them by Serve."""

    def __init__(self, overrides: dict[str, Any]) -> None:
        self.settings = load_settings(**overrides)

    def __serve_build_asgi_app__(self) -> Any:  # called by Serve once per replica, after __init__
        from app.api.factory import create_app

        return create_app(self.settings)


def build_app(args: dict[str, Any] | None = None) -> Any:
    """The Serve application (``import_path: app.ray_serve:build_app`` in serve.yaml).

    ``args``: Settings fields by name (``checkpoint``, ``batch_max_size``, ...), plus ``num_replicas``,
    ``num_cpus`` and ``num_gpus`` per replica. The settings are validated here, so a bad config fails
    at deploy time, and again in every replica (which also reads its own ``TWEETEMBED_*`` variables).
    """
    serve = import_serve()
    overrides = dict(args or {})
    ray_args = {k: overrides.pop(k) for k in SERVE_OPTIONS if k in overrides}
    if "checkpoint" in overrides:
        overrides["checkpoint"] = str(overrides["checkpoint"])
    settings = load_settings(**overrides)
    deployment = serve.deployment(name="tweetembed")(serve.ingress()(_TweetembedReplica))
    options = deployment_options(
        settings,
        num_replicas=int(ray_args.get("num_replicas", 1)),
        num_cpus=float(ray_args.get("num_cpus", 1.0)),
        num_gpus=float(ray_args.get("num_gpus", 0.0)),
    )
    return deployment.options(**options).bind(overrides)
