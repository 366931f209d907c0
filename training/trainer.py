"""The joint-embedding trainer: the paper's recipe (Adam, lr step, grad clipping, hardest-negative
hinge loss, validation by the sum of recalls), resumable, with a JSONL metrics log.

Layout it writes under OUT (the checkpoint, see docs/DESIGN.md):
  the served files + manifest.json   the best model so far by validation rsum
  metrics.jsonl                      one JSON object per validation and per epoch (not in the manifest)
  train_state/                       the last state for --resume: weights, Adam moments, progress
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from numpy.typing import NDArray
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from model import checkpoint as ck
from model.checkpoint_writer import encode_places, write_checkpoint
from model.config import FROZEN_IMAGE_FEATURE_DIMS, ImageEncoder, ModelConfig, TrainConfig
from model.embedder import resolve_device
from model.embedding_batch import EmbeddingBatch
from model.featurize import Featurizer, TweetFeatures
from model.joint import JointEmbeddingModel
from model.loss import joint_loss
from training.dataset import WorkData, load_work, split_features
from training.metrics import ranks_of_targets, recall_at_k

RECALL_KS = (1, 5, 10)
STATE_FILE = "state.json"


@dataclass
class TrainResult:
    out_dir: Path
    best_rsum: float
    best_recalls: dict[str, dict[str, float]]
    iterations: int
    train_tweets_per_s: float
    train_seconds: float
    device: str


def resolve_model_config(config: ModelConfig, work: WorkData) -> ModelConfig:
    """The model the WORK data was prepared for: dims of its vectors, its image encoder and size."""
    image_encoder = cast(ImageEncoder, work.prepare.image_encoder or config.image_encoder)
    feature_dim = FROZEN_IMAGE_FEATURE_DIMS.get(image_encoder, config.image_feature_dim)
    text_weights = image_weights = ""
    if config.text_encoder == "minilm":
        if not work.has_text_features():
            raise ValueError(
                f"{work.work_dir}: this preset's text branch is MiniLM, but WORK has no "
                "text_features/: prepare it with the same --config (or --text-encoder minilm)"
            )
        from model.text_encoders import MINILM, MINILM_DIM

        text_weights = MINILM.record()
        config = dataclasses.replace(config, text_feature_dim=MINILM_DIM)
    if image_encoder == "efficientnet_lite0":
        from model.image_encoders import EFFICIENTNET_LITE0

        image_weights = EFFICIENTNET_LITE0.record()
    components = tuple(
        c
        for c in config.components
        if not (c == "user" and work.user_vectors is None) and not (c == "location" and work.places is None)
    )
    return dataclasses.replace(
        config,
        components=components,
        vocab_size=len(work.vocab),
        word_dim=work.word_vectors.dim,
        user_dim=work.user_vectors.dim if work.user_vectors is not None else config.user_dim,
        image_encoder=image_encoder,
        image_size=int(work.prepare.image_size or config.image_size),
        image_feature_dim=feature_dim,
        place_neighbours=int(work.prepare.place_neighbours or config.place_neighbours),
        text_weights=text_weights,
        image_weights=image_weights,
        data_fingerprint=work.fingerprint(),
    )


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(
    config: ModelConfig, work: WorkData, train_feats: Sequence[TweetFeatures]
) -> JointEmbeddingModel:
    """A fresh model: text embeddings from fastText, fixed-feature branches standardised on the
    training split's inputs."""
    model = JointEmbeddingModel(config)
    if model.text is not None:
        matrix = torch.from_numpy(work.word_vectors.matrix(work.vocab.words))  # (V, word_dim)
        model.text.init_word_embeddings(matrix)
    fixed = [
        (model.hashtags, [f.hashtags for f in train_feats if f.hashtags is not None]),
        (model.user, [f.user for f in train_feats if f.user is not None]),
        (model.text_head, [f.text_features for f in train_feats if f.text_features is not None]),
    ]
    if model.image is not None and model.image.cnn is None:  # ResNet features
        fixed.append((model.image.project, [np.asarray(f.image) for f in train_feats if f.image is not None]))
    for branch, rows in fixed:
        if branch is not None and rows:
            sample = rows[:: max(1, len(rows) // 20_000)]  # statistics need no more than a sample
            branch.set_input_statistics(torch.from_numpy(np.stack(sample).astype(np.float32)))
    return model


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The tweet order of an epoch, a function of (seed, epoch) only, so a resumed run sees the same."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).tolist()


@torch.no_grad()
def embed_features(
    model: JointEmbeddingModel,
    featurizer: Featurizer,
    feats: Sequence[TweetFeatures],
    device: torch.device,
    batch_size: int = 256,
    amp: bool = False,
) -> EmbeddingBatch:
    """Embed cached features in eval mode (validation and the overfit test)."""
    was_training = model.training
    model.eval()
    parts = []
    for start in range(0, len(feats), batch_size):
        batch = featurizer.collate(feats[start : start + batch_size]).to(device)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            out = model(batch)
        parts.append(
            EmbeddingBatch(
                components={k: v.float().cpu().numpy() for k, v in out.components.items()},
                present={k: v.cpu().numpy() for k, v in out.present.items()},
                average=out.average.float().cpu().numpy(),
            )
        )
    model.train(was_training)
    return EmbeddingBatch.concat(parts)


def component_recalls(batch: EmbeddingBatch, ks: Sequence[int] = RECALL_KS) -> dict[str, dict[str, float]]:
    """Cross-component retrieval, as in the paper's retrieval experiments ("a tweet minus its image
    retrieves the image"): for each component c, each tweet that has c and at least one other component
    queries with the mean of its other components; the gallery is c of every tweet that has c.

    Scoring c against the full average instead would reward branches that stay apart from the others
    (the average contains c itself, so c finds its own tweet without being aligned with anything).
    """
    names = list(batch.components)
    # (N, dim): absent rows are zero
    total = cast(NDArray[np.float32], sum(batch.components[n] for n in names))
    count = sum(batch.present[n].astype(np.int64) for n in names)  # (N,)
    out: dict[str, dict[str, float]] = {}
    for name in names:
        has = batch.present[name]
        gallery_rows = np.flatnonzero(has)
        query_rows = np.flatnonzero(has & (count >= 2))
        if query_rows.size == 0:
            continue
        others = total[query_rows] - batch.components[name][query_rows]  # (Q, dim)
        others /= np.linalg.norm(others, axis=1, keepdims=True).clip(min=1e-12)
        scores = others @ batch.components[name][gallery_rows].T  # (Q, G)
        position = {int(r): i for i, r in enumerate(gallery_rows)}
        ranks = ranks_of_targets(scores, np.array([position[int(r)] for r in query_rows]))
        out[name] = {f"r{k}": recall_at_k(ranks, k) for k in ks}
    return out


def average_recalls(batch: EmbeddingBatch, ks: Sequence[int] = RECALL_KS) -> dict[str, dict[str, float]]:
    """The loss's own task (Eq. 2): each tweet's component c queries the averages of all tweets; its
    own tweet's average should come first. Logged, and what a zero training loss implies is 1.0."""
    gallery_rows = np.flatnonzero(batch.has_any)
    position = {int(r): i for i, r in enumerate(gallery_rows)}
    out: dict[str, dict[str, float]] = {}
    for name, emb in batch.components.items():
        rows = np.flatnonzero(batch.present[name])
        if rows.size == 0:
            continue
        scores = emb[rows] @ batch.average[gallery_rows].T  # (Q, G)
        ranks = ranks_of_targets(scores, np.array([position[int(r)] for r in rows]))
        out[name] = {f"r{k}": recall_at_k(ranks, k) for k in ks}
    return out


def rsum(recalls: dict[str, dict[str, float]]) -> float:
    """The paper's model-selection score: recall@1+5+10, summed over components (in percent)."""
    return 100.0 * sum(sum(r.values()) for r in recalls.values())


# ---- train state (resume) ---------------------------------------------------------------------------
def save_train_state(
    state_dir: Path, model: JointEmbeddingModel, optimizer: torch.optim.Optimizer, progress: dict[str, Any]
) -> None:
    """Weights, Adam moments and progress as safetensors + JSON (no pickles in a checkpoint dir)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ck.save_weights(model, state_dir / "model.safetensors")
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, slots in opt["state"].items():
        for key, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    tmp = state_dir / "optimizer.safetensors.tmp"
    save_file(tensors, str(tmp))
    tmp.replace(state_dir / "optimizer.safetensors")
    body = {"progress": progress, "param_groups": opt["param_groups"], "scalars": scalars}
    (state_dir / (STATE_FILE + ".tmp")).write_text(json.dumps(body, indent=2), encoding="utf-8")
    (state_dir / (STATE_FILE + ".tmp")).replace(state_dir / STATE_FILE)


def load_train_state(
    state_dir: Path, model: JointEmbeddingModel, optimizer: torch.optim.Optimizer, device: torch.device
) -> dict[str, Any]:
    body = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
    ck.load_weights(model, state_dir / "model.safetensors", device)
    # On the CPU: load_state_dict moves the moments to their parameters' device and keeps Adam's
    # step counters where torch expects them.
    tensors = load_file(str(state_dir / "optimizer.safetensors"), device="cpu")
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for index, slots in body.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(slots)
    optimizer.load_state_dict({"state": state, "param_groups": body["param_groups"]})
    progress: dict[str, Any] = body["progress"]
    return progress


# ---- the loop ---------------------------------------------------------------------------------------
def train(
    work_dir: Path,
    out_dir: Path,
    config: TrainConfig,
    device: str = "auto",
    resume: bool = False,
    max_val: int = 1000,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    max_iterations: int | None = None,
) -> TrainResult:
    """Train on WORK's train split, select by validation rsum, write the best model to ``out_dir``.

    ``max_iterations`` stops early (after that many optimizer steps in this call) and is meant for tests
    of interruption and resuming.
    """
    seed_everything(config.seed)
    work = load_work(work_dir)
    model_config = resolve_model_config(config.model, work)
    config = dataclasses.replace(config, model=model_config)
    dev = resolve_device(device)
    amp = dev.type == "cuda"
    echo(
        f"device {dev}{' (mixed precision)' if amp else ''}; "
        f"components {','.join(model_config.components)}; dim {model_config.dim}; "
        f"image encoder {model_config.image_encoder}"
    )

    minilm = model_config.text_encoder == "minilm"
    featurizer = Featurizer(
        model_config,
        work.vocab,
        work.word_vectors,
        work.user_vectors,
        places=work.places,
        place_text_features=work.place_text_features() if minilm else None,
    )

    def sentence_features(split: str) -> dict[str, dict[str, np.ndarray] | None]:
        if not minilm:
            return {}
        return {"text_features": work.text_features(split), "hashtag_features": work.hashtag_features(split)}

    train_feats = split_features(
        featurizer,
        work.split("train"),
        model_config,
        work.image_features("train"),
        "featurise train",
        progress,
        **sentence_features("train"),
    )
    val_tweets = work.split("val") if work.layout.split("val").is_file() else []
    if len(val_tweets) > max_val:
        keep = sorted(np.random.default_rng(config.seed).choice(len(val_tweets), max_val, replace=False))
        val_tweets = [val_tweets[i] for i in keep]
    val_feats = split_features(
        featurizer,
        val_tweets,
        model_config,
        work.image_features("val"),
        "featurise val",
        progress,
        **sentence_features("val"),
    )
    if not train_feats:
        raise ValueError(f"{work_dir}: the training split is empty")

    model = build_model(model_config, work, train_feats).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    state_dir = out_dir / ck.TRAIN_STATE_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = out_dir / ck.METRICS_LOG

    prog: dict[str, Any] = {
        "epoch": 0,
        "batch_in_epoch": 0,
        "iteration": 0,
        "best_rsum": -1.0,
        "best_recalls": {},
        "train_tweets": 0,
        "train_seconds": 0.0,
        "finished": False,
        "last_val_iteration": -1,
    }
    if resume:
        if not (state_dir / STATE_FILE).is_file():
            raise FileNotFoundError(f"--resume: no training state in {state_dir}")
        saved_config = json.loads((state_dir / "train_config.json").read_text(encoding="utf-8"))
        if _without_epochs(saved_config) != _without_epochs(config.to_json()):
            raise ValueError(
                "--resume: the configuration differs from the interrupted run's "
                f"(see {state_dir / 'train_config.json'}); only --epochs may change"
            )
        prog.update(load_train_state(state_dir, model, optimizer, dev))
        prog["finished"] = False
        echo(f"resuming at epoch {prog['epoch'] + 1}, iteration {prog['iteration']}")
    else:
        metrics_path.unlink(missing_ok=True)
        state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "train_config.json").write_text(json.dumps(config.to_json(), indent=2), encoding="utf-8")

    batches_per_epoch = math.ceil(len(train_feats) / config.batch_size)
    steps_this_call = 0
    stopped_early = False

    def log(record: dict[str, Any]) -> None:
        with open(metrics_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def validate(epoch: int, running_loss: float, bar: Any) -> None:
        embedded = embed_features(model, featurizer, val_feats or train_feats[:max_val], dev, amp=amp)
        recalls = component_recalls(embedded)
        score = rsum(recalls)
        prog["last_val_iteration"] = prog["iteration"]
        best = score > prog["best_rsum"]
        if best:
            prog["best_rsum"], prog["best_recalls"] = score, recalls
            save_served(out_dir, model, featurizer, work, config, dev)
        speed = prog["train_tweets"] / max(prog["train_seconds"], 1e-9)
        log(
            {
                "event": "val",
                "epoch": epoch + 1,
                "iteration": prog["iteration"],
                "loss": running_loss,
                "lr": optimizer.param_groups[0]["lr"],
                "recalls": recalls,
                "rsum": score,
                "best": best,
                "average_recalls": average_recalls(embedded),
                "train_tweets_per_s": speed,
                "split": "val" if val_feats else "train",
            }
        )
        if bar is not None:
            bar.set_postfix(loss=f"{running_loss:.3f}", rsum=f"{score:.1f}", best=f"{prog['best_rsum']:.1f}")

    try:
        for epoch in range(prog["epoch"], config.epochs):
            lr = config.lr * (0.1 if epoch >= config.lr_decay_epoch else 1.0)
            for group in optimizer.param_groups:
                group["lr"] = lr
            order = epoch_order(len(train_feats), config.seed, epoch)
            model.train()
            losses: list[float] = []
            part_sums: dict[str, float] = {}
            bar = tqdm(
                range(prog["batch_in_epoch"], batches_per_epoch),
                desc=f"epoch {epoch + 1}/{config.epochs}",
                unit="batch",
                disable=not progress,
                dynamic_ncols=True,
            )
            for b in bar:
                started = time.perf_counter()
                indices = order[b * config.batch_size : (b + 1) * config.batch_size]
                batch = featurizer.collate([train_feats[i] for i in indices]).to(dev)
                with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=amp):
                    out = model(batch)
                loss, parts = joint_loss(
                    out.components, out.present, out.average, config.margin, config.loss, config.loss_target
                )
                optimizer.zero_grad(set_to_none=True)
                # A batch in which no component has a positive pair and a negative (hashtags-as-text data
                # with few tweets that have both parts, the "others" target on one-component tweets)
                # gives a constant zero loss: nothing to learn, so no step, rather than a crash.
                if loss.requires_grad:
                    scaler.scale(loss).backward()  # type: ignore[no-untyped-call]  # torch's GradScaler
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                losses.append(float(loss.detach()))
                if amp:
                    torch.cuda.synchronize()
                prog["train_seconds"] += time.perf_counter() - started
                prog["train_tweets"] += len(indices)
                prog["iteration"] += 1
                prog["batch_in_epoch"] = b + 1
                steps_this_call += 1
                running = float(np.mean(losses[-50:]))
                bar.set_postfix(loss=f"{running:.3f}", best=f"{max(prog['best_rsum'], 0):.1f}")
                for name, value in parts.items():
                    part_sums[name] = part_sums.get(name, 0.0) + value
                if prog["iteration"] % config.val_every == 0:
                    validate(epoch, running, bar)
                    save_train_state(state_dir, model, optimizer, prog)
                if max_iterations is not None and steps_this_call >= max_iterations:
                    stopped_early = True
                    break
            bar.close()
            if stopped_early:
                save_train_state(state_dir, model, optimizer, prog)
                break
            running = float(np.mean(losses[-50:])) if losses else math.nan
            if prog["last_val_iteration"] != prog["iteration"]:  # not validated at this very step already
                validate(epoch, running, None)
            prog["epoch"], prog["batch_in_epoch"] = epoch + 1, 0
            save_train_state(state_dir, model, optimizer, prog)
            log(
                {
                    "event": "epoch",
                    "epoch": epoch + 1,
                    "iteration": prog["iteration"],
                    "loss": running,
                    "loss_parts": {k: v / max(len(losses), 1) for k, v in part_sums.items()},
                    "best_rsum": prog["best_rsum"],
                }
            )
            echo(
                f"epoch {epoch + 1}/{config.epochs}: loss {running:.3f}, val rsum "
                f"{_last_rsum(metrics_path):.1f} (best {prog['best_rsum']:.1f})"
            )
    except KeyboardInterrupt:
        # The state of the last finished step, so that --resume picks up from there.
        save_train_state(state_dir, model, optimizer, prog)
        echo(f"\ninterrupted at iteration {prog['iteration']}; the state is saved: rerun with --resume")
        raise

    if not (out_dir / ck.MANIFEST).is_file():  # e.g. stopped before the first validation
        save_served(out_dir, model, featurizer, work, config, dev)
    if not stopped_early:
        prog["finished"] = True  # lets scripts tell a finished run from an interrupted one
        save_train_state(state_dir, model, optimizer, prog)
    speed = prog["train_tweets"] / max(prog["train_seconds"], 1e-9)
    return TrainResult(
        out_dir,
        prog["best_rsum"],
        prog["best_recalls"],
        prog["iteration"],
        speed,
        prog["train_seconds"],
        str(dev),
    )


def save_served(
    out_dir: Path,
    model: JointEmbeddingModel,
    featurizer: Featurizer,
    work: WorkData,
    config: TrainConfig,
    device: torch.device,
) -> str:
    comps = set(config.model.components)
    places = work.places if "location" in comps else None
    encodings = encode_places(model, featurizer, places, device) if places is not None else None
    return write_checkpoint(
        out_dir,
        model,
        config.model,
        work.vocab,
        work.word_vectors_path,
        work.user_vectors if "user" in comps else None,
        work.places,
        encodings,
        train_config=config.to_json(),
    )


def _without_epochs(obj: dict[str, Any]) -> dict[str, Any]:
    # num_workers: a TrainConfig field that did nothing, still in the state of runs started before
    # it was removed; those runs resume.
    return {k: v for k, v in obj.items() if k not in ("epochs", "num_workers")}


def _last_rsum(metrics_path: Path) -> float:
    last = math.nan
    for line in metrics_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("event") == "val":
            last = float(record["rsum"])
    return last
