"""TWEETEMBED_GIL_SWITCH_INTERVAL_MS: the service shortens the GIL switch interval while it runs (so
its forward thread does not wait 5 ms behind a busy event loop) and puts the old one back at shutdown."""

from __future__ import annotations

import sys

import pytest

from app.settings import Settings, SettingsError, load_settings
from tests.app_fixtures import running_app


@pytest.mark.asyncio
async def test_interval_applies_while_running_and_is_restored() -> None:
    before = sys.getswitchinterval()
    async with running_app(gil_switch_interval_ms=0.25) as (_, client):
        assert sys.getswitchinterval() == pytest.approx(0.00025)
        assert (await client.post("/embed", json={"tweet": {"id": "1", "text": "hi"}})).status_code == 200
    assert sys.getswitchinterval() == pytest.approx(before)


def test_default_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(fake_backend=True).gil_switch_interval_ms == 0.5
    monkeypatch.setenv("TWEETEMBED_GIL_SWITCH_INTERVAL_MS", "0")
    with pytest.raises(SettingsError, match="TWEETEMBED_GIL_SWITCH_INTERVAL_MS"):
        load_settings(fake_backend=True)
