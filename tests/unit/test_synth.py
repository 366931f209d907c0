"""The synthetic world: determinism, formats, ground-truth consistency, realistic gaps and overlaps."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.record import Tweet
from model.tokenizer import extract_hashtags, extract_mentions
from training.synth.knobs import SynthConfig
from training.synth.world import build_world
from training.synth.writer import write_world

SMALL = dict(tweets=3000, image_rate=0.1, workers=1)


def _digest(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "tweets.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    write_world(SynthConfig(**SMALL), out, progress=False)
    return out


def test_same_seed_gives_same_bytes_whatever_the_workers(world_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    write_world(SynthConfig(**{**SMALL, "workers": 2}), again, progress=False)
    assert _digest(again) == _digest(world_dir)


def test_another_seed_gives_another_world(world_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_world(SynthConfig(**{**SMALL, "seed": 1}), other, progress=False)
    a, b = _digest(world_dir), _digest(other)
    assert a["tweets.jsonl"] != b["tweets.jsonl"]
    assert a["world.json"] != b["world.json"]


def test_records_parse_and_are_what_tweet_to_flat_writes(world_dir: Path) -> None:
    records = _records(world_dir)
    assert len(records) == 3000
    assert len({r["id"] for r in records}) == len(records)
    for r in records:
        tweet = Tweet.from_flat(r, base_dir=world_dir)
        assert tweet.to_flat(base_dir=world_dir) == r
        # Hashtags and mentions are written into the text, as real tweets carry them.
        assert [h.lower() for h in extract_hashtags(tweet.text or "")] == [h.lower() for h in tweet.hashtags]
        assert set(extract_mentions(tweet.text or "")) == set(tweet.mentions)
        if tweet.lat is not None:
            assert tweet.place_id is not None


def test_tweets_are_in_time_order_over_ten_days_and_split_by_date(world_dir: Path) -> None:
    records = _records(world_dir)
    times = [r["created_at"] for r in records]
    assert times == sorted(times)
    splits = json.loads((world_dir / "splits.json").read_text())
    assert splits["method"] == "date"
    assert splits["train"] == [f"2020-03-0{d}" for d in range(1, 9)]
    assert splits["val"] == ["2020-03-09"] and splits["test"] == ["2020-03-10"]
    days = Counter(r["created_at"][:10] for r in records)
    assert set(days) == set(splits["train"] + splits["val"] + splits["test"])
    assert min(days.values()) > 200  # every day has tweets, none holds them all


def test_images_decode_at_the_configured_size_and_match_the_records(world_dir: Path) -> None:
    referenced = {r["image"] for r in _records(world_dir) if "image" in r}
    on_disk = {f"images/{p.name}" for p in (world_dir / "images").iterdir()}
    assert referenced == on_disk and len(referenced) > 100
    for name in sorted(referenced)[:20]:
        with Image.open(world_dir / name) as img:
            assert img.format == "PNG" and img.size == (64, 64) and img.mode == "RGB"


def test_image_size_knob(tmp_path: Path) -> None:
    write_world(SynthConfig(tweets=200, image_rate=0.5, image_size=32, workers=1), tmp_path, progress=False)
    first = next((tmp_path / "images").iterdir())
    with Image.open(first) as img:
        assert img.size == (32, 32)


def test_world_json_is_consistent_with_tweets_and_labels(world_dir: Path) -> None:
    world = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))
    assert len(world["cities"]) >= 100 and len(world["topics"]) >= 30
    for city in world["cities"]:
        assert -90 <= city["lat"] <= 90 and -180 <= city["lon"] <= 180 and city["local_words"]
    users = {u["id"]: u for u in world["users"]}
    for u in users.values():
        assert 0 <= u["home_city"] < len(world["cities"])
        assert u["interests"] and all(0 <= t < len(world["topics"]) for t in u["interests"])
        assert all(f in users for f in u["friends"])
    with (world_dir / "bot_labels.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["user_id"] for r in rows] == list(users)
    for r in rows:
        assert r["label"] == ("bot" if users[r["user_id"]]["bot"] else "human")
    kinds = Counter(u["bot"] for u in users.values() if u["bot"])
    assert set(kinds) == {"spam", "stuffer", "amplifier", "copier"}
    places = {c["place_id"]: c["place_name"] for c in world["cities"]}
    places.update({c["admin_place_id"]: c["admin_place_name"] for c in world["cities"]})
    for r in _records(world_dir):
        assert r["user_id"] in users
        assert all(m in users for m in r.get("mentions", []))
        if "place_id" in r:
            assert places[r["place_id"]] == r["place_name"]
            assert r["place_type"] in ("city", "admin")


def test_gaps_follow_the_knobs(world_dir: Path) -> None:
    cfg = SynthConfig(**SMALL)
    records = _records(world_dir)
    n = len(records)
    image_share = sum("image" in r for r in records) / n
    place_share = sum("place_id" in r for r in records) / n
    coords_share = sum("lat" in r for r in records) / n
    with_place = [r for r in records if "place_id" in r]
    city_share = sum(r["place_type"] == "city" for r in with_place) / len(with_place)
    # Per-user habits (bots geotag less, some people post more photos) move shares a little off the knob.
    assert abs(image_share - cfg.image_rate) < 0.04
    assert abs(place_share - cfg.place_rate) < 0.1
    assert abs(coords_share - cfg.coords_rate) < 0.03
    assert abs(city_share - cfg.city_place_share) < 0.05
    users = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))["users"]
    with_location = sum(u["profile_location"] is not None for u in users) / len(users)
    assert abs(with_location - cfg.profile_location_rate) < 0.08
    untagged = sum("hashtags" not in r for r in records) / n
    assert 0.25 < untagged < cfg.no_hashtag_rate + 0.05


def test_turning_a_gap_knob_to_zero_removes_the_component(tmp_path: Path) -> None:
    write_world(
        SynthConfig(tweets=300, image_rate=0.0, place_rate=0.0, coords_rate=0.0, workers=1),
        tmp_path,
        progress=False,
    )
    records = _records(tmp_path)
    assert not any("image" in r or "place_id" in r or "lat" in r for r in records)
    assert not any((tmp_path / "images").iterdir())


def test_profile_locations_read_like_real_ones(world_dir: Path) -> None:
    world = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))
    cities = world["cities"]
    locations = [u["profile_location"] for u in world["users"] if u["profile_location"]]
    names = {c["name"].lower() for c in cities}
    naming_a_city = sum(any(n in loc.lower() for n in names) for loc in locations) / len(locations)
    assert 0.3 < naming_a_city < 0.95  # many name a city, plenty do not (nicknames, jokes, states)
    assert any(loc in ("NYC", "the big apple", "nyc baby") for loc in locations) or len(locations) < 50


def test_mentions_prefer_people_of_the_same_city(world_dir: Path) -> None:
    world = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))
    home = {u["id"]: u["home_city"] for u in world["users"]}
    pairs = [(r["user_id"], m) for r in _records(world_dir) for m in r.get("mentions", [])]
    same = np.mean([home[a] == home[b] for a, b in pairs])
    # Two random users share a city with probability sum(p_c^2) (Zipf cities): a few percent.
    weights = np.array([c["weight"] for c in world["cities"]])
    assert same > 3 * float((weights**2).sum())


def test_each_bot_kind_overlaps_humans_on_its_own_signal(world_dir: Path) -> None:
    from training.baselines.bots import behaviour_features

    by_user: dict[str, list[Tweet]] = {}
    for r in _records(world_dir):
        by_user.setdefault(r["user_id"], []).append(Tweet.from_flat(r, base_dir=world_dir))
    users, x, names = behaviour_features(by_user)
    world = json.loads((world_dir / "world.json").read_text(encoding="utf-8"))
    bot = np.array([{u["id"]: bool(u["bot"]) for u in world["users"]}[u] for u in users])
    for j, name in enumerate(names):
        humans_above = (x[~bot, j] >= np.median(x[bot, j])).sum()
        assert humans_above > 0, f"no human reaches the bots' median {name}"


def test_knobs_are_validated() -> None:
    with pytest.raises(ValueError):
        SynthConfig(image_rate=1.5)
    with pytest.raises(ValueError):
        SynthConfig(place_rate=0.1, coords_rate=0.2)
    with pytest.raises(ValueError):
        build_world(SynthConfig(cities=10_000))


def test_defaults_model_at_least_the_spec() -> None:
    cfg = SynthConfig()
    world = build_world(SynthConfig(tweets=2000))
    assert cfg.cities >= 100 and cfg.topics >= 30 and cfg.image_size == 64 and cfg.days == 10
    assert all(len(c.nicknames) + 1 >= 2 for c in world.cities)
    assert all(len(t.words) >= 15 and len(t.hashtags) >= 8 for t in world.topics)
    assert len(world.celebrities) >= 3


def test_image_topic_is_learnable_but_no_single_pixel_tells_it() -> None:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from training.synth.images import ImageJob, render

    world = build_world(SynthConfig(tweets=1000))
    rng = np.random.default_rng(0)
    per_topic, n_topics = 25, len(world.topics)
    thumbs, pixels, labels = [], [], []
    for i in range(per_topic * n_topics):
        topic = world.topics[i % n_topics]
        city = world.cities[int(rng.integers(len(world.cities)))]
        job = ImageJob(
            "",
            int(rng.integers(2**62)),
            64,
            topic.image_family,
            tuple(topic.image_hues),  # type: ignore[arg-type]
            topic.image_frequency,
            topic.image_angle,
            city.image_hue_shift,
            city.image_brightness,
        )
        img = render(job).astype(np.float32) / 255.0  # (64, 64, 3)
        thumbs.append(img.reshape(8, 8, 8, 8, 3).mean(axis=(1, 3)).ravel())  # 8x8 colour thumbnail
        pixels.append(img[32, 32])
        labels.append(i % n_topics)
    y = np.array(labels)
    split = (per_topic - 5) * n_topics

    def accuracy(features: list[np.ndarray]) -> float:
        x = np.array(features)
        # One BLAS thread: on a shared 2-core machine more threads make this tiny fit 100x slower.
        with threadpool_limits(1):
            model = LogisticRegression(max_iter=2000).fit(x[:split], y[:split])
        return float((model.predict(x[split:]) == y[split:]).mean())

    chance = 1.0 / n_topics
    thumb, pixel = accuracy(thumbs), accuracy(pixels)
    assert 3 * chance < thumb < 0.9  # learnable from the picture as a whole, far from given away
    assert pixel < thumb
