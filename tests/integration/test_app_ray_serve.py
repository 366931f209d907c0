"""app/ray_serve.py without a Ray cluster: Ray's request limits derived from the service's, serve.yaml
matching the builder, and a clear error without the extra.
(tests/integration/test_ray.py runs the deployment.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.ray_serve import OPS_HEADROOM, PROXY_QUEUE_FACTOR, SERVE_OPTIONS, build_app, deployment_options
from app.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("overrides", "limit"),
    [({}, 128), ({"batch_max_size": 8}, 32), ({"max_inflight_requests": 5}, 5), ({"queue_max": 10}, 10)],
)
def test_rays_limit_sits_above_the_services_so_the_service_answers_429(
    overrides: dict[str, int], limit: int
) -> None:
    settings = load_settings(fake_backend=True, **overrides)
    assert settings.inflight_limit == limit
    options = deployment_options(settings, num_replicas=3)
    # Ray hands a replica every request the service would admit, plus room for ops endpoints and 429s.
    assert options["max_ongoing_requests"] == limit + OPS_HEADROOM
    assert options["max_queued_requests"] == PROXY_QUEUE_FACTOR * (limit + OPS_HEADROOM) * 3
    assert options["backpressure_config"]["status_code"] == 429
    assert options["num_replicas"] == 3


def test_serve_yaml_names_the_builder_and_only_known_arguments() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "deploy" / "serve.yaml").read_text(encoding="utf-8"))
    (application,) = config["applications"]
    assert application["import_path"] == "app.ray_serve:build_app"
    known = set(Settings.model_fields) | set(SERVE_OPTIONS)
    assert set(application["args"]) <= known, set(application["args"]) - known
    # Ray's request limits come from the settings (deployment_options), never from the YAML.
    for deployment in application.get("deployments", []):
        assert not {"max_ongoing_requests", "max_queued_requests"} & set(deployment)
    try:
        from ray.serve.schema import ServeDeploySchema
    except ImportError:
        # without the extra, the check of Ray's own schema is left to tests/integration/test_ray.py's CI run
        return
    ServeDeploySchema.model_validate(config)


def test_without_ray_the_builder_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[ray\]'"):
        build_app({"fake_backend": True})
