"""Every limit and bad input gives its status and the one error shape."""

from __future__ import annotations

import pytest

from app.api.errors import ERROR_STATUS
from tests.app_fixtures import b64, error_of, png_bomb, png_bytes, running_app

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize(
    ("body", "status", "kind", "field"),
    [
        ({"tweets": []}, 422, "validation_error", "'tweets' is empty"),
        ({}, 422, "validation_error", "exactly one"),
        (
            {"tweet": {"id": 1, "text": "x"}, "tweets": [{"id": 2, "text": "y"}]},
            422,
            "validation_error",
            "exactly one",
        ),
        ({"tweets": [{"id": 1}]}, 422, "validation_error", "needs 'text' or 'image_base64'"),
        ({"tweets": [{"id": [1], "text": "x"}]}, 422, "validation_error", "tweets[0].id"),
        ({"tweets": [{"id": 1, "text": 5}]}, 422, "validation_error", "tweets[0].text"),
        ({"tweets": [{"id": 1, "text": "x", "lat": 91}]}, 422, "validation_error", "tweets[0].lat"),
        ({"tweets": [{"id": 1, "text": "x", "colour": "red"}]}, 422, "validation_error", "tweets[0].colour"),
        ({"tweets": "not a list"}, 422, "validation_error", "tweets"),
        ([1, 2], 422, "validation_error", ""),
        (
            {"tweets": [{"id": 1, "text": "x", "image_base64": "%%%not base64%%%"}]},
            422,
            "invalid_image",
            "tweets[0].image_base64",
        ),
        (
            {"tweets": [{"id": 1, "text": "x"}, {"id": 2, "image_base64": b64(b"GIF89a but not really")}]},
            422,
            "invalid_image",
            "tweets[1].image_base64",
        ),
        (
            {"tweets": [{"id": 1, "image_base64": b64(png_bytes()[:40])}]},
            422,
            "invalid_image",
            "tweets[0].image_base64",
        ),
        (
            {"tweets": [{"id": 1, "text": "x", "image_base64": b64(png_bomb())}]},
            413,
            "image_too_large",
            "tweets[0].image_base64",
        ),
        ({"tweet": {"id": 1, "text": "x" * 2001}}, 422, "validation_error", "tweet.text"),
        (
            {"tweet": {"id": 1, "text": "x", "hashtags": [f"t{i}" for i in range(31)]}},
            422,
            "validation_error",
            "tweet.hashtags",
        ),
        ({"tweets": [{"id": i, "text": "x"} for i in range(65)]}, 413, "batch_too_large", "65 tweets"),
    ],
)
async def test_bad_embed_bodies(body: object, status: int, kind: str, field: str) -> None:
    async with running_app() as (_, client):
        response = await client.post("/embed", json=body)
        assert response.status_code == status, response.text
        error = error_of(response)
        assert error["type"] == kind and ERROR_STATUS[kind] == status
        assert field in error["message"]


async def test_decompression_bomb_under_pil_limit_is_refused_by_our_pixel_limit() -> None:
    # 6000 x 6000 = 36 M pixels: below PIL's own bomb threshold, above the configured limit.
    async with running_app(max_image_pixels=1_000_000) as (_, client):
        response = await client.post(
            "/embed", json={"tweet": {"id": 1, "image_base64": b64(png_bomb(6000, 6000))}}
        )
        assert response.status_code == 413 and "6000x6000" in error_of(response)["message"]


async def test_image_byte_limit() -> None:
    big = png_bytes(300, 300)
    async with running_app(max_image_bytes=len(big) - 1) as (_, client):
        response = await client.post("/embed", json={"tweet": {"id": 1, "image_base64": b64(big)}})
        assert response.status_code == 413 and error_of(response)["type"] == "image_too_large"
        ok = await client.post("/embed", json={"tweet": {"id": 1, "image_base64": b64(png_bytes(4, 4))}})
        assert ok.status_code == 200


async def test_malformed_json_is_400() -> None:
    async with running_app() as (_, client):
        for path in ("/embed", "/recommend-hashtags", "/v1/embeddings", "/users/bob/tweets"):
            response = await client.post(
                path, content=b'{"tweets": [', headers={"content-type": "application/json"}
            )
            assert response.status_code == 400, (path, response.text)
            assert error_of(response)["type"] == "malformed_json"


async def test_body_limit_with_and_without_content_length() -> None:
    async with running_app(max_body_bytes=2048, max_image_bytes=1024) as (_, client):
        big = {"tweet": {"id": 1, "text": "x" * 4000}}
        response = await client.post("/embed", json=big)
        assert response.status_code == 413 and error_of(response)["type"] == "body_too_large"

        async def chunks():  # no Content-Length: a chunked upload must be cut off too
            for _ in range(10):
                yield b" " * 1000

        chunked = await client.post(
            "/predict-location", content=chunks(), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 413 and error_of(chunked)["type"] == "body_too_large"


async def test_wrong_content_type_is_415() -> None:
    async with running_app() as (_, client):
        response = await client.post(
            "/recommend-hashtags",
            content=b"tweet=hello",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 415 and "application/json" in error_of(response)["message"]
        multipart_elsewhere = await client.post(
            "/predict-location", files={"image_0": ("a.png", png_bytes())}
        )
        assert multipart_elsewhere.status_code == 415


async def test_unknown_route_and_wrong_method_have_the_error_shape() -> None:
    async with running_app() as (_, client):
        missing = await client.get("/no/such/thing")
        assert missing.status_code == 404 and error_of(missing)["type"] == "not_found"
        wrong = await client.delete("/embed")
        assert wrong.status_code == 405 and error_of(wrong)["type"] == "method_not_allowed"


async def test_k_and_query_limits() -> None:
    async with running_app(max_k=10) as (_, client):
        too_many = await client.post("/recommend-hashtags", json={"tweet": {"id": 1, "text": "x"}, "k": 11})
        assert too_many.status_code == 422 and "k" in error_of(too_many)["message"]
        zero = await client.post("/predict-location", json={"tweet": {"id": 1, "text": "x"}, "k": 0})
        assert zero.status_code == 422 and "k" in error_of(zero)["message"]
        bad_n = await client.get("/bot-score/alice", params={"n": "many"})
        assert bad_n.status_code == 422 and "n" in error_of(bad_n)["message"]


async def test_missing_head_is_503() -> None:
    from app.engine.fake_backend import FakeBackend

    async with running_app(FakeBackend(heads=("hashtags",))) as (_, client):
        response = await client.post("/predict-location", json={"tweet": {"id": 1, "text": "x"}})
        assert response.status_code == 503 and error_of(response)["type"] == "head_unavailable"
        assert (await client.get("/bot-score/alice")).status_code == 503
        assert (
            await client.post("/recommend-hashtags", json={"tweet": {"id": 1, "text": "x"}})
        ).status_code == 200


async def test_openai_input_errors() -> None:
    async with running_app() as (_, client):
        for body in ({"input": []}, {"input": [""]}, {"input": [1, 2, 3]}, {"model": "x"}):
            response = await client.post("/v1/embeddings", json=body)
            assert response.status_code == 422, (body, response.text)
            error_of(response)


async def test_every_error_type_has_a_status_from_the_table() -> None:
    from app.api.errors import ApiError

    assert set(ERROR_STATUS.values()) <= {400, 401, 404, 405, 408, 413, 415, 422, 429, 500, 503}
    with pytest.raises(ValueError, match="unknown error type"):
        ApiError("teapot", "no")


async def test_deeply_nested_json_is_a_client_error() -> None:
    async with running_app() as (_, client):
        for path in ("/embed", "/recommend-hashtags"):
            response = await client.post(
                path, content=b"[" * 100_000, headers={"content-type": "application/json"}
            )
            assert response.status_code == 400, (path, response.text)
            error_of(response)


async def test_every_engine_error_has_one_http_type() -> None:
    """app/api/errors.py is the one map from the engine's domain errors to the error table."""
    from app.api.errors import ENGINE_ERRORS
    from app.engine import errors as engine_errors

    mapped = {cls for cls, _ in ENGINE_ERRORS}
    defined = {
        obj
        for obj in vars(engine_errors).values()
        if isinstance(obj, type)
        and issubclass(obj, engine_errors.EngineError)
        and obj is not engine_errors.EngineError
    }
    assert defined == mapped
    assert all(name in ERROR_STATUS for _, name in ENGINE_ERRORS)
