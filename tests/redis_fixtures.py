"""A private redis-server for tests of the Redis paths: started on a free port, stoppable and
restartable mid-test. Needs Debian's redis-server (``make redis-server`` installs it); under CI a
missing server fails the tests instead of skipping them, so a green run always exercised Redis.
The fixtures (``redis_server``, one server per run) are in tests/conftest.py."""

from __future__ import annotations

from bench.redis_proc import RedisProcess

RedisServer = RedisProcess
