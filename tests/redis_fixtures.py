"""A private redis-server for tests of the Redis paths: started on a free port, stoppable and
restartable mid-test. Needs Debian's redis-server (``make redis-server`` installs it); under CI a
missing server fails the tests instead of skipping them, so a green run always exercised Redis."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.redis_proc import RedisProcess

RedisServer = RedisProcess


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        message = "redis-server not installed (make redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = RedisProcess(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
