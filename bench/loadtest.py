"""`make loadtest`: load and fault scenarios against the real `tweetembed serve` process on loopback.
Each prints PASS/FAIL against its conditions with its figures; every loop is bounded in time and count.

    python -m bench.loadtest [--quick] [--steady-s 60] [--overload-s 30] [--out docs/BENCHMARKS.md]
    python -m bench.loadtest --only redis-restart [--work-small WORK --ckpt-small CKPT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.engine.store import StoredTweet
from bench import loadgen, report
from bench.artifacts import ensure
from bench.loadgen import TIMEOUT, TRANSPORT_ERROR, Outcome, Request, RunResult, closed_loop, open_loop
from bench.service_proc import ROOT, ServerProcess, free_port, service_argv
from bench.workload import Workload, load_workload

if TYPE_CHECKING:
    from bench.redis_proc import RedisProcess

NO_CACHE = {"TWEETEMBED_CACHE_ENABLED": "false"}


def echo(message: str) -> None:
    print(f"[loadtest {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Scenario:
    name: str
    conditions: str
    figures: str
    passed: bool

    def show(self) -> None:
        print(
            f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.figures}  [{self.conditions}]",
            flush=True,
        )


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{1000 * seconds:.0f} ms"


def counts(result: RunResult) -> str:
    return ", ".join(
        f"{'timeout' if k == TIMEOUT else 'conn-error' if k == TRANSPORT_ERROR else k}: {v}"
        for k, v in sorted(result.statuses.items())
    )


def capacity(base_url: str, workload: Workload, concurrency: int, seconds: float) -> float:
    async def go() -> float:
        async with loadgen.make_client(base_url, concurrency, 60) as client:
            await closed_loop(client, workload.request, concurrency, 100_000, min(2.0, seconds))
            result = await closed_loop(client, workload.request, concurrency, 1_000_000, seconds)
            return result.throughput

    return asyncio.run(go())


# A step of the sustained-rate search passes when every answer is 2xx, nothing is left unsent and the
# p99 stays under this (a queue that keeps up stays short; one that does not grows for the whole step).
SUSTAINED_P99_S = 0.25
SUSTAINED_STEPS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def sustained_capacity(
    base_url: str, workload: Workload, closed_loop_cap: float, step_s: float
) -> tuple[float, list[dict[str, Any]]]:
    """The highest constant arrival rate, of SUSTAINED_STEPS x the closed-loop capacity, that the
    service keeps up with for ``step_s`` seconds at the first try; and every step's figures.

    Why not the closed-loop figure itself: 32 clients that each send when answered arrive in bursts,
    which the batcher turns into full batches; arrivals spread evenly make smaller batches, so the
    same service keeps up with a lower arrival rate (measured: 1,350/s fine and 1,450/s not, against
    1,798/s closed loop). An arrival-rate scenario is set against the arrival rate the service holds.
    """
    steps: list[dict[str, Any]] = []
    best = 0.0
    for share in SUSTAINED_STEPS:
        rate = share * closed_loop_cap
        # A step that falls behind is tried once more: one stall of a few hundred ms (a GC pass, another
        # process on these 2 cores) decides a 5 s step's p99, and the search must not stop on it. But
        # only a rate kept up with at the first try counts as sustained: one that needed the second
        # try is marginal, and the scenarios run at shares of this rate for a minute and more.
        first_try = False
        for attempt in (1, 2):
            r = arrivals(base_url, workload.request, rate, step_s)
            p99 = r.latency_quantile(0.99)
            ok = len(r.ok) == len(r.outcomes) > 0 and r.not_sent == 0 and p99 <= SUSTAINED_P99_S
            refused = len(r.outcomes) - len(r.ok)  # 429s (bursts past the in-flight bound) and errors
            steps.append(
                {
                    "rate": rate,
                    "ok": ok,
                    "p99_s": p99,
                    "not_sent": r.not_sent,
                    "sent": len(r.outcomes),
                    "not_2xx": refused,
                }
            )
            verdict = "kept up" if ok else "fell behind"
            figures = report.step_figures(steps[-1])
            echo(f"sustained rate: {rate:.0f} req/s, try {attempt} -> {verdict} ({figures})")
            time.sleep(1.0)  # let the queue and the connections settle before the next step
            if ok:
                first_try = attempt == 1
                break
        if not ok:
            break
        if first_try:
            best = rate
    return best, steps


def arrivals(
    base_url: str,
    make_request: Callable[[int], Request],
    rate: float | Callable[[float], float],
    seconds: float,
    max_in_flight: int = 512,
    timeout_s: float = 30.0,
) -> RunResult:
    async def go() -> RunResult:
        async with loadgen.make_client(base_url, max_in_flight, timeout_s) as client:
            return await open_loop(client, make_request, rate, seconds, max_in_flight)

    return asyncio.run(go())


def steady(base_url: str, workload: Workload, cap: float, seconds: float) -> tuple[Scenario, float]:
    rate = 0.8 * cap
    echo(f"steady: {rate:.0f} req/s for {seconds:.0f} s")
    r = arrivals(base_url, workload.request, rate, seconds)
    ok = len(r.ok) == len(r.outcomes) and r.not_sent == 0 and len(r.outcomes) > 0
    p99 = r.latency_quantile(0.99)
    return Scenario(
        "constant arrival at 80% of capacity",
        f"{seconds:.0f} s at {rate:.0f} req/s: 0 errors (every answer 2xx, none unsent)",
        f"{len(r.outcomes)} requests ({counts(r)}), not sent {r.not_sent}; "
        f"p50 {ms(r.latency_quantile(0.5))}, p99 {ms(p99)}",
        ok,
    ), p99


def overload(
    base_url: str, workload: Workload, cap: float, seconds: float, steady_p99: float, queue_max: int
) -> Scenario:
    """3x capacity, then 0.5x: accepted p99 bounded, the rest 429, no 5xx or timeouts, prompt recovery."""
    after_s = max(5.0, seconds / 3)
    echo(f"overload: {3 * cap:.0f} req/s for {seconds:.0f} s, then {0.5 * cap:.0f} req/s for {after_s:.0f} s")
    r = arrivals(
        base_url,
        workload.request,
        lambda t: 3 * cap if t < seconds else 0.5 * cap,
        seconds + after_s,
        max_in_flight=1024,
    )
    hot, cool = r.window(0, seconds), r.window(seconds, seconds + after_s)
    drain_s = queue_max / cap  # a full queue empties at capacity within this
    bound = max(1.0, 3 * drain_s)
    recovered = cool.window(seconds + drain_s + 0.5, seconds + after_s)
    accepted_p99 = hot.latency_quantile(0.99)
    rejected = hot.statuses.get(429, 0)
    recovered_p99 = recovered.latency_quantile(0.99)
    recover_bound = max(0.25, 3 * steady_p99)
    checks = {
        "no 5xx": r.server_errors == 0,
        "no timeouts or connection errors": r.timeouts == 0 and r.transport_errors == 0,
        "only 2xx or 429": r.errors == 0,
        "some 429 under overload": rejected > 0,
        "accepted p99 bounded": accepted_p99 <= bound,
        "recovered: all 2xx": len(recovered.ok) == len(recovered.outcomes) > 0,
        "recovered: p99 back near steady": recovered_p99 <= recover_bound,
    }
    failed = [k for k, v in checks.items() if not v]
    return Scenario(
        "3x capacity, then load drops",
        f"no 5xx/timeouts, rest 429, accepted p99 <= {ms(bound)}, after the drop (+{drain_s + 0.5:.1f} s) "
        f"all 2xx with p99 <= {ms(recover_bound)}",
        f"overload: {len(hot.outcomes)} sent ({counts(hot)}), accepted {len(hot.ok) / hot.duration_s:.0f}/s, "
        f"p50 {ms(hot.latency_quantile(0.5))}, accepted p99 {ms(accepted_p99)}, not sent {r.not_sent}; "
        f"after: {len(recovered.outcomes)} ({counts(recovered)}), p99 {ms(recovered_p99)}"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        not failed and r.not_sent == 0,
    )


def unstored(redis: RedisProcess, prefix: str, n_users: int, acked: Iterable[int]) -> int:
    """How many acknowledged store requests (``{prefix}-{k}``, sent for users ``{prefix}-user-{u}``)
    are not in Redis. The store keeps the bot head's fields, not ids: each request's text leads
    with its marker."""
    found = {
        StoredTweet.from_json(raw).fields.text.split(" ", 1)[0]
        for u in range(n_users)
        for raw in redis.lrange(f"tweetembed:recent:{prefix}-user-{u}")
    }
    return sum(1 for k in acked if f"{prefix}-{k}" not in found)


def redis_outage(
    ckpt: Path, workload: Workload, cap: float, base: Path, down_s: float, logs: Path
) -> Scenario:
    """Redis (cache + store) stopped for ``down_s`` mid-run and started again."""
    from bench.redis_proc import RedisProcess

    redis = RedisProcess(base / "redis-loadtest", free_port(), durable=True)
    for stale in ("appendonlydir", "appendonly.aof"):
        target = redis.workdir / stale
        if target.is_dir():
            import shutil

            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    redis.start()
    port = free_port()
    server = ServerProcess(
        service_argv(ckpt, port), port, logs / "loadtest-redis.log", env={"TWEETEMBED_REDIS_URL": redis.url}
    )
    server.start()
    before, after = 5.0, 8.0
    total = before + down_s + after
    store_rate = 8.0
    embed_rate = 0.4 * cap
    n_users = 40
    bodies = [json.loads(b)["tweet"] for b in workload.bodies]

    def store_request(i: int) -> Request:
        tweet = {**bodies[i % len(bodies)], "id": f"lt-{i}"}
        # The store keeps the bot head's fields, not the id: the marker leads the kept text.
        tweet["text"] = f"lt-{i} " + str(tweet.get("text") or "")
        tweet.pop("user_id", None)
        return Request(f"/users/lt-user-{i % n_users}/tweets", json.dumps({"tweets": [tweet]}).encode())

    events: dict[str, float] = {}

    async def go() -> tuple[RunResult, RunResult, dict[int, int]]:
        acked: dict[int, int] = {}
        async with loadgen.make_client(server.base_url, 256, 10) as client:
            loop = asyncio.get_running_loop()
            t0 = time.perf_counter()

            async def fault() -> None:
                await asyncio.sleep(before)
                await loop.run_in_executor(None, redis.stop)
                events["down"] = time.perf_counter() - t0
                await asyncio.sleep(down_s)
                # Redis may answer before start() returns: "while down" ends when the start begins.
                events["starting"] = time.perf_counter() - t0
                await loop.run_in_executor(None, redis.start)
                events["up"] = time.perf_counter() - t0

            async def store_with_ids() -> RunResult:
                # Remembers which store requests were acknowledged (201), by index.
                result = RunResult()
                i = 0
                next_at = time.perf_counter()
                tasks = []

                async def one(k: int, scheduled: float) -> None:
                    status = await client.send(store_request(k))
                    if status == 201:
                        acked[k] = status
                    result.outcomes.append(Outcome(scheduled - t0, time.perf_counter() - scheduled, status))

                while next_at - t0 < total:
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                    tasks.append(asyncio.create_task(one(i, next_at)))
                    i += 1
                    next_at += 1 / store_rate
                await asyncio.gather(*tasks)
                result.duration_s = time.perf_counter() - t0
                return result

            embed_task = asyncio.create_task(open_loop(client, workload.request, embed_rate, total, 256))
            store_result, _, embed_result = await asyncio.gather(store_with_ids(), fault(), embed_task)
            return embed_result, store_result, acked

    echo(
        f"redis outage: /embed at {embed_rate:.0f} req/s and stores at {store_rate:.0f} req/s "
        f"for {total:.0f} s, Redis down for {down_s:.0f} s"
    )
    try:
        embed_r, store_r, acked = asyncio.run(go())
        missing = unstored(redis, "lt", n_users, acked)
    finally:
        server.stop()
        redis.stop()
    down, up = events.get("down", before), events.get("up", before + down_s)
    during = store_r.window(down + 0.2, events.get("starting", up))
    after_r = store_r.window(up + 1.0, total)
    checks = {
        "/embed: no 5xx, timeouts or connection errors": embed_r.errors == 0 and embed_r.not_sent == 0,
        "store: 503 while Redis is down": len(during.outcomes) > 0
        and all(o.status == 503 for o in during.outcomes),
        "store: 201 after Redis is back": len(after_r.outcomes) > 0
        and len(after_r.ok) == len(after_r.outcomes),
        "no acknowledged tweet lost": missing == 0,
        # A 429 is the client's cue to retry, not a lost tweet: the loaded service may refuse a store.
        "store: no other 5xx": all(o.status < 500 or o.status == 503 for o in store_r.outcomes),
    }
    failed = [k for k, v in checks.items() if not v]
    return Scenario(
        f"Redis stopped for {down_s:.0f} s mid-run",
        "no 5xx on /embed; store 503 while down, 201 after; every acknowledged tweet still stored",
        f"/embed {len(embed_r.outcomes)} ({counts(embed_r)}), p99 {ms(embed_r.latency_quantile(0.99))}; "
        f"store while down: {len(during.outcomes)} ({counts(during)}), after: {len(after_r.outcomes)} "
        f"({counts(after_r)}); all stores {len(store_r.outcomes)} ({counts(store_r)}); "
        f"acknowledged {len(acked)}, lost {missing}" + (f"; failed: {', '.join(failed)}" if failed else ""),
        not failed,
    )


def redis_restart(ckpt: Path, workload: Workload, base: Path, logs: Path, concurrency: int = 8) -> Scenario:
    """Redis, started from the project's configuration (deploy/redis.conf), stopped with SIGTERM and
    started again on the same directory while tweets are stored beside /embed traffic."""
    import shutil

    from bench.redis_proc import PROJECT_CONFIG, RedisProcess

    workdir = base / "redis-restart"
    shutil.rmtree(workdir, ignore_errors=True)  # the check counts this run's tweets only
    redis = RedisProcess(workdir, free_port(), config=PROJECT_CONFIG)
    redis.start()
    port = free_port()
    server = ServerProcess(
        service_argv(ckpt, port),
        port,
        logs / "loadtest-redis-restart.log",
        env={"TWEETEMBED_REDIS_URL": redis.url},
    )
    server.start()
    before, after = 5.0, 6.0
    n_users = 40
    bodies = [json.loads(b)["tweet"] for b in workload.bodies]
    acked: set[int] = set()
    events: dict[str, float] = {}

    def store_request(i: int) -> Request:
        tweet = {**bodies[i % len(bodies)], "id": f"rr-{i}"}
        # The store keeps the bot head's fields, not the id: the marker leads the kept text.
        tweet["text"] = f"rr-{i} " + str(tweet.get("text") or "")
        tweet.pop("user_id", None)
        return Request(f"/users/rr-user-{i % n_users}/tweets", json.dumps({"tweets": [tweet]}).encode())

    async def go() -> tuple[RunResult, RunResult]:
        async with loadgen.make_client(server.base_url, 2 * concurrency, 10) as client:
            loop = asyncio.get_running_loop()
            t0 = time.perf_counter()
            store = RunResult()

            async def restart() -> None:
                await asyncio.sleep(before)
                events["down"] = time.perf_counter() - t0
                await loop.run_in_executor(None, redis.terminate)
                await loop.run_in_executor(None, redis.start)
                events["up"] = time.perf_counter() - t0

            async def storer(worker: int) -> None:
                # Closed loop: each worker stores its next tweet when the last one is answered.
                for k in range(worker, 10**9, concurrency):
                    started = time.perf_counter()
                    if started - t0 >= before + after and "up" in events:
                        return
                    status = await client.send(store_request(k))
                    if status == 201:
                        acked.add(k)
                    store.outcomes.append(Outcome(started - t0, time.perf_counter() - started, status))
                    if status != 201:
                        await asyncio.sleep(0.05)  # Redis is down: do not spin on 503s

            embed_task = asyncio.create_task(
                closed_loop(client, workload.request, concurrency, 10**9, before + after + 2)
            )
            await asyncio.gather(restart(), *(storer(w) for w in range(concurrency)))
            store.duration_s = time.perf_counter() - t0
            return await embed_task, store

    echo(
        f"redis restart: {concurrency} storing and {concurrency} embedding clients, "
        f"SIGTERM to Redis at {before:.0f} s"
    )
    try:
        embed_r, store_r = asyncio.run(go())
        missing = unstored(redis, "rr", n_users, acked)
    finally:
        server.stop()
        redis.stop()
    down, up = events.get("down", before), events.get("up", before)
    after_r = store_r.window(up + 1.0, store_r.duration_s)
    checks = {
        "/embed: no 5xx, timeouts or connection errors": embed_r.errors == 0,
        "store: only 201, or 503 while Redis restarts": all(
            o.status == 201 or (o.status == 503 and down - 0.5 <= o.start_s <= up + 1.0)
            for o in store_r.outcomes
        ),
        "store: 201 after the restart": len(after_r.outcomes) > 0
        and len(after_r.ok) == len(after_r.outcomes),
        "no acknowledged tweet lost": missing == 0 and len(acked) > 0,
    }
    failed = [k for k, v in checks.items() if not v]
    return Scenario(
        "Redis restarted (SIGTERM) under load",
        "every acknowledged tweet still stored after the restart; store 201 after it; no 5xx on /embed",
        f"Redis down {up - down:.1f} s; store {len(store_r.outcomes)} ({counts(store_r)}), acknowledged "
        f"{len(acked)}, lost {missing}; /embed {len(embed_r.outcomes)} ({counts(embed_r)}), "
        f"p99 {ms(embed_r.latency_quantile(0.99))}" + (f"; failed: {', '.join(failed)}" if failed else ""),
        not failed,
    )


def sigterm(ckpt: Path, workload: Workload, logs: Path, concurrency: int = 16) -> Scenario:
    """SIGTERM 3 s into a closed-loop run: requests sent before it complete (2xx), then exit 0."""
    port = free_port()
    server = ServerProcess(service_argv(ckpt, port), port, logs / "loadtest-sigterm.log", env=NO_CACHE)
    server.start()
    signal_at: dict[str, float] = {}

    async def go() -> RunResult:
        async with loadgen.make_client(server.base_url, concurrency, 30) as client:
            t0 = time.perf_counter()

            async def kill() -> None:
                await asyncio.sleep(3.0)
                signal_at["t"] = time.perf_counter() - t0
                server.signal(signal.SIGTERM)

            def server_gone() -> bool:
                return server.proc is not None and server.proc.poll() is not None

            def make(i: int) -> Request:
                return workload.request(i)

            result, _ = await asyncio.gather(
                closed_loop(client, make, concurrency, 100_000, 8.0, stop=server_gone), kill()
            )
            return result

    echo(f"sigterm: concurrency {concurrency}, SIGTERM at 3 s")
    try:
        r = asyncio.run(go())
        code = server.wait(60)
    finally:
        server.stop()
    t = signal_at["t"]
    # Outcome.start_s of the closed loop is measured from the loop's own start, a hair after t0.
    in_flight = [o for o in r.outcomes if o.start_s < t - 0.005 and o.start_s + o.latency_s > t]
    before = [o for o in r.outcomes if o.start_s < t - 0.005]
    after = [o for o in r.outcomes if o.start_s >= t]
    checks = {
        "every request sent before SIGTERM answered 2xx": all(200 <= o.status < 300 for o in before),
        "exit code 0": code == 0,
    }
    failed = [k for k, v in checks.items() if not v]
    after_counts = RunResult(after, 0.0)
    return Scenario(
        "SIGTERM during load",
        "in-flight requests complete (2xx), then the process exits 0",
        f"{len(in_flight)} in flight at the signal, {len(before)} sent before it "
        f"({counts(RunResult(before, 0.0))}); after it: {counts(after_counts) or 'none'}; exit code {code}"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        not failed,
    )


def slow_clients(
    ckpt: Path, workload: Workload, cap: float, logs: Path, stalled: int = 200, seconds: float = 15.0
) -> Scenario:
    """``stalled`` connections that send headers and one byte of body and then nothing (reopened as
    the server times them out), beside normal traffic at half of capacity: normal requests all 2xx
    with a bounded p99, stalled ones answered 408. Shows itself, so the run needs one line for it."""
    import selectors
    import socket
    import threading

    head = (
        b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    port = free_port()
    timed_out = {"408": 0, "other": 0, "opened": 0}
    stop = threading.Event()

    def hold(selector: selectors.BaseSelector) -> None:
        def open_one() -> None:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(head)
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            timed_out["opened"] += 1

        for _ in range(stalled):
            open_one()
        while not stop.is_set():
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    answer = sock.recv(64)
                except OSError:
                    answer = b""
                timed_out["408" if answer.startswith(b"HTTP/1.1 408") else "other"] += 1
                selector.unregister(sock)
                sock.close()
                if not stop.is_set():
                    open_one()
        for key in list(selector.get_map().values()):
            selector.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]

    rate = 0.5 * cap
    echo(f"slow clients: {stalled} stalled uploads beside {rate:.0f} req/s for {seconds:.0f} s")
    with ServerProcess(service_argv(ckpt, port), port, logs / "loadtest-slow.log", env=NO_CACHE) as server:
        selector = selectors.DefaultSelector()
        holder = threading.Thread(target=hold, args=(selector,), daemon=True)
        holder.start()
        time.sleep(1.0)  # every stalled request is waiting for its body before the traffic starts
        r = arrivals(server.base_url, workload.request, rate, seconds)
        stop.set()
        holder.join(timeout=10)
    p99 = r.latency_quantile(0.99)
    bound = 1.0
    checks = {
        "normal traffic all 2xx": len(r.ok) == len(r.outcomes) > 0 and r.not_sent == 0,
        "normal p99 bounded": p99 <= bound,
        "stalled uploads answered 408": timed_out["408"] > 0 and timed_out["other"] == 0,
    }
    failed = [k for k, v in checks.items() if not v]
    scenario = Scenario(
        "stalled uploads beside normal traffic",
        f"{stalled} connections stalled mid-body: normal requests all 2xx, p99 <= {ms(bound)}; "
        "the stalled ones get 408",
        f"{len(r.outcomes)} normal requests ({counts(r)}), not sent {r.not_sent}; "
        f"p50 {ms(r.latency_quantile(0.5))}, p99 {ms(p99)}; stalled connections opened "
        f"{timed_out['opened']}, answered 408 {timed_out['408']}, otherwise {timed_out['other']}"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        not failed,
    )
    scenario.show()
    return scenario


# Scenarios that need no capacity figure, each runnable alone with --only.
STANDALONE: dict[str, Callable[[Path, Workload, Path, Path], Scenario]] = {"redis-restart": redis_restart}


def run_only(args: argparse.Namespace) -> dict[str, Any]:
    """One STANDALONE scenario; with --work-small and --ckpt-small given, nothing is built."""
    base = Path(args.dir)
    work, ckpt = args.work_small, args.ckpt_small
    if work is None or ckpt is None:
        art = ensure(
            base,
            world=args.world,
            work_small=work,
            work_paper=args.work_paper,
            ckpt_small=ckpt,
            echo=echo,
            real_tweets=0,  # the scenarios serve the small checkpoint only
        )
        work, ckpt = art.work_small, art.ckpt_small
    s = STANDALONE[args.only](ckpt, load_workload(work, "text"), base, base / "logs")
    s.show()
    return {"command": args.command, "scenarios": [vars(s)], "passed": s.passed}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.serving import set_threads

    args.threads = set_threads(args.threads)
    base = Path(args.dir)
    logs = base / "logs"
    art = ensure(
        base,
        world=args.world,
        work_small=args.work_small,
        work_paper=args.work_paper,
        ckpt_small=args.ckpt_small,
        echo=echo,
        real_tweets=0,  # the scenarios serve the small checkpoint only
    )
    ckpt = art.ckpt_small
    workload = load_workload(art.work_small, "text")
    from app.settings import Settings

    queue_max = int(Settings.model_fields["queue_max"].default)
    scenarios: list[Scenario] = []
    port = free_port()
    with ServerProcess(service_argv(ckpt, port), port, logs / "loadtest-main.log", env=NO_CACHE) as server:
        echo("measuring capacity")
        closed_cap = capacity(server.base_url, workload, 32, args.capacity_s)
        echo(f"closed-loop capacity {closed_cap:.0f} req/s; searching the sustained arrival rate")
        cap, sustained_steps = sustained_capacity(server.base_url, workload, closed_cap, args.step_s)
        if cap <= 0:  # not even half the closed-loop figure holds: test against that, and fail there
            cap = SUSTAINED_STEPS[0] * closed_cap
        echo(f"capacity (sustained arrival rate) {cap:.0f} req/s")
        s, steady_p99 = steady(server.base_url, workload, cap, args.steady_s)
        s.show()
        scenarios.append(s)
        s = overload(server.base_url, workload, cap, args.overload_s, steady_p99, queue_max)
        s.show()
        scenarios.append(s)
    if not args.skip_redis:
        s = redis_outage(ckpt, load_workload(art.work_small, "text"), cap, base, args.redis_down_s, logs)
        s.show()
        scenarios.append(s)
    if not args.skip_redis:
        scenarios.append(redis_restart(ckpt, load_workload(art.work_small, "text"), base, logs))
        scenarios[-1].show()
    s = sigterm(ckpt, workload, logs)
    s.show()
    scenarios.append(s)
    scenarios.append(slow_clients(ckpt, workload, cap, logs))
    from bench.serving import machine

    return {
        "command": args.command,
        "machine": machine(),
        "capacity_per_s": cap,
        "closed_loop_capacity_per_s": closed_cap,
        "capacity_concurrency": 32,
        "sustained_steps": sustained_steps,
        "sustained_step_s": args.step_s,
        "sustained_p99_s": SUSTAINED_P99_S,
        "scenarios": [vars(x) for x in scenarios],
        "passed": all(x.passed for x in scenarios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", default=str(ROOT / "work" / "bench"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--capacity-s", type=float, default=10.0)
    parser.add_argument("--step-s", type=float, default=5.0, help="Seconds per sustained-rate step.")
    parser.add_argument("--steady-s", type=float, default=60.0)
    parser.add_argument("--overload-s", type=float, default=30.0)
    parser.add_argument("--redis-down-s", type=float, default=10.0)
    parser.add_argument("--skip-redis", action="store_true", help="Leave out the Redis scenario.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: short phases.")
    parser.add_argument(
        "--only", choices=sorted(STANDALONE), default=None, help="Run this scenario alone (docs untouched)."
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads of the service (default: torch's)."
    )
    parser.add_argument("--world", type=Path, default=None)
    parser.add_argument("--work-small", type=Path, default=None)
    parser.add_argument("--work-paper", type=Path, default=None)
    parser.add_argument("--ckpt-small", type=Path, default=None)
    args = parser.parse_args()
    if args.quick:
        args.capacity_s, args.steady_s, args.overload_s, args.redis_down_s = 3.0, 8.0, 6.0, 4.0
        args.step_s = 2.0
    args.command = "python -m bench.loadtest " + shlex.join(sys.argv[1:])
    if args.only:
        only = run_only(args)
        echo(f"{args.only}: {'PASS' if only['passed'] else 'FAIL'}")
        sys.exit(0 if only["passed"] else 1)
    results = run(args)
    Path(args.dir, "loadtest.json").write_text(json.dumps(results, indent=2, default=str))
    report.write_benchmarks(Path(args.out), loadtest=results, bench_json=Path(args.dir) / "bench.json")
    echo(("all scenarios PASS" if results["passed"] else "some scenario FAILED") + f"; wrote {args.out}")
    sys.exit(0 if results["passed"] else 1)


if __name__ == "__main__":
    main()
