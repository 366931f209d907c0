"""What a hostile client found (issue 11): a 500 from one long integer, internals in 503 messages,
validation that disagreed with the schema, and rules that differed between endpoints."""

from __future__ import annotations

import pytest

from app.settings import SettingsError, load_settings
from bench.service_proc import free_port
from tests.app_fixtures import b64, error_of, png_bomb, running_app

pytestmark = pytest.mark.asyncio

TWEET_ENDPOINTS = ("/embed", "/recommend-hashtags", "/predict-location", "/search/texts", "/users/bob/tweets")
ALL_BODY_ENDPOINTS = (*TWEET_ENDPOINTS, "/v1/embeddings")
LONG_INT = "1" * 5000  # past Python's 4,300-digit int conversion limit


async def test_a_huge_integer_anywhere_is_422_not_500() -> None:
    async with running_app() as (_, client):
        bodies = {
            "id": '{"tweets": [{"id": ' + LONG_INT + ', "text": "x"}]}',
            "k": '{"tweet": {"id": 1, "text": "x"}, "k": ' + LONG_INT + "}",
            "extra": '{"tweets": [{"id": 1, "text": "x"}], "junk": [' + LONG_INT + "]}",
        }
        for path in ALL_BODY_ENDPOINTS:
            for name, raw in bodies.items():
                response = await client.post(path, content=raw, headers={"content-type": "application/json"})
                assert response.status_code == 422, (path, name, response.status_code, response.text[:200])
                assert error_of(response)["type"] == "validation_error"
        multipart = await client.post("/embed", files={"request": (None, bodies["id"])}, data={})
        assert multipart.status_code == 422, multipart.text[:200]
        assert error_of(multipart)["type"] == "validation_error"
        assert "multipart field 'request'" in error_of(multipart)["message"]
        # The connection and the service are fine afterwards.
        ok = await client.post("/embed", json={"tweet": {"id": 1, "text": "after"}})
        assert ok.status_code == 200


async def test_booleans_are_refused_as_ids_k_and_coordinates() -> None:
    async with running_app() as (_, client):
        cases = [
            ("/embed", {"tweet": {"id": True, "text": "x"}}, "tweet.id"),
            ("/embed", {"tweet": {"id": 1, "text": "x", "user_id": False}}, "tweet.user_id"),
            ("/embed", {"tweet": {"id": 1, "text": "x", "place_id": True}}, "tweet.place_id"),
            ("/embed", {"tweet": {"id": 1, "text": "x", "lat": True}}, "tweet.lat"),
            ("/embed", {"tweet": {"id": 1, "text": "x", "lon": False}}, "tweet.lon"),
            ("/embed", {"tweet": {"id": 1, "text": "x"}, "store": 1}, "store"),
            ("/recommend-hashtags", {"tweet": {"id": 1, "text": "x"}, "k": True}, "k"),
            ("/predict-location", {"tweet": {"id": 1, "text": "x"}, "k": "3"}, "k"),
            ("/v1/embeddings", {"input": "x", "dimensions": True}, "dimensions"),
        ]
        for path, body, field in cases:
            response = await client.post(path, json=body)
            assert response.status_code == 422, (path, body, response.text)
            assert field in error_of(response)["message"], (path, body, response.text)
        # JSON's integers still count as integers, whichever way they are written.
        ok = await client.post("/recommend-hashtags", json={"tweet": {"id": 7.0, "text": "x"}, "k": 2.0})
        assert ok.status_code == 200, ok.text
        assert ok.json()["results"][0]["id"] == "7" and len(ok.json()["results"][0]["hashtags"]) == 2


async def test_integer_ids_have_the_same_length_limit_as_strings() -> None:
    async with running_app() as (_, client):
        ok = await client.post("/embed", json={"tweet": {"id": int("9" * 128), "text": "x"}})
        assert ok.status_code == 200
        for field in ("id", "user_id", "place_id"):
            tweet = {"id": 1, "text": "x", field: int("1" * 129)}
            response = await client.post("/users/bob/tweets", json={"tweets": [tweet]})
            assert response.status_code == 422, (field, response.text)
            assert f"tweets[0].{field}" in error_of(response)["message"]


async def test_tweet_xor_tweets_and_non_empty_input_in_schema_and_server() -> None:
    async with running_app() as (app, client):
        schemas = app.openapi()["components"]["schemas"]
        for name in ("EmbedRequest", "HashtagRequest", "LocationRequest", "SearchRequest"):
            assert schemas[name]["oneOf"] == [{"required": ["tweet"]}, {"required": ["tweets"]}], name
            assert schemas[name]["properties"]["tweets"]["minItems"] == 1
            assert "anyOf" not in schemas[name]["properties"]["tweet"]  # an object, not "object or null"
        text, texts = schemas["OpenAIEmbeddingRequest"]["properties"]["input"]["anyOf"]
        assert text["minLength"] == 1 and texts["minItems"] == 1 and texts["items"]["minLength"] == 1
        assert schemas["HashtagRequest"]["properties"]["k"]["maximum"] == 100  # the configured max_k

        tweet = {"id": 1, "text": "x"}
        for body in (
            {"tweet": tweet, "tweets": [tweet]},
            {"tweet": None, "tweets": [tweet]},
            {"tweet": None},
        ):
            response = await client.post("/recommend-hashtags", json=body)
            assert response.status_code == 422, (body, response.text)
            assert "exactly one of 'tweet' or 'tweets'" in error_of(response)["message"]
        for body in ({"input": ""}, {"input": []}, {"input": ["a", ""]}):
            response = await client.post("/v1/embeddings", json=body)
            assert response.status_code == 422, (body, response.text)


async def test_invalid_json_and_empty_bodies_are_answered_alike_everywhere() -> None:
    async with running_app() as (_, client):
        for path in ALL_BODY_ENDPOINTS:
            for raw in (b'{"tweets": [', b"\xff\xfe", b"[" * 100_000):
                response = await client.post(path, content=raw, headers={"content-type": "application/json"})
                assert response.status_code == 400, (path, raw[:10], response.text[:200])
                assert error_of(response)["type"] == "malformed_json"
            for raw in (b"", b"  "):
                response = await client.post(path, content=raw, headers={"content-type": "application/json"})
                assert response.status_code == 422, (path, raw, response.text)
                assert error_of(response)["message"] == "request body: is empty; send a JSON object"


async def test_v1_embeddings_refuses_too_many_hashtags_like_the_tweet_endpoints() -> None:
    async with running_app(max_hashtags=3) as (_, client):
        text = "a #one #two #three #four"
        response = await client.post("/v1/embeddings", json={"input": ["fine #one", text]})
        assert response.status_code == 422
        assert error_of(response)["message"] == "input[1]: 4 hashtags exceeds the limit of 3"
        tweet = await client.post("/embed", json={"tweet": {"id": 1, "text": text}})
        assert tweet.status_code == 422
        assert error_of(tweet)["message"] == "tweet.hashtags: 4 hashtags exceeds the limit of 3"


async def test_trailing_slash_is_404_without_a_redirect_and_head_health_answers() -> None:
    async with running_app() as (_, client):
        for path in ("/embed/", "/health/", "/bot-score/bob/"):
            method = "POST" if path == "/embed/" else "GET"
            response = await client.request(
                method, path, json={"tweet": {"id": 1, "text": "x"}}, headers={"host": "evil.example"}
            )
            assert response.status_code == 404, (path, response.status_code)
            assert "location" not in response.headers
            assert error_of(response)["type"] == "not_found"
        for path in ("/health", "/ready"):
            head = await client.head(path)
            get = await client.get(path)
            assert head.status_code == get.status_code == 200, path
            assert head.headers["content-type"] == get.headers["content-type"]


async def test_redis_down_503_names_the_store_not_its_address() -> None:
    port = free_port()  # nothing listens there
    async with running_app(redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_s=0.2) as (_, client):
        stored = await client.post("/users/bob/tweets", json={"tweets": [{"id": 1, "text": "x"}]})
        scored = await client.get("/bot-score/bob")
        for response in (stored, scored):
            assert response.status_code == 503, response.text
            error = error_of(response)
            assert error["type"] == "store_unavailable"
            assert "recent-tweet store" in error["message"]
            for secret in ("127.0.0.1", str(port), "Error", "connecting", "LTRIM", "LRANGE", "tweetembed:"):
                assert secret not in error["message"], (secret, error["message"])


async def test_bomb_message_quotes_the_configured_limit_not_pils() -> None:
    async with running_app(max_image_pixels=1_234_567) as (_, client):
        response = await client.post("/embed", json={"tweet": {"id": 1, "image_base64": b64(png_bomb())}})
        assert response.status_code == 413
        message = error_of(response)["message"]
        assert "1234567" in message and "178956970" not in message, message


async def test_non_ascii_api_keys_are_refused_at_start_up() -> None:
    with pytest.raises(SettingsError, match=r"TWEETEMBED_API_KEYS: .*ASCII"):
        load_settings(fake_backend=True, api_keys="ключ-доступа-сервиса-1234")
    with pytest.raises(SettingsError, match=r"TWEETEMBED_API_KEYS: .*ASCII"):
        load_settings(fake_backend=True, api_keys="ok-key-0123456789abcdef,tab\there-0123456789")
    assert load_settings(fake_backend=True, api_keys="ok-key-0123456789abcdef~!").api_keys
