"""A pooled Redis connection that Redis reset (RST, as a dying Redis does to a connection with unread
input) must be replaced on its next use, not answered with a 503 after Redis is back.

asyncio records a reset as the stream's exception, not as end of file, so redis-py's check of a
connection taken from the pool passes it; only the command sent on it fails. The proxy here resets the
link's connections while the redis-server behind it keeps running, which is that case exactly."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from app.engine.redis_link import RedisLink
from app.engine.store import RedisStore, StoredTweet
from model.heads.bot_features import TweetFields
from tests.redis_fixtures import RedisServer

pytestmark = [pytest.mark.asyncio, pytest.mark.redis]


class ResettingProxy:
    """Forwards TCP to a redis-server; ``reset_all`` resets every client connection open now."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.clients: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self.clients.append(writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def reset_all(self) -> None:
        for writer in self.clients:
            sock = writer.get_extra_info("socket")
            # Linger on, timeout 0: close() sends RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self.clients.clear()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_a_pooled_connection_reset_by_redis_is_replaced_on_its_next_use(
    redis_server: RedisServer,
) -> None:
    proxy = ResettingProxy(redis_server.port)
    port = await proxy.start()
    link = RedisLink(f"redis://127.0.0.1:{port}/0")
    store = RedisStore(link, max_tweets=10, ttl_s=3600, max_users=100)
    try:
        assert await store.recent("alice", 10) == []  # one connection, now idle in the pool
        proxy.reset_all()
        await asyncio.sleep(0.05)  # the reset has reached the client's event loop
        assert await store.recent("alice", 10) == []  # must not raise StoreUnavailableError
        proxy.reset_all()  # the store's write (a transaction) after a reset
        await asyncio.sleep(0.05)
        fields = TweetFields(None, 0, 0, 0, (), False, 1, 5, False, False, "hello")
        assert await store.append("alice", [StoredTweet(fields, None, None)]) == 1
        assert [t.fields.text for t in await store.recent("alice", 10)] == ["hello"]  # stored once
        assert link.up
    finally:
        await link.close()
        await proxy.close()
