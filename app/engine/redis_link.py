"""One Redis connection shared by the cache and the store, with a short memory of failures.

After a failure, callers that can do without Redis (the cache) skip it for ``retry_s`` seconds
rather than paying a timeout per request; the next call after that window tries again, which is
how the service recovers when Redis comes back.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


class RedisLink:
    def __init__(self, url: str, timeout_s: float = 0.5, retry_s: float = 2.0) -> None:
        # One immediate retry on a broken connection, none on a timeout. A pooled connection that Redis
        # reset (RST) as it went down is not seen as closed when taken from the pool (asyncio keeps a
        # reset as the stream's error, not as end of file), so its first command after Redis is back
        # fails; the retry reconnects. A refused connection fails again at once, and a hung server is
        # still left after one timeout, so a dead Redis is bypassed as fast as before. A command reset
        # while being written never ran; one whose reply a reset cut off after it ran runs again, so
        # the rare cost is a tweet stored twice, never one lost.
        self.client: Redis[bytes] = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            health_check_interval=0,
        )
        self.url = url
        self.retry_s = retry_s
        self._down_until = 0.0
        self.up = True

    def available(self) -> bool:
        """False while inside the back-off window after a failure."""
        return time.monotonic() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        if self.up:
            log.warning("redis at %s unavailable: %s", self.url, exc)
        self.up = False
        self._down_until = time.monotonic() + self.retry_s

    def succeeded(self) -> None:
        if not self.up:
            log.info("redis at %s is back", self.url)
        self.up = True

    async def ping(self) -> bool:
        try:
            await self.client.ping()
        except REDIS_ERRORS as exc:
            self.failed(exc)
            return False
        self.succeeded()
        return True

    async def close(self) -> None:
        await self.client.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose
