"""The trainer: overfitting a tiny world, reproducible resume, the CLI and its overrides."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import typer
from safetensors.torch import load_file
from typer.testing import CliRunner

from model.config import SMALL, TrainConfig
from model.featurize import Featurizer
from tests.model_fixtures import build_work
from training.dataset import load_work, split_features
from training.train_cli import train as train_command
from training.trainer import (
    average_recalls,
    build_model,
    component_recalls,
    embed_features,
    resolve_model_config,
    train,
)

torch.set_num_threads(1)


def tiny_config(**changes: object) -> TrainConfig:
    model = dataclasses.replace(SMALL.model, dim=16, image_feature_dim=16)
    fields: dict[str, object] = {"epochs": 2, "batch_size": 16, "val_every": 3, **changes}
    return dataclasses.replace(SMALL, model=model, **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_work(tmp_path_factory.mktemp("train") / "work", n_train=48, n_val=16, n_test=8)


@pytest.mark.slow
def test_overfits_a_tiny_world(tmp_path: Path) -> None:
    """64 tweets, each with its own word, hashtag and image: the loss falls and every component
    retrieves its own tweet's average among all 64 (train recall@1 = 1.0, the loss's task), and the
    components of a tweet find each other far above chance (cross-component recall@5)."""
    work = build_work(tmp_path / "work", n_train=64, n_val=8, n_test=0, unique=True, sparse=False)
    model_config = dataclasses.replace(
        SMALL.model, dim=64, image_feature_dim=32, components=("text", "image", "hashtags")
    )
    config = dataclasses.replace(
        SMALL, epochs=150, batch_size=64, val_every=10_000, lr=2e-3, lr_decay_epoch=10_000, model=model_config
    )
    train(work, tmp_path / "ckpt", config, device="cpu", progress=False, echo=lambda _: None)
    epochs = [json.loads(line) for line in (tmp_path / "ckpt" / "metrics.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in epochs if e["event"] == "epoch"]
    assert losses[-1] < 0.1 * losses[0]

    # Recall on the training tweets with the final weights (kept for resuming in train_state/).
    data = load_work(work)
    resolved = resolve_model_config(model_config, data)
    featurizer = Featurizer(resolved, data.vocab, data.word_vectors, data.user_vectors, places=data.places)
    feats = split_features(featurizer, data.split("train"), resolved, None, "train", progress=False)
    model = build_model(resolved, data, feats)
    model.load_state_dict(load_file(str(tmp_path / "ckpt" / "train_state" / "model.safetensors")))
    embedded = embed_features(model, featurizer, feats, torch.device("cpu"))
    recalls = average_recalls(embedded)
    assert {name: r["r1"] for name, r in recalls.items()} == {"text": 1.0, "image": 1.0, "hashtags": 1.0}
    cross = component_recalls(embedded)
    assert all(r["r5"] >= 0.5 for r in cross.values()), cross  # chance is 5/64


def test_resume_continues_exactly_where_it_stopped(work: Path, tmp_path: Path) -> None:
    config = tiny_config()
    train(work, tmp_path / "straight", config, device="cpu", progress=False, echo=lambda _: None)
    train(
        work,
        tmp_path / "resumed",
        config,
        device="cpu",
        progress=False,
        echo=lambda _: None,
        max_iterations=4,
    )  # interrupted mid-epoch 2 (3 batches per epoch)
    train(work, tmp_path / "resumed", config, device="cpu", progress=False, echo=lambda _: None, resume=True)
    for name in ("train_state/model.safetensors", "model.safetensors"):
        a = load_file(str(tmp_path / "straight" / name))
        b = load_file(str(tmp_path / "resumed" / name))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)
    val_a = [json.loads(x) for x in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    val_b = [json.loads(x) for x in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    rsums_a = [v["rsum"] for v in val_a if v["event"] == "val"]
    assert rsums_a == [v["rsum"] for v in val_b if v["event"] == "val"]


def test_resume_refuses_a_different_configuration(work: Path, tmp_path: Path) -> None:
    train(work, tmp_path / "run", tiny_config(epochs=1), device="cpu", progress=False, echo=lambda _: None)
    with pytest.raises(ValueError, match="configuration differs"):
        train(
            work,
            tmp_path / "run",
            tiny_config(epochs=2, lr=1e-3),
            device="cpu",
            progress=False,
            echo=lambda _: None,
            resume=True,
        )


def test_metrics_log_records_validation(work: Path, tmp_path: Path) -> None:
    result = train(
        work, tmp_path / "ckpt", tiny_config(val_every=2), device="cpu", progress=False, echo=lambda _: None
    )
    records = [json.loads(x) for x in (tmp_path / "ckpt" / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in records if r["event"] == "val"]
    # Every 2 iterations and at each epoch end (3 batches an epoch), never twice at one iteration.
    assert [v["iteration"] for v in vals] == [2, 3, 4, 6]
    assert set(vals[0]["recalls"]) == {"text", "image", "hashtags", "location", "user"}
    assert result.best_rsum == pytest.approx(max(v["rsum"] for v in vals))
    assert result.train_tweets_per_s > 0


@pytest.mark.parametrize("loss_target", ["average", "others"])
def test_batches_with_nothing_to_compare_are_skipped_not_fatal(
    work: Path, tmp_path: Path, loss_target: str
) -> None:
    # One tweet a batch: no component has a negative, so every batch's loss is a constant zero.
    config = tiny_config(batch_size=1, epochs=1, val_every=1000, loss_target=loss_target)
    result = train(work, tmp_path / "ckpt", config, device="cpu", progress=False, echo=lambda _: None)
    assert result.iterations == 48  # every batch went through (before: "does not require grad")
    assert (tmp_path / "ckpt" / "model.safetensors").is_file()


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(train_command)
    return app


def test_cli_trains_a_component_subset_with_overrides(work: Path, tmp_path: Path) -> None:
    out = tmp_path / "ckpt"
    result = CliRunner().invoke(
        _cli(),
        [
            str(work),
            "--out",
            str(out),
            "--config",
            "small",
            "--epochs",
            "1",
            "--dim",
            "24",
            "--batch-size",
            "8",
            "--components",
            "text,hashtags",
            "--loss",
            "sum_violation",
            "--device",
            "cpu",
            "--max-val",
            "8",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "checkpoint:" in result.output and "tweets/s" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["components"] == ["text", "hashtags"] and config["dim"] == 24
    train_config = json.loads((out / "train_config.json").read_text())
    assert train_config["loss"] == "sum_violation" and train_config["batch_size"] == 8


def test_every_recipe_field_with_a_help_is_a_train_option() -> None:
    import dataclasses
    import inspect

    from model.config import ModelConfig, TrainConfig
    from training.train_cli import train

    options = inspect.signature(train).parameters
    recipe = [f.name for f in dataclasses.fields(TrainConfig) if f.name != "model"]
    assert recipe and all(name in options for name in recipe)
    assert all(options[name].default is None for name in recipe)  # None: the preset's value
    shaped = [f.name for f in dataclasses.fields(ModelConfig) if "help" in f.metadata]
    assert {"dim", "components", "text_hidden"} <= set(shaped) <= set(options)


def test_cli_rejects_bad_input(work: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad_loss = runner.invoke(_cli(), [str(work), "--out", str(tmp_path / "a"), "--loss", "nonsense"])
    assert bad_loss.exit_code != 0 and "loss" in bad_loss.output
    bad_comp = runner.invoke(_cli(), [str(work), "--out", str(tmp_path / "b"), "--components", "location"])
    assert bad_comp.exit_code != 0 and "text" in bad_comp.output
    missing = runner.invoke(_cli(), [str(tmp_path / "nope"), "--out", str(tmp_path / "c"), "--device", "cpu"])
    assert missing.exit_code == 1 and "not found" in missing.output
