"""bench/baseline.py (another commit's tree for before/after rows) and the report section it feeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import baseline, report


def test_source_tree_unpacks_the_commit_once(tmp_path: Path) -> None:
    tree = baseline.source_tree("HEAD", tmp_path)
    assert (tree / "app" / "settings.py").is_file()
    assert (tree / ".complete").read_text().strip() == baseline.resolve("HEAD")
    (tree / "marker").write_text("kept")
    assert baseline.source_tree("HEAD", tmp_path) == tree
    assert (tree / "marker").exists()  # reused, not unpacked again


def test_an_unknown_ref_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="not a commit"):
        baseline.source_tree("no-such-ref-anywhere", tmp_path)


def _run(tweets_per_s: float, server_ms: float) -> dict[str, Any]:
    return {
        "concurrency": 32,
        "tweets_per_s": tweets_per_s,
        "server_cpu_ms_per_request": server_ms,
        "client_cpu_ms_per_request": 0.5,
    }


def test_before_after_rows_use_one_cpu_bound() -> None:
    inprocess = {"batches": [{"batch_size": 32, "tweets_per_s": 4000.0, "cpu_ms_per_tweet": 0.25}]}
    bench: dict[str, Any] = {
        "machine": {"cores": 2},
        "null": {"server_cpu_ms_per_request": 0.25},
        "small": {"inprocess/text": inprocess, "service": {"runs": {"text/c32": _run(1500.0, 0.6)}}},
        "baseline": {
            "ref": "abc",
            "commit": "0123456789abcdef",
            "small": {
                "service": {"runs": {"text/c32": _run(1000.0, 0.9)}},
                "null": {"server_cpu_ms_per_request": 0.4},
            },
        },
    }
    lines = report.before_after_section(bench)
    # bound: 2 cores x 1000 / (0.25 + 0.25 + 0.5) ms = 2000 tweets/s, under the 4000 in-process
    assert "| small | before (01234567) | 1,000 | 0.50 | 0.90 | 0.400 |" in lines
    assert "| small | after (this checkout) | 1,500 | 0.75 | 0.60 | 0.250 |" in lines
    assert report.before_after_section({k: v for k, v in bench.items() if k != "baseline"}) == []
