"""End-to-end ``prepare`` on a tiny flat JSONL dataset: the WORK layout, skip-if-done, options."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from safetensors.numpy import load_file
from typer.testing import CliRunner

from model.tokenizer import Vocabulary
from tests.prepare_helpers import DAYS, write_dataset  # tests/ helper module
from training.artifacts import read_split
from training.prepare.cli import prepare
from training.prepare.options import PrepareOptions
from training.prepare.pipeline import PrepareError, PrepareResult, run_prepare

FAST = {
    "config": "small",
    "word_dim": 16,
    "user_dim": 8,
    "min_count": 1,
    "threads": 1,
    "walks_per_node": 2,
    "walk_length": 8,
    "verbose": False,
}


def _run(data: Path, work: Path, **overrides: object) -> tuple[PrepareResult, list[str]]:
    messages: list[str] = []
    options = PrepareOptions(**{**FAST, "image_encoder": "convnet", **overrides})  # type: ignore[arg-type]
    return run_prepare(data, work, options, echo=messages.append), messages


def _ran(messages: list[str]) -> set[str]:
    return {m.split("]")[0].lstrip("[") for m in messages if m.endswith("running")}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data"))


def test_end_to_end_writes_the_work_layout(dataset: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    result, messages = _run(dataset, work, split="date")
    assert _ran(messages) == {"splits", "vocab", "word_vectors", "user_vectors", "places"}

    manifest = json.loads((work / "prepare.json").read_text())
    assert manifest == result.manifest
    # Date split: the last day is test, the one before validation.
    assert manifest["split_rule"] == {
        "method": "date",
        "train": DAYS[:3],
        "val": [DAYS[3]],
        "test": [DAYS[4]],
    }
    splits = {s: list(read_split(work / "splits", s)) for s in ("train", "val", "test")}
    assert {t.day for t in splits["test"]} == {DAYS[4]}
    assert (
        {s: len(v) for s, v in splits.items()}
        == manifest["counts"]["tweets"]
        == {"train": 54, "val": 18, "test": 18}
    )
    assert all(Path(t.image).is_absolute() and Path(t.image).is_file() for t in splits["train"] if t.image)

    vocab = Vocabulary.load(work / "vocab.json")
    assert len(vocab) == manifest["counts"]["vocab"] and "pizza" in vocab.index

    train_ids = {t.id for t in splits["train"]}
    places = json.loads((work / "places.json").read_text())
    assert set(places) == {"p_paris", "p_lyon", "p_idf"}
    for place in places.values():
        assert len(place["texts"]) == len(place["ids"]) <= 16
        assert set(place["ids"]) <= train_ids  # no validation or test text leaks into a place

    users = json.loads((work / "user_ids.json").read_text())
    vectors = load_file(str(work / "user_vectors.safetensors"))["vectors"]
    assert vectors.shape == (len(users), 8) and len(users) == manifest["counts"]["users_in_graph"]
    assert (work / "word_vectors.bin").is_file()
    assert not (work / "image_features").exists()  # convnet: nothing precomputed
    assert manifest["word_dim"] == 16 and manifest["image_encoder"] == "convnet"
    assert manifest["fingerprints"]["train"] == manifest["steps"]["splits"]["info"]["fingerprints"]["train"]


def test_second_run_skips_and_options_rerun_only_their_steps(dataset: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    _run(dataset, work)
    _, messages = _run(dataset, work)
    assert _ran(messages) == set()
    assert sum("skipped (up to date)" in m for m in messages) == 5

    _, messages = _run(dataset, work, place_neighbours=2)
    assert _ran(messages) == {"places"}
    places = json.loads((work / "places.json").read_text())
    assert max(len(p["texts"]) for p in places.values()) == 2

    _, messages = _run(dataset, work, place_neighbours=2, user_dim=4)
    assert _ran(messages) == {"user_vectors"}

    _, messages = _run(dataset, work, place_neighbours=2, user_dim=4, split="random", seed=3)
    assert {"splits", "vocab", "word_vectors", "user_vectors", "places"} == _ran(messages)

    (work / "vocab.json").unlink()  # a missing output reruns its step even with the same inputs
    _, messages = _run(dataset, work, place_neighbours=2, user_dim=4, split="random", seed=3)
    assert _ran(messages) == {"vocab"}


def test_pretrained_word_vectors_are_used(dataset: Path, tmp_path: Path) -> None:
    first, _ = _run(dataset, tmp_path / "a")
    pretrained = tmp_path / "pretrained.bin"
    shutil.copyfile(first.work / "word_vectors.bin", pretrained)
    result, _ = _run(dataset, tmp_path / "b", word_dim=None, word_vectors=pretrained)
    assert result.manifest["word_dim"] == 16  # taken from the model
    assert (tmp_path / "b" / "word_vectors.bin").read_bytes() == pretrained.read_bytes()
    assert result.manifest["steps"]["word_vectors"]["info"]["source"] == str(pretrained.resolve())
    with pytest.raises(PrepareError, match="dimension 16"):
        _run(dataset, tmp_path / "c", word_dim=32, word_vectors=pretrained)


def test_auto_split_of_real_data_is_chronological_80_10_10(dataset: Path, tmp_path: Path) -> None:
    result, messages = _run(dataset, tmp_path / "work")
    assert result.manifest["split"] == "chrono"
    assert result.manifest["split_rule"]["method"] == "chrono"
    assert result.manifest["counts"]["tweets"] == {"train": 72, "val": 9, "test": 9}
    assert "[splits] train 72, val 9, test 9 tweets (chrono split)" in messages
    splits = {s: list(read_split(tmp_path / "work" / "splits", s)) for s in ("train", "val", "test")}
    latest_train = max((t.created_at or "", int(t.id)) for t in splits["train"])
    earliest_val = min((t.created_at or "", int(t.id)) for t in splits["val"])
    latest_val = max((t.created_at or "", int(t.id)) for t in splits["val"])
    earliest_test = min((t.created_at or "", int(t.id)) for t in splits["test"])
    assert latest_train < earliest_val and latest_val < earliest_test  # the past trains, the future tests


def test_synthetic_world_splits_file_is_honoured(tmp_path: Path) -> None:
    world = tmp_path / "world"
    write_dataset(world)
    spec = {"method": "date", "train": DAYS[1:], "val": [DAYS[0]], "test": ["2020-01-01"]}
    (world / "splits.json").write_text(json.dumps(spec))
    result, _ = _run(world, tmp_path / "work", image_encoder=None)
    assert result.manifest["split"] == "world"
    assert result.manifest["counts"]["tweets"] == {"train": 72, "val": 18, "test": 0}
    assert result.manifest["image_encoder"] == "convnet"  # the synthetic world's offline default


def test_too_few_days_and_missing_weights_are_clear_errors(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = dataset.read_text().splitlines()
    two_days = tmp_path / "two_days.jsonl"
    two_days.write_text("\n".join(line for line in lines if DAYS[0] in line or DAYS[1] in line) + "\n")
    with pytest.raises(PrepareError, match="--split random"):
        _run(two_days, tmp_path / "w1", split="date")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    with pytest.raises(PrepareError, match="--image-encoder convnet"):
        _run(dataset, tmp_path / "w2", image_encoder="resnet152")
    assert not (tmp_path / "w2").exists()  # it stopped before doing any work


def test_resnet_features_are_precomputed_as_memmaps(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision

    from model.resnet import weights_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    target = weights_path("resnet18")
    target.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), target)
    data = tmp_path / "data"
    shutil.copytree(dataset.parent, data)
    (data / "img" / "2.png").write_bytes(b"not a png")  # undecodable: that tweet gets no row

    work = tmp_path / "work"
    result, _ = _run(
        data / "tweets.jsonl", work, image_encoder="resnet18", image_size=32, device="cpu", split="date"
    )
    features = np.load(work / "image_features" / "train.npy", mmap_mode="r")
    ids = json.loads((work / "image_features" / "train_ids.json").read_text())
    with_image = [t.id for t in read_split(work / "splits", "train") if t.image]
    assert len(with_image) == 4
    assert ids == [i for i in with_image if i != "1002"]
    assert features.shape == (3, 512) and features.dtype == np.float16
    assert isinstance(features, np.memmap)
    assert np.all(np.abs(features).sum(axis=1) > 0)
    assert result.manifest["counts"]["images"] == {"train": 3, "val": 1, "test": 1}

    _, messages = _run(
        data / "tweets.jsonl", work, image_encoder="resnet18", image_size=32, device="cpu", split="date"
    )
    assert "[image_features] skipped (up to date)" in messages
    _, messages = _run(data / "tweets.jsonl", work, image_encoder="convnet")
    assert not (work / "image_features").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused_before_any_work(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision

    from model.resnet import weights_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    target = weights_path("resnet18")
    target.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), target)
    with pytest.raises(PrepareError, match=r"--device cuda: .*CUDA is not available"):
        _run(dataset, tmp_path / "work", image_encoder="resnet18", image_size=32, device="cuda", split="date")
    assert not (tmp_path / "work").exists()


def test_cli_prints_a_summary_and_fails_cleanly(dataset: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(prepare)
    runner = CliRunner()
    args = [
        str(dataset),
        "--out",
        str(tmp_path / "work"),
        "--config",
        "small",
        "--image-encoder",
        "convnet",
        "--word-dim",
        "8",
        "--user-dim",
        "4",
        "--walks-per-node",
        "1",
        "--threads",
        "1",
        "-q",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "train 72, val 9, test 9" in result.output  # the default split: chronological
    assert "users in the mention graph" in result.output
    bad = runner.invoke(app, [*args[:3], "--split", "sideways"])
    assert bad.exit_code == 1 and "--split must be one of" in bad.output
