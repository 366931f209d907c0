"""The forward pass in child processes (app/engine/model_process.py): same numbers as in process, a clear
error when the checkpoint is bad, a 503 (not a 500) when a process dies, several processes computing
side by side, and no process left behind."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from app.api.factory import create_app
from app.engine.model_backend import ModelBackend
from app.engine.model_process import ModelProcessError, ModelProcessPool, RemoteEmbedder
from app.settings import Settings
from model.embedder import TweetEmbedder
from model.record import Tweet

pytestmark = pytest.mark.slow
torch.set_num_threads(2)

TWEETS = [
    Tweet(id="1", text="coffee downtown this morning #coffee", hashtags=("coffee",)),
    Tweet(id="2", text="the game tonight was loud"),
    Tweet(id="3", text=None, hashtags=("music", "live")),
]


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint  # tests/conftest.py: trained once per run


def test_remote_embedder_matches_the_in_process_one(checkpoint: Path) -> None:
    local = TweetEmbedder.load(checkpoint, device="cpu")
    remote = RemoteEmbedder(checkpoint, device="cpu", torch_threads=1)
    try:
        assert remote.config == local.config and remote.checkpoint_digest == local.checkpoint_digest
        assert remote.torch_threads == 1
        want, got = local.embed(TWEETS, [None] * 3), remote.embed(TWEETS, [None] * 3)
        assert np.allclose(got.average, want.average, atol=1e-6)
        for c in local.config.components:
            assert np.array_equal(got.present[c], want.present[c])
            assert np.allclose(got.components[c], want.components[c], atol=1e-6)
        texts = ["in the city", ""]
        assert np.allclose(remote.embed_texts(texts), local.embed_texts(texts), atol=1e-6)
    finally:
        remote.close()
    assert not remote.alive


def test_a_bad_checkpoint_is_an_error_that_says_why(tmp_path: Path) -> None:
    with pytest.raises(ModelProcessError, match="could not load"):
        RemoteEmbedder(tmp_path / "missing", device="cpu")


def test_a_pool_that_cannot_load_says_why_and_leaves_no_process(tmp_path: Path) -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    with pytest.raises(ModelProcessError, match="could not load"):
        ModelProcessPool(tmp_path / "missing", 2, device="cpu")
    assert {p.pid for p in multiprocessing.active_children()} <= before


def test_an_error_in_one_batch_leaves_the_process_serving(checkpoint: Path) -> None:
    remote = RemoteEmbedder(checkpoint, device="cpu", torch_threads=1)
    try:
        with pytest.raises(ModelProcessError, match="images for"):
            remote.embed(TWEETS, [None])  # one image for three tweets
        assert remote.embed(TWEETS[:1], [None]).average.shape == (1, remote.config.dim)
    finally:
        remote.close()


@pytest.mark.asyncio
async def test_a_dead_model_process_answers_503_and_shutdown_ends_it(checkpoint: Path) -> None:
    app = create_app(Settings(checkpoint=checkpoint, device="cpu", model_process=True, cache_enabled=False))
    async with app.router.lifespan_context(app):
        service = app.state.service
        await service.wait_loaded()
        backend = service.backend
        assert isinstance(backend, ModelBackend), service.load_error
        pool = backend.embedder
        assert isinstance(pool, ModelProcessPool) and pool.processes == 1
        remote = pool.members[0]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = await client.post("/embed", json={"tweet": {"id": "1", "text": "hello there"}})
            assert first.status_code == 200, first.text
            info = (await client.get("/info")).json()
            assert info["model_process"] is True
            os.kill(remote._process.pid, signal.SIGKILL)  # what the OOM killer would do
            remote._process.join(10)
            dead = await client.post("/embed", json={"tweet": {"id": "2", "text": "anyone there"}})
            assert dead.status_code == 503, dead.text
            assert dead.json()["error"]["type"] == "model_unavailable"
            ready = await client.get("/ready")  # so that an orchestrator restarts the service
            assert ready.status_code == 503 and "model process died" in ready.json()["detail"]
    assert service.backend is None


@pytest.mark.asyncio
async def test_shutdown_stops_a_live_model_process(checkpoint: Path) -> None:
    app = create_app(Settings(checkpoint=checkpoint, device="cpu", model_process=True))
    async with app.router.lifespan_context(app):
        await app.state.service.wait_loaded()
        pool = app.state.service.backend.embedder
        assert pool.alive
    assert not pool.alive and all(m._process.exitcode == 0 for m in pool.members)


def test_a_pool_computes_on_every_process_at_once_and_closes_them_all(checkpoint: Path) -> None:
    local = TweetEmbedder.load(checkpoint, device="cpu")
    want = local.embed(TWEETS, [None] * 3).average
    pool = ModelProcessPool(checkpoint, 2, device="cpu", torch_threads=1)
    try:
        assert pool.processes == 2 and pool.config == local.config
        assert len({m.pid for m in pool.members}) == 2
        # Hold one member busy from this thread: a call from another thread must go to the other one.
        busy = pool._idle.get()
        try:
            assert np.allclose(pool.embed(TWEETS, [None] * 3).average, want, atol=1e-6)
        finally:
            pool._idle.put(busy)
        results: list[np.ndarray] = []
        threads = [
            threading.Thread(target=lambda: results.append(pool.embed(TWEETS, [None] * 3).average))
            for _ in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 6 and all(np.allclose(r, want, atol=1e-6) for r in results)
        os.kill(pool.members[1]._process.pid, signal.SIGKILL)
        pool.members[1]._process.join(10)
        assert not pool.alive  # one dead process makes the service unready
    finally:
        pool.close()
    assert all(not m.alive for m in pool.members)


@pytest.mark.asyncio
async def test_the_service_runs_one_batch_worker_per_model_process(checkpoint: Path) -> None:
    settings = Settings(
        checkpoint=checkpoint, device="cpu", model_process=True, model_processes=2, cache_enabled=False
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        service = app.state.service
        await service.wait_loaded()
        assert service.batcher.workers == 2
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            info = (await client.get("/info")).json()
            assert info["model_processes"] == 2
            answers = await asyncio.gather(
                *(
                    client.post("/embed", json={"tweet": {"id": str(i), "text": f"tweet {i}"}})
                    for i in range(8)
                )
            )
            assert [a.status_code for a in answers] == [200] * 8
        pool = service.backend.embedder
    assert not pool.alive
