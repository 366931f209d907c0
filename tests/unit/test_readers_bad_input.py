"""Bad input never crashes a read: it is skipped, counted and reported with file and line; good
tweets stay."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from model.record import Tweet
from tests.shared_fixtures import FIXTURES, REASON, SKIP_WITHOUT_FIXTURES
from training.readers import ReadReport, detect_format, read_bot_labels, read_tweets, tweet_from_v1


def _flat(i: int, **fields: Any) -> dict[str, Any]:
    return {"id": str(i), "text": f"tweet number {i} #tag{i}", **fields}


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _read(path: Path) -> tuple[list[Tweet], ReadReport]:
    report = ReadReport()
    return list(read_tweets(path, report)), report


def test_a_malformed_line_is_skipped_with_its_line_number(tmp_path: Path) -> None:
    path = _write_lines(
        tmp_path / "t.jsonl", [json.dumps(_flat(1)), '{"id": "2", "text": oops}', "", json.dumps(_flat(3))]
    )
    tweets, report = _read(path)
    assert [t.id for t in tweets] == ["1", "3"]
    assert [(r.file, r.line, r.kind) for r in report.skipped] == [(str(path), 2, "malformed JSON")]
    assert f"{path}:2" in report.summary()


def test_a_truncated_last_object_is_reported_as_truncated(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "t.jsonl", [json.dumps(_flat(1)), json.dumps(_flat(2))[:-9]])
    tweets, report = _read(path)
    assert [t.id for t in tweets] == ["1"]
    assert [(r.line, r.kind) for r in report.skipped] == [(2, "truncated JSON")]


def test_error_objects_and_stream_notices_in_a_stream_are_skipped(tmp_path: Path) -> None:
    lines = [
        json.dumps(_flat(1)),
        json.dumps({"errors": [{"title": "Operational Disconnect", "detail": "stream reset"}]}),
        json.dumps({"title": "ConnectionException", "detail": "too many connections", "type": "x"}),
        json.dumps({"limit": {"track": 12, "timestamp_ms": "1498506262000"}}),
        json.dumps({"delete": {"status": {"id_str": "5"}}}),
        json.dumps(_flat(2)),
    ]
    tweets, report = _read(_write_lines(tmp_path / "s.jsonl", lines))
    assert [t.id for t in tweets] == ["1", "2"]
    assert [(r.line, r.kind) for r in report.skipped] == [
        (2, "API error"),
        (3, "API error"),
        (4, "stream notice"),
        (5, "stream notice"),
    ]
    assert "stream reset" in report.skipped[0].detail


@pytest.mark.parametrize("content", [b"", b"\n \n\t\n", b"[]"])
def test_an_empty_file_is_reported_not_raised(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(content)
    tweets, report = _read(path)
    assert tweets == []
    assert [(r.line, r.kind) for r in report.skipped] == [(0, "empty file")]


def test_flat_records_without_id_or_without_text_and_image_are_skipped(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": "no id here"}),
        json.dumps({"id": "2", "hashtags": ["x"]}),  # neither text nor image
        json.dumps({"id": "3", "image": "images/3.png"}),  # image only is enough
        json.dumps({"id": "4", "text": "bad latitude", "lat": 123.0}),
        json.dumps({"id": "5", "text": "ok @bob #Yes"}),
    ]
    tweets, report = _read(_write_lines(tmp_path / "flat.jsonl", lines))
    assert [t.id for t in tweets] == ["3", "5"]
    assert [(r.line, r.kind) for r in report.skipped] == [
        (1, "invalid record"),
        (2, "invalid record"),
        (4, "invalid record"),
    ]
    assert tweets[1].hashtags == ("Yes",) and tweets[1].mentions == ("bob",)  # extracted when absent


def test_flat_image_paths_resolve_against_the_jsonl_folder(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    _write_lines(
        folder / "tweets.jsonl",
        [json.dumps(_flat(1, image="images/1.png")), json.dumps(_flat(2, image="/abs/2.png"))],
    )
    tweets, _ = _read(folder / "tweets.jsonl")
    assert tweets[0].image == str((folder / "images" / "1.png").absolute())
    assert tweets[1].image == "/abs/2.png"


def test_invalid_utf8_costs_only_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(
        json.dumps(_flat(1)).encode()
        + b'\n{"id": "2", "text": "\xff\xfe"}\n'
        + json.dumps(_flat(3)).encode()
        + b"\n"
    )
    tweets, report = _read(path)
    assert [t.id for t in tweets] == ["1", "3"] and report.skipped[0].line == 2


def test_gzip_reads_like_the_plain_file(tmp_path: Path) -> None:
    lines = [json.dumps(_flat(i)) for i in range(5)]
    plain = _write_lines(tmp_path / "t.jsonl", lines)
    packed = tmp_path / "t.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert [t.id for t in _read(packed)[0]] == [t.id for t in _read(plain)[0]] == [str(i) for i in range(5)]


def test_a_truncated_gzip_keeps_the_lines_before_the_cut(tmp_path: Path) -> None:
    body = ("\n".join(json.dumps(_flat(i, user_location="x" * 200)) for i in range(200)) + "\n").encode()
    packed = gzip.compress(body)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    tweets, report = _read(path)
    assert 0 < len(tweets) < 200
    assert [t.id for t in tweets] == [str(i) for i in range(len(tweets))]
    assert report.skipped_count >= 1 and report.skipped[-1].kind in ("truncated file", "truncated JSON")


def test_a_file_holding_an_array_of_tweets_is_read(tmp_path: Path) -> None:
    path = tmp_path / "array.json"
    path.write_text(json.dumps([_flat(1), _flat(2), _flat(3)], indent=2), encoding="utf-8")
    tweets, report = _read(path)
    assert [t.id for t in tweets] == ["1", "2", "3"] and report.skipped_count == 0


def test_a_truncated_array_keeps_the_elements_before_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "array.json"
    text = json.dumps([_flat(1), _flat(2), _flat(3)], indent=2)
    path.write_text(text[: text.index('"3"') + 5], encoding="utf-8")
    tweets, report = _read(path)
    assert [t.id for t in tweets] == ["1", "2"]
    assert [r.kind for r in report.skipped] == ["truncated JSON"]
    broken_element_start = text.rindex("{", 0, text.index('"3"'))
    assert report.skipped[0].line == text[:broken_element_start].count("\n") + 1


def test_a_pretty_printed_v2_page_document_is_read(tmp_path: Path) -> None:
    page = {
        "data": [{"id": "1", "text": "a #b", "author_id": "7", "geo": {"place_id": "p"}}],
        "includes": {
            "users": [{"id": "7", "username": "x", "location": "Berlin"}],
            "places": [
                {
                    "id": "p",
                    "full_name": "Berlin, Germany",
                    "place_type": "city",
                    "geo": {"bbox": [13.0, 52.0, 14.0, 53.0]},
                }
            ],
        },
    }
    (tmp_path / "page.json").write_text(json.dumps(page, indent=2), encoding="utf-8")
    tweets, report = _read(tmp_path / "page.json")
    assert report.skipped_count == 0 and not report.ignored_files
    [tweet] = tweets
    assert (tweet.user_location, tweet.place_name, tweet.place_type) == ("Berlin", "Berlin, Germany", "city")
    assert tweet.extra["place_centroid"] == [52.5, 13.5] and tweet.lat is None


def test_a_v1_rest_array_and_a_search_response_are_read(tmp_path: Path) -> None:
    status = {
        "id_str": "10",
        "text": "hi #a",
        "created_at": "Tue Jun 27 01:02:03 +0000 2017",
        "user": {"id_str": "7", "location": " Memphis "},
        "entities": {"hashtags": [{"text": "a"}], "user_mentions": []},
    }
    (tmp_path / "rest.json").write_text(json.dumps([status]), encoding="utf-8")
    (tmp_path / "search.json").write_text(
        json.dumps({"statuses": [status], "search_metadata": {}}), encoding="utf-8"
    )
    for name in ("rest.json", "search.json"):
        tweets, report = _read(tmp_path / name)
        assert [(t.id, t.user_id, t.user_location, t.hashtags, t.created_at) for t in tweets] == [
            ("10", "7", "Memphis", ("a",), "2017-06-27T01:02:03Z")
        ]
        assert report.tweets_by_format == {"v1": 1}


def _synthetic_world(root: Path) -> None:
    _write_lines(root / "tweets.jsonl", [json.dumps(_flat(i, user_id=f"u{i % 2}")) for i in range(4)])
    (root / "world.json").write_text(json.dumps({"seed": 1, "users": [{"id": "u0"}], "places": {}}, indent=2))
    (root / "splits.json").write_text(json.dumps({"train": ["0", "1"], "val": ["2"], "test": ["3"]}))
    (root / "bot_labels.csv").write_text("user_id,label\nu0,bot\nu1,human\n")
    (root / "images").mkdir()
    (root / "images" / "0.png").write_bytes(b"\x89PNG not really")


def test_a_synthetic_world_directory_yields_just_its_tweets(tmp_path: Path) -> None:
    _synthetic_world(tmp_path)
    tweets, report = _read(tmp_path)
    assert [t.id for t in tweets] == ["0", "1", "2", "3"]
    assert report.skipped_count == 0
    assert sorted(Path(r.file).name for r in report.ignored_files) == ["splits.json", "world.json"]
    assert [Path(f).name for f in report.files_read] == ["tweets.jsonl"]


def test_a_work_directory_reads_its_split_files_and_ignores_the_rest(tmp_path: Path) -> None:
    _write_lines(tmp_path / "splits" / "train.jsonl", [json.dumps(_flat(1)), json.dumps(_flat(2))])
    _write_lines(tmp_path / "splits" / "val.jsonl", [json.dumps(_flat(3))])
    (tmp_path / "vocab.json").write_text(json.dumps(["<pad>", "<unk>", "rock"]))
    (tmp_path / "user_ids.json").write_text(json.dumps(["u1", "u2"]))
    (tmp_path / "places.json").write_text(
        json.dumps({"p1": {"name": "X", "type": "city", "lat": None, "lon": None, "texts": ["hi"]}}, indent=2)
    )
    (tmp_path / "prepare.json").write_text(json.dumps({"data": "/d", "seed": 0, "counts": {"train": 2}}))
    tweets, report = _read(tmp_path)
    assert [t.id for t in tweets] == ["1", "2", "3"] and report.skipped_count == 0
    assert len(report.ignored_files) == 4


def test_a_directory_is_read_recursively_in_sorted_order(tmp_path: Path) -> None:
    _write_lines(tmp_path / "b" / "2.jsonl", [json.dumps(_flat(3))])
    _write_lines(tmp_path / "a.jsonl", [json.dumps(_flat(1))])
    _write_lines(tmp_path / "b" / "1.json", [json.dumps(_flat(2))])
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(json.dumps(_flat(4)).encode()))
    _write_lines(tmp_path / ".hidden" / "x.jsonl", [json.dumps(_flat(99))])
    _write_lines(tmp_path / "notes.txt", [json.dumps(_flat(98))])
    tweets, _ = _read(tmp_path)
    assert [t.id for t in tweets] == ["1", "2", "3", "4"]


def test_a_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(read_tweets(tmp_path / "nope"))


def test_flat_records_round_trip_through_to_flat(tmp_path: Path) -> None:
    originals = [
        Tweet(
            id="1",
            text="hello #A @b",
            created_at="2017-06-26T19:44:13Z",
            hashtags=("A",),
            mentions=("9",),
            user_id="9",
            user_location="Little Rock, AR",
            place_id="p1",
            place_name="Little Rock, AR",
            place_type="city",
            lat=34.74,
            lon=-92.33,
            image=str(tmp_path / "images" / "1.png"),
        ),
        Tweet(id="2", image=str(tmp_path / "images" / "2.png")),
    ]
    _write_lines(tmp_path / "t.jsonl", [json.dumps(t.to_flat(tmp_path)) for t in originals])
    assert json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])["image"] == "images/1.png"
    assert _read(tmp_path / "t.jsonl")[0] == originals


def _v1_status(tweet_id: str, text: str, user_id: str, **more: Any) -> dict[str, Any]:
    return {
        "id_str": tweet_id,
        "id": int(tweet_id),
        "text": text,
        "created_at": "Mon Jun 26 19:44:22 +0000 2017",
        "user": {"id_str": user_id, "location": None},
        "entities": {"hashtags": [], "user_mentions": []},
        **more,
    }


def test_a_v1_retweet_takes_the_original_text_and_keeps_the_retweeter() -> None:
    original = _v1_status(
        "100",
        "short…",
        "1",
        truncated=True,
        extended_tweet={
            "full_text": "the whole original text #Orig @someone &amp; more",
            "entities": {
                "hashtags": [{"text": "Orig"}],
                "user_mentions": [{"id_str": "55", "screen_name": "someone"}],
            },
            "extended_entities": {
                "media": [{"type": "photo", "media_url_https": "https://pbs.twimg.com/media/a.jpg"}]
            },
        },
    )
    retweet = _v1_status(
        "200",
        "RT @one: short…",
        "2",
        retweeted_status=original,
        place={"id": "p", "full_name": "Memphis, TN", "place_type": "city"},
    )
    assert detect_format(retweet) == "v1"
    tweet = tweet_from_v1(retweet)
    assert (tweet.id, tweet.user_id, tweet.place_name) == ("200", "2", "Memphis, TN")
    assert tweet.text == "the whole original text #Orig @someone & more"
    assert tweet.hashtags == ("Orig",) and tweet.mentions == ("55",)
    assert tweet.extra["retweet_of"] == "100"
    assert tweet.extra["media"] == [{"type": "photo", "url": "https://pbs.twimg.com/media/a.jpg"}]


def test_v1_media_become_the_image_only_when_a_local_copy_exists(tmp_path: Path) -> None:
    status = _v1_status(
        "300",
        "look",
        "1",
        entities={
            "hashtags": [],
            "user_mentions": [],
            "media": [{"type": "photo", "media_url_https": "https://pbs.twimg.com/media/XYZ.jpg"}],
        },
    )
    _write_lines(tmp_path / "v1.jsonl", [json.dumps(status)])
    assert _read(tmp_path / "v1.jsonl")[0][0].image is None
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "XYZ.jpg").write_bytes(b"jpeg")
    tweet = _read(tmp_path / "v1.jsonl")[0][0]
    assert tweet.image == str((tmp_path / "images" / "XYZ.jpg").absolute())


def test_v1_legacy_geo_is_lat_lon_and_bad_coordinates_are_dropped() -> None:
    legacy = tweet_from_v1(_v1_status("1", "x", "1", geo={"type": "Point", "coordinates": [34.7, -92.3]}))
    assert (legacy.lat, legacy.lon) == (34.7, -92.3)
    bad = tweet_from_v1(_v1_status("2", "x", "1", coordinates={"type": "Point", "coordinates": [500, 91]}))
    assert bad.lat is None and bad.lon is None


def test_detect_format_from_objects_and_bytes() -> None:
    assert detect_format(_flat(1)) == "flat"
    assert detect_format({"text": "no id"}) == "flat"
    assert detect_format(_v1_status("1", "x", "1")) == "v1"
    assert detect_format({"data": [], "includes": {}}) == "v2"
    assert detect_format({"id": "1", "text": "x", "author_id": "2"}) == "v2"
    assert detect_format({"errors": [{"title": "x"}]}) == "error"
    assert detect_format({"limit": {"track": 1}}) == "notice"
    assert detect_format({"train": ["1"], "test": []}) == "unknown"
    assert detect_format(json.dumps(_v1_status("1", "x", "1")).encode() + b"\n{broken") == "v1"
    assert detect_format(b'[\n  {"id": "1", "text": "x"},\n') == "flat"
    assert detect_format(json.dumps({"data": {"id": "1"}}, indent=2)) == "v2"
    assert detect_format(b"\x00garbage") == "unknown"


def test_bot_labels_keep_good_rows_and_report_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "bot_labels.csv"
    path.write_text(
        "user_id,label\n1,bot\n2,Human\n3,cyborg\n,bot\n4\n1,human\n5, bot \n\n", encoding="utf-8"
    )
    report = ReadReport()
    labels = read_bot_labels(path, report)
    assert labels == {"1": "bot", "2": "human", "5": "bot"}
    assert [r.line for r in report.skipped] == [4, 5, 6, 7]
    assert report.labels_read == 3


def test_bot_labels_without_header_and_with_columns_in_another_order(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("1,bot\n2,human\n")
    (tmp_path / "b.csv").write_text("label,user_id,score\nbot,1,0.9\n")
    assert read_bot_labels(tmp_path / "a.csv") == {"1": "bot", "2": "human"}
    assert read_bot_labels(tmp_path / "b.csv") == {"1": "bot"}


@pytest.mark.skipif(SKIP_WITHOUT_FIXTURES, reason=REASON)
def test_a_fixture_line_cut_in_half_mid_stream_costs_only_that_line(tmp_path: Path) -> None:
    source = FIXTURES / "twitter_v1" / "arkansas_2017-06_sample.jsonl"
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5][: len(lines[5]) // 2]
    tweets, report = _read(_write_lines(tmp_path / "cut.jsonl", lines[:20]))
    assert len(tweets) == 19 and [(r.line, r.kind) for r in report.skipped] == [(6, "truncated JSON")]
