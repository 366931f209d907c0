"""``tweetembed prepare DATA --out WORK``: splits, vocabulary, word vectors, user vectors, places and
image features, each step skipped when its inputs have not changed (see steps.py).

Only the split step reads DATA; every later step reads the split files, so all of them see the
same split, and their skip keys hold the content fingerprints of those files.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from model.checkpoint import sha256_file
from model.config import FROZEN_IMAGE_FEATURE_DIMS
from model.record import Tweet
from model.tokenizer import Vocabulary
from training.artifacts import SPLITS, PrepareManifest, WorkLayout, read_split
from training.prepare.options import PrepareOptions, ResolvedDims, resolve_dims
from training.prepare.source import data_stamp, read_data
from training.prepare.splits import resolve_auto, split_rule, world_splits_file, write_splits
from training.prepare.steps import PrepareState, StepOutcome

FROZEN_ENCODERS = tuple(FROZEN_IMAGE_FEATURE_DIMS)  # features precomputed here


class PrepareError(RuntimeError):
    """prepare cannot go on; the message says why and what to do."""


@dataclass
class PrepareResult:
    work: Path
    manifest: dict[str, Any]  # the content of WORK/prepare.json
    outcomes: list[StepOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class _Steps:
    """What every step after the split works with."""

    state: PrepareState
    layout: WorkLayout
    options: PrepareOptions
    dims: ResolvedDims
    echo: Callable[[str], None]


def _progress(desc: str, verbose: bool) -> Callable[[Iterable[Tweet]], Iterator[Tweet]]:
    def wrap(items: Iterable[Tweet]) -> Iterator[Tweet]:
        yield from tqdm(items, desc=desc, unit=" tweets", disable=not verbose)

    return wrap


def run_prepare(
    data: Path, work: Path, options: PrepareOptions, echo: Callable[[str], None] = print
) -> PrepareResult:
    data = data.resolve()
    if not data.exists():
        raise PrepareError(f"{data}: no such file or directory")
    work = work.resolve()
    verbose = options.verbose

    world_file = world_splits_file(data)
    mode = options.split
    if mode == "auto":
        mode = resolve_auto(data)

    pretrained_dim = None
    if options.word_vectors is not None:
        from training.prepare.word_vectors import WordVectorError, fasttext_bin_dim

        try:
            pretrained_dim = fasttext_bin_dim(options.word_vectors)
        except WordVectorError as error:
            raise PrepareError(str(error)) from error
    dims = resolve_dims(options, synthetic_world=world_file is not None, pretrained_dim=pretrained_dim)
    # Fail before hours of other work, not at the last step.
    from model.pretrained import PretrainedWeightsError
    from model.resnet import WeightsUnavailableError

    try:
        if dims.image_encoder in FROZEN_ENCODERS:
            from model.image_encoders import check_frozen_weights

            check_frozen_weights(dims.image_encoder)
        if dims.text_encoder == "minilm":
            from model.text_encoders import MINILM

            MINILM.verified_path()
    except (WeightsUnavailableError, PretrainedWeightsError) as error:
        raise PrepareError(str(error)) from error
    if dims.image_encoder in FROZEN_ENCODERS or dims.text_encoder == "minilm":
        from model.embedder import resolve_device

        try:
            resolve_device(options.device)
        except RuntimeError as error:  # --device cuda on a machine without CUDA
            raise PrepareError(f"--device {options.device}: {error}") from error

    work.mkdir(parents=True, exist_ok=True)
    state = PrepareState(work)
    layout = WorkLayout(work)
    outcomes: list[StepOutcome] = []
    splits_dir = layout.splits_dir

    # --- splits: the only step that reads DATA ---------------------------------------------------
    split_key: dict[str, Any] = {"data": str(data), "stamp": data_stamp(data), "mode": mode}
    if mode == "random":
        split_key["seed"] = options.seed
    if mode == "world" and world_file is not None:
        split_key["splits_file"] = sha256_file(world_file)

    def make_splits() -> dict[str, Any]:
        def scan(desc: str) -> Iterator[Tweet]:
            return _progress(desc, verbose)(read_data(data)[0])

        rule = split_rule(mode, world_file, scan, seed=options.seed)
        tweets, report = read_data(data)
        counts, fingerprints = write_splits(tweets, rule, splits_dir, _progress("splitting", verbose))
        if report is not None and verbose:
            echo(report.summary(max_listed=5))
        echo("[splits] " + ", ".join(f"{s} {counts.tweets[s]:,}" for s in SPLITS) + f" tweets ({mode} split)")
        if counts.tweets["train"] == 0:
            raise PrepareError("the training split is empty: nothing to prepare")
        return {
            "rule": rule.describe(),
            "tweets": counts.tweets,
            "unassigned": counts.unassigned,
            "duplicates": counts.duplicates,
            "fingerprints": fingerprints,
            "read_report": _report_json(report),
        }

    try:
        split_files = [layout.split(s) for s in SPLITS]
        splits = state.run("splits", split_key, split_files, make_splits, echo)
    except (ValueError, OSError) as error:  # SplitError and unreadable data
        raise PrepareError(str(error)) from error
    outcomes.append(splits)
    fingerprints: dict[str, str] = splits.info["fingerprints"]
    train_fp = fingerprints["train"]

    def train_tweets(desc: str) -> Iterator[Tweet]:
        return read_split(splits_dir, "train", desc=desc if verbose else None)

    # --- vocabulary --------------------------------------------------------------------------------
    def make_vocab() -> dict[str, Any]:
        vocab = Vocabulary.build(
            (t.text for t in train_tweets("vocabulary") if t.text), min_count=options.min_count
        )
        vocab.save(layout.vocab)
        return {"size": len(vocab)}

    outcomes.append(
        state.run(
            "vocab",
            {"train": train_fp, "min_count": options.min_count},
            [layout.vocab],
            make_vocab,
            echo,
        )
    )

    steps = _Steps(state, layout, options, dims, echo)

    # --- word vectors --------------------------------------------------------------------------------
    outcomes.append(_word_vectors_step(steps, train_fp, train_tweets))

    # --- user vectors --------------------------------------------------------------------------------
    from training.prepare.user_graph import Node2VecParams, build_user_vectors

    params = Node2VecParams(
        dim=dims.user_dim,
        walk_length=options.walk_length,
        window=options.walk_window,
        walks_per_node=options.walks_per_node,
        seed=options.seed,
    )

    def make_users() -> dict[str, Any]:
        return build_user_vectors(
            train_tweets("mention graph"),
            params,
            layout.user_vectors,
            layout.user_ids,
            verbose=verbose,
        )

    outcomes.append(
        state.run(
            "user_vectors",
            {"train": train_fp, "node2vec": vars(params)},
            [layout.user_vectors, layout.user_ids],
            make_users,
            echo,
        )
    )

    # --- places ------------------------------------------------------------------------------------
    from training.prepare.places import sample_places, write_places

    def make_places() -> dict[str, Any]:
        places = sample_places(train_tweets("places"), dims.place_neighbours, seed=options.seed)
        write_places(places, layout.places)
        return {"places": len(places), "city": sum(1 for p in places.values() if p.type == "city")}

    outcomes.append(
        state.run(
            "places",
            {"train": train_fp, "M": dims.place_neighbours, "seed": options.seed},
            [layout.places],
            make_places,
            echo,
        )
    )

    # --- MiniLM text features ------------------------------------------------------------------------
    outcomes.append(_text_step(steps, fingerprints))

    # --- image features ----------------------------------------------------------------------------
    outcomes.append(_image_step(steps, fingerprints))

    manifest = _summarise(state, data, mode, options, dims, outcomes)
    return PrepareResult(work, manifest, outcomes)


def _word_vectors_step(
    steps: _Steps, train_fp: str, train_tweets: Callable[[str], Iterator[Tweet]]
) -> StepOutcome:
    from training.prepare.word_vectors import WordVectorError, copy_pretrained, train_word_vectors

    options, dims = steps.options, steps.dims
    out = steps.layout.word_vectors
    key: dict[str, Any]
    if options.word_vectors is not None:
        source = options.word_vectors.resolve()
        stat = source.stat()
        key = {
            "pretrained": str(source),
            "size": stat.st_size,
            "mtime": stat.st_mtime_ns,
            "dim": dims.word_dim,
        }

        def work_fn() -> dict[str, Any]:
            return copy_pretrained(source, out, dims.word_dim)
    else:
        key = {
            "train": train_fp,
            "dim": dims.word_dim,
            "epochs": options.word_epochs,
            "min_count": options.min_count,
        }

        def work_fn() -> dict[str, Any]:
            return train_word_vectors(
                train_tweets("word corpus"),
                out,
                dims.word_dim,
                epochs=options.word_epochs,
                min_count=options.min_count,
                threads=options.threads,
                verbose=options.verbose,
            )

    try:
        return steps.state.run("word_vectors", key, [out], work_fn, steps.echo)
    except WordVectorError as error:
        raise PrepareError(str(error)) from error


def _not_needed(steps: _Steps, name: str, directory: Path, why: str, info: dict[str, Any]) -> StepOutcome:
    """A step this configuration does not use: its old outputs would only mislead, so they go."""
    if directory.exists():
        shutil.rmtree(directory)
    steps.state.steps.pop(name, None)
    steps.state.save()
    steps.echo(f"[{name}] not needed ({why})")
    return StepOutcome(name, True, 0.0, {**info, "not_needed": True})


def _text_step(steps: _Steps, fingerprints: dict[str, str]) -> StepOutcome:
    from training.prepare.text_features import compute_text_features

    layout, options = steps.layout, steps.options
    features_dir = layout.text_features_dir
    if steps.dims.text_encoder != "minilm":
        why = "the gru text branch reads token ids"
        return _not_needed(steps, "text_features", features_dir, why, {})
    from model.embedder import resolve_device
    from model.text_encoders import MINILM, MINILM_MAX_TOKENS

    key = {
        "splits": fingerprints,
        "places": sha256_file(layout.places),
        "encoder": MINILM.record(),
        "max_tokens": MINILM_MAX_TOKENS,
    }

    def work_fn() -> dict[str, Any]:
        tweets = {s: list(read_split(layout.splits_dir, s)) for s in SPLITS}
        return compute_text_features(
            tweets,
            layout.places,
            features_dir,
            device=str(resolve_device(options.device)),
            threads=options.threads,
            verbose=options.verbose,
        )

    return steps.state.run("text_features", key, layout.text_feature_files(SPLITS), work_fn, steps.echo)


def _image_step(steps: _Steps, fingerprints: dict[str, str]) -> StepOutcome:
    from training.prepare.image_features import compute_features, image_items, images_stamp

    layout, options, dims = steps.layout, steps.options, steps.dims
    features_dir = layout.image_features_dir
    items = {s: image_items(read_split(layout.splits_dir, s)) for s in SPLITS}
    counts = {s: len(v) for s, v in items.items()}
    if dims.image_encoder not in FROZEN_ENCODERS:
        # The small CNN learns from pixels during training; stale ResNet features would only mislead.
        why = f"{dims.image_encoder} reads pixels during training"
        return _not_needed(steps, "image_features", features_dir, why, {"with_image": counts})

    key = {
        "splits": fingerprints,
        "encoder": dims.image_encoder,
        "image_size": dims.image_size,
        "images": images_stamp(item for s in SPLITS for item in items[s]),
    }

    def work_fn() -> dict[str, Any]:
        result = compute_features(
            items,
            dims.image_encoder,
            dims.image_size,
            features_dir,
            batch_size=options.batch_size,
            device=options.device,
            threads=options.threads,
            verbose=options.verbose,
        )
        result["with_image"] = counts
        return result

    return steps.state.run("image_features", key, layout.image_feature_files(SPLITS), work_fn, steps.echo)


def _report_json(report: Any) -> Any:
    """The readers' ReadReport in a few numbers (its per-record list stays out of prepare.json)."""
    if report is None:
        return None
    return {
        "tweets": int(report.tweets),
        "by_format": dict(report.tweets_by_format),
        "skipped": int(report.skipped_count),
        "skipped_by_kind": dict(report.skipped_by_kind),
        "files": len(report.files_read),
    }


def _summarise(
    state: PrepareState,
    data: Path,
    mode: str,
    options: PrepareOptions,
    dims: ResolvedDims,
    outcomes: list[StepOutcome],
) -> dict[str, Any]:
    info = {o.name: o.info for o in outcomes}
    image_info = info.get("image_features", {})
    images: dict[str, int] = dict(image_info.get("with_image", {}))
    if "splits" in image_info:
        images = {s: int(c["features"]) for s, c in image_info["splits"].items()}
    manifest = PrepareManifest(
        data=str(data),
        work=str(state.work),
        split=mode,
        split_rule=info["splits"]["rule"],
        seed=options.seed,
        config=options.config,
        word_dim=dims.word_dim,
        user_dim=dims.user_dim,
        image_encoder=dims.image_encoder,
        image_size=dims.image_size,
        place_neighbours=dims.place_neighbours,
        text_encoder=dims.text_encoder,
        min_count=options.min_count,
        fingerprints=info["splits"]["fingerprints"],
        counts={
            "tweets": info["splits"]["tweets"],
            "unassigned": info["splits"]["unassigned"],
            "duplicates": info["splits"]["duplicates"],
            "vocab": info["vocab"]["size"],
            "users_in_graph": info["user_vectors"]["users"],
            "mention_edges": info["user_vectors"]["edges"],
            "places": info["places"]["places"],
            "images": images,
        },
        options=options.to_json(),
        timings={
            o.name: {
                "seconds": round(o.seconds, 3),
                "skipped": o.skipped,
                "not_needed": bool(o.info.get("not_needed")),
            }
            for o in outcomes
        },
    )
    state.data.update(manifest.to_json())
    state.save()
    return state.data
