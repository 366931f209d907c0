"""`make bench`: serving efficiency, batching gain, where request time goes, service CPU cost,
cold start and memory, training and pipeline speed, and the GPU rows where there is a GPU
(bench/accelerator.py); every ratio measured side by side in one run.

    python -m bench.serving [--quick] [--seconds S] [--gpu-device cuda|cpu] [--out docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench import report
from bench.artifacts import Artifacts, ensure, time_pipeline
from bench.loadgen import Request, RunResult, closed_loop, make_client
from bench.service_proc import ROOT, ServerProcess, free_port, service_argv
from bench.workload import Workload, load_workload

CONCURRENCIES = (1, 8, 32, 64)
BATCH_SIZES = (1, 8, 32, 64, 128)
NO_CACHE = {"TWEETEMBED_CACHE_ENABLED": "false"}  # every request pays its forward pass


def echo(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def measure_http(
    base_url: str,
    make_request: Callable[[int], Request],
    concurrency: int,
    seconds: float,
    server: ServerProcess | None = None,
    warmup_s: float = 1.0,
) -> dict[str, Any]:
    """Closed-loop throughput at ``concurrency`` after a warm-up; with ``server``, its CPU per request."""

    async def run(duration: float) -> tuple[RunResult, float]:
        async with make_client(base_url, concurrency, timeout_s=60) as client:
            cpu0 = server.cpu_seconds() if server else 0.0
            result = await closed_loop(
                client, make_request, concurrency, max_requests=1_000_000, max_seconds=duration
            )
            return result, (server.cpu_seconds() - cpu0) if server else float("nan")

    asyncio.run(run(warmup_s))
    client_cpu0 = time.process_time()
    result, server_cpu = asyncio.run(run(seconds))
    client_cpu = time.process_time() - client_cpu0
    n = max(1, len(result.outcomes))
    return {
        "concurrency": concurrency,
        "requests": len(result.outcomes),
        "ok": len(result.ok),
        "errors": result.errors,
        "statuses": {str(k): v for k, v in result.statuses.items()},
        "tweets_per_s": result.throughput,
        "p50_ms": 1000 * result.latency_quantile(0.5),
        "p99_ms": 1000 * result.latency_quantile(0.99),
        "server_cpu_ms_per_request": 1000 * server_cpu / n,
        "client_cpu_ms_per_request": 1000 * client_cpu / n,
        "seconds": result.duration_s,
    }


def inprocess(
    ckpt: Path, workload: Workload, batch_sizes: tuple[int, ...], seconds: float, threads: tuple[int, ...]
) -> dict[str, Any]:
    """The in-process limit: each batch size at each torch thread count, the best kept."""
    import torch

    from bench.inprocess import featurize_cost, speeds
    from model.embedder import TweetEmbedder

    embedder = TweetEmbedder.load(ckpt, device="cpu")
    configured = torch.get_num_threads()
    best_rows: dict[int, tuple[Any, int]] = {}
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        for r in speeds(embedder, workload, batch_sizes, seconds):
            if r.batch_size not in best_rows or r.tweets_per_s > best_rows[r.batch_size][0].tweets_per_s:
                best_rows[r.batch_size] = (r, n_threads)
    best, best_threads = max(best_rows.values(), key=lambda rt: rt[0].tweets_per_s)
    torch.set_num_threads(best_threads)
    cost = featurize_cost(embedder, workload, 32, seconds)
    torch.set_num_threads(configured)
    return {
        "batches": [
            {
                "batch_size": r.batch_size,
                "threads": t,
                "tweets_per_s": r.tweets_per_s,
                "cpu_ms_per_tweet": r.cpu_ms_per_tweet,
            }
            for r, t in (best_rows[b] for b in batch_sizes)
        ],
        "best_batch": best.batch_size,
        "best_threads": best_threads,
        "best_tweets_per_s": best.tweets_per_s,
        "featurize_ms": cost.featurize_ms,
        "forward_ms_b32": cost.forward_ms,
    }


def serve_model(
    ckpt: Path,
    workloads: dict[str, Workload],
    concurrencies: tuple[int, ...],
    seconds: float,
    logs: Path,
    name: str,
    device: str = "cpu",
    env: dict[str, str] | None = None,
    source: Path = ROOT,
) -> dict[str, Any]:
    """The real `tweetembed serve` process: cold start, memory, throughput per concurrency/workload;
    run from ``source`` (another commit's tree for the before/after rows)."""
    port = free_port()
    server = ServerProcess(
        service_argv(ckpt, port, device=device),
        port,
        logs / f"serve-{name}.log",
        env={**NO_CACHE, **(env or {})},
        source=source,
    )
    out: dict[str, Any] = {}
    echo(f"{name}: starting `tweetembed serve` (cache off)")
    out["cold_start_s"] = server.start()
    out["rss_ready_mb"] = server.rss_bytes() / 2**20
    try:
        out["runs"] = {}
        for variant, workload in workloads.items():
            levels = concurrencies if variant == "text" else (32,)
            for c in levels:
                echo(f"{name}: service, {variant}, concurrency {c}")
                out["runs"][f"{variant}/c{c}"] = measure_http(
                    server.base_url, workload.request, c, seconds, server
                )
        out["rss_loaded_mb"] = server.rss_bytes() / 2**20
    finally:
        out["exit_code"] = server.stop()
    return out


def sensitivity(ckpt: Path, workload: Workload, seconds: float, logs: Path) -> list[dict[str, Any]]:
    """The service's throughput at concurrency 1 and 32 with the forward pass on a thread of the
    service's process or in one or two model processes, and under torch thread counts and batch waits:
    the settings that decide how it shares 2 cores with its own event loop."""
    import os

    cores = str(os.cpu_count() or 1)
    rows = []
    settings = (
        ("0", "1", "1", "0"),
        ("1", "1", "1", "0"),
        ("1", "2", "1", "0"),
        ("1", "1", cores, "0"),
        ("1", "1", "1", "5"),
    )
    for process, processes, threads, wait in settings:
        env = {
            **NO_CACHE,
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "TWEETEMBED_TORCH_THREADS": threads,  # the service sets its own count at load otherwise
            "TWEETEMBED_BATCH_MAX_WAIT_MS": wait,
            "TWEETEMBED_MODEL_PROCESS": process,
            "TWEETEMBED_MODEL_PROCESSES": processes,
        }
        port = free_port()
        with ServerProcess(service_argv(ckpt, port), port, logs / "sensitivity.log", env=env) as server:
            for c in (1, 32):
                where = f"{processes} model process(es)" if process == "1" else "in process"
                echo(f"sensitivity: {where}, torch threads {threads}, batch wait {wait} ms, concurrency {c}")
                run = measure_http(server.base_url, workload.request, c, seconds, server)
                rows.append(
                    {
                        "model_process": process == "1",
                        "processes": int(processes),
                        "threads": int(threads),
                        "wait_ms": float(wait),
                        **run,
                    }
                )
    return rows


def serve_naive(ckpt: Path, workload: Workload, seconds: float, logs: Path, name: str) -> dict[str, Any]:
    port = free_port()
    argv = [*_python(), "-m", "bench.naive_server", str(ckpt), "--port", str(port)]
    with ServerProcess(argv, port, logs / f"naive-{name}.log") as server:
        echo(f"{name}: naive server, concurrency 32")
        return measure_http(server.base_url, workload.request, 32, seconds, server)


def _python() -> list[str]:
    import sys

    return [sys.executable]


def null_cost(
    ckpt: Path, workload: Workload, seconds: float, logs: Path, source: Path = ROOT, name: str = "null"
) -> dict[str, Any]:
    """Service CPU per request with a free forward pass (bench/probe_server.py --mode null), of the
    code in ``source``."""
    port = free_port()
    argv = [*_python(), "-m", "bench.probe_server", str(ckpt), "--port", str(port), "--mode", "null"]
    with ServerProcess(argv, port, logs / f"probe-{name}.log", env=NO_CACHE, source=source) as server:
        echo("service CPU cost: null forward pass, concurrency 32")
        return measure_http(server.base_url, workload.request, 32, seconds, server)


ENDPOINTS = (
    "/embed",
    "/recommend-hashtags",
    "/predict-location",
    "/search/texts",
    "/search/images",
    "/bot-score",
)
HEAD_CALL = {
    "/recommend-hashtags": "recommend_hashtags",
    "/predict-location": "predict_location",
    "/search/texts": "search",
    "/search/images": "search",
    "/bot-score": "bot_explain",
}


def breakdown(
    ckpt: Path,
    workload: Workload,
    requests: int,
    logs: Path,
    name: str = "probe-timed",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One request at a time per endpoint: client latency split into queue (waiting for the batch to
    fill), encode (featurise + forward), heads, the rest of the service (HTTP, JSON, validation,
    serialisation) and the client/loopback remainder."""
    port = free_port()
    argv = [*_python(), "-m", "bench.probe_server", str(ckpt), "--port", str(port), "--mode", "timed"]
    out: dict[str, Any] = {}
    with (
        ServerProcess(argv, port, logs / f"{name}.log", env={**NO_CACHE, **(env or {})}) as server,
        httpx.Client(
            base_url=server.base_url, timeout=60, headers={"content-type": "application/json"}
        ) as client,
    ):
        user_bodies = [json.loads(b)["tweet"] for b in workload.bodies[:10]]
        for t in user_bodies:
            t.pop("user_id", None)
        stored = client.post("/users/bench-user/tweets", content=json.dumps({"tweets": user_bodies}))
        stored.raise_for_status()
        for endpoint in ENDPOINTS:
            for _ in range(3):  # warm-up
                _call(client, endpoint, workload, 0)
            client.get("/_bench/timings")
            latencies = []
            for i in range(requests):
                t0 = time.perf_counter()
                status = _call(client, endpoint, workload, i + 1)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    raise RuntimeError(f"{endpoint} answered {status}; see {server.log_path}")
            probes = client.get("/_bench/timings").json()
            out[endpoint] = _split(endpoint, latencies, probes, requests)
    return out


def _call(client: httpx.Client, endpoint: str, workload: Workload, i: int) -> int:
    if endpoint == "/bot-score":
        return client.get("/bot-score/bench-user").status_code
    return client.post(endpoint, content=workload.bodies[i % len(workload)]).status_code


def _split(endpoint: str, latencies: list[float], probes: dict[str, Any], n: int) -> dict[str, float]:
    def per_request(seconds_count: list[float] | None) -> float:
        return 1000 * seconds_count[0] / n if seconds_count else 0.0

    calls = probes["calls"]
    total = 1000 * sum(latencies) / n
    server = per_request(probes["server"].get(endpoint))
    encode = per_request(calls.get("embed"))
    heads = per_request(calls.get(HEAD_CALL[endpoint])) if endpoint in HEAD_CALL else 0.0
    bounded = {"/recommend-hashtags": "hashtag_search", "/predict-location": "forest"}.get(endpoint)
    part = per_request(calls.get(bounded)) if bounded else 0.0
    queue = per_request(probes["queue"]) if probes["queue"][1] else 0.0
    return {
        "latency_ms": total,
        "queue_ms": queue,
        "encode_ms": encode,
        "heads_ms": heads,
        "service_rest_ms": max(0.0, server - queue - encode - heads),
        "client_loopback_ms": max(0.0, total - server),
        "heads_share": heads / total if total else float("nan"),
        # the hashtag FAISS search or the location forest alone (what the issue bounds at 10%)
        "bounded_part": bounded or "",
        "bounded_ms": part,
        "bounded_share": part / total if total else float("nan"),
    }


def machine() -> dict[str, Any]:
    import os
    import platform
    import subprocess
    from importlib.metadata import version

    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next(
        (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")),
        platform.processor(),
    )
    mem = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    versions = {}
    for package in (
        "torch",
        "numpy",
        "fastapi",
        "starlette",
        "uvicorn",
        "pydantic",
        "httpx",
        "faiss-cpu",
        "scikit-learn",
        "redis",
    ):
        try:
            versions[package] = version(package)
        except Exception:
            versions[package] = "not installed"
    import torch

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gb": round(mem / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_before": os.getloadavg(),
    }


def set_threads(threads: int | None) -> int:
    """The same torch thread count for the in-process reference and every server started after this
    (they inherit OMP_NUM_THREADS); None keeps torch's default (one per core)."""
    import os

    import torch

    if threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
        os.environ["TWEETEMBED_TORCH_THREADS"] = str(threads)  # the service applies this one at load
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def run(args: argparse.Namespace) -> dict[str, Any]:
    import os

    fixed = args.threads is not None
    args.threads = set_threads(args.threads)
    # Without --threads the servers run as shipped and the in-process limit is the best of 1 thread and
    # one per core; with it, every side uses that count.
    thread_choices = (args.threads,) if fixed else tuple(sorted({1, os.cpu_count() or 1}))
    base = Path(args.dir)
    logs = base / "logs"
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine(),
        "options": vars(args) | {"dir": str(base)},
        "command": args.command,
    }
    art: Artifacts = ensure(
        base,
        world=args.world,
        work_small=args.work_small,
        work_paper=args.work_paper,
        ckpt_small=args.ckpt_small,
        tweets=args.tweets,
        echo=echo,
        real_tweets=args.real_tweets,
    )
    results["artifacts"] = {k: str(v) for k, v in vars(art).items() if isinstance(v, Path)}
    results["built"] = art.built
    seconds = args.seconds
    models = {"small": (art.ckpt_small, art.work_small), "paper": (art.ckpt_paper, art.work_paper)}
    if art.ckpt_real is not None and art.work_real is not None:
        models["real"] = (art.ckpt_real, art.work_real)
    for name, (ckpt, work) in models.items():
        variants = {"small": ("text", "image", "all"), "real": ("text", "all")}.get(name, ("text",))
        workloads = {v: load_workload(work, v) for v in variants}
        entry: dict[str, Any] = {
            "checkpoint": str(ckpt),
            "config": json.loads((ckpt / "config.json").read_text()),
        }
        for v, w in workloads.items():
            echo(f"{name}: in-process forward passes, {v}")
            entry[f"inprocess/{v}"] = inprocess(
                ckpt, w, BATCH_SIZES if v == "text" else (1, 32, 64), max(1.5, seconds / 2), thread_choices
            )
        entry["service"] = serve_model(ckpt, workloads, CONCURRENCIES, seconds, logs, name)
        entry["naive"] = serve_naive(ckpt, workloads["text"], seconds, logs, name)
        results[name] = entry
    results["sensitivity"] = sensitivity(art.ckpt_paper, load_workload(art.work_paper, "text"), seconds, logs)
    small_text = load_workload(art.work_small, "text")
    results["null"] = null_cost(art.ckpt_small, small_text, seconds, logs)
    # the same at dim 1024: what the service's own path costs when every vector has 1024 floats
    results["null_paper"] = null_cost(art.ckpt_paper, load_workload(art.work_paper, "text"), seconds, logs)
    echo("where time goes, per endpoint (small model, one request at a time)")
    results["breakdown"] = breakdown(
        art.ckpt_small, load_workload(art.work_small, "all"), args.requests, logs
    )
    echo("location forest: latency and accuracy by number of trees")
    from bench.forest import compare

    results["forest"] = compare(art.ckpt_small, art.work_small, (50, 25, 10))
    if args.baseline:
        results["baseline"] = before_after(art, args.baseline, base, seconds, logs)
    results["training"] = _training(art, base, args)
    if args.pipeline_tweets:
        results["pipeline"] = {
            "tweets": args.pipeline_tweets,
            **time_pipeline(base, args.pipeline_tweets, echo=echo),
        }
    from bench import accelerator

    results["gpu"] = accelerator.measure(art, seconds, logs, base, device=args.gpu_device, echo=echo)
    results["seconds_total"] = time.perf_counter() - started
    return results


def before_after(art: Artifacts, ref: str, base: Path, seconds: float, logs: Path) -> dict[str, Any]:
    """The service of commit ``ref`` on this run's checkpoints, measured as this checkout's rows are:
    /embed text at c=32 (throughput, service CPU per request) and the null-model probe (the service's
    own CPU per request), so that the two commits differ in code only."""
    from bench import baseline

    commit = baseline.resolve(ref)
    echo(f"baseline {ref} ({commit[:12]}): unpacking its source tree")
    source = baseline.source_tree(ref, base)
    out: dict[str, Any] = {"ref": ref, "commit": commit}
    for name, ckpt, work in (
        ("small", art.ckpt_small, art.work_small),
        ("paper", art.ckpt_paper, art.work_paper),
    ):
        text = load_workload(work, "text")
        served = serve_model(
            ckpt.resolve(), {"text": text}, (32,), seconds, logs, f"{name}-baseline", source=source
        )
        probe = null_cost(ckpt.resolve(), text, seconds, logs, source=source, name=f"null-{name}-baseline")
        out[name] = {"service": served, "null": probe}
    return out


def _training(art: Artifacts, base: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Training throughput of the small preset, measured afresh (a few steps) if not in this run."""
    from bench.artifacts import train_briefly

    if art.train_tweets_per_s is not None:
        return {"tweets_per_s": art.train_tweets_per_s, "steps": 12}
    out = base / "train-speed"
    shutil.rmtree(out, ignore_errors=True)
    echo("training throughput of the small preset (a few steps)")
    speed = train_briefly(art.work_small, out, "small", args.train_steps, echo=lambda _m: None)
    shutil.rmtree(out, ignore_errors=True)
    return {"tweets_per_s": speed, "steps": args.train_steps}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", default=str(ROOT / "work" / "bench"), help="Artifacts and logs.")
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"), help="Markdown report.")
    parser.add_argument("--json", default=None, help="Raw results (default: DIR/bench.json).")
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="Measured seconds per HTTP figure (in-process: half)."
    )
    parser.add_argument(
        "--requests", type=int, default=60, help="Sequential requests per endpoint (breakdown)."
    )
    parser.add_argument(
        "--quick", action="store_true", help="Smoke run: 1.5 s per figure, 10k-tweet pipeline."
    )
    parser.add_argument("--tweets", type=int, default=20_000, help="Synthetic world size when building.")
    parser.add_argument(
        "--real-tweets",
        type=int,
        default=5_000,
        help="Synthetic world size for the real preset (its prepare runs MiniLM on every text; 0: skip).",
    )
    parser.add_argument(
        "--gpu-device",
        choices=("cuda", "cpu"),
        default="cuda",
        help="Device of the GPU rows (measured when torch sees it); cpu rehearses them without a GPU.",
    )
    parser.add_argument(
        "--pipeline-tweets", type=int, default=100_000, help="synth + prepare timing (0: skip)."
    )
    parser.add_argument(
        "--train-steps", type=int, default=12, help="Steps timed for the training throughput."
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads, in process and in every server (default: torch's).",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help="A commit (or tag/branch) whose service is measured beside this checkout's (before/after).",
    )
    parser.add_argument("--world", type=Path, default=None, help="Reuse this synthetic world.")
    parser.add_argument("--work-small", type=Path, default=None, help="Reuse this small-preset WORK dir.")
    parser.add_argument("--work-paper", type=Path, default=None, help="Reuse this paper-preset WORK dir.")
    parser.add_argument(
        "--ckpt-small", type=Path, default=None, help="Benchmark this small checkpoint (with heads)."
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.requests = min(args.seconds, 1.5), min(args.requests, 15)
        args.pipeline_tweets = min(args.pipeline_tweets, 10_000)
        args.train_steps = min(args.train_steps, 3)
        args.real_tweets = min(args.real_tweets, 400)
    import shlex
    import sys

    args.command = "python -m bench.serving " + shlex.join(sys.argv[1:])
    results = run(args)
    json_path = Path(args.json or Path(args.dir) / "bench.json")
    json_path.write_text(json.dumps(results, indent=2, default=str))
    report.write_benchmarks(Path(args.out), bench=results, loadtest_json=Path(args.dir) / "loadtest.json")
    echo(f"wrote {args.out} and {json_path} in {results['seconds_total']:.0f} s")


if __name__ == "__main__":
    main()
