"""The benchmark tooling on tiny in-process apps: the load generators stay within their bounds,
the statistics match brute force, and the PASS/FAIL logic fails when it should."""

from __future__ import annotations

import asyncio
import math
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench import loadgen, loadtest, report
from bench.loadgen import TIMEOUT, HttpxSender, Outcome, Request, RunResult, closed_loop, open_loop


def tiny_app(delay_s: float = 0.0, status_of: Any = None) -> tuple[Starlette, list[int]]:
    seen: list[int] = []

    async def embed(request: StarletteRequest) -> JSONResponse:
        seen.append(len(seen))
        if delay_s:
            await asyncio.sleep(delay_s)
        status = status_of(len(seen)) if status_of else 200
        return JSONResponse({"n": len(seen)}, status_code=status)

    return Starlette(routes=[Route("/embed", embed, methods=["POST"])]), seen


def client_for(app: Starlette) -> HttpxSender:
    return HttpxSender(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench.test")
    )


def request(_: int) -> Request:
    return Request("/embed", b"{}")


def test_closed_loop_stops_at_the_request_count() -> None:
    app, seen = tiny_app()

    async def go() -> RunResult:
        async with client_for(app) as client:
            return await closed_loop(client, request, concurrency=4, max_requests=23, max_seconds=30)

    result = asyncio.run(go())
    assert len(result.outcomes) == 23 == len(seen)
    assert len(result.ok) == 23 and result.errors == 0


def test_closed_loop_stops_at_the_deadline() -> None:
    app, _seen = tiny_app(delay_s=0.05)

    async def go() -> RunResult:
        async with client_for(app) as client:
            return await closed_loop(client, request, concurrency=3, max_requests=10_000, max_seconds=0.3)

    result = asyncio.run(go())
    assert result.duration_s < 0.6
    assert 3 <= len(result.outcomes) <= 3 * (0.3 / 0.05 + 1)


def test_open_loop_keeps_its_rate_and_counts_what_it_could_not_send() -> None:
    app, _ = tiny_app()

    async def go(app: Starlette, max_in_flight: int) -> RunResult:
        async with client_for(app) as client:
            return await open_loop(client, request, 200.0, 0.25, max_in_flight)

    fast = asyncio.run(go(app, 100))
    assert len(fast.outcomes) + fast.not_sent == 50  # 0.25 s at 200/s
    assert fast.not_sent == 0
    slow_app, _ = tiny_app(delay_s=1.0)
    slow = asyncio.run(go(slow_app, 5))
    assert len(slow.outcomes) == 5 and slow.not_sent == 45
    # latency runs from the scheduled arrival, so the last sent request waited its second
    assert min(o.latency_s for o in slow.outcomes) >= 0.99


def test_open_loop_follows_a_phased_rate() -> None:
    app, _ = tiny_app()

    async def go() -> RunResult:
        async with client_for(app) as client:
            return await open_loop(client, request, lambda t: 400.0 if t < 0.1 else 0.0, 0.3, 100)

    result = asyncio.run(go())
    assert len(result.outcomes) == 40
    assert all(o.start_s < 0.1 for o in result.outcomes)


def test_statistics_against_brute_force() -> None:
    rng = random.Random(3)
    statuses = [200] * 50 + [429] * 7 + [503] * 2 + [TIMEOUT] * 3 + [0] * 1
    outcomes = [Outcome(i * 0.01, rng.random(), s) for i, s in enumerate(statuses)]
    result = RunResult(outcomes, duration_s=2.0)
    assert result.errors == 6  # 503s, timeouts, connection errors; 429 is an answer, not an error
    assert result.server_errors == 2 and result.timeouts == 3 and result.transport_errors == 1
    assert result.throughput == pytest.approx(25.0)
    ok_latencies = sorted(o.latency_s for o in outcomes if o.status == 200)
    for q in (0.5, 0.9, 0.99, 1.0):
        assert result.latency_quantile(q) == ok_latencies[math.ceil(q * 50) - 1]
    assert len(result.window(0.1, 0.2).outcomes) == 10


def test_steady_scenario_passes_on_a_healthy_app_and_fails_on_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    healthy, _ = tiny_app()
    failing, _ = tiny_app(status_of=lambda n: 500 if n % 7 == 0 else 200)
    workload = type("W", (), {"request": staticmethod(request)})()
    for app, expected in ((healthy, True), (failing, False)):
        monkeypatch.setattr(loadgen, "make_client", lambda *_a, app=app, **_k: client_for(app))
        scenario, p99 = loadtest.steady("http://bench.test", workload, cap=100.0, seconds=0.3)  # type: ignore[arg-type]
        assert scenario.passed is expected, scenario.figures
        assert p99 >= 0


def _bench_figures(service: float, naive: float, b1: float, b64: float, null_ms: float) -> dict[str, Any]:
    batches = [{"batch_size": b, "tweets_per_s": v, "cpu_ms_per_tweet": 1.0} for b, v in ((1, b1), (64, b64))]
    model = {
        "inprocess/text": {
            "batches": batches,
            "best_batch": 64,
            "best_tweets_per_s": b64,
            "featurize_ms": 0.2,
            "forward_ms_b32": 3.0,
        },
        "service": {"runs": {"text/c32": {"tweets_per_s": service}}},
        "naive": {"tweets_per_s": naive},
    }
    return {
        "paper": model,
        "null": {"server_cpu_ms_per_request": null_ms},
        "small": model,
        "breakdown": {"/predict-location": {"heads_ms": 3.0, "latency_ms": 20.0, "heads_share": 0.15}},
    }


def test_headline_ratios_and_verdicts() -> None:
    rows = report.headline(_bench_figures(service=360.0, naive=80.0, b1=77.0, b64=420.0, null_ms=0.5))
    serving = next(r for r in rows if r["what"].startswith("serving efficiency, paper"))
    assert serving["ratio"] == pytest.approx(360 / 420) and serving["verdict"] == "**PASS**"
    batching = next(r for r in rows if r["what"].startswith("batching gain, paper"))
    assert batching["ratio"] == pytest.approx((360 / 80) / (420 / 77))
    assert batching["verdict"] == "**PASS**"  # 0.825
    cpu = next(r for r in rows if "own CPU" in r["what"])
    assert cpu["verdict"] == "**PASS**"  # 0.5 + 0.2 ms
    forest = next(r for r in rows if "/predict-location" in r["what"])
    assert forest["verdict"] == "**FAIL**"  # 15% > 10%
    worse = report.headline(_bench_figures(service=300.0, naive=80.0, b1=77.0, b64=420.0, null_ms=0.9))
    assert [r["verdict"] for r in worse][:2] == ["**FAIL**", "**FAIL**"]
    assert next(r for r in worse if "own CPU" in r["what"])["verdict"] == "**FAIL**"


def test_lean_sender_against_a_real_server() -> None:
    import socket
    import threading
    import time

    import uvicorn

    app, seen = tiny_app(status_of=lambda n: 429 if n % 5 == 0 else 200)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)

        async def go() -> RunResult:
            async with loadgen.make_client(f"http://127.0.0.1:{port}", 4, 5.0) as client:
                return await closed_loop(client, request, concurrency=4, max_requests=40, max_seconds=10)

        result = asyncio.run(go())
        assert len(result.outcomes) == 40 == len(seen)
        assert result.statuses == {200: 32, 429: 8}
    finally:
        server.should_exit = True
        thread.join(10)

    async def refused() -> int:
        async with loadgen.make_client(f"http://127.0.0.1:{port}", 1, 2.0) as client:
            return await client.send(Request("/embed", b"{}"))

    assert asyncio.run(refused()) == loadgen.TRANSPORT_ERROR


def test_report_keeps_the_other_commands_section(tmp_path: Path) -> None:
    machine = {
        "cpu": "x",
        "cores": 2,
        "ram_gb": 1.0,
        "torch_threads": 1,
        "gpu": None,
        "python": "3.11",
        "platform": "linux",
        "versions": {"torch": "2"},
        "load_before": [0.1, 0.1, 0.1],
    }
    lt = {
        "command": "python -m bench.loadtest --quick",
        "machine": machine,
        "capacity_per_s": 100.0,
        "capacity_concurrency": 32,
        "scenarios": [
            {"name": "steady", "conditions": "0 errors", "figures": "p99 5 ms", "passed": True},
            {"name": "sigterm", "conditions": "exit 0", "figures": "exit -15", "passed": False},
        ],
    }
    (tmp_path / "loadtest.json").write_text(__import__("json").dumps(lt))
    out = tmp_path / "BENCHMARKS.md"
    report.write_benchmarks(out, bench_json=tmp_path / "bench.json", loadtest_json=tmp_path / "loadtest.json")
    text = out.read_text()
    assert "## `make bench`\n\nNot run yet." in text
    assert "| steady | 0 errors | p99 5 ms | **PASS** |" in text
    assert "| sigterm | exit 0 | exit -15 | **FAIL** |" in text
    assert "no GPU in this session" in text


def test_cpu_bound_charges_every_tweet_its_cpu_on_the_machines_cores() -> None:
    from bench.report import cpu_bound

    batches = [
        {"batch_size": 1, "tweets_per_s": 300.0, "cpu_ms_per_tweet": 6.0},
        {"batch_size": 32, "tweets_per_s": 1000.0, "cpu_ms_per_tweet": 1.5},
    ]
    bench = {
        "machine": {"cores": 2},
        "null": {"server_cpu_ms_per_request": 0.4},
        "small": {"inprocess/text": {"batches": batches}},
    }
    run = {"concurrency": 32, "client_cpu_ms_per_request": 0.1}
    # 2 cores / (1.5 + 0.4 + 0.1) ms = 1,000/s, the same as in-process at batch 32: the smaller wins.
    assert cpu_bound(bench, "small", run) == pytest.approx(1000.0)
    bench["null"]["server_cpu_ms_per_request"] = 2.4  # now 2 / 4.0 ms = 500/s
    assert cpu_bound(bench, "small", run) == pytest.approx(500.0)
    # at concurrency 8 the largest measured batch that fits is 1
    assert cpu_bound(bench, "small", {**run, "concurrency": 8}) == pytest.approx(2000.0 / 8.5)  # 235 < 300
    assert cpu_bound({**bench, "machine": {}}, "small", run) is None


def test_a_ratio_that_rounds_to_its_target_but_fails_shows_the_digit(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import report

    rows = [
        {"what": "a", "figure": "x", "ratio": 0.797, "target": ">= 0.8", "verdict": "**FAIL**"},
        {"what": "b", "figure": "x", "ratio": 0.7, "target": ">= 0.8", "verdict": "**FAIL**"},
        {"what": "c", "figure": "x", "ratio": 0.2, "target": "reported", "verdict": "-"},
    ]
    monkeypatch.setattr(report, "headline", lambda bench: rows)
    lines = report.headline_table({})
    assert "| 0.797 |" in lines[2] and "| 0.70 |" in lines[3] and "| 0.20 |" in lines[4]


def test_gpu_rows_say_why_they_are_missing_and_render_when_measured() -> None:
    import torch

    from bench import accelerator

    if not torch.cuda.is_available():
        assert accelerator.unavailable("cuda") == "no CUDA device in this session"
    assert accelerator.unavailable("cpu") is None
    assert accelerator.precisions("cuda") == ("fp32", "fp16") and accelerator.precisions("cpu") == ("fp32",)

    def row(model: str, precision: str, best: float, c32: float) -> dict[str, object]:
        return {
            "model": model,
            "precision": precision,
            "batches": {"1": best / 10, "512": best},
            "best_batch": 512,
            "best_tweets_per_s": best,
            "service": {
                "32": {"tweets_per_s": c32, "p99_ms": 9.0},
                "64": {"tweets_per_s": c32 * 1.1, "p99_ms": 12.0},
            },
            "cold_start_s": 5.0,
        }

    gpu = {
        "measured": True,
        "device": "cuda",
        "name": "Some GPU",
        "rows": [row("small", "fp32", 40_000.0, 10_000.0), row("paper", "fp16", 20_000.0, 17_000.0)],
        "train_tweets_per_s": 9_000.0,
        "train_steps": 20,
    }
    lines = report.gpu_section(gpu)
    table = [line for line in lines if line.startswith("| small") or line.startswith("| paper")]
    assert table[0].startswith(
        "| small | fp32 | 4,000.0 | 40,000.0 | 10,000.0 | 11,000.0 | 0.25 | 9.0 | 5.00 |"
    )
    assert "| 0.85 |" in table[1]  # 17,000 / 20,000
    shown = report.gpu_rows({"gpu": gpu})
    assert "### On the GPU (Some GPU)" in shown and not any("not measured" in line for line in shown)
    assert report.gpu_training_row({"gpu": gpu}) == (
        "| training throughput, small preset, Some GPU (20 steps) | 9,000.0 tweets/s |"
    )
    missing = {"gpu": {"measured": False, "why": "no CUDA device"}}
    assert report.gpu_rows(missing)[0] == "| GPU fp32 / fp16 | not measured: no CUDA device | | | |"
    assert report.gpu_training_row(missing) == "| training / serving on GPU | not measured: no CUDA device |"
    assert "not measured: no GPU in this session" in report.gpu_training_row({})  # an older bench.json
