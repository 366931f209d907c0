"""`make eval-real`'s pieces: the training budget, which comparison models cannot apply, and the
targets and strongest baselines its report states."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model.record import Tweet
from training.evaluation.harness import cannot_apply
from training.evaluation.real_report import budget_lines, head_choice_line, targets, write_real_report
from training.evaluation.report import strongest_baselines
from training.evaluation.run_real import training_budget
from training.evaluation.variants import comparison_variants
from training.heads.data import Splits


def test_training_budget_is_whole_epochs_or_a_step_limit() -> None:
    # paper: batch 128, 30 epochs; small: batch 128, 6 epochs.
    assert training_budget("small", 2420, 100) == (5, None)  # 19 steps an epoch: 5 whole epochs
    assert training_budget("small", 2420, 10_000) == (6, None)  # never more than the preset's epochs
    assert training_budget("paper", 19_890, 100) == (1, 100)  # 156 steps an epoch: 100 steps of it
    assert training_budget("paper", 19_890, 156) == (1, None)
    assert training_budget("real", 19_890, None) == (8, None)  # PRESET=full: the preset's own recipe


def _splits(with_images: bool) -> Splits:
    def tweet(i: int) -> Tweet:
        return Tweet(id=str(i), text=f"t {i}", image="/x.png" if with_images else None, hashtags=("a",))

    return Splits([tweet(1), tweet(2)], [tweet(3)], [tweet(4)], None, "test")


def test_text_image_comparisons_are_skipped_with_the_reason_where_there_are_no_images() -> None:
    variants = {v.key: v for v in comparison_variants(("text", "image", "hashtags", "user"), None, None, {})}
    no_images = _splits(False)
    for key in ("vsepp", "vsepp_hashtags", "text_image_joint_loss"):
        reason = cannot_apply(variants[key], no_images)
        assert reason is not None and "no train and test tweet has an image" in reason
    assert "no images" in (cannot_apply(variants["without_image"], no_images) or "")
    assert cannot_apply(variants["paper_loss"], no_images) is None
    assert cannot_apply(variants["without_hashtags"], no_images) is None
    for key in variants:
        assert cannot_apply(variants[key], _splits(True)) is None


def _metrics(loc: float, tags: float, image_r10: float, vsepp_r10: float) -> dict[str, Any]:
    curve = {"k": [1, 2, 3, 4, 5], "precision": [0] * 5, "recall": [0] * 5}
    return {
        "joint": {
            "location": {
                "served_head": {"accuracy": loc, "source": "checkpoint", "kind": "forest"},
                "chosen_forest": {"accuracy": loc - 1.0},
            },
            "hashtags": {"hashtags of joint-space neighbours": {**curve, "f1": [tags, 0, 0, 0, 0]}},
            "retrieval": {"image": {"R@10": image_r10}, "text": {"skipped": "no images"}},
        },
        "baselines": {
            "location": {"Majority class": {"accuracy": 20.0}, "TF-IDF + LR": {"accuracy": 60.0}},
            "hashtags": {
                "Most popular hashtags": {**curve, "f1": [0.05, 0, 0, 0, 0]},
                "TF-IDF votes": {**curve, "f1": [0.2, 0, 0, 0, 0]},
            },
        },
        "variants": {"vsepp": {"label": "VSE++ (text + image)", "retrieval": {"image": {"R@10": vsepp_r10}}}},
        "counts": {"location_classes": 3, "location_test": 10},
    }


def test_targets_are_judged_against_the_strongest_baseline() -> None:
    m = _metrics(loc=63.0, tags=0.31, image_r10=30.0, vsepp_r10=25.0)
    strongest = strongest_baselines(m)
    assert strongest["location"]["baseline"] == "TF-IDF + LR"  # not the majority class
    assert strongest["hashtags"]["baseline"] == "TF-IDF votes"
    assert strongest["image retrieval"]["baseline"] == "VSE++ (text + image)"
    lines = targets(m, "p")
    assert "+3.00 points (aim +5): MISSED by 2.00 points" in lines[0]
    assert "1.55x (aim 1.5x): met" in lines[1]
    assert "+5.00 points: met" in lines[2]
    lines = targets(_metrics(loc=66.0, tags=0.2, image_r10=20.0, vsepp_r10=25.0), "p")
    assert lines[0].endswith("met.") and "MISSED: 0.300 needed, 0.100 short" in lines[1]
    assert "MISSED by 5.00 points" in lines[2]


def test_real_report_sets_presets_side_by_side(tmp_path: Path) -> None:
    runs = []
    for preset, loc in (("paper", 50.0), ("small", 70.0)):
        path = tmp_path / f"{preset}.json"
        metrics = _metrics(loc=loc, tags=0.1, image_r10=10.0, vsepp_r10=5.0)
        # a baseline whose grid has a named candidate besides the numbers (no author table)
        metrics["baselines"]["location"]["TF-IDF + LR"]["selection"] = {
            "parameter": "content weight",
            "chosen": 3.0,
            "metric": "validation accuracy",
            "validation": {"3": 0.7, "none": 0.6, "0.1": 0.65},
        }
        path.write_text(json.dumps(metrics))
        runs.append(
            {
                "corpus": "corpusA",
                "data": "/data/a",
                "preset": preset,
                "epochs": 1,
                "step_limit": 7,
                "image_encoder_note": None,
                "tweets": {"train": 8, "val": 1, "test": 1},
                "metrics": str(path),
            }
        )
    runs.append({"corpus": "corpusB", "preset": "paper", "missing": "corpusB/paper: train"})
    summary = {
        "presets": ["paper", "small"],
        "max_iterations": 7,
        "threads": 1,
        "device": "cpu",
        "wall_s": 60.0,
        "load_average": {"start": [1.0], "end": [2.0]},
        "cpus": 2,
        "steps": [{"step": "x", "seconds": 0.0, "reused": True, "first_seconds": 12.5}],
        "runs": runs,
        "command": "python -m training.evaluation.run_real /data/a",
    }
    text = write_real_report(summary, tmp_path / "out").read_text()
    assert "| Joint model (ours) [paper], served head | 50" in text
    assert "| Joint model (ours) [small], served head | 70" in text
    assert text.count("| TF-IDF + LR | 60") == 1  # the baselines once, not once per preset
    assert "corpusA [paper] location accuracy" in text and "MISSED by 15.00 points" in text
    assert "Strongest baseline: location: TF-IDF + LR; hashtags: TF-IDF votes." in text
    assert "7 optimizer steps (part of one epoch)" in text
    assert "content weight = 3.00 by validation accuracy (none: 0.6, 0.1: 0.65, 3: 0.7)" in text
    assert "## Missing rows" in text and "- corpusB [paper]: corpusB/paper: train" in text
    assert (tmp_path / "out" / "fig_corpusA.png").stat().st_size > 1000


def test_the_served_location_head_is_the_validation_choice_not_the_forest() -> None:
    m = _metrics(loc=55.0, tags=0.31, image_r10=30.0, vsepp_r10=25.0)
    m["joint"]["location"]["served_head"] = {
        "accuracy": 66.0,
        "source": "checkpoint",
        "kind": "linear",
        "selection": {"kind": "linear", "chosen": "linear C=1"},
    }
    strongest = strongest_baselines(m)
    assert strongest["location"]["ours_value"] == 66.0
    assert strongest["location"]["ours"] == "served head (linear)"
    assert "+6.00 points (aim +5): met" in targets(m, "p")[0]
    m["joint"]["location"]["served_head"]["selection"]["validation"] = {"forest": 0.5, "linear C=1": 0.625}
    line = head_choice_line(m, "corpusA", "p") or ""
    assert line == "- corpusA [p]: forest 50.00%, linear C=1 62.50%; served: linear C=1 (test 66.0%)"
    # with the author posterior: the weight served and the chosen head's validation curve
    m["joint"]["location"]["served_head"]["author_prior"] = 3.0
    m["joint"]["location"]["served_head"]["selection"]["author_prior_validation"] = {"none": 0.5, "3": 0.625}
    assert (head_choice_line(m, "corpusA", "p") or "").endswith(
        "served: linear C=1, updated by the author's earlier cities at content weight 3; its validation "
        "accuracy by content weight: none 50.00%, 3 62.50% (test 66.0%)"
    )
    # A head evaluate refitted itself (metrics from before it loaded the served one), or the paper's
    # forest, never stands in for the served head: the target is not judged, and the report says why.
    for refitted in ({"accuracy": 70.0, "selection": {"kind": "forest"}}, None):
        old = _metrics(55.0, 0.31, 30.0, 25.0)
        if refitted is None:
            del old["joint"]["location"]["served_head"]
        else:
            old["joint"]["location"]["served_head"] = refitted
        assert "location" not in strongest_baselines(old)
        assert head_choice_line(old, "corpusA", "p") is None
    old = _metrics(55.0, 0.31, 30.0, 25.0)
    old["joint"]["location"]["served_head"] = {"skipped": "no location head"}
    assert (
        targets(old, "p")[0]
        == "- [p] location accuracy: not judged. Served head: not scored: no location head."
    )


def test_budget_line_says_met_or_missed_with_the_cpu_time() -> None:
    summary = {"cpus": 2, "cpu_s": 4800.0, "budget_minutes": 40}
    assert budget_lines(summary, 30 * 60)[0].startswith("Time budget (issue 12): 40 min")
    assert (
        ": met. CPU time of the step processes (user + system, the steps this invocation ran): 80.0 min"
        in budget_lines(summary, 1800)[0]
    )
    # steps that recorded their CPU time: each step's first run counts, reused ones included
    steps = [{"seconds": 0.0, "reused": True, "first_cpu_s": 3000.0}, {"seconds": 5.0, "cpu_s": 600.0}]
    assert (
        "(user + system, each step's first run): 60.0 min"
        in budget_lines({**summary, "steps": steps}, 1800)[0]
    )
    assert "at least 40.0 min of wall time on an idle 2-core machine" in budget_lines(summary, 1800)[0]
    assert "MISSED by 5.0 min" in budget_lines({"cpus": 2}, 45 * 60)[0]
