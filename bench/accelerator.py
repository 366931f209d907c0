"""The GPU rows of `make bench`: in-process speed by batch, the real service at concurrency 32 and 64,
and the small preset's training throughput, on a CUDA device in fp32 and fp16.

`make bench` runs them when torch sees a CUDA device and says why not otherwise. ``--gpu-device cpu``
rehearses the same code on the CPU (fp32 only: half precision is CUDA-only), so that the path a GPU
machine takes is exercised where there is none.
"""

from __future__ import annotations

import gc
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.artifacts import Artifacts, train_briefly
from bench.workload import load_workload

BATCH_SIZES = (1, 32, 128, 512)
CONCURRENCIES = (32, 64)
TRAIN_STEPS = 20


def precisions(device: str) -> tuple[str, ...]:
    return ("fp32", "fp16") if device == "cuda" else ("fp32",)


def unavailable(device: str) -> str | None:
    """Why the rows cannot be measured on ``device``, or None when they can."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        return "no CUDA device in this session"
    return None


def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(0) if device == "cuda" else f"{device} (rehearsal)"


def measure(
    art: Artifacts,
    seconds: float,
    logs: Path,
    base: Path,
    device: str = "cuda",
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every GPU row; ``{"measured": False, "why": ...}`` when ``device`` is not there."""
    import torch

    from bench.inprocess import speeds
    from bench.serving import serve_model
    from model.embedder import TweetEmbedder

    why = unavailable(device)
    if why is not None:
        return {"measured": False, "why": why}
    rows: list[dict[str, Any]] = []
    models = [("small", art.ckpt_small, art.work_small), ("paper", art.ckpt_paper, art.work_paper)]
    if art.ckpt_real is not None and art.work_real is not None:
        models.append(("real", art.ckpt_real, art.work_real))
    for name, ckpt, work in models:
        workload = load_workload(work, "text")
        for precision in precisions(device):
            fp16 = precision == "fp16"
            echo(f"{device}: {name}, {precision}, in-process forward passes")
            embedder = TweetEmbedder.load(ckpt, device=device, fp16=fp16)
            batches = speeds(embedder, workload, BATCH_SIZES, max(1.0, seconds / 2))
            del embedder
            gc.collect()
            if device == "cuda":
                torch.cuda.empty_cache()  # the service below loads its own copy on the same device
            service = serve_model(
                ckpt,
                {"text": workload},
                CONCURRENCIES,
                seconds,
                logs,
                f"{name}-{device}-{precision}",
                device=device,
                env={"TWEETEMBED_FP16": "1" if fp16 else "0"},
            )
            best = max(batches, key=lambda b: b.tweets_per_s)
            rows.append(
                {
                    "model": name,
                    "precision": precision,
                    "batches": {str(b.batch_size): b.tweets_per_s for b in batches},
                    "best_batch": best.batch_size,
                    "best_tweets_per_s": best.tweets_per_s,
                    "service": {str(c): service["runs"][f"text/c{c}"] for c in CONCURRENCIES},
                    "cold_start_s": service["cold_start_s"],
                }
            )
    echo(f"{device}: training throughput of the small preset ({TRAIN_STEPS} steps)")
    out = base / f"train-speed-{device}"
    shutil.rmtree(out, ignore_errors=True)
    train_tweets_per_s = train_briefly(art.work_small, out, "small", TRAIN_STEPS, echo=echo, device=device)
    return {
        "measured": True,
        "device": device,
        "name": device_name(device),
        "rows": rows,
        "train_tweets_per_s": train_tweets_per_s,
        "train_steps": TRAIN_STEPS,
    }
