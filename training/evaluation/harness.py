"""Runs every task on the joint model, its baselines and its comparison models, on the same splits.

Each task that lacks what it needs (images, city places, hashtags, bot labels, a comparison model)
is recorded as skipped with the reason, never silently dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.record import Tweet
from training.evaluation import bots as bot_eval
from training.evaluation import hashtags as tag_eval
from training.evaluation import location as loc_eval
from training.evaluation.retrieval import retrieval_metrics
from training.evaluation.variants import (
    Variant,
    comparison_variants,
    hashtags_as_text,
    train_config_of,
    train_variant,
    variant_train_config,
)
from training.heads.data import Splits, load_splits, read_bot_label_file, recent_tweets_by_user
from training.heads.embedding import Embedder, embed_all, profile_embeddings
from training.heads.fit_location import LARGER_FOREST, ForestParams, city_label

JOINT = "Joint model (ours)"


@dataclass
class EvalOptions:
    bot_labels: Path | None = None
    bot_test_labels: Path | None = None
    vsepp: Path | None = None
    vsepp_hashtags: Path | None = None
    ablations: dict[str, Path] = field(default_factory=dict)
    train_missing: bool = True
    run_ablations: bool = True
    models_dir: Path | None = None
    device: str = "auto"
    forest: ForestParams = field(default_factory=ForestParams)
    larger_forest: ForestParams | None = LARGER_FOREST
    knn_ks: tuple[int, ...] = (1, 10)
    cnn: bool = True
    n_recent: int = 10
    bot_folds: int = 5
    hashtag_neighbours: int = 50
    comparisons: tuple[str, ...] | None = None  # comparison-model keys to run (None: all)
    max_iterations: int | None = None  # optimizer steps each trained comparison model may take
    # The baselines depend on the splits alone, not on the model: with a directory here, their metrics
    # are kept under a key of the split files and the baseline code, and reused by the next preset.
    baseline_cache: Path | None = None


def _timed(log: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    try:
        return fn()
    finally:
        log[name] = round(time.perf_counter() - start, 1)


def _guard(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A baseline module that is missing or fails is reported, not fatal to the whole report."""
    try:
        return fn()
    except ImportError as exc:
        return {"skipped": f"baseline unavailable: {exc}"}


class Evaluation:
    def __init__(self, splits: Splits, options: EvalOptions, echo: Callable[[str], None] = print) -> None:
        self.splits = splits
        self.options = options
        self.echo = echo
        self.timings: dict[str, float] = {}
        test_labels = read_bot_label_file(options.bot_test_labels) if options.bot_test_labels else {}
        labels = {**splits.bot_labels, **test_labels}
        self.bot_users = sorted(labels)
        self.bot_labels = np.array([labels[u] for u in self.bot_users], dtype=np.int64)
        self.bot_test_mask = np.array([u in test_labels for u in self.bot_users]) if test_labels else None
        self.recent = recent_tweets_by_user(splits.all_tweets(), options.n_recent, set(self.bot_users))
        self._bot_behaviour: np.ndarray | None = None
        classes = loc_eval.city_classes(splits.train)
        self.loc_train = [t for t in splits.train if city_label(t) in classes]
        self.loc_test = [t for t in splits.test if city_label(t) in classes]
        self.loc_val = [t for t in splits.val if city_label(t) in classes]
        self.loc_classes = classes
        self.loc_known = loc_eval.known_authors([*self.loc_train, *self.loc_val], self.loc_test)
        self.coords = loc_eval.place_coordinates(splits.all_tweets())

    # ---- one embedding model --------------------------------------------------------------------
    def model_tasks(
        self,
        name: str,
        embedder: Embedder,
        full: bool,
        retrieval_only: bool = False,
        transform: Callable[[Tweet], Tweet | None] | None = None,
        served: Path | None = None,
    ) -> dict[str, Any]:
        """Every task one embedding model can do (``full`` adds the larger forest, the CNN and the
        behaviour + embedding statistics bot forest);
        ``transform`` rewrites the test tweets first (hashtags as text); ``served``: the checkpoint
        whose location head (the one the service loads) is scored beside the evaluation's forest, and
        whose neighbour hashtag head is the one scored (a model without heads gets the fixed one)."""
        comps = set(embedder.config.components)
        test = self.splits.test
        if transform is not None:
            test = [t2 for t in test if (t2 := transform(t)) is not None]
        batch = _timed(
            self.timings, f"{name}: embed test", lambda: embed_all(embedder, test, desc=f"{name} test")
        )
        out: dict[str, Any] = {
            "retrieval": {
                "image": retrieval_metrics(batch, "image"),
                "text": retrieval_metrics(batch, "text"),
            }
        }
        if retrieval_only:
            return out
        rows, truth = tag_eval.test_queries(test)
        tagged_train = [t for t in self.splits.train if t.hashtags]
        if rows and tagged_train:
            recs: dict[str, list[list[str]]] = {}
            if "hashtags" in comps:
                recs[tag_eval.PAPER_METHOD] = _timed(
                    self.timings,
                    f"{name}: hashtags (paper)",
                    lambda: tag_eval.joint_recommendations(embedder, self.splits.train, batch, rows),
                )
            authors = [test[i].user_id for i in rows]
            served_tags = (
                None
                if served is None
                else tag_eval.served_neighbour_recommendations(served, batch, rows, authors)
            )
            if served_tags is not None:  # the head the service answers with, as build-heads chose it
                recs[tag_eval.NEIGHBOUR_METHOD], out["hashtag_head"] = served_tags
            else:  # a comparison model without heads: the fixed neighbour head, fitted here
                train_b = embed_all(embedder, tagged_train, desc=f"{name} tagged train")
                recs[tag_eval.NEIGHBOUR_METHOD] = _timed(
                    self.timings,
                    f"{name}: hashtags (neighbours)",
                    lambda: tag_eval.neighbour_recommendations(
                        tagged_train, train_b, batch, rows, self.options.hashtag_neighbours
                    ),
                )
            out["hashtags"] = {method: tag_eval.prf_curve(r, truth) for method, r in recs.items()}
        out["location"] = self._location(name, embedder, full, served)
        out["bots"] = self._bots(name, embedder, full)
        return out

    def _location(
        self, name: str, embedder: Embedder, full: bool, served: Path | None = None
    ) -> dict[str, Any]:
        if len(self.loc_classes) < 2 or not self.loc_test:
            return {
                "skipped": "fewer than 2 city-level places in the training split, or no test tweet from one"
            }
        train_b = embed_all(embedder, self.loc_train, desc=f"{name} location train")
        test_b = embed_all(embedder, self.loc_test, desc=f"{name} location test")
        train_x, test_x = loc_eval.joint_features(
            train_b,
            test_b,
            profile_embeddings(embedder, self.loc_train),
            profile_embeddings(embedder, self.loc_test),
        )
        labels = [city_label(t) or "" for t in self.loc_train]
        out: dict[str, Any] = {}
        if served is not None:
            # The head /predict-location answers with, as build-heads wrote it; never refitted here.
            predicted, info = _timed(
                self.timings,
                f"{name}: served location head",
                lambda: loc_eval.served_head_run(served, embedder, self.loc_test, test_b),
            )
            if predicted is not None:
                info = {**loc_eval.scores(predicted, self.loc_test, self.coords, self.loc_known), **info}
            out["served_head"] = info
        pred, info = _timed(
            self.timings,
            f"{name}: location forest",
            lambda: loc_eval.forest_run(train_x, labels, test_x, self.options.forest),
        )
        out["chosen_forest"] = {
            **loc_eval.scores(pred, self.loc_test, self.coords, self.loc_known),
            "forest": info,
        }
        larger = self.options.larger_forest
        if full and larger is not None:
            pred, info = _timed(
                self.timings,
                f"{name}: larger forest",
                lambda: loc_eval.forest_run(train_x, labels, test_x, larger),
            )
            out["larger_forest"] = {
                **loc_eval.scores(pred, self.loc_test, self.coords, self.loc_known),
                "forest": info,
            }
        return out

    def _bots(self, name: str, embedder: Embedder, full: bool) -> dict[str, Any]:
        if len(set(self.bot_labels.tolist())) < 2:
            return {"skipped": "no bot labels with both classes (DATA/bot_labels.csv or --bot-labels)"}
        users = [u for u in self.bot_users if self.recent.get(u)]
        if len(users) < len(self.bot_users):
            return {"skipped": f"{len(self.bot_users) - len(users)} labelled users have no tweets in DATA"}
        flat = [t for u in users for t in self.recent[u]]
        batch = embed_all(embedder, flat, desc=f"{name} users' tweets")
        rows, start = [], 0
        for u in users:
            rows.append(batch.average[start : start + len(self.recent[u])])  # (n_u, dim), newest first
            start += len(self.recent[u])
        ks = self.options.knn_ks if full else self.options.knn_ks[:1]
        scorers = bot_eval.embedding_scorers(
            rows,
            self.bot_labels,
            int(embedder.config.dim),
            ks,
            full and self.options.cnn,
            self.options.n_recent,
        )
        if full:
            # Against the behaviour-only forest baseline: what the embeddings add to behaviour.
            hybrid = bot_eval.hybrid_features(
                self._behaviour(), rows, int(embedder.config.dim), self.options.n_recent
            )  # (U, F + 2*dim + 4)
            scorers[bot_eval.HYBRID_FOREST] = bot_eval.forest_scorer(hybrid, self.bot_labels)
        result: dict[str, Any] = _timed(
            self.timings,
            f"{name}: bots",
            lambda: bot_eval.evaluate_scorers(scorers, self.bot_labels, self._bot_folds()),
        )
        return result

    def _bot_folds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return bot_eval.folds(self.bot_labels, self.bot_test_mask, self.options.bot_folds)

    def _behaviour(self) -> np.ndarray:
        """(U, F) behaviour features of the labelled users (rows as self.bot_users), computed once for
        the baselines and the joint model's hybrid forest."""
        if self._bot_behaviour is None:
            self._bot_behaviour = bot_eval.behaviour_matrix(self.bot_users, self.splits.all_tweets())
        return self._bot_behaviour

    # ---- baselines that need no embedding model -------------------------------------------------
    def baselines(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        rows, truth = tag_eval.test_queries(self.splits.test)
        if rows:

            def tags() -> dict[str, Any]:
                makers = tag_eval.baseline_recommendations(
                    self.splits.train, self.splits.val, self.splits.test, rows
                )
                result: dict[str, Any] = {}
                for key, make in makers.items():
                    predicted, selection = make()
                    result[key] = tag_eval.prf_curve(predicted, truth)
                    if selection is not None:
                        result[key]["selection"] = selection
                return result

            out["hashtags"] = _timed(self.timings, "baselines: hashtags", lambda: _guard(tags))
        if len(self.loc_classes) >= 2 and self.loc_test:

            def loc() -> dict[str, Any]:
                preds, chosen = loc_eval.baseline_predictions(self.loc_train, self.loc_val, self.loc_test)
                result = {
                    k: loc_eval.scores(p, self.loc_test, self.coords, self.loc_known)
                    for k, p in preds.items()
                }
                for key, selection in chosen.items():
                    result[key]["selection"] = selection
                return result

            out["location"] = _timed(self.timings, "baselines: location", lambda: _guard(loc))
        if len(set(self.bot_labels.tolist())) == 2:

            def bot() -> dict[str, Any]:
                behaviour = self._behaviour()
                scorers = {
                    bot_eval.BEHAVIOUR_TFIDF: bot_eval.behaviour_scorer(
                        self.bot_users, self.splits.all_tweets(), self.bot_labels, behaviour
                    ),
                    bot_eval.BEHAVIOUR_FOREST: bot_eval.forest_scorer(behaviour, self.bot_labels),
                    bot_eval.TFIDF_LR: bot_eval.tfidf_lr_scorer(
                        self.bot_users, self.splits.all_tweets(), self.bot_labels
                    ),
                }
                return bot_eval.evaluate_scorers(scorers, self.bot_labels, self._bot_folds())

            out["bots"] = _timed(self.timings, "baselines: bots", lambda: _guard(bot))
        return out


def baseline_key(data: Path, bot_labels: str | None) -> str | None:
    """The baselines' inputs: the three split files, the bot labels and the code that fits them; None
    where DATA is not a prepared WORK directory (nothing stable to key on)."""
    import hashlib

    splits = [data / "splits" / f"{s}.jsonl" for s in ("train", "val", "test")]
    if not all(p.is_file() for p in splits):
        return None
    digest = hashlib.sha256(str(bot_labels).encode())
    if bot_labels and Path(bot_labels).is_file():
        digest.update(Path(bot_labels).read_bytes())
    for path in splits:
        digest.update(path.read_bytes())
    here = Path(__file__).resolve().parent
    code = [here / n for n in ("harness.py", "location.py", "hashtags.py", "bots.py")]
    for path in sorted([*code, *(here.parent / "baselines").glob("*.py")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _cached_baselines(
    evaluation: Evaluation, data: Path, options: EvalOptions, echo: Callable[[str], None]
) -> dict[str, Any]:
    key = baseline_key(data, evaluation.splits.bot_labels_source) if options.baseline_cache else None
    if key is None or options.baseline_cache is None:
        return evaluation.baselines()
    path = options.baseline_cache / f"baselines-{key[:32]}.json"
    if path.is_file():
        echo(f"baselines: reused {path} (same splits and baseline code)")
        cached = json.loads(path.read_text(encoding="utf-8"))
        evaluation.timings.update({f"{k} (reused)": 0.0 for k in cached["timings_s"]})
        return dict(cached["baselines"])
    before = set(evaluation.timings)
    result = evaluation.baselines()
    timings = {k: v for k, v in evaluation.timings.items() if k not in before}
    options.baseline_cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"baselines": result, "timings_s": timings}, default=str), encoding="utf-8")
    tmp.replace(path)
    return result


def load_work_embedder(ckpt: Path, work: Path, device: str) -> Embedder:
    """The checkpoint's embedder, handed WORK's MiniLM features: they are the frozen encoder's, the
    same for every MiniLM checkpoint on this WORK, and without them every evaluated tweet runs through
    MiniLM again (most of evaluate's time on a MiniLM checkpoint)."""
    from model.embedder import TweetEmbedder
    from training.dataset import remember_work_sentences

    embedder = TweetEmbedder.load(ckpt, device=device)
    remember_work_sentences(embedder, work)
    return embedder


def run_evaluation(
    ckpt: Path,
    data: Path,
    options: EvalOptions,
    embedder: Embedder | None = None,
    load_embedder: Callable[[Path], Embedder] | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """All metrics as one JSON-able dict (see report.py for how it is laid out)."""
    started = time.perf_counter()

    loader = load_embedder or (lambda path: load_work_embedder(path, Path(data), options.device))
    splits = load_splits(data, options.bot_labels)
    evaluation = Evaluation(splits, options, echo)
    joint = embedder or loader(ckpt)
    echo(
        f"evaluating {ckpt} on {splits.description}: {len(splits.train)} train / {len(splits.val)} val / "
        f"{len(splits.test)} test tweets"
    )
    metrics: dict[str, Any] = {
        "checkpoint": str(ckpt),
        "data": splits.description,
        "counts": {
            "train": len(splits.train),
            "val": len(splits.val),
            "test": len(splits.test),
            "location_classes": len(evaluation.loc_classes),
            "location_train": len(evaluation.loc_train),
            "location_test": len(evaluation.loc_test),
            "bot_users": len(evaluation.bot_users),
            "bots": int(evaluation.bot_labels.sum()),
        },
        "bot_protocol": bot_eval.describe(evaluation.bot_labels, evaluation.bot_test_mask, options.bot_folds),
        "bot_labels": splits.bot_labels_source,
    }
    echo("joint model ...")
    metrics["joint"] = evaluation.model_tasks("joint", joint, full=True, served=Path(ckpt))
    echo("baselines ...")
    metrics["baselines"] = _cached_baselines(evaluation, Path(data), options, echo)
    metrics["variants"] = {}
    from training.artifacts import WorkLayout

    is_work = WorkLayout(Path(data)).is_prepared()
    models_dir = options.models_dir or Path(data) / "eval_models"
    for variant in comparison_variants(
        tuple(joint.config.components), options.vsepp, options.vsepp_hashtags, options.ablations
    ):
        if variant.key.startswith("without_") and not options.run_ablations:
            metrics["variants"][variant.key] = {"label": variant.label, "skipped": "ablations not requested"}
            continue
        if options.comparisons is not None and variant.key not in options.comparisons:
            metrics["variants"][variant.key] = {
                "label": variant.label,
                "skipped": "not requested (--comparison)",
            }
            continue
        reason = cannot_apply(variant, splits)
        if reason:
            metrics["variants"][variant.key] = {"label": variant.label, "skipped": reason}
            continue
        metrics["variants"][variant.key] = _variant(
            evaluation, variant, ckpt, data, is_work, models_dir, options, loader, echo
        )
    metrics["timings_s"] = evaluation.timings
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    return metrics


def cannot_apply(variant: Variant, splits: Splits) -> str | None:
    """Why a comparison model would measure nothing on this data (so it is not trained), or None."""
    has_image = {
        name: any(t.image for t in part) for name, part in (("train", splits.train), ("test", splits.test))
    }
    if "image" in variant.components and len(variant.components) == 2 and not all(has_image.values()):
        where = " and ".join(n for n, v in has_image.items() if not v)
        return f"a text + image model cannot apply: no {where} tweet has an image"
    if variant.hashtags_as_text and not any(t.hashtags for t in splits.train):
        return "no training tweet has a hashtag to use as text"
    if variant.key == "without_image" and not any(has_image.values()):
        return "the data has no images, so leaving the image out would retrain the joint model itself"
    return None


def _variant(
    evaluation: Evaluation,
    variant: Variant,
    ckpt: Path,
    data: Path,
    is_work: bool,
    models_dir: Path,
    options: EvalOptions,
    loader: Callable[[Path], Embedder],
    echo: Callable[[str], None],
) -> dict[str, Any]:
    head = {"label": variant.label, "components": list(variant.components), "note": variant.note}
    path = variant.ckpt
    if path is None and variant.recipe and (ckpt / "train_config.json").is_file():
        joint_config = train_config_of(ckpt)
        if variant_train_config(variant, joint_config) == joint_config:
            return {**head, "skipped": "the joint model itself was trained with this recipe"}
    if path is None:
        if not options.train_missing:
            return {**head, "skipped": "no checkpoint given and training comparison models is off"}
        if not is_work:
            return {
                **head,
                "skipped": "no checkpoint given, and DATA is not a prepared WORK directory to train on",
            }
        changed = ", ".join(f"{k} {v}" for k, v in variant.recipe)
        but = f" but {changed}" if changed else ""
        echo(f"training {variant.label} with the joint model's recipe{but} ...")
        path = _timed(
            evaluation.timings,
            f"{variant.key}: train",
            lambda: train_variant(
                variant, Path(data), ckpt, models_dir, options.device, options.max_iterations
            ),
        )
    echo(f"evaluating {variant.label} ...")
    embedder = loader(path)
    result = evaluation.model_tasks(
        variant.key,
        embedder,
        full=False,
        retrieval_only=not (variant.full or variant.key.startswith("without_")),
        transform=hashtags_as_text if variant.hashtags_as_text else None,
    )
    return {**head, "checkpoint": str(path), **result}
