"""A tiny prepared WORK directory, built without ``tweetembed prepare``, for model and trainer tests.

Tweets belong to topics: a topic has its own words, hashtags, users, places and image colour, so a
model can learn that components of one tweet belong together. With ``unique=True`` every tweet also
gets its own word, hashtag and image pattern, so that each tweet is retrievable on its own (overfit test).
Reusable by other areas: ``build_work(tmp_path / "work")`` returns the WORK path.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

from model.record import Tweet
from model.tokenizer import Vocabulary

WORD_DIM = 16
USER_DIM = 8
IMAGE_SIZE = 16


def _image(path: Path, colour: tuple[int, int, int], rng: random.Random, pattern: int | None) -> None:
    pixels = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    pixels[:] = colour
    if pattern is not None:  # a per-tweet bright square at a position from the pattern number
        y, x = divmod(pattern % 16, 4)
        pixels[y * 4 : (y + 1) * 4, x * 4 : (x + 1) * 4] = (255 - colour[0], 255, (pattern * 37) % 256)
    noise = np.array([[rng.randint(-8, 8) for _ in range(3)] for _ in range(IMAGE_SIZE * IMAGE_SIZE)])
    pixels = np.clip(pixels.astype(int) + noise.reshape(IMAGE_SIZE, IMAGE_SIZE, 3), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)


def make_tweets(
    n: int, image_dir: Path, seed: int = 0, n_topics: int = 4, unique: bool = False, sparse: bool = True
) -> list[Tweet]:
    """``sparse``: some tweets lack an image, hashtags, a known user or a place, as real tweets do."""
    rng = random.Random(seed)
    image_dir.mkdir(parents=True, exist_ok=True)
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200)]
    tweets = []
    for i in range(n):
        topic = i % n_topics
        words = [f"t{topic}w{rng.randrange(8)}" for _ in range(5)] + (["u" + _word(i)] if unique else [])
        tags = [f"topic{topic}"] + ([f"tag{_word(i)}"] if unique else [])
        has_image = not sparse or rng.random() > 0.25
        has_tags = not sparse or rng.random() > 0.25
        image = None
        if has_image:
            image = str(image_dir / f"{i}.png")
            _image(Path(image), colours[topic % len(colours)], rng, i if unique else None)
        text = " ".join(words) + (" " + " ".join("#" + t for t in tags) if has_tags else "")
        text += f" @user{topic}x{rng.randrange(3)}"
        user = f"{topic * 10 + rng.randrange(3)}" if not sparse or rng.random() > 0.1 else None
        place = f"place{topic}" if not sparse or rng.random() > 0.2 else None
        tweets.append(
            Tweet(
                id=str(1000 + i),
                text=text,
                created_at=f"2020-03-0{1 + i % 8}T12:00:00Z",
                hashtags=tuple(tags) if has_tags else (),
                mentions=(f"user{topic}",),
                user_id=user,
                place_id=place,
                place_name=f"Place {topic}" if place else None,
                place_type="city" if place else None,
                lat=40.0 + topic if place else None,
                lon=-100.0 + topic if place else None,
                image=image,
            )
        )
    return tweets


def _word(i: int) -> str:
    # letters only, so the tokenizer keeps it one token and fastText subwords differ per tweet
    letters = "abcdefghijklmnopqrstuvwxyz"
    return letters[i % 26] + letters[(i // 26) % 26] + letters[(i // 676) % 26]


def train_word_vectors(corpus: Path, out: Path) -> None:
    """A tiny fastText model, trained in a child process.

    On corpora this small fastText often fails with "Encountered NaN", and once it has, every later
    training in the same process fails too (state inside the extension stays broken), so each try
    gets a fresh interpreter. Many epochs at a high rate: otherwise the vectors stay near zero.
    """
    code = (
        "import sys, fasttext\n"
        "m = fasttext.train_unsupervised(sys.argv[1], dim=int(sys.argv[3]), bucket=10000, minCount=1,\n"
        "                                epoch=int(sys.argv[4]), lr=0.1, thread=1, verbose=0)\n"
        "m.save_model(sys.argv[2])\n"
    )
    for attempt in range(10):
        result = subprocess.run(
            [sys.executable, "-c", code, str(corpus), str(out), str(WORD_DIM), str(100 + attempt)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode == 0 and out.is_file():
            return
    raise RuntimeError(f"fastText training kept failing: {result.stderr[-500:]}")


def build_work(
    work: Path,
    n_train: int = 96,
    n_val: int = 32,
    n_test: int = 16,
    seed: int = 0,
    n_topics: int = 4,
    unique: bool = False,
    sparse: bool = True,
    place_neighbours: int = 8,
    with_ids: bool = True,
) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    tweets = make_tweets(n_train + n_val + n_test, work / "images", seed, n_topics, unique, sparse)
    splits = {
        "train": tweets[:n_train],
        "val": tweets[n_train : n_train + n_val],
        "test": tweets[n_train + n_val :],
    }
    (work / "splits").mkdir(exist_ok=True)
    for name, part in splits.items():
        with open(work / "splits" / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for tweet in part:
                handle.write(json.dumps(tweet.to_flat()) + "\n")
    train = splits["train"]
    Vocabulary.build([t.text or "" for t in train], min_count=1).save(work / "vocab.json")

    corpus = work / "corpus.txt"
    lines = [(t.text or "").lower().replace("#", "") for t in train]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    train_word_vectors(corpus, work / "word_vectors.bin")
    corpus.unlink()

    rng = np.random.default_rng(seed)
    users = sorted({t.user_id for t in tweets if t.user_id})
    save_file(
        {"vectors": rng.standard_normal((len(users), USER_DIM)).astype(np.float32)},
        str(work / "user_vectors.safetensors"),
    )
    (work / "user_ids.json").write_text(json.dumps(users), encoding="utf-8")

    places: dict[str, dict[str, object]] = {}
    for tweet in train:
        if tweet.place_id is None:
            continue
        entry = places.setdefault(
            tweet.place_id,
            {
                "name": tweet.place_name,
                "type": tweet.place_type,
                "lat": tweet.lat,
                "lon": tweet.lon,
                "texts": [],
                "ids": [],
            },
        )
        texts, ids = entry["texts"], entry["ids"]
        assert isinstance(texts, list) and isinstance(ids, list)
        if len(texts) < place_neighbours:
            texts.append(tweet.text)
            ids.append(tweet.id)
    if not with_ids:
        for entry in places.values():
            entry.pop("ids")
    (work / "places.json").write_text(json.dumps(places), encoding="utf-8")
    (work / "prepare.json").write_text(
        json.dumps(
            {
                "word_dim": WORD_DIM,
                "user_dim": USER_DIM,
                "image_encoder": "convnet",
                "image_size": IMAGE_SIZE,
                "place_neighbours": place_neighbours,
                "counts": {k: len(v) for k, v in splits.items()},
            }
        ),
        encoding="utf-8",
    )
    return work
