"""The naive server the service's batching is compared with: the same checkpoint and the same /embed
request and response bodies, but one request -> one forward pass, with no queue, no batching and no
cache. The endpoint is a plain ``def``, so FastAPI runs each request's forward pass in its thread pool,
concurrently with the others, as a straightforward server would.

    python -m bench.naive_server CKPT --port 8001
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from app.api.routes.embed import embed_result
from app.api.schemas import EmbedRequest, EmbedResponse
from app.api.tweets import decode_items, field_names
from app.settings import load_settings
from model.embedder import TweetEmbedder


def create_naive_app(checkpoint: Path) -> FastAPI:
    embedder = TweetEmbedder.load(checkpoint, device="cpu")
    settings = load_settings(checkpoint=checkpoint)
    components = tuple(embedder.config.components)
    app = FastAPI(title="naive tweetembed")

    @app.get("/ready")
    def ready() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/embed", response_model=EmbedResponse)
    def embed(body: EmbedRequest) -> EmbedResponse:
        items = body.items()
        inputs = decode_items(items, field_names(len(items), body.tweet is not None), settings)
        out = embedder.embed(
            [it.tweet for it in inputs], [it.image.pixels if it.image else None for it in inputs]
        )
        return EmbedResponse(
            model=embedder.checkpoint_digest,
            dim=embedder.config.dim,
            results=[
                embed_result(it.tweet.id, components, out.components, out.present, out.average, i)
                for i, it in enumerate(inputs)
            ],
            stored=0,
        )

    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(create_naive_app(args.checkpoint), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
