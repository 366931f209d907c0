"""MiniLM sentence features of every tweet text, every tweet's hashtags and every place text,
computed once in ``prepare`` (the encoder is frozen, so training only needs its outputs).

Layout under WORK/text_features/ (names in training/artifacts.py; float16 ``.npy`` matrices, rows
parallel to the id lists):
  {split}.npy + {split}_ids.json                  the tweet body (``sentence_text``), tweets that have one
  hashtags_{split}.npy + hashtags_{split}_ids.json  the tweet's hashtags as one sentence
  places.npy + places_index.json                  the neighbour texts of places.json, in its order;
                                                  index: {place_id: [first row, rows]}
  profiles.npy + profiles.json                    each distinct profile location (``sentence_text``
                                                  of it), for the location head's profile input
Identical strings are encoded once (retweets and repeated hashtag sets are common).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from model.record import Tweet
from model.text_encoders import MINILM, MiniLMEncoder, has_sentence, hashtag_sentence, sentence_text
from training.artifacts import PLACE_TEXT_FEATURES, PROFILE_FEATURES, feature_pair


def compute_text_features(
    tweets_by_split: Mapping[str, Iterable[Tweet]],
    places_path: Path,
    out_dir: Path,
    *,
    device: str = "cpu",
    threads: int = 2,
    batch_size: int = 64,
    verbose: bool = True,
) -> dict[str, Any]:
    import torch
    from tqdm import tqdm

    torch.set_num_threads(threads)
    bodies: dict[str, list[tuple[str, str]]] = {}  # split -> (tweet id, text)
    tags: dict[str, list[tuple[str, str]]] = {}
    profiles: set[str] = set()
    for split, tweets in tweets_by_split.items():
        bodies[split], tags[split] = [], []
        for tweet in tweets:
            if tweet.user_location and tweet.user_location.strip():
                profiles.add(sentence_text(tweet.user_location.strip()))
            if has_sentence(tweet.text):
                bodies[split].append((tweet.id, sentence_text(tweet.text)))
            if tweet.hashtags:
                tags[split].append((tweet.id, hashtag_sentence(tweet.hashtags)))
    places = json.loads(places_path.read_text(encoding="utf-8")) if places_path.is_file() else {}
    place_texts: list[str] = []
    index: dict[str, list[int]] = {}
    for place_id, entry in places.items():
        texts = [sentence_text(t) for t in entry.get("texts") or [] if t]
        index[place_id] = [len(place_texts), len(texts)]
        place_texts += texts

    distinct = sorted(
        {t for rows in bodies.values() for _, t in rows}
        | {t for rows in tags.values() for _, t in rows}
        | set(place_texts)
        | profiles
    )
    encoder = MiniLMEncoder(device=device, batch_size=batch_size)
    vectors = np.zeros((len(distinct), encoder.dim), np.float16)
    chunk = batch_size * 16
    with tqdm(total=len(distinct), desc="MiniLM features", unit=" texts", disable=not verbose) as bar:
        for start in range(0, len(distinct), chunk):
            part = distinct[start : start + chunk]
            vectors[start : start + len(part)] = encoder.encode(part).astype(np.float16)
            bar.update(len(part))
    row = {t: i for i, t in enumerate(distinct)}

    out_dir.mkdir(parents=True, exist_ok=True)

    def write(stem: str, pairs: list[tuple[str, str]]) -> None:
        matrix = vectors[[row[t] for _, t in pairs]] if pairs else np.zeros((0, encoder.dim), np.float16)
        matrix_path, ids_path = feature_pair(out_dir, stem)
        np.save(matrix_path, matrix)
        ids_path.write_text(json.dumps([tid for tid, _ in pairs]), encoding="utf-8")

    for split in bodies:
        write(split, bodies[split])
        write(f"hashtags_{split}", tags[split])
    places_matrix = (
        vectors[[row[t] for t in place_texts]] if place_texts else np.zeros((0, encoder.dim), np.float16)
    )
    np.save(out_dir / PLACE_TEXT_FEATURES[0], places_matrix)
    (out_dir / PLACE_TEXT_FEATURES[1]).write_text(json.dumps(index), encoding="utf-8")
    profile_list = sorted(profiles)
    np.save(
        out_dir / PROFILE_FEATURES[0],
        vectors[[row[t] for t in profile_list]] if profile_list else np.zeros((0, encoder.dim), np.float16),
    )
    (out_dir / PROFILE_FEATURES[1]).write_text(json.dumps(profile_list), encoding="utf-8")
    return {
        "encoder": MINILM.record(),
        "distinct_texts": len(distinct),
        "texts": {s: len(v) for s, v in bodies.items()},
        "hashtags": {s: len(v) for s, v in tags.items()},
        "place_texts": len(place_texts),
        "profiles": len(profile_list),
    }
