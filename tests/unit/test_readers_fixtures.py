"""The readers against real Twitter API output (../shared/fixtures): every file reads without crashing, and
what comes out matches what the raw JSON says, walked independently here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from model.record import Tweet
from tests.shared_fixtures import FIXTURES, REASON, SKIP_WITHOUT_FIXTURES
from training.readers import ReadReport, detect_format, read_tweets

V1_FILE = FIXTURES / "twitter_v1" / "arkansas_2017-06_sample.jsonl"
V2_DIR = FIXTURES / "twitter_v2"

pytestmark = pytest.mark.skipif(SKIP_WITHOUT_FIXTURES, reason=REASON)


def _fixture_files() -> list[Path]:
    if not FIXTURES.is_dir():
        return []
    return sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".json", ".jsonl"))


def _raw_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


@pytest.mark.parametrize("path", _fixture_files(), ids=lambda p: p.name)
def test_every_fixture_file_reads_without_crashing(path: Path) -> None:
    report = ReadReport()
    tweets = list(read_tweets(path, report))
    assert report.tweets == len(tweets)
    assert all(isinstance(t, Tweet) and t.id and (t.text or t.image) for t in tweets)
    if path.name == "empty.json":
        assert tweets == [] and report.skipped_by_kind["empty file"] == 1
    elif path.name == "users.jsonl":  # a user lookup: same page shape as tweets, but no tweets
        assert tweets == [] and report.skipped_by_kind["not a tweet"] == 1
    else:
        assert tweets, f"{path.name}: no tweets read"


def test_v1_fields_match_the_raw_json() -> None:
    raws = _raw_lines(V1_FILE)
    tweets = list(read_tweets(V1_FILE))
    assert len(tweets) == len(raws) == 416
    for raw, tweet in zip(raws, tweets, strict=True):
        assert tweet.id == raw["id_str"]
        ext = raw.get("extended_tweet")
        entities = ext["entities"] if ext else raw["entities"]
        assert tweet.text == _unescape(ext["full_text"] if ext else raw["text"])
        assert list(tweet.hashtags) == [h["text"] for h in entities["hashtags"]]
        assert list(tweet.mentions) == [m["id_str"] for m in entities["user_mentions"]]
        assert tweet.user_id == raw["user"]["id_str"]
        assert tweet.user_location == ((raw["user"]["location"] or "").strip() or None)
        place = raw["place"]
        assert (tweet.place_id, tweet.place_name, tweet.place_type) == (
            place["id"],
            place["full_name"],
            place["place_type"],
        )
        if raw["coordinates"]:
            lon, lat = raw["coordinates"]["coordinates"]
            assert (tweet.lat, tweet.lon) == (lat, lon)
            assert raw["geo"]["coordinates"] == [lat, lon]  # the legacy field agrees, in reverse order
        else:
            assert tweet.lat is None and tweet.lon is None
        holder = (ext or {}).get("extended_entities") or raw.get("extended_entities") or {}
        urls = [m["media_url_https"] for m in holder.get("media", [])]
        assert [m["url"] for m in tweet.extra.get("media", [])] == urls
        assert tweet.image is None  # media are remote URLs; nothing downloaded next to the fixture


def test_v1_counts_agree_with_the_fixture_readme() -> None:
    tweets = list(read_tweets(V1_FILE))
    assert sum(t.place_type == "city" for t in tweets) == 93
    with_coordinates = sum(r["coordinates"] is not None for r in _raw_lines(V1_FILE))
    assert sum(t.lat is not None for t in tweets) == with_coordinates


def test_v1_extended_tweet_text_is_the_full_text_not_the_truncated_one() -> None:
    extended = [r for r in _raw_lines(V1_FILE) if r.get("truncated")]
    assert extended
    by_id = {t.id: t for t in read_tweets(V1_FILE)}
    for raw in extended:
        tweet = by_id[raw["id_str"]]
        assert tweet.text is not None and not tweet.text.endswith("…")
        assert (
            len(tweet.text) > len(_unescape(raw["text"])) - 25
        )  # the truncated text ends in "… https://t.co/x"


def test_v1_created_at_is_iso_utc() -> None:
    raw = _raw_lines(V1_FILE)[0]
    tweet = next(iter(read_tweets(V1_FILE)))
    assert raw["created_at"] == "Mon Jun 26 19:44:22 +0000 2017"
    assert tweet.created_at == "2017-06-26T19:44:22Z" and tweet.day == "2017-06-26"


def test_v1_place_centroid_is_the_middle_of_the_bounding_box() -> None:
    raw = _raw_lines(V1_FILE)[0]
    tweet = next(iter(read_tweets(V1_FILE)))
    ring = raw["place"]["bounding_box"]["coordinates"][0]
    lats, lons = [p[1] for p in ring], [p[0] for p in ring]
    lat, lon = tweet.extra["place_centroid"]
    assert lat == pytest.approx((min(lats) + max(lats)) / 2, abs=1e-6)
    assert lon == pytest.approx((min(lons) + max(lons)) / 2, abs=1e-6)
    assert tweet.lat is None  # a place box is not a coordinate


def _expected_v2(item: dict[str, Any], includes: dict[str, Any]) -> dict[str, Any]:
    """What a v2 tweet should become, from the page's raw JSON."""
    users = {u["id"]: u for u in includes.get("users", [])}
    places = {p["id"]: p for p in includes.get("places", [])}
    media = {m["media_key"]: m for m in includes.get("media", [])}
    referenced = {t["id"]: t for t in includes.get("tweets", [])}
    source = item
    for ref in item.get("referenced_tweets", []):
        if ref["type"] == "retweeted" and ref["id"] in referenced:
            source = referenced[ref["id"]]
    entities = source.get("entities", {})
    geo = item.get("geo", {})
    place = places.get(geo.get("place_id", ""), {})
    coords = geo.get("coordinates", {}).get("coordinates")
    keys = source.get("attachments", {}).get("media_keys", [])
    return {
        "text": _unescape(source["text"]),
        "hashtags": [h["tag"] for h in entities.get("hashtags", [])],
        "mentions": [m.get("id", m["username"]) for m in entities.get("mentions", [])],
        "user_id": item["author_id"],
        "user_location": (users.get(item["author_id"], {}).get("location") or "").strip() or None,
        "place": (geo.get("place_id"), place.get("full_name"), place.get("place_type")),
        "lat_lon": (coords[1], coords[0]) if coords else (None, None),
        "media": [
            u for k in keys if k in media if (u := media[k].get("url") or media[k].get("preview_image_url"))
        ],
    }


def _actual(tweet: Tweet) -> dict[str, Any]:
    return {
        "text": tweet.text,
        "hashtags": list(tweet.hashtags),
        "mentions": list(tweet.mentions),
        "user_id": tweet.user_id,
        "user_location": tweet.user_location,
        "place": (tweet.place_id, tweet.place_name, tweet.place_type),
        "lat_lon": (tweet.lat, tweet.lon),
        "media": [m["url"] for m in tweet.extra.get("media", [])],
    }


@pytest.mark.parametrize(
    "name",
    [
        "geo_tweets.jsonl",
        "media_tweet.jsonl",
        "mentions_tweet.jsonl",
        "noflat.jsonl",
        "two_tweets.jsonl",
        "streaming_output_with_error.jsonl",
    ],
)
def test_v2_page_fields_match_the_raw_json(name: str) -> None:
    path = V2_DIR / name
    expected = []
    for page in _raw_lines(path):
        data = page["data"] if isinstance(page["data"], list) else [page["data"]]
        expected += [(item["id"], _expected_v2(item, page.get("includes", {}))) for item in data]
    tweets = list(read_tweets(path))
    assert [t.id for t in tweets] == [i for i, _ in expected]
    for tweet, (_, want) in zip(tweets, expected, strict=True):
        assert _actual(tweet) == want


def test_v2_fixtures_exercise_places_coordinates_media_and_retweets() -> None:
    """Guards the test above against passing on fixtures that lack what it checks."""
    tweets = [
        t
        for name in (
            "geo_tweets.jsonl",
            "streaming_output_with_error.jsonl",
            "media_tweet.jsonl",
            "mentions_tweet.jsonl",
        )
        for t in read_tweets(V2_DIR / name)
    ]
    assert sum(t.place_type == "city" for t in tweets) >= 5
    assert sum(t.lat is not None for t in tweets) >= 3
    assert sum(bool(t.extra.get("media")) for t in tweets) >= 3
    assert any("retweet_of" in t.extra for t in tweets)


def test_v2_retweet_takes_the_original_text_and_entities_but_keeps_the_retweeter() -> None:
    page = _raw_lines(V2_DIR / "mentions_tweet.jsonl")[0]
    item = page["data"][0]
    assert item["text"].startswith("RT @")
    retweeted = next(r["id"] for r in item["referenced_tweets"] if r["type"] == "retweeted")
    original = next(t for t in page["includes"]["tweets"] if t["id"] == retweeted)
    tweet = next(iter(read_tweets(V2_DIR / "mentions_tweet.jsonl")))
    assert tweet.text == _unescape(original["text"]) and not tweet.text.startswith("RT @")
    assert tweet.id == item["id"] and tweet.user_id == item["author_id"] != original["author_id"]
    assert list(tweet.hashtags) == [h["tag"] for h in original["entities"]["hashtags"]]


def test_v2_flattened_tweets_match_the_raw_json() -> None:
    path = V2_DIR / "flat.jsonl"
    raws = _raw_lines(path)
    tweets = list(read_tweets(path))
    assert len(tweets) == len(raws) == 100
    assert {detect_format(r) for r in raws} == {"v2"}
    for raw, tweet in zip(raws, tweets, strict=True):
        source = raw
        for ref in raw.get("referenced_tweets", []):
            if ref["type"] == "retweeted" and "text" in ref:
                source = ref
        entities = source.get("entities", {})
        assert tweet.id == raw["id"]
        assert tweet.text == _unescape(source["text"])
        assert list(tweet.hashtags) == [h["tag"] for h in entities.get("hashtags", [])]
        assert list(tweet.mentions) == [m.get("id", m.get("username")) for m in entities.get("mentions", [])]
        assert tweet.user_id == raw["author"]["id"] == raw["author_id"]
        assert tweet.user_location == ((raw["author"].get("location") or "").strip() or None)
        media = source.get("attachments", {}).get("media", []) or raw.get("attachments", {}).get("media", [])
        assert [m["url"] for m in tweet.extra.get("media", [])] == [
            u for m in media if (u := m.get("url") or m.get("preview_image_url"))
        ]
    assert sum(bool(t.extra.get("media")) for t in tweets) > 0


def test_v2_stream_keeps_the_good_tweets_and_reports_the_truncated_line() -> None:
    report = ReadReport()
    tweets = list(read_tweets(V2_DIR / "streaming_output_with_error.jsonl", report))
    assert len(tweets) == 7
    assert [(r.line, r.kind) for r in report.skipped] == [(8, "truncated JSON")]
    assert "streaming_output_with_error.jsonl:8" in report.summary()


def test_v2_page_errors_are_noted_while_the_page_tweets_are_kept() -> None:
    report = ReadReport()
    tweets = list(read_tweets(V2_DIR / "noflat.jsonl", report))
    page = _raw_lines(V2_DIR / "noflat.jsonl")[0]
    assert len(tweets) == len(page["data"]) == 100
    assert len(report.notes) == len(page["errors"]) and report.skipped_count == 0
    assert page["errors"][0]["detail"] in report.notes[0].detail


def test_the_fixture_directory_reads_as_the_sum_of_its_files() -> None:
    report = ReadReport()
    tweets = list(read_tweets(FIXTURES, report))
    per_file = [len(list(read_tweets(p))) for p in _fixture_files()]
    assert len(tweets) == sum(per_file)
    assert report.tweets_by_format == {"v1": 416, "v2": sum(per_file) - 416}
    assert {(Path(r.file).name, r.line) for r in report.skipped} == {
        ("empty.json", 0),
        ("streaming_output_with_error.jsonl", 8),
        ("users.jsonl", 1),
    }
