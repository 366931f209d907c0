"""The difficulty bounds of the issue, asserted on a small world made with the default knobs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.cli import app


@pytest.mark.slow
def test_default_knobs_leave_room_above_the_simple_baselines(tmp_path: Path) -> None:
    from training.synth.report import run_report

    out = tmp_path / "world"
    result = CliRunner().invoke(
        app,
        ["synth", "--out", str(out), "--tweets", "5000", "--image-rate", "0.05", "--workers", "1", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    report, bounds = run_report(out)
    assert all(b.passed for b in bounds), bounds
    city = report["city"]
    # The bag of words must find real signal (it beats the majority class), and still leave room.
    assert city["tfidf_accuracy"] > city["majority_accuracy"] + 0.05
    assert report["hashtags"]["tfidf_nn_f1@1"] > report["hashtags"]["popular_f1@1"]
    # The report-only path prints the same table with PASS per bound.
    printed = CliRunner().invoke(app, ["synth", "--out", str(out), "--report-only"])
    assert printed.exit_code == 0, printed.output
    assert printed.output.count("PASS") == 3 and "FAIL" not in printed.output


def test_help_lists_the_knobs() -> None:
    result = CliRunner().invoke(app, ["synth", "--help"])
    assert result.exit_code == 0
    for knob in (
        "--tweets",
        "--seed",
        "--image-rate",
        "--place-rate",
        "--coords-rate",
        "--bot-rate",
        "--profile-location-rate",
        "--report",
    ):
        assert knob in result.output
