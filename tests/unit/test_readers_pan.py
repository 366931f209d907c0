"""PAN author-profiling corpora: {author}.xml documents become that author's tweets in file order,
truth.txt gives the bot labels, and a malformed XML file is skipped with a clear report."""

from __future__ import annotations

from pathlib import Path

from training.readers import ReadReport, read_bot_labels, read_tweets

GOOD = """<?xml version="1.0" encoding="UTF-8"?>
<author lang="en">
  <documents>
    <document><![CDATA[first tweet #one @bob https://t.co/x]]></document>
    <document><![CDATA[second & <third> tweet]]></document>
    <document><![CDATA[]]></document>
    <document><![CDATA[fourth]]></document>
  </documents>
</author>
"""


def _corpus(root: Path) -> Path:
    root.mkdir()
    (root / "a1b2.xml").write_text(GOOD, encoding="utf-8")
    (root / "c3d4.xml").write_text(GOOD.replace("first", "human"), encoding="utf-8")
    (root / "broken.xml").write_text("<author><documents><document>cut off", encoding="utf-8")
    (root / "truth.txt").write_text("a1b2:::bot:::bot\nc3d4:::human:::female\nzz:::robot:::male\n")
    return root


def test_pan_documents_become_tweets_in_file_order(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "pan")
    report = ReadReport()
    tweets = list(read_tweets(root, report))
    assert [t.id for t in tweets] == ["a1b2-1", "a1b2-2", "a1b2-4", "c3d4-1", "c3d4-2", "c3d4-4"]
    first = tweets[0]
    assert first.user_id == "a1b2" and first.text == "first tweet #one @bob https://t.co/x"
    assert first.hashtags == ("one",) and first.mentions == ("bob",) and first.created_at is None
    assert tweets[1].text == "second & <third> tweet"
    assert report.tweets_by_format["pan"] == 6
    # The malformed file is named with its problem; the rest was read.
    broken = [r for r in report.skipped if r.file.endswith("broken.xml")]
    assert len(broken) == 1 and broken[0].kind == "malformed XML" and "skipped" in broken[0].detail
    assert report.skipped_by_kind["empty document"] == 2
    assert "malformed XML" in report.summary()


def test_truth_txt_is_accepted_as_bot_labels(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "pan")
    report = ReadReport()
    assert read_bot_labels(root / "truth.txt", report) == {"a1b2": "bot", "c3d4": "human"}
    assert report.labels_read == 2 and report.skipped[0].line == 3


def test_build_heads_finds_truth_txt_beside_a_pan_corpus(tmp_path: Path) -> None:
    from training.heads.data import load_splits

    root = _corpus(tmp_path / "pan")
    splits = load_splits(root)
    assert splits.bot_labels == {"a1b2": 1, "c3d4": 0}
    assert len(splits.all_tweets()) == 6
