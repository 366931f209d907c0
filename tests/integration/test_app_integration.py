"""The service over a real tiny checkpoint (ModelBackend): every endpoint, missing components, and
batched answers equal to one-by-one ones. Uses $TWEETEMBED_TEST_CHECKPOINT when set, else the
suite's ``tiny_trained`` checkpoint (tests/conftest.py: tiny WORK from model_fixtures, 2 epochs, then
build-heads, once per run). Skips when model/ has no embedder yet."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("model.embedder", reason="model.embedder is not written yet")
pytest.importorskip("model.heads.loader", reason="model.heads is not written yet")

import httpx
import torch

from app.api.factory import create_app
from app.settings import Settings
from model.heads.location_head import LocationContext
from model.record import Tweet

pytestmark = pytest.mark.slow
torch.set_num_threads(2)


@pytest.fixture(scope="module")
def checkpoint(request: pytest.FixtureRequest) -> tuple[Path, Path | None]:
    """(checkpoint dir, WORK dir it was trained on or None)."""
    given = os.environ.get("TWEETEMBED_TEST_CHECKPOINT")
    if given:
        return Path(given), None
    ckpt, work = request.getfixturevalue("tiny_trained")  # tests/conftest.py: trained once per run
    return Path(ckpt), Path(work)


@pytest.fixture(scope="module")
def sample_tweets(checkpoint: tuple[Path, Path | None]) -> list[dict[str, Any]]:
    """Flat API tweets from the test split (images inlined as base64), or a hand-made few."""
    _, work = checkpoint
    out: list[dict[str, Any]] = []
    if work is not None:
        for line in (work / "splits" / "test.jsonl").read_text(encoding="utf-8").splitlines():
            tweet = Tweet.from_flat(json.loads(line), work / "splits")
            flat = tweet.to_flat()
            flat.pop("image", None)
            if tweet.image and Path(tweet.image).is_file():
                flat["image_base64"] = base64.b64encode(Path(tweet.image).read_bytes()).decode()
            out.append(flat)
    return out or [{"id": str(i), "text": f"a small tweet number {i} #test"} for i in range(12)]


async def _client(ckpt: Path, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(checkpoint=ckpt, device="cpu", **overrides))
    async with app.router.lifespan_context(app):
        await app.state.service.wait_loaded()
        assert app.state.service.backend is not None, app.state.service.load_error
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            yield client


@pytest.mark.asyncio
async def test_every_endpoint_on_a_real_checkpoint(
    checkpoint: tuple[Path, Path | None], sample_tweets: list[dict[str, Any]]
) -> None:
    from model.checkpoint import manifest_digest
    from model.embedder import TweetEmbedder

    ckpt, work = checkpoint
    embedder = TweetEmbedder.load(ckpt, device="cpu")
    async for client in _client(ckpt):
        assert (await client.get("/ready")).status_code == 200
        info = (await client.get("/info")).json()
        assert info["backend"] == "model" and info["dim"] == embedder.config.dim
        assert info["manifest_hash"] == manifest_digest(ckpt)
        if work is not None:  # trained here with every head's data
            assert all(info["heads"].values()), info["heads"]

        tweets = sample_tweets[:8]
        response = await client.post("/embed", json={"tweets": tweets})
        assert response.status_code == 200, response.text
        direct = embedder.embed(
            [
                Tweet.from_flat(
                    {k: v for k, v in t.items() if k != "image_base64"}
                    | ({"image": "inline"} if "image_base64" in t else {})
                )
                for t in tweets
            ],
            _images(tweets),
        )
        for i, result in enumerate(response.json()["results"]):
            for c in embedder.config.components:
                assert result["present"][c] == bool(direct.present[c][i]), (c, i)
            if result["average"] is not None:
                assert np.allclose(result["average"], direct.average[i], atol=1e-4)

        # Missing components: text only, unknown user, no place; each is simply absent.
        sparse = [
            {"id": "a", "text": "just some words"},
            {"id": "b", "text": "words", "user_id": "no-such-user", "place_id": "no-such-place"},
        ]
        for result in (await client.post("/embed", json={"tweets": sparse})).json()["results"]:
            assert result["present"]["text"] and not result["present"].get("user", False)
            assert not result["present"].get("location", False)

        for path, body in (
            ("/recommend-hashtags", {"tweets": tweets[:2], "k": 3}),
            ("/predict-location", {"tweets": tweets[:2], "k": 3}),
            ("/search/texts", {"tweets": tweets[:2], "k": 3}),
            ("/search/images", {"tweets": tweets[:2], "k": 3}),
        ):
            head = {
                "/recommend-hashtags": "hashtags",
                "/predict-location": "location",
                "/search/texts": "text_index",
                "/search/images": "image_index",
            }[path]
            answer = await client.post(path, json=body)
            expected = 200 if info["heads"][head] else 503
            assert answer.status_code == expected, (path, answer.text)

        mine = [{k: v for k, v in t.items() if k != "user_id"} for t in tweets[:4]]
        assert (await client.post("/users/u1/tweets", json={"tweets": mine})).status_code == 201
        score = await client.get("/bot-score/u1")
        if info["heads"]["bots"]:
            assert score.status_code == 200 and 0 <= score.json()["score"] <= 1
            assert score.json()["tweets_used"] == 4
        else:
            assert score.status_code == 503
        assert (await client.get("/bot-score/nobody")).status_code in (404, 503)

        openai = await client.post("/v1/embeddings", json={"input": ["hello world", "another one"]})
        assert openai.status_code == 200 and len(openai.json()["data"][0]["embedding"]) == info["dim"]


def _images(tweets: list[dict[str, Any]]) -> list[Any]:
    import io

    from PIL import Image

    out = []
    for t in tweets:
        raw = t.get("image_base64")
        out.append(Image.open(io.BytesIO(base64.b64decode(raw))).convert("RGB") if raw else None)
    return out


@pytest.mark.asyncio
async def test_batched_equals_one_by_one_on_a_real_checkpoint(
    checkpoint: tuple[Path, Path | None], sample_tweets: list[dict[str, Any]]
) -> None:
    ckpt, _ = checkpoint
    tweets = sample_tweets[:12]
    async for client in _client(ckpt, cache_enabled=False, batch_max_size=1):
        alone = [(await client.post("/embed", json={"tweet": t})).json()["results"][0] for t in tweets]
    async for client in _client(ckpt, cache_enabled=False, batch_max_size=64, batch_max_wait_ms=50):
        responses = await asyncio.gather(
            *(client.post("/embed", json={"tweets": tweets[i : i + 3]}) for i in range(0, len(tweets), 3))
        )
        metrics = (await client.get("/metrics")).text
    together = [r for response in responses for r in response.json()["results"]]
    assert [r["id"] for r in together] == [r["id"] for r in alone]
    for a, b in zip(together, alone, strict=True):
        assert a["present"] == b["present"]
        if a["average"] is not None:
            assert np.allclose(a["average"], b["average"], atol=1e-4)
    assert "tweetembed_batch_size_count" in metrics


@pytest.mark.asyncio
async def test_the_heads_over_http_answer_what_the_checkpoints_heads_answer(
    checkpoint: tuple[Path, Path | None], sample_tweets: list[dict[str, Any]]
) -> None:
    """The real heads behind each endpoint, not the fake's constants: every answer equals the head's
    own answer computed here from the checkpoint, and a training text finds itself in the text index."""
    from model.embedder import TweetEmbedder
    from model.heads.loader import load_heads
    from training.artifacts import read_split

    ckpt, work = checkpoint
    if work is None:
        pytest.skip("needs the WORK directory the checkpoint was trained on")
    embedder, heads = TweetEmbedder.load(ckpt, device="cpu"), load_heads(ckpt)
    assert heads.hashtags and heads.location and heads.bots and heads.text_index
    flat = [{k: v for k, v in t.items() if k != "image_base64"} for t in sample_tweets[:6]]
    tweets = [Tweet.from_flat(t) for t in flat]
    batch = embedder.embed(tweets)
    async for client in _client(ckpt, cache_enabled=False):
        got = (await client.post("/recommend-hashtags", json={"tweets": flat, "k": 3})).json()["results"]
        want = heads.hashtags.recommend(
            batch, 3, exclude_own=[set(t.hashtags) for t in tweets], authors=[t.user_id for t in tweets]
        )
        for answer, ranked in zip(got, want, strict=True):
            assert [h["hashtag"] for h in answer["hashtags"]] == [tag for tag, _ in ranked]
            assert [h["score"] for h in answer["hashtags"]] == pytest.approx([s for _, s in ranked], abs=1e-5)

        profiled = [t | {"user_location": f"near place {i}"} for i, t in enumerate(flat)]
        got = (await client.post("/predict-location", json={"tweets": profiled, "k": 2})).json()["results"]
        profile = embedder.embed_texts([t["user_location"] for t in profiled])  # (N, dim)
        texts = LocationContext.of([Tweet.from_flat(t) for t in profiled])
        guesses = heads.location.predict(batch, profile, np.ones(len(flat), bool), k=2, texts=texts)
        for answer, want_places in zip(got, guesses, strict=True):
            assert [p["place_id"] for p in answer["places"]] == [g.place_id for g in want_places]
            assert [p["probability"] for p in answer["places"]] == pytest.approx(
                [g.probability for g in want_places], abs=1e-6
            )
            assert [p["name"] for p in answer["places"]] == [g.name for g in want_places]

        train = next(t for t in read_split(work / "splits", "train") if t.text)
        hits = (
            await client.post("/search/texts", json={"tweet": {"id": "q", "text": train.text}, "k": 1})
        ).json()
        assert hits["results"][0]["hits"][0]["score"] == pytest.approx(1.0, abs=1e-3)
        assert hits["results"][0]["hits"][0]["id"] in {
            t.id for t in read_split(work / "splits", "train") if t.text == train.text
        }

        anonymous = [{k: v for k, v in t.items() if k != "user_id"} for t in flat[:4]]
        assert (await client.post("/users/u9/tweets", json={"tweets": anonymous})).status_code == 201
        score = (await client.get("/bot-score/u9")).json()
        averages = embedder.embed([Tweet.from_flat(t) for t in anonymous]).average  # (4, dim)
        want_score = float(heads.bots.score([averages[::-1]])[0])  # newest first, as stored
        assert score["score"] == pytest.approx(want_score, abs=1e-5)
        assert score["threshold"] == pytest.approx(heads.bots.threshold)
        assert score["label"] == ("bot" if score["score"] >= score["threshold"] else "human")


@pytest.mark.asyncio
async def test_recommend_hashtags_reads_the_authors_earlier_hashtags_from_user_id(
    checkpoint: tuple[Path, Path | None], tmp_path: Path
) -> None:
    """The checkpoint's neighbour head given an author table: a known user_id's own tag comes first,
    the same tweet without user_id (or from an unknown user) gets the neighbours' tags only."""
    import shutil

    from model.checkpoint import write_manifest
    from model.heads.author_history import AuthorHistory
    from model.heads.loader import load_neighbour_hashtags

    source, _ = checkpoint
    ckpt = tmp_path / "ckpt"
    shutil.copytree(source, ckpt)
    head = load_neighbour_hashtags(ckpt)
    if head is None:
        pytest.skip("the checkpoint has no neighbour hashtag head")
    head.authors = AuthorHistory({"habit": {"myowntag": 3}})
    head.author_weight = 4.0  # a known author's habit outvotes any neighbours (vote shares are <= 1)
    head.save_meta(ckpt / "heads")
    write_manifest(ckpt)
    tweet = {"id": "1", "text": "a tweet about nothing in particular"}
    async for client in _client(ckpt, cache_enabled=False):
        answers = []
        for extra in ({"user_id": "habit"}, {}, {"user_id": "stranger"}):
            got = await client.post("/recommend-hashtags", json={"tweets": [tweet | extra], "k": 3})
            assert got.status_code == 200, got.text
            answers.append([h["hashtag"] for h in got.json()["results"][0]["hashtags"]])
        assert answers[0][0] == "myowntag"
        assert "myowntag" not in answers[1] and answers[1] == answers[2]


@pytest.mark.asyncio
async def test_predict_location_updates_the_answer_with_the_authors_earlier_cities(
    checkpoint: tuple[Path, Path | None], tmp_path: Path
) -> None:
    """The checkpoint's location head served with an author posterior: a known user_id's earlier city
    comes first with the probability author_posterior gives, the same tweet without user_id (or from
    an unknown user) gets the head's own answer."""
    import shutil

    from model.checkpoint import write_manifest
    from model.heads.author_history import AUTHOR_PLACES_FILE, AuthorHistory
    from model.heads.loader import load_location_head

    source, _ = checkpoint
    ckpt = tmp_path / "ckpt"
    shutil.copytree(source, ckpt)
    head = load_location_head(ckpt)
    if head is None or len(head.classes) < 2:
        pytest.skip("the checkpoint has no location head with two places")
    tweet = {"id": "1", "text": "a tweet about nothing in particular"}
    async for client in _client(ckpt, cache_enabled=False):
        plain = (await client.post("/predict-location", json={"tweets": [tweet], "k": 1})).json()
    own = plain["results"][0]["places"][0]
    habit = next(c for c in head.classes if c != own["place_id"])  # a city the head does not answer
    meta_path = ckpt / "heads" / "location.json"
    meta = json.loads(meta_path.read_text())
    AuthorHistory({"habit": {habit: 2}}).save(ckpt / "heads" / AUTHOR_PLACES_FILE)
    meta_path.write_text(json.dumps(meta | {"author_places": 1, "author_prior": 0.5}))
    write_manifest(ckpt)
    async for client in _client(ckpt, cache_enabled=False):
        answers = []
        for extra in ({"user_id": "habit"}, {}, {"user_id": "stranger"}):
            got = await client.post("/predict-location", json={"tweets": [tweet | extra], "k": 1})
            assert got.status_code == 200, got.text
            answers.append(got.json()["results"][0]["places"][0])
    # (2 + 0.5 q) / (2 + 0.5) >= 0.8 for the author's city; every other city gets at most 0.2
    assert answers[0]["place_id"] == habit and answers[0]["probability"] >= 0.8
    assert answers[1]["place_id"] == answers[2]["place_id"] == own["place_id"]
    assert answers[1]["probability"] == pytest.approx(own["probability"], abs=1e-6)
