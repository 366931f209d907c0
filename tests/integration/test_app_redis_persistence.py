"""A Redis restart loses no stored tweet (issue 11, defect 4): redis-server started from the project's
own configuration (deploy/redis.conf, the file docker-compose.yml mounts), tweets stored through the
app, Redis stopped with SIGTERM and started again on the same directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from app.engine.store import RedisStore
from bench.redis_proc import PROJECT_CONFIG, RedisProcess
from bench.service_proc import ROOT
from tests.app_fixtures import running_app

pytestmark = pytest.mark.redis


@pytest.fixture
def project_redis(tmp_path: Path) -> RedisProcess:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server not installed (make redis-server)")
        pytest.skip("redis-server not installed (make redis-server)")
    return RedisProcess(tmp_path / "redis", config=PROJECT_CONFIG)


@pytest.mark.asyncio
async def test_every_acknowledged_tweet_survives_a_redis_restart(project_redis: RedisProcess) -> None:
    redis = project_redis
    redis.start()
    users = [f"user-{u}" for u in range(5)]
    acknowledged: dict[str, int] = {}
    try:
        assert redis.command("config", "get", "appendonly").split()[-1] == "yes"
        async with running_app(redis_url=redis.url, store_max_tweets=1000) as (_, client):
            for batch in range(8):
                for user in users:
                    tweets = [{"id": f"{user}-{batch}-{i}", "text": f"post {batch} {i}"} for i in range(3)]
                    response = await client.post(f"/users/{user}/tweets", json={"tweets": tweets})
                    assert response.status_code == 201, response.text
                    acknowledged[user] = response.json()["total"]
        before = {u: redis.lrange(RedisStore.key(u)) for u in users}
        redis.terminate()  # SIGTERM: how compose, systemd or Kubernetes stop it
        assert redis.command("ping") != "PONG"
        redis.start()
        after = {u: redis.lrange(RedisStore.key(u)) for u in users}
        assert after == before  # every stored entry, byte for byte, in order
        assert {u: len(v) for u, v in after.items()} == acknowledged == {u: 24 for u in users}
        async with running_app(redis_url=redis.url, store_max_tweets=1000) as (app, client):
            for user in users:
                stored = await app.state.service.store.recent(user, 1000)
                assert len(stored) == 24
                assert (await client.get(f"/bot-score/{user}")).status_code == 200
    finally:
        redis.stop()


def test_compose_runs_redis_with_the_project_config_on_a_named_volume() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    redis = compose["services"]["redis"]
    mounts = [str(v) for v in redis["volumes"]]
    conf = next(m for m in mounts if m.startswith("./deploy/redis.conf:"))
    inside = conf.split(":")[1]
    assert redis["command"][:2] == ["redis-server", inside]
    assert len(redis["command"]) == 2  # nothing on the command line overrides the file
    data = next(m for m in mounts if m.endswith(":/data"))
    assert data.split(":")[0] in compose["volumes"]  # a named volume, kept across container restarts
    settings = dict(
        line.split(None, 1) for line in PROJECT_CONFIG.read_text().splitlines() if line and line[0] != "#"
    )
    assert settings["appendonly"] == "yes" and "dir" not in settings  # the image's working dir: /data
    assert settings["appendfsync"] in ("always", "everysec")
