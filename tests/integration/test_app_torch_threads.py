"""TWEETEMBED_TORCH_THREADS: its default leaves a core to the event loop, it is validated, and loading
a model applies it (torch's default of one thread per core halves throughput on 2 cores)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import app.settings as settings_module
from app.api.factory import default_backend_factory
from app.engine.model_backend import ModelBackend, apply_torch_threads
from app.settings import Settings, SettingsError, default_torch_threads, load_settings


@pytest.mark.parametrize(("cores", "threads"), [(None, 1), (1, 1), (2, 1), (3, 2), (8, 7)])
def test_default_leaves_a_core_to_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, threads: int
) -> None:
    monkeypatch.setattr(settings_module.os, "cpu_count", lambda: cores)
    assert default_torch_threads() == threads
    assert Settings(fake_backend=True).torch_threads == threads


def test_setting_is_read_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWEETEMBED_TORCH_THREADS", "3")
    assert load_settings(fake_backend=True).torch_threads == 3
    monkeypatch.setenv("TWEETEMBED_TORCH_THREADS", "0")
    with pytest.raises(SettingsError, match="TWEETEMBED_TORCH_THREADS"):
        load_settings(fake_backend=True)


def _stub_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import model.checkpoint
    import model.embedder
    import model.heads.loader

    config = SimpleNamespace(components=("text",), dim=4)
    stub = SimpleNamespace(config=config, checkpoint_digest="d" * 64)
    monkeypatch.setattr(model.embedder.TweetEmbedder, "load", classmethod(lambda cls, *a, **k: stub))
    monkeypatch.setattr(model.heads.loader, "load_heads", lambda path: SimpleNamespace())
    monkeypatch.setattr(model.checkpoint, "verify_checkpoint", lambda path: path)  # no manifest here


def test_model_load_applies_the_thread_count(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _stub_model(monkeypatch)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        ModelBackend.load(tmp_path, device="cpu", torch_threads=1)
        assert torch.get_num_threads() == 1
        # a second load in the same process (inter-op threads already fixed) must not fail
        ModelBackend.load(tmp_path, device="cpu", torch_threads=2)
        assert torch.get_num_threads() == 2
        assert apply_torch_threads(1) == 1
    finally:
        torch.set_num_threads(before)


def test_the_service_passes_its_setting_to_the_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    seen: dict[str, Any] = {}

    def fake_load(path: Path, **kwargs: Any) -> str:
        seen.update(kwargs)
        return "backend"

    monkeypatch.setattr(ModelBackend, "load", staticmethod(fake_load))
    settings = Settings(checkpoint=tmp_path, device="cpu", torch_threads=3)
    assert default_backend_factory(settings)() == "backend"
    assert seen["torch_threads"] == 3
