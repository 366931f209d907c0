"""The Ray paths, on a Ray started here with 2 CPUs: the Ray Data engine of embed-batch against the local
engine, a worker killed mid-batch, and the service on Ray Serve (/ready, /embed, 429).

Needs the optional extra (`pip install -e '.[ray]'`; `make test` installs it). One Ray session serves
the whole module; it is shut down at the end."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the Ray tests need the optional extra: pip install -e '.[ray]'")

from bench.service_proc import free_port  # noqa: E402
from model.embedder import TweetEmbedder  # noqa: E402
from tests.batch_fixtures import tiny_checkpoint  # noqa: E402
from training.embed_batch.local import run_local  # noqa: E402
from training.embed_batch.parquet_io import describe, load_embeddings, model_digest, parquet_files  # noqa: E402
from training.embed_batch.ray_engine import RayEmbedder, run_ray  # noqa: E402
from training.readers import read_tweets  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=256 * 1024 * 1024,
        runtime_env={"env_vars": {"PYTHONPATH": os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}},
    )
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_checkpoint(tmp_path_factory.mktemp("ray"))


def _local(ckpt: Path, data: Path, out: Path) -> tuple[list[str], Any]:
    embedder = TweetEmbedder.load(ckpt, device="cpu")
    run_local(
        read_tweets(data),
        embedder.embed,
        out,
        components=list(embedder.config.components),
        dim=embedder.config.dim,
        digest=embedder.checkpoint_digest,
        model=model_digest(ckpt),
        batch_size=32,
    )
    return load_embeddings(out, model_digest(ckpt))


def _by_id(ids: list[str], batch: Any) -> dict[str, int]:
    assert len(ids) == len(set(ids)), "a tweet was written more than once"
    return {tweet_id: i for i, tweet_id in enumerate(ids)}


def test_ray_engine_writes_the_local_engines_vectors(
    ray_session: None, tiny: tuple[Path, Path], tmp_path: Path
) -> None:
    ckpt, work = tiny
    data = work / "splits"
    summary = run_ray(data, ckpt, tmp_path / "ray", batch_size=16, actors=1)
    local_ids, local = _local(ckpt, data, tmp_path / "local")
    ray_ids, remote = load_embeddings(tmp_path / "ray", model_digest(ckpt))
    assert summary["rows"] == len(local_ids) == 96
    assert sorted(ray_ids) == sorted(local_ids)
    order = [_by_id(ray_ids, remote)[t] for t in local_ids]
    remote = remote.rows(np.asarray(order))
    components = TweetEmbedder.load(ckpt, device="cpu").config.components
    assert set(components) == {"text", "image", "hashtags", "location", "user"}
    for name in components:
        assert np.array_equal(remote.present[name], local.present[name]), name
        assert remote.present[name].any(), f"no tweet has {name}: the comparison would be empty"
        assert np.allclose(remote.components[name], local.components[name], atol=1e-5), name
    assert np.allclose(remote.average, local.average, atol=1e-5)
    files = parquet_files(tmp_path / "ray")
    assert {describe(f)["model_digest"] for f in files} == {model_digest(ckpt)}


def test_a_worker_killed_mid_batch_still_writes_every_row_once(
    ray_session: None, tiny: tuple[Path, Path], tmp_path: Path
) -> None:
    ckpt, work = tiny
    marker = tmp_path / "killed"

    class DiesOnce(RayEmbedder):
        """Embeds half its first batch, then the actor's process is SIGKILLed (once across restarts)."""

        def __call__(self, batch: Any) -> Any:
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                self.embedder.embed([])  # some work under way, nothing returned yet
                os.kill(os.getpid(), signal.SIGKILL)
            return super().__call__(batch)

    summary = run_ray(work / "splits", ckpt, tmp_path / "out", batch_size=16, actors=1, embedder_cls=DiesOnce)
    assert marker.exists(), "the worker was never killed: the test proves nothing"
    ids, _ = load_embeddings(tmp_path / "out")
    expected = sorted(t.id for t in read_tweets(work / "splits"))
    assert sorted(ids) == expected  # every row, none twice
    assert summary["rows"] == len(expected)


def _wait_ready(client: Any, timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = client.get("/ready")
            if response.status_code == 200 or time.monotonic() > deadline:
                return response
        except Exception:  # the proxy is not listening yet
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


@pytest.fixture(scope="module")
def serve_port(ray_session: None) -> Iterator[int]:
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        yield port
    finally:
        serve.shutdown()


def test_serve_deployment_answers_ready_and_embed_with_the_model(
    serve_port: int, tiny: tuple[Path, Path]
) -> None:
    import httpx
    from ray import serve

    from app.ray_serve import build_app

    ckpt, _ = tiny
    app = build_app({"checkpoint": str(ckpt), "model_process": False, "torch_threads": 1, "num_replicas": 1})
    serve.run(app, name="tweetembed", route_prefix="/", blocking=False)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{serve_port}", timeout=30) as client:
            assert _wait_ready(client).status_code == 200
            tweet = {"id": "7", "text": "t0w1 t0w2 hello #topic0", "hashtags": ["topic0"]}
            response = client.post("/embed", json={"tweets": [tweet]})
            assert response.status_code == 200, response.text
            result = response.json()["results"][0]
            assert set(result["components"]) == {"text", "hashtags"}
            from model.record import Tweet

            expected = TweetEmbedder.load(ckpt, device="cpu").embed(
                [Tweet(id="7", text=tweet["text"], hashtags=("topic0",))]
            )
            assert np.allclose(result["average"], expected.average[0], atol=1e-5)
            bad = client.post("/embed", json={"tweets": [{"id": "8"}]})
            assert bad.status_code == 422 and "error" in bad.json()
    finally:
        serve.delete("tweetembed")


def test_serve_overload_is_the_services_429(serve_port: int) -> None:
    import concurrent.futures

    import httpx
    from ray import serve

    from app.ray_serve import build_app

    app = build_app(
        {
            "fake_backend": True,
            "fake_delay_ms": 400,
            "max_inflight_requests": 2,
            "batch_max_size": 1,
            "num_replicas": 1,
        }
    )
    serve.run(app, name="overload", route_prefix="/", blocking=False)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{serve_port}", timeout=60) as client:
            assert _wait_ready(client).status_code == 200

            def one(i: int) -> httpx.Response:
                return client.post("/embed", json={"tweets": [{"id": str(i), "text": f"tweet {i}"}]})

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                responses = list(pool.map(one, range(8)))
        codes = sorted(r.status_code for r in responses)
        assert 200 in codes and 429 in codes, codes
        refused = [r for r in responses if r.status_code == 429]
        assert all(r.json()["error"]["type"] == "queue_full" for r in refused)  # the service's, not Ray's
        assert all("retry-after" in r.headers for r in refused)
    finally:
        serve.delete("overload")
