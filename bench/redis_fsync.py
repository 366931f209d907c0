"""What each Redis fsync policy costs the recent-tweet store, on this machine's disk: the figures
behind ``appendfsync`` in deploy/redis.conf (README "Redis persistence").

For each policy (``always``, ``everysec``, no append-only file) a redis-server is started from the
project's configuration with only that changed, and two loads are run against it:
  store:  RedisStore.append itself (the service's MULTI LPUSH LTRIM LLEN), one tweet per call,
          ``--concurrency`` calls in flight, paper-size averages (1,024 floats);
  http:   POST /users/{u}/tweets through `tweetembed serve --fake` with the store in that Redis;
  redis:  redis-benchmark LPUSH of an entry that size (Redis alone, no Python client in the way).

    python -m bench.redis_fsync [--seconds 8] [--concurrency 16] [--dir work/bench/redis-fsync]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from app.engine.redis_link import RedisLink
from app.engine.store import RedisStore, StoredTweet
from bench import loadgen
from bench.loadgen import Request, closed_loop
from bench.redis_proc import PROJECT_CONFIG, RedisProcess
from bench.service_proc import ROOT, ServerProcess, free_port, service_argv

POLICIES: dict[str, list[str]] = {
    "always": ["--appendfsync", "always"],
    "everysec": ["--appendfsync", "everysec"],
    "off (no AOF)": ["--appendonly", "no"],
}
N_USERS = 200


def _tweet(i: int) -> StoredTweet:
    record = {
        "id": f"fs-{i}",
        "text": f"an ordinary tweet of some length, number {i} #bench",
        "hashtags": ["bench"],
    }
    average = np.random.default_rng(i).standard_normal(1024).astype(np.float32)  # (dim,)
    return StoredTweet(record, average / np.linalg.norm(average), "0" * 64)


async def store_load(url: str, seconds: float, concurrency: int) -> tuple[float, float]:
    """(appends/s, p99 latency s) of RedisStore.append from ``concurrency`` tasks."""
    link = RedisLink(url, timeout_s=5.0)
    store = RedisStore(link, 100)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        for i in counter:
            if time.perf_counter() >= deadline:
                return
            t0 = time.perf_counter()
            await store.append(f"user-{i % N_USERS}", [_tweet(i % 1000)])
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await link.close()
    return len(latencies) / elapsed, float(np.quantile(latencies, 0.99))


def http_load(base_url: str, seconds: float, concurrency: int) -> tuple[float, float, dict[int, int]]:
    def make(i: int) -> Request:
        body = {"tweets": [{"id": f"h-{i}", "text": f"an ordinary tweet number {i} #bench"}]}
        return Request(f"/users/user-{i % N_USERS}/tweets", json.dumps(body).encode())

    async def go() -> loadgen.RunResult:
        async with loadgen.make_client(base_url, concurrency, 30) as client:
            await closed_loop(client, make, concurrency, 100_000, 1.0)  # warm-up
            return await closed_loop(client, make, concurrency, 10**7, seconds)

    r = asyncio.run(go())
    return len(r.ok) / r.duration_s, r.latency_quantile(0.99), dict(r.statuses)


def redis_benchmark(port: int, concurrency: int, requests: int = 20_000) -> tuple[float, float]:
    """(LPUSH/s, p99 ms) of redis-benchmark pushing a stored tweet's size (about 5.6 KB) to 200 keys."""
    entry = _tweet(0).to_json()
    out = subprocess.run(
        [
            *("redis-benchmark", "-p", str(port), "-c", str(concurrency), "-n", str(requests)),
            *("-r", str(N_USERS), "--csv", "LPUSH", "tweetembed:recent:__rand_int__", entry),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    # The last line ends with rps, avg, min, p50, p95, p99, max (the test's name, which holds the
    # entry's quotes and commas, comes first and is not parsed).
    fields = out.strip().splitlines()[-1].replace('"', "").split(",")
    rps, _, _, _, _, p99, _ = (float(v) for v in fields[-7:])
    return rps, p99


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--dir", type=Path, default=ROOT / "work" / "bench" / "redis-fsync")
    args = parser.parse_args()
    rows = []
    for name, extra in POLICIES.items():
        workdir = args.dir / name.split()[0]
        shutil.rmtree(workdir, ignore_errors=True)
        redis = RedisProcess(workdir, config=PROJECT_CONFIG, extra=extra)
        redis.start()
        try:
            redis_rate, redis_p99 = redis_benchmark(redis.port, args.concurrency)
            redis.command("flushall")
            store_rate, store_p99 = asyncio.run(store_load(redis.url, args.seconds, args.concurrency))
            port = free_port()
            with ServerProcess(
                service_argv(None, port, fake=True),
                port,
                args.dir / f"serve-{name.split()[0]}.log",
                env={"TWEETEMBED_REDIS_URL": redis.url},
            ) as server:
                http_rate, http_p99, statuses = http_load(server.base_url, args.seconds, args.concurrency)
        finally:
            redis.stop()
        row = {
            "policy": name,
            "redis_lpush_per_s": redis_rate,
            "redis_p99_ms": redis_p99,
            "store_per_s": store_rate,
            "store_p99_ms": 1000 * store_p99,
            "http_per_s": http_rate,
            "http_p99_ms": 1000 * http_p99,
            "http_statuses": statuses,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    c = args.concurrency
    print(
        f"\n| appendfsync | redis-benchmark LPUSH/s (c={c}) | p99 "
        "| RedisStore.append/s | p99 | HTTP store/s | p99 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['policy']} | {r['redis_lpush_per_s']:,.0f} | {r['redis_p99_ms']:.1f} ms "
            f"| {r['store_per_s']:,.0f} | {r['store_p99_ms']:.1f} ms "
            f"| {r['http_per_s']:,.0f} | {r['http_p99_ms']:.1f} ms |"
        )


if __name__ == "__main__":
    main()
