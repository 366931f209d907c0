"""API keys and settings validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.api.auth import key_matches
from app.settings import SettingsError, load_settings
from tests.app_fixtures import error_of, running_app

KEY = "k" * 20
OTHER = "o" * 24


@pytest.mark.asyncio
async def test_no_key_needed_by_default() -> None:
    async with running_app() as (_, client):
        assert (await client.post("/embed", json={"tweet": {"id": 1, "text": "x"}})).status_code == 200


@pytest.mark.asyncio
async def test_api_keys_when_configured() -> None:
    async with running_app(api_keys=[KEY, OTHER]) as (_, client):
        body = {"tweet": {"id": 1, "text": "x"}}
        missing = await client.post("/embed", json=body)
        assert missing.status_code == 401 and error_of(missing)["type"] == "unauthorized"
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await client.post("/embed", json=body, headers={"Authorization": f"Bearer {KEY}x"})
        assert wrong.status_code == 401 and "invalid" in error_of(wrong)["message"]
        basic = await client.post("/embed", json=body, headers={"Authorization": f"Basic {KEY}"})
        assert basic.status_code == 401
        for key in (KEY, OTHER):
            ok = await client.post("/embed", json=body, headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200
        # Auth comes before body parsing: a bad body without a key is still a 401, not a 400.
        garbage = await client.post("/embed", content=b"{", headers={"content-type": "application/json"})
        assert garbage.status_code == 401
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/info", headers={"Authorization": f"Bearer {KEY}"})).status_code == 200
        for open_path in ("/health", "/ready", "/openapi.json"):
            assert (await client.get(open_path)).status_code == 200
        schema = (await client.get("/openapi.json")).json()
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_key_matching_is_exact() -> None:
    assert key_matches(KEY, [OTHER, KEY])
    assert not key_matches(KEY[:-1], [KEY])
    assert not key_matches("ключ-" + KEY, [KEY])  # non-ASCII must not raise


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWEETEMBED_FAKE_BACKEND", "1")
    monkeypatch.setenv("TWEETEMBED_API_KEYS", f" {KEY} , {OTHER} ")
    assert load_settings().api_keys == [KEY, OTHER]
    monkeypatch.setenv("TWEETEMBED_API_KEYS", "short")
    with pytest.raises(SettingsError, match=r"TWEETEMBED_API_KEYS: .*shorter than 16"):
        load_settings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "TWEETEMBED_CHECKPOINT"),
        ({"TWEETEMBED_CHECKPOINT": "/no/such/dir"}, "is not a directory"),
        ({"TWEETEMBED_FAKE_BACKEND": "1", "TWEETEMBED_DEVICE": "tpu"}, "TWEETEMBED_DEVICE"),
        (
            {"TWEETEMBED_FAKE_BACKEND": "1", "TWEETEMBED_FP16": "1", "TWEETEMBED_DEVICE": "cpu"},
            "needs a CUDA",
        ),
        ({"TWEETEMBED_FAKE_BACKEND": "1", "TWEETEMBED_REDIS_URL": "localhost:6379"}, "redis://"),
        ({"TWEETEMBED_FAKE_BACKEND": "1", "TWEETEMBED_BATCH_MAX_SIZE": "0"}, "TWEETEMBED_BATCH_MAX_SIZE"),
        ({"TWEETEMBED_FAKE_BACKEND": "1", "TWEETEMBED_MAX_IMAGE_BYTES": str(10**9)}, "MAX_BODY_BYTES"),
    ],
)
def test_settings_errors_are_clear(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_checkpoint_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"no config\.json"):
        load_settings(checkpoint=tmp_path)
