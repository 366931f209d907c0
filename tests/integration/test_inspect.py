"""``tweetembed inspect``: the numbers it prints agree with counts made directly from the data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from model.record import COMPONENTS
from tests.shared_fixtures import FIXTURES, REASON, SKIP_WITHOUT_FIXTURES
from training.inspect_cmd import inspect
from training.readers import read_tweets
from training.readers.stats import DatasetStats, component_presence


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("inspect")(inspect)
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing the app into one
    return app


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(_app(), ["inspect", *args])
    return result.exit_code, result.output


def _row(output: str, label: str) -> list[str]:
    """Cells of the first table row whose first cell is ``label``."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == label:
            return cells
    raise AssertionError(f"no row {label!r} in:\n{output}")


def _tiny_world(root: Path) -> None:
    rock = {"place_id": "p1", "place_name": "Little Rock, AR", "place_type": "city"}
    records = [
        {
            "id": "1",
            "text": "hi #Rock @u2",
            "user_id": "u1",
            **rock,
            "created_at": "2017-06-26T10:00:00Z",
            "image": "images/1.png",
        },
        {
            "id": "2",
            "text": "yo #rock #jazz",
            "user_id": "u2",
            **rock,
            "created_at": "2017-06-27T10:00:00Z",
            "lat": 34.7,
            "lon": -92.3,
        },
        {
            "id": "3",
            "text": "plain",
            "user_id": "u2",
            "place_id": "p2",
            "place_name": "Arkansas, USA",
            "place_type": "admin",
            "created_at": "2017-06-29T10:00:00Z",
        },
        {
            "id": "4",
            "text": "hey @u1 @ext",
            "user_id": "u3",
            "place_id": "p3",
            "place_name": "Memphis, TN",
            "place_type": "city",
            "created_at": "2017-06-28T10:00:00Z",
        },
    ]
    lines = [json.dumps(r) for r in records]
    lines.insert(2, '{"id": "bad", "text": ')  # line 3 of the file
    (root / "tweets.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "images").mkdir()
    (root / "images" / "1.png").write_bytes(b"png")
    (root / "bot_labels.csv").write_text("user_id,label\nu1,bot\nu2,human\nu9,bot\nu3,alien\n")
    (root / "world.json").write_text(json.dumps({"users": 3}))


def test_inspect_prints_what_the_dataset_holds(tmp_path: Path) -> None:
    _tiny_world(tmp_path)
    code, out = _run(str(tmp_path), "--top", "1")
    assert code == 0, out
    assert _row(out, "tweets")[1] == "4"
    assert _row(out, "users (authors)")[1].startswith("3 ")
    assert _row(out, "date range")[1].startswith("2017-06-26 .. 2017-06-29  (4 day(s)")
    assert _row(out, "text")[1:] == ["4", "100.0"]
    assert _row(out, "image")[1:] == ["1", "25.0"]
    assert _row(out, "hashtags")[1:] == ["2", "50.0"]
    assert _row(out, "location")[1:] == ["4", "100.0"]
    assert _row(out, "(lat/lon coordinates)")[1:] == ["1", "25.0"]
    assert _row(out, "city")[1:] == ["3", "75.0", "2"]
    assert _row(out, "admin")[1:] == ["1", "25.0", "1"]
    assert "## Top 1 cities" in out and _row(out, "Little Rock, AR")[1] == "2"
    assert "Memphis, TN" not in out.split("## Top 1 cities")[1].split("##")[0]
    assert "vocabulary: 2 distinct (lower-cased), 3 uses, in 2 tweets" in out
    assert _row(out, "#rock")[1] == "2"
    assert _row(out, "mention edges (author -> mentioned)")[1] == "3"
    assert _row(out, "edges to users who also tweet here")[1] == "2"  # u1 -> u2, u3 -> u1; not u3 -> ext
    assert _row(out, "labelled users")[1] == "3  (bots 2, humans 1)"
    assert _row(out, "labelled users with tweets here")[1] == "2  (bots 1, humans 1)"
    assert _row(out, "authors without a label")[1] == "1"
    assert f"{tmp_path / 'tweets.jsonl'}:3" in out  # the broken tweet line
    assert f"{tmp_path / 'bot_labels.csv'}:5" in out  # the 'alien' label


def test_inspect_counts_agree_with_a_direct_count_on_the_fixtures() -> None:
    if SKIP_WITHOUT_FIXTURES:
        pytest.skip(REASON)
    tweets = list(read_tweets(FIXTURES))
    stats = DatasetStats()
    for tweet in tweets:
        stats.add(tweet)
    assert stats.tweets == len(tweets)
    for component in COMPONENTS:
        assert stats.component_counts[component] == sum(component_presence(t)[component] for t in tweets)
    assert stats.component_counts["hashtags"] == sum(1 for t in tweets if t.hashtags)
    assert stats.place_types["city"] == sum(1 for t in tweets if t.place_type == "city")
    assert len(stats.tweets_by_user) == len({t.user_id for t in tweets if t.user_id})
    code, out = _run(str(FIXTURES), "--top", "3")
    assert code == 0, out
    assert _row(out, "tweets")[1] == f"{len(tweets):,}"
    assert _row(out, "location")[1] == f"{sum(1 for t in tweets if t.place_id):,}"
    assert "streaming_output_with_error.jsonl:8  truncated JSON" in out
    assert re.search(r"\| Memphis, TN\s+\|\s+\d+ \|", out)


def test_inspect_with_an_explicit_labels_file_and_no_tweets_exits_nonzero(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "empty.jsonl").write_text("")
    (tmp_path / "labels.csv").write_text("1,bot\n")
    code, out = _run(str(tmp_path / "data"), "--bot-labels", str(tmp_path / "labels.csv"))
    assert code == 1
    assert _row(out, "tweets")[1] == "0" and "empty file" in out
    assert _row(out, "labelled users")[1] == "1  (bots 1, humans 0)"


def test_inspect_is_registered_in_the_cli() -> None:
    try:
        from training.cli import app
    except ImportError as error:  # another area's command module may not exist yet
        pytest.skip(f"training.cli does not import yet: {error}")
    result = CliRunner().invoke(app, ["inspect", "--help"])
    assert result.exit_code == 0 and "--bot-labels" in result.output
