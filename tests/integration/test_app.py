"""The HTTP service on the FakeBackend: every endpoint's happy path and missing components."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from app.engine.fake_backend import FakeBackend
from tests.app_fixtures import b64, error_of, png_bytes, running_app

pytestmark = pytest.mark.asyncio

FULL = {
    "id": "1",
    "text": "Sunset over the Seine #paris #travel",
    "user_id": "alice",
    "place_id": "p-paris",
    "image_base64": b64(png_bytes()),
}


def _norm(v: list[float]) -> float:
    return float(np.linalg.norm(np.asarray(v)))


async def test_health_ready_info() -> None:
    async with running_app() as (_, client):
        assert (await client.get("/health")).json() == {"status": "ok", "detail": None}
        assert (await client.get("/ready")).status_code == 200
        info = (await client.get("/info")).json()
        assert info["backend"] == "fake" and info["dim"] == 32
        assert info["components"] == ["text", "image", "hashtags", "location", "user"]
        assert info["heads"] == {
            h: True for h in ("hashtags", "location", "bots", "image_index", "text_index")
        }
        assert info["cache"] == "memory" and info["store"] == "memory" and info["redis"] is None
        assert info["limits"]["max_batch_tweets"] == 64
        assert len(info["manifest_hash"]) == 64


async def test_ready_is_503_until_the_backend_has_loaded() -> None:
    import threading

    release = threading.Event()

    def slow_loader() -> FakeBackend:
        release.wait(10)
        return FakeBackend()

    async with running_app(slow_loader, wait=False) as (app, client):  # type: ignore[arg-type]
        assert (await client.get("/health")).status_code == 200
        not_ready = await client.get("/ready")
        assert not_ready.status_code == 503 and not_ready.headers["retry-after"]
        early = await client.post("/embed", json={"tweet": {"id": 1, "text": "hi"}})
        assert early.status_code == 503 and error_of(early)["type"] == "not_ready"
        release.set()
        await app.state.service.wait_loaded()
        assert (await client.get("/ready")).status_code == 200


async def test_ready_reports_a_failed_load() -> None:
    def broken() -> FakeBackend:
        raise RuntimeError("manifest mismatch: model.safetensors")

    async with running_app(broken) as (_, client):  # type: ignore[arg-type]
        response = await client.get("/ready")
        assert response.status_code == 503 and "manifest mismatch" in response.json()["detail"]


async def test_embed_all_components_and_missing_ones() -> None:
    tweets = [
        FULL,
        {"id": 2, "text": "only words here"},  # text only
        {"id": "3", "image_base64": b64(png_bytes(colour=(0, 0, 255)))},  # image only
        {"id": "4", "text": "hello", "user_id": "stranger", "place_id": "p-atlantis"},  # unknown user, place
    ]
    async with running_app() as (_, client):
        response = await client.post("/embed", json={"tweets": tweets})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["dim"] == 32 and body["stored"] == 0
        results = body["results"]
        assert [r["id"] for r in results] == ["1", "2", "3", "4"]
        assert all(results[0]["present"].values())
        assert results[1]["present"] == {
            "text": True,
            "image": False,
            "hashtags": False,
            "location": False,
            "user": False,
        }
        assert set(results[2]["components"]) == {"image"}
        assert results[3]["present"]["user"] is False and results[3]["present"]["location"] is False
        for r in results:
            assert set(r["components"]) == {c for c, p in r["present"].items() if p}
            assert abs(_norm(r["average"]) - 1) < 1e-5
            for vector in r["components"].values():
                assert len(vector) == 32 and abs(_norm(vector) - 1) < 1e-5
        # A text-only tweet's average is its text vector.
        assert np.allclose(results[1]["average"], results[1]["components"]["text"], atol=1e-6)
        # The average of the full tweet is the normalised mean of its five components.
        mean = np.mean([results[0]["components"][c] for c in results[0]["components"]], axis=0)
        assert np.allclose(results[0]["average"], mean / np.linalg.norm(mean), atol=1e-5)


async def test_embed_hashtags_come_from_the_text_when_not_given() -> None:
    async with running_app() as (_, client):
        body = (
            await client.post(
                "/embed",
                json={
                    "tweets": [
                        {"id": 1, "text": "a #Paris b"},
                        {"id": 2, "text": "a b", "hashtags": ["paris"]},
                    ]
                },
            )
        ).json()
        first, second = body["results"]
        assert first["present"]["hashtags"] and second["present"]["hashtags"]
        assert np.allclose(first["components"]["hashtags"], second["components"]["hashtags"])


async def test_embed_multipart_upload_equals_base64() -> None:
    image = png_bytes(colour=(10, 200, 10))
    async with running_app() as (_, client):
        request = {"tweets": [{"id": "a", "text": "picture"}, {"id": "b"}]}
        multipart = await client.post(
            "/embed",
            data={"request": json.dumps(request)},
            files={"image_0": ("a.png", image, "image/png"), "image_1": ("b.png", image, "image/png")},
        )
        assert multipart.status_code == 200, multipart.text
        as_json = await client.post(
            "/embed", json={"tweets": [{"id": "a", "text": "picture", "image_base64": b64(image)}]}
        )
        up, via_json = multipart.json()["results"][0], as_json.json()["results"][0]
        assert up["present"]["image"] and np.allclose(
            up["components"]["image"], via_json["components"]["image"]
        )
        assert multipart.json()["results"][1]["present"]["image"]


async def test_embed_multipart_errors_name_the_field() -> None:
    async with running_app() as (_, client):
        no_request = await client.post("/embed", files={"image_0": ("a.png", png_bytes(), "image/png")})
        assert no_request.status_code == 422 and "request" in error_of(no_request)["message"]
        stray = await client.post(
            "/embed",
            data={"request": json.dumps({"tweets": [{"id": 1, "text": "x"}]})},
            files={"image_5": ("a.png", png_bytes(), "image/png")},
        )
        assert stray.status_code == 422 and "image_5" in error_of(stray)["message"]
        bad = await client.post(
            "/embed",
            data={"request": json.dumps({"tweets": [{"id": 1}]})},
            files={"image_0": ("a.txt", b"not an image", "text/plain")},
        )
        assert bad.status_code == 422 and error_of(bad)["type"] == "invalid_image"
        assert "image_0" in error_of(bad)["message"]
        broken_json = await client.post(
            "/embed", data={"request": "{nope"}, files={"image_0": ("a.png", png_bytes(), "image/png")}
        )
        assert broken_json.status_code == 400 and error_of(broken_json)["type"] == "malformed_json"


async def test_recommend_hashtags_single_and_batch() -> None:
    async with running_app() as (_, client):
        single = await client.post(
            "/recommend-hashtags", json={"tweet": {"id": 1, "text": "music #love"}, "k": 3}
        )
        assert single.status_code == 200, single.text
        tags = single.json()["results"][0]["hashtags"]
        assert len(tags) == 3 and "love" not in [t["hashtag"] for t in tags]  # own hashtag excluded
        scores = [t["score"] for t in tags]
        assert scores == sorted(scores, reverse=True)
        kept = await client.post(
            "/recommend-hashtags", json={"tweet": {"id": 1, "text": "#love"}, "k": 20, "exclude_own": False}
        )
        assert "love" in [t["hashtag"] for t in kept.json()["results"][0]["hashtags"]]
        batch = await client.post(
            "/recommend-hashtags", json={"tweets": [{"id": 1, "text": "a"}, {"id": 2, "text": "b"}], "k": 2}
        )
        assert [r["id"] for r in batch.json()["results"]] == ["1", "2"]


async def test_predict_location_uses_the_profile_location() -> None:
    async with running_app() as (_, client):
        response = await client.post(
            "/predict-location",
            json={
                "tweets": [
                    {"id": 1, "text": "lovely day", "user_location": "Tokyo"},
                    {"id": 2, "text": "lovely day"},
                ],
                "k": 4,
            },
        )
        assert response.status_code == 200, response.text
        with_profile, without = response.json()["results"]
        assert (
            with_profile["places"][0]["place_id"] == "p-tokyo"
            and with_profile["places"][0]["name"] == "Tokyo"
        )
        probs = [p["probability"] for p in without["places"]]
        assert abs(sum(probs) - 1) < 1e-5 and probs == sorted(probs, reverse=True)
        assert (
            with_profile["places"][0]["probability"] > without["places"][0]["probability"]
            or without["places"][0]["place_id"] != "p-tokyo"
        )


async def test_bot_score_from_stored_tweets() -> None:
    async with running_app() as (_, client):
        missing = await client.get("/bot-score/nobody")
        assert missing.status_code == 404 and error_of(missing)["type"] == "user_not_found"
        repeat = [{"id": i, "text": "buy cheap followers now"} for i in range(5)]
        stored = await client.post("/users/spammer/tweets", json={"tweets": repeat})
        assert stored.status_code == 201 and stored.json() == {"user": "spammer", "stored": 5, "total": 5}
        varied = [
            {"id": i, "text": text}
            for i, text in enumerate(
                ["coffee this morning", "the match was great", "new song out", "rain again in london"]
            )
        ]
        assert (await client.post("/users/human/tweets", json={"tweets": varied})).status_code == 201
        bot = (await client.get("/bot-score/spammer")).json()
        human = (await client.get("/bot-score/human")).json()
        assert bot["label"] == "bot" and human["label"] == "human" and bot["score"] > human["score"]
        assert 0 <= human["score"] <= 1 and bot["tweets_used"] == 5
        for answer in (bot, human):  # the label is the service's reading of the head's threshold
            assert answer["label"] == ("bot" if answer["score"] >= answer["threshold"] else "human")
        assert (await client.get("/bot-score/spammer", params={"n": 2})).json()["tweets_used"] == 2


async def test_store_is_capped_at_n_and_checks_the_user() -> None:
    async with running_app(store_max_tweets=3) as (_, client):
        tweets = [{"id": i, "text": f"tweet {i}"} for i in range(5)]
        assert (await client.post("/users/carol/tweets", json={"tweets": tweets})).json()["total"] == 3
        mismatch = await client.post(
            "/users/carol/tweets", json={"tweets": [{"id": 1, "text": "x", "user_id": "bob"}]}
        )
        assert mismatch.status_code == 422 and "tweets[0].user_id" in error_of(mismatch)["message"]


async def test_embed_store_true_feeds_the_bot_score() -> None:
    async with running_app() as (_, client):
        no_user = await client.post("/embed", json={"tweets": [{"id": 1, "text": "x"}], "store": True})
        assert no_user.status_code == 422 and "user_id" in error_of(no_user)["message"]
        response = await client.post(
            "/embed",
            json={
                "store": True,
                "tweets": [
                    {"id": 1, "text": "a", "user_id": "dave"},
                    {"id": 2, "text": "b", "user_id": "dave"},
                    {"id": 3, "text": "c", "user_id": "erin"},
                ],
            },
        )
        assert response.json()["stored"] == 3
        assert (await client.get("/bot-score/dave")).json()["tweets_used"] == 2
        assert (await client.get("/bot-score/erin")).json()["tweets_used"] == 1


async def test_search_images_and_texts() -> None:
    async with running_app() as (_, client):
        for path in ("/search/images", "/search/texts"):
            response = await client.post(
                path, json={"tweets": [{"id": 1, "text": "music tweet 0"}, {"id": 2, "text": "x"}], "k": 5}
            )
            assert response.status_code == 200, response.text
            hits = response.json()["results"][0]["hits"]
            assert len(hits) == 5 and all(h["id"].startswith("train-") for h in hits)
            assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
        # The fake text index holds "music tweet 0" as train-0: the same text must come first.
        texts = await client.post("/search/texts", json={"tweet": {"id": 1, "text": "music tweet 0"}, "k": 1})
        assert texts.json()["results"][0]["hits"][0] == {
            "id": "train-0",
            "score": pytest.approx(1.0, abs=1e-5),
        }
        # Asking only for a component the tweet lacks gives no query rows, hence no hits.
        none = await client.post(
            "/search/images", json={"tweet": {"id": 1, "text": "x"}, "components": ["image"]}
        )
        assert none.json()["results"][0]["hits"] == []


async def test_openai_embeddings_shape() -> None:
    async with running_app() as (_, client):
        response = await client.post(
            "/v1/embeddings", json={"input": ["good morning #coffee", "hi"], "model": "tweetembed"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["object"] == "list" and body["model"] == "tweetembed"
        assert [d["index"] for d in body["data"]] == [0, 1] and body["data"][0]["object"] == "embedding"
        assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
        same = (await client.post("/embed", json={"tweet": {"id": 0, "text": "good morning #coffee"}})).json()
        assert np.allclose(body["data"][0]["embedding"], same["results"][0]["average"], atol=1e-6)
        b64_response = (
            await client.post("/v1/embeddings", json={"input": "hi", "encoding_format": "base64"})
        ).json()
        decoded = np.frombuffer(base64.b64decode(b64_response["data"][0]["embedding"]), np.float32)
        assert np.allclose(decoded, body["data"][1]["embedding"], atol=1e-6)
        wrong_dim = await client.post("/v1/embeddings", json={"input": "hi", "dimensions": 7})
        assert wrong_dim.status_code == 422 and "dimensions" in error_of(wrong_dim)["message"]


async def test_metrics_count_requests_batches_and_cache() -> None:
    async with running_app() as (_, client):
        for _ in range(2):
            await client.post("/embed", json={"tweet": {"id": 1, "text": "same text"}})
        await client.get("/bot-score/nobody")
        text = (await client.get("/metrics")).text
        assert 'tweetembed_requests_total{endpoint="/embed",method="POST",status="200"} 2.0' in text
        assert 'tweetembed_requests_total{endpoint="/bot-score/{user}",method="GET",status="404"} 1.0' in text
        assert 'tweetembed_request_latency_seconds_count{endpoint="/embed"} 2.0' in text
        assert "tweetembed_batch_size_count 1.0" in text  # the second request was a cache hit
        assert 'tweetembed_cache_lookups_total{result="hit"} 1.0' in text
        assert "tweetembed_cache_hit_rate 0.5" in text
        assert "tweetembed_queue_depth 0.0" in text


async def test_cache_hit_skips_the_forward_pass_and_returns_equal_vectors() -> None:
    backend = FakeBackend()
    async with running_app(backend) as (_, client):
        tweet = {
            "id": 1,
            "text": "cached #tag",
            "user_id": "alice",
            "place_id": "p-atlantis",
            "image_base64": b64(png_bytes()),
        }
        first = (await client.post("/embed", json={"tweet": tweet})).json()["results"][0]
        second = (await client.post("/embed", json={"tweet": {**tweet, "id": 2}})).json()["results"][0]
        assert backend.batch_sizes == [1]
        assert first["present"] == second["present"] and second["present"]["location"] is False
        for c in first["components"]:
            assert np.allclose(first["components"][c], second["components"][c])
        assert np.allclose(first["average"], second["average"], atol=1e-6)


async def test_cache_can_be_disabled() -> None:
    backend = FakeBackend()
    async with running_app(backend, cache_enabled=False) as (_, client):
        for _ in range(2):
            await client.post("/embed", json={"tweet": {"id": 1, "text": "x"}})
        assert backend.batch_sizes == [1, 1]
