"""The evaluation harness on a tiny seeded world with a numpy stand-in embedder."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from model.config import SMALL
from model.embedding_batch import EmbeddingBatch
from model.heads.vector_index import normalise_rows
from model.record import Tweet
from tests.heads_support import FakeEmbedder, tiny_tweets, write_work_dir
from training.evaluation.harness import EvalOptions, run_evaluation
from training.evaluation.hashtags import TFIDF_VOTES
from training.evaluation.location import TFIDF_LR
from training.evaluation.report import write_report
from training.evaluation.retrieval import max_over_rows_scores, retrieval_metrics
from training.evaluation.variants import (
    comparison_variants,
    hashtags_as_text,
    same_recipe,
    variant_train_config,
)
from training.heads.fit_location import ForestParams


def test_max_over_rows_scores_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    targets = rng.standard_normal((30, 6)).astype(np.float32)
    queries = [rng.standard_normal((int(rng.integers(1, 4)), 6)).astype(np.float32) for _ in range(300)]
    got = max_over_rows_scores(queries, targets, chunk=7)
    want = np.stack([(q @ normalise_rows(targets).T).max(axis=0) for q in queries])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_retrieval_ranks_by_hand() -> None:
    images = np.eye(3, dtype=np.float32)
    texts = np.stack([images[0], images[2], images[1] * 0.6 + images[2] * 0.8]).astype(np.float32)
    present = np.ones(3, bool)
    batch = EmbeddingBatch(
        {"text": texts, "image": images}, {"text": present, "image": present}, normalise_rows(texts + images)
    )
    m = retrieval_metrics(batch, "image")
    # tweet0: its own image scores 1 -> rank 1; tweet1 (text = image2): its image1 scores 0, tied
    # with image0 -> rank 3 (ties count against); tweet2: image2 scores 0.8, the best -> rank 1.
    assert m["R@1"] == pytest.approx(100 * 2 / 3, abs=0.01)
    assert m["median_rank"] == 1.0 and m["candidates"] == 3


def test_hashtags_as_text_and_variants() -> None:
    tweet = Tweet(id="1", text="hello world #Cats", hashtags=("Cats", "dogs"))
    assert hashtags_as_text(tweet).text == "Cats dogs"  # type: ignore[union-attr]
    assert hashtags_as_text(Tweet(id="2", text="no tags")) is None
    keys = [
        v.key for v in comparison_variants(("text", "image", "hashtags", "location", "user"), None, None, {})
    ]
    assert keys == [
        "vsepp",
        "vsepp_hashtags",
        "text_image_joint_loss",
        "paper_loss",
        "without_text",
        "without_image",
        "without_hashtags",
        "without_location",
        "without_user",
    ]
    without_text = comparison_variants(("text", "location", "user"), None, None, {})[4]
    assert without_text.key == "without_text"
    assert without_text.components == ("user",) and without_text.note


def test_variant_recipes_and_stale_checkpoints() -> None:
    joint = dataclasses.replace(SMALL, model=dataclasses.replace(SMALL.model, data_fingerprint="abc"))
    by_key = {v.key: v for v in comparison_variants(joint.model.components, None, None, {})}
    vsepp = variant_train_config(by_key["vsepp"], joint)
    # VSE++ is text against image with the hardest negative, whatever the joint model's loss.
    assert (vsepp.loss, vsepp.loss_target) == ("max_violation", "others")
    assert vsepp.model.components == ("text", "image")
    same_loss = variant_train_config(by_key["text_image_joint_loss"], joint)
    assert (same_loss.loss, same_loss.loss_target) == (joint.loss, joint.loss_target)
    paper = variant_train_config(by_key["paper_loss"], joint)
    assert (paper.loss, paper.loss_target, paper.model.components) == (
        "max_violation",
        "average",
        joint.model.components,
    )
    assert paper.lr == joint.lr and paper.epochs == joint.epochs
    # A checkpoint trained earlier is reused only if its recipe and training split are the wanted ones.
    trained = dataclasses.replace(vsepp, model=dataclasses.replace(vsepp.model, vocab_size=1234))
    assert same_recipe(trained, vsepp, same_data=True)
    assert not same_recipe(dataclasses.replace(trained, loss="sum_violation"), vsepp, same_data=True)
    other_split = dataclasses.replace(trained, model=dataclasses.replace(trained.model, data_fingerprint="x"))
    assert not same_recipe(other_split, vsepp, same_data=True)
    assert same_recipe(other_split, vsepp, same_data=False)


@pytest.mark.slow
def test_evaluation_end_to_end_on_fake_embeddings(tmp_path: Path) -> None:
    work = write_work_dir(tmp_path, tiny_tweets(300))

    def loader(path: Path) -> FakeEmbedder:
        return FakeEmbedder(
            ("text", "image") if "vsepp" in path.name else ("text", "image", "hashtags", "user")
        )

    (tmp_path / "vsepp").mkdir()
    options = EvalOptions(
        vsepp=tmp_path / "vsepp",
        vsepp_hashtags=tmp_path / "vsepp_h",
        ablations={"user": tmp_path / "abl_user"},
        train_missing=False,
        forest=ForestParams(n_estimators=10, n_jobs=1),
        larger_forest=ForestParams(n_estimators=20, max_depth=None, min_samples_leaf=1, n_jobs=1),
        knn_ks=(1, 3),
        cnn=True,
    )
    metrics = run_evaluation(
        tmp_path / "ckpt", work, options, embedder=FakeEmbedder(), load_embedder=loader, echo=lambda _: None
    )
    joint = metrics["joint"]
    assert joint["retrieval"]["image"]["candidates"] > 10
    for curve in joint["hashtags"].values():  # topic-aligned fake embeddings: far above chance (1/12)
        assert curve["f1"][0] > 0.2
    assert joint["location"]["chosen_forest"]["accuracy"] > 90
    assert "larger_forest" in joint["location"]
    assert set(joint["bots"]) == {
        "kNN k=1 (paper)",
        "kNN k=3",
        "Kim CNN (paper)",
        "forest over embedding statistics",
        "behaviour + embedding statistics forest",
    }
    assert set(metrics["baselines"]["bots"]) == {
        "Behaviour + TF-IDF random forest",
        "Behaviour features only forest",
        "TF-IDF + logistic regression over the user's concatenated tweets",
    }
    # kNN and the CNN judge at 0.5; the forests choose a threshold per fold on out-of-bag votes.
    folds = len(joint["bots"]["kNN k=3"]["thresholds"])
    assert joint["bots"]["kNN k=3"]["thresholds"] == [0.5] * folds
    for method in ("forest over embedding statistics", "behaviour + embedding statistics forest"):
        assert set(joint["bots"][method]) == {"F1", "AUC", "thresholds", "per_fold"}
        assert len(joint["bots"][method]["thresholds"]) == folds
        assert len(joint["bots"][method]["per_fold"]) == folds
    # The hybrid forest is the joint model's only: ablations keep their kNN and forest rows.
    assert set(metrics["variants"]["without_user"]["bots"]) == {
        "kNN k=1 (paper)",
        "forest over embedding statistics",
    }
    assert joint["bots"]["kNN k=1 (paper)"]["AUC"] > 0.9  # bots are whole topics in the tiny world
    assert metrics["bot_protocol"]["protocol"].startswith("stratified")
    assert "retrieval" in metrics["variants"]["vsepp"]
    assert metrics["variants"]["without_text"]["skipped"]
    assert "location" in metrics["variants"]["without_user"]
    # The tuned baselines chose their setting on the validation split and say what they chose.
    loc_selection = metrics["baselines"]["location"][TFIDF_LR]["selection"]
    assert loc_selection["parameter"] == "C"
    assert set(loc_selection["validation"]) == {"0.1", "1.0", "10.0", "100.0"}
    assert metrics["baselines"]["hashtags"][TFIDF_VOTES]["selection"]["parameter"] == "neighbours"
    report = write_report(metrics, tmp_path / "report", command="tweetembed evaluate ...")
    text = report.read_text()
    assert "## Against the strongest baseline" in text
    # No build-heads on this checkpoint: no served location head, said so, and no row stands in for it.
    assert "- location: no comparison for the product. Served head: not scored: the checkpoint" in text
    assert "- location (accuracy %)" not in text
    assert "C = " in text and "neighbours = " in text  # the chosen settings are in the report
    assert "## Verdict" in text and "| Joint model (ours) |" in text and "without_text" in text
    assert "| Joint model (ours): forest over embedding statistics |" in text
    assert "- bots (forest over embedding statistics), AUC: the joint model" in text
    assert "| Joint model (ours): behaviour + embedding statistics forest |" in text
    assert "| Behaviour features only forest |" in text
    assert "statistics forest), F1: the joint model" in text and "Behaviour features only forest (" in text
    assert (tmp_path / "report" / "fig_hashtags_prf.png").stat().st_size > 1000
    assert (tmp_path / "report" / "fig_bots.png").is_file()
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["counts"]["test"] == len(
        [t for t in tiny_tweets(300) if t.day and t.day.endswith("10")]
    )
