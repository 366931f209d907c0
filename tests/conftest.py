"""Fixtures the whole suite shares, each built once per run.

- ``tiny_trained`` / ``tiny_checkpoint``: a dim-16 checkpoint with every head, trained on the
  model_fixtures world (2 epochs, then build-heads). Tests that change a checkpoint copy it first.
- ``e2e_pipeline``: the real CLI path on a 2k-tweet synthetic world (synth -> prepare -> train ->
  build-heads), the slowest thing the suite builds.
- ``redis_session`` / ``redis_server``: one private redis-server for the run; ``redis_server`` hands
  it to a test empty and running, whatever the test before did to it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline_helpers import E2E_TWEETS, run_cli
from tests.redis_fixtures import RedisServer


@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint with heads, the WORK directory it was trained on). Treat both as read-only."""
    import torch

    from tests.app_fixtures import train_tiny_checkpoint

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        return train_tiny_checkpoint(tmp_path_factory.mktemp("tiny_checkpoint"))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_trained: tuple[Path, Path]) -> Path:
    return tiny_trained[0]


@pytest.fixture(scope="session")
def e2e_pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """world, work, ckpt and root of one synth -> prepare -> train -> build-heads run. Read-only."""
    root = tmp_path_factory.mktemp("e2e")
    paths = {"world": root / "world", "work": root / "work", "ckpt": root / "ckpt", "root": root}
    run_cli("synth", "--out", paths["world"], "--tweets", E2E_TWEETS, "--seed", 11, "--quiet")
    run_cli("prepare", paths["world"], "--out", paths["work"], "--config", "small")
    run_cli(
        "train",
        paths["work"],
        "--config",
        "small",
        "--epochs",
        2,
        "--out",
        paths["ckpt"],
        "--threads",
        1,
        "--max-val",
        200,
    )
    run_cli("build-heads", paths["ckpt"], paths["world"])
    return paths


@pytest.fixture(scope="session")
def redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        message = "redis-server not installed (make redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        if server.command("ping") == "PONG":
            server.stop()


@pytest.fixture
def redis_server(redis_session: RedisServer) -> Iterator[RedisServer]:
    """The run's redis-server, running and empty; tests may stop and start it."""
    if redis_session.command("ping") != "PONG":
        redis_session.start()
    redis_session.command("flushall")
    yield redis_session
    if redis_session.command("ping") != "PONG":
        redis_session.start()
