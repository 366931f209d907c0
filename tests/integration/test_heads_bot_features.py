"""The bot feature builder against hand-computed values, and the selected detector's fit -> save ->
load -> serve round trip (through the service's HTTP API) giving the same score for the same tweets."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from model.checkpoint import write_manifest
from model.heads.bot_features import (
    BEHAVIOUR_NAMES,
    MAX_MENTIONS,
    MAX_TEXT_CHARS,
    BotUser,
    ContentFeatures,
    TweetFields,
    behaviour_features,
    poster_counts,
    text_hash,
)
from model.heads.bot_selected import SelectedBotDetector
from model.heads.loader import load_heads
from model.record import Tweet
from tests.heads_support import FakeEmbedder, tiny_tweets, write_work_dir

DIM = 4


def _user(tweets: list[Tweet]) -> BotUser:
    return BotUser([TweetFields.from_tweet(t) for t in tweets], np.zeros((len(tweets), DIM), np.float32))


def test_tweet_fields_are_compact_and_round_trip() -> None:
    t = Tweet(
        "1",
        "RT " + "a" * 400 + " https://t.co/x http://b.c",
        created_at="2020-03-01T00:00:10Z",
        hashtags=("x", "y"),
        mentions=tuple(f"m{i}" for i in range(40)),
        place_id="p",
    )
    f = TweetFields.from_tweet(t, image=True)
    assert (f.urls, f.hashtags, f.mentions, f.retweet, f.image, f.place) == (2, 2, 40, True, True, True)
    assert len(f.mention_ids) == MAX_MENTIONS and len(f.text) == MAX_TEXT_CHARS
    assert f.created_at == 1583020810 and f.length == len(t.text or "")
    assert TweetFields.from_obj(json.loads(json.dumps(f.to_obj()))) == f
    # The same message with another link, or retweeted, is the same text.
    assert (
        text_hash("buy now https://t.co/a") == text_hash("RT buy now https://t.co/b") == text_hash("buy now")
    )


def test_behaviour_features_by_hand() -> None:
    a = _user(
        [
            Tweet("3", "buy now https://t.co/a", created_at="2020-03-03T00:00:00Z", mentions=("x", "y")),
            Tweet("2", "buy now", created_at="2020-03-02T00:00:00Z", hashtags=("h",), mentions=("x",)),
            Tweet("1", "RT hello there", created_at="2020-03-01T00:00:00Z", image="/i.png", place_id="p"),
        ]
    )
    b = _user([Tweet("4", "hello there")])  # no timestamp
    posters = poster_counts([a.fields, b.fields])
    assert posters[text_hash("buy now")] == 1 and posters[text_hash("hello there")] == 2
    rows = behaviour_features([a, b], posters)
    got = {name: rows[0, j] for j, name in enumerate(BEHAVIOUR_NAMES)}
    gap = math.log1p(86_400)
    want = {
        "url_share": 1 / 3,
        "hashtags_per_tweet": 1 / 3,
        "mentions_per_tweet": 1.0,
        "distinct_mentioned": 2,
        "duplicate_text_share": 1 / 3,  # "buy now" twice
        "shared_text_share": 1 / 3,  # "hello there" was posted by b too
        "retweet_share": 1 / 3,
        "tweets_per_day": 3 / 2,  # 3 tweets over 2 days
        "mean_log_gap_s": gap,
        "std_log_gap_s": 0.0,
        "mean_text_length": (22 + 7 + 14) / 3,
        "image_share": 1 / 3,
        "place_share": 1 / 3,
        "tweets": 3,
    }
    for name, value in want.items():
        assert got[name] == pytest.approx(value), name
    second = dict(zip(BEHAVIOUR_NAMES, rows[1], strict=True))
    # Without timestamps the time features are missing (NaN), not zero.
    assert all(math.isnan(second[n]) for n in ("tweets_per_day", "mean_log_gap_s", "std_log_gap_s"))
    assert second["shared_text_share"] == 1.0 and second["tweets"] == 1
    assert math.isnan(behaviour_features([a], None)[0, BEHAVIOUR_NAMES.index("shared_text_share")])


def test_content_features_are_fitted_on_the_given_users_only() -> None:
    users = [_user([Tweet(str(i), f"word{i % 3} common text {i}")]) for i in range(30)]
    content = ContentFeatures(components=5).fit(users[:20])
    x = content.transform(users)
    assert x.shape == (30, 5) and np.isfinite(x).all()
    np.testing.assert_allclose(content.transform(users[20:]), x[20:])


@pytest.fixture()
def selected_checkpoint(tmp_path: Path) -> Path:
    from training.heads.build import run_build_heads

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"dim": 32}))
    write_manifest(ckpt)
    work = write_work_dir(tmp_path, tiny_tweets())
    summary = run_build_heads(ckpt, work, embedder=FakeEmbedder())
    info = summary["heads"]["bots"]
    assert info["method"] == "select" and info["chosen"] in info["cv"]["candidates"]
    return ckpt


@pytest.mark.slow
@pytest.mark.asyncio
async def test_fit_then_serve_gives_the_same_score_for_the_same_tweets(selected_checkpoint: Path) -> None:
    from app.engine.model_backend import ModelBackend
    from tests.app_fixtures import running_app

    heads = load_heads(selected_checkpoint)
    det = heads.bots
    assert isinstance(det, SelectedBotDetector)
    assert set(det.cv["candidates"]) >= {
        "kNN k=1 (paper)",
        "Kim CNN (paper)",
        "HGB behaviour + content + embedding",
    }
    embedder = FakeEmbedder()
    embedder.checkpoint_digest = "test"  # type: ignore[attr-defined]
    backend = ModelBackend(embedder, heads, selected_checkpoint)
    pool = tiny_tweets(60, seed=3)
    user = Counter(t.user_id for t in pool).most_common(1)[0][0]
    tweets = [t for t in pool if t.user_id == user][:5]
    assert len(tweets) >= 3
    newest_first = sorted(tweets, key=lambda t: (t.created_at or "", t.id), reverse=True)
    fields = [TweetFields.from_tweet(t, image=False) for t in newest_first]
    averages = embedder.embed([t.with_image(None) for t in newest_first]).average
    expected = det.explain([BotUser(fields, averages)], [poster_counts([fields])])[0]
    body = {
        "tweets": [
            {
                "id": t.id,
                "text": t.text,
                "created_at": t.created_at,
                "hashtags": list(t.hashtags),
                "place_id": t.place_id,
            }
            for t in reversed(newest_first)  # oldest first, as a client appends them
        ]
    }
    async with running_app(backend) as (_, client):
        assert (await client.post(f"/users/{user}/tweets", json=body)).status_code == 201
        got = (await client.get(f"/bot-score/{user}")).json()
        bad = await client.get("/bot-score/nobody")
    assert got["probability"] == pytest.approx(expected.probability, abs=1e-9)
    assert got["score"] == got["probability"] and got["calibrated"] is True
    assert got["subscores"] == pytest.approx(expected.subscores, abs=1e-9)
    assert set(got["subscores"]) == {"behaviour", "content", "embedding"}
    assert got["label"] == ("bot" if expected.probability >= det.threshold else "human")
    assert got["tweets_used"] == len(tweets) and got["fitted_tweets"] == det.n_recent == 100
    assert "fitted on" in got["note"]
    # /info shows backend.info()["bot_detector"] (the FakeEmbedder has no config to show the rest).
    shown = backend._bot_detector()
    assert shown is not None and shown["chosen"] == det.chosen.name == got["detector"]
    assert shown["cv"]["candidates"][det.chosen.name]["threshold"] == det.threshold
    assert bad.status_code == 404
