"""embed_all: an image shared by several tweets goes through the image branch once, and every
tweet's components, presence flags and average are the ones embedding each tweet on its own gives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from model.record import Tweet
from tests.heads_support import FakeEmbedder
from training.heads.embedding import embed_all


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.images = 0

    def embed(self, tweets: Sequence[Tweet], images: Any = None) -> Any:
        self.images += sum(1 for t in tweets if t.image)
        return super().embed(tweets, images)


def test_shared_images_are_embedded_once_with_the_same_rows() -> None:
    tweets = [
        Tweet(id=str(i), text=f"word{i % 3} town", image=image, user_id=f"u{i % 2}", hashtags=tags)
        for i, (image, tags) in enumerate(
            [
                ("/a.png", ("x",)),
                ("/a.png", ()),
                (None, ("y",)),
                ("/b.png", ()),
                ("/a.png", ("x",)),
                ("/c.png", ()),
            ]
        )
    ]
    plain = FakeEmbedder().embed(tweets)
    counting = CountingEmbedder()
    got = embed_all(counting, tweets, batch_size=2)
    assert counting.images == 3  # /a.png once, /b.png, /c.png
    for c in plain.components:
        np.testing.assert_allclose(got.components[c], plain.components[c], atol=1e-6)
        np.testing.assert_array_equal(got.present[c], plain.present[c])
    np.testing.assert_allclose(got.average, plain.average, atol=1e-6)
    # Without a shared image nothing changes: each tweet's image embedded as given.
    distinct = [t.with_image(f"/{t.id}.png") for t in tweets]
    counting = CountingEmbedder()
    np.testing.assert_allclose(embed_all(counting, distinct).average, FakeEmbedder().embed(distinct).average)
    assert counting.images == len(distinct)
