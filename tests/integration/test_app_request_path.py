"""What one request costs the event loop: no thread hop to resolve a dependency, and no full garbage
collection over what start-up left alive (both measured as large costs; see app/api/deps.py and
app/engine/gc_freeze.py)."""

from __future__ import annotations

import gc
from typing import Any

import fastapi.dependencies.utils as dependency_utils
import pytest

from tests.app_fixtures import running_app

pytestmark = pytest.mark.asyncio


async def test_model_endpoints_resolve_their_dependencies_without_the_thread_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hops: list[str] = []
    real = dependency_utils.run_in_threadpool

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(dependency_utils, "run_in_threadpool", counting)
    async with running_app(cache_enabled=False) as (_, client):
        tweet = {"id": "1", "text": "coffee downtown #coffee"}
        assert (await client.post("/embed", json={"tweet": tweet})).status_code == 200
        assert (await client.post("/recommend-hashtags", json={"tweet": tweet})).status_code == 200
        assert (await client.get("/info")).status_code == 200
    assert hops == []


async def test_start_up_objects_are_frozen_while_serving_and_released_at_shutdown() -> None:
    gc.unfreeze()
    async with running_app() as (_, client):
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # at least the app, its routes and schemas
        assert (await client.post("/embed", json={"tweet": {"id": "1", "text": "hi"}})).status_code == 200
    assert gc.get_freeze_count() == 0
