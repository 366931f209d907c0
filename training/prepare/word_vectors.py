"""fastText word vectors for the text branch's embedding layer and for hashtags.

The model is kept as a fastText ``.bin`` (with its subword buckets), not as a table of words:
inference must embed words and hashtags never seen in training, which fastText does from
character n-grams. Hashtags enter the corpus as lower-cased words without '#', so the vector of
hashtag ``#Paris`` is ``model.get_word_vector("paris")``.

Note: fastText with more than one thread is not byte-for-byte deterministic (Hogwild updates);
``threads=1`` is. The Python API of the unsupervised trainer has no seed argument; fastText
uses its fixed internal seed, so --seed does not change the word vectors.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from model.record import Tweet
from model.tokenizer import tokenize

MIN_BUCKET, MAX_BUCKET = 20_000, 2_000_000
NAN_RETRIES = 3


class WordVectorError(ValueError):
    """Word vectors cannot be trained or the given ones cannot be used."""


def corpus_words(tweet: Tweet) -> list[str]:
    """The words fastText trains on for one tweet: body tokens, then its hashtags as words."""
    words = tokenize(tweet.text) if tweet.text else []
    words.extend(tag.lower() for tag in tweet.hashtags)
    return words


def bucket_size(distinct_words: int) -> int:
    # fastText's default 2M buckets make a ~400 MB model even for a tiny corpus; n-gram buckets
    # scale with the vocabulary instead (measured: 100k buckets -> 21 MB at dim 50).
    return min(MAX_BUCKET, max(MIN_BUCKET, 20 * distinct_words))


def write_corpus(tweets: Iterable[Tweet], path: Path) -> tuple[int, int]:
    """One line per tweet; returns (lines, distinct words)."""
    distinct: set[str] = set()
    lines = 0
    with path.open("w", encoding="utf-8") as handle:
        for tweet in tweets:
            words = corpus_words(tweet)
            if words:
                handle.write(" ".join(words) + "\n")
                distinct.update(words)
                lines += 1
    return lines, len(distinct)


def train_word_vectors(
    tweets: Iterable[Tweet],
    out_path: Path,
    dim: int,
    *,
    epochs: int = 5,
    min_count: int = 2,
    threads: int = 2,
    verbose: bool = True,
) -> dict[str, Any]:
    """Train a skipgram fastText model on the tweets' words and save it as ``out_path`` (.bin)."""
    import fasttext

    corpus = out_path.with_name(out_path.name + ".corpus.txt")
    try:
        lines, distinct = write_corpus(tweets, corpus)  # the caller's stream carries the progress bar
        if lines == 0:
            raise WordVectorError("the training split has no text or hashtags to train word vectors on")
        bucket = bucket_size(distinct)
        if verbose:
            print(
                f"fastText skipgram: {lines} lines, {distinct} distinct words, dim {dim}, "
                f"bucket {bucket}, {epochs} epochs, {threads} threads"
            )
        # Every try trains the same model; only the learning rate, threads and output differ.
        skipgram: dict[str, Any] = {
            "model": "skipgram",
            "dim": dim,
            "minn": 3,
            "maxn": 6,
            "bucket": bucket,
            "epoch": epochs,
            "minCount": min_count,
        }
        model = None
        for attempt in range(1, NAN_RETRIES + 1):
            # A retry halves fastText's learning rate (0.05 by default) and trains on one thread:
            # "Encountered NaN" comes from diverging updates, and a retry with the same settings
            # diverged again (three times in one CI run).
            lr, run_threads = 0.05 / 2 ** (attempt - 1), threads if attempt == 1 else 1
            try:
                model = fasttext.train_unsupervised(
                    str(corpus),
                    **skipgram,
                    lr=lr,
                    thread=run_threads,
                    verbose=2 if verbose else 0,  # fastText's own progress line
                )
                break
            except RuntimeError as error:
                # fastText builds for numpy 2 now and then abort with "Encountered NaN" on tiny corpora
                # (seen in this project's tests, not reproducible on demand).
                if "NaN" in str(error) and attempt < NAN_RETRIES:
                    print(
                        f"fastText: {error}; retrying ({attempt}/{NAN_RETRIES - 1}) "
                        f"with lr {lr / 2:g} on one thread"
                    )
                    continue
                if "NaN" not in str(error):
                    raise WordVectorError(f"fastText training failed: {error}") from error
                # Every in-process retry diverged: seen only in long-lived processes (the test suite),
                # never with the same corpus and settings in a fresh one, so the last try is a fresh one.
                print(f"fastText: {error}; a last try in a fresh process")
                model = _train_in_fresh_process(
                    corpus,
                    out_path.with_name(out_path.name + ".fresh"),
                    {**skipgram, "lr": lr, "thread": 1, "verbose": 0},
                )
                attempt += 1
                break
        assert model is not None
        tmp = out_path.with_name(out_path.name + ".tmp")
        model.save_model(str(tmp))
        tmp.replace(out_path)
        return {
            "source": "trained",
            "dim": dim,
            "words": len(model.words),
            "bucket": bucket,
            "corpus_lines": lines,
            "attempts": attempt,
        }
    finally:
        corpus.unlink(missing_ok=True)


def _train_in_fresh_process(corpus: Path, model_path: Path, args: dict[str, Any]) -> Any:
    """fastText trained on ``corpus`` in a new Python process, saved to ``model_path`` and loaded."""
    import json
    import subprocess
    import sys

    import fasttext

    script = (
        "import json, sys, fasttext; a = json.loads(sys.argv[3]); "
        "fasttext.train_unsupervised(sys.argv[1], **a).save_model(sys.argv[2])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(corpus), str(model_path), json.dumps(args)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise WordVectorError(f"fastText training failed in a fresh process too: {tail[0]}")
    try:
        return fasttext.load_model(str(model_path))
    finally:
        model_path.unlink(missing_ok=True)


_FASTTEXT_MAGIC = 793712314  # first int32 of every fastText .bin


def fasttext_bin_dim(path: Path) -> int:
    """The dimension stored in a fastText .bin header, read without loading the (large) model."""
    import struct

    if not path.is_file():
        raise WordVectorError(f"--word-vectors {path}: no such file")
    with path.open("rb") as handle:
        header = handle.read(12)
    if len(header) < 12 or struct.unpack("<i", header[:4])[0] != _FASTTEXT_MAGIC:
        raise WordVectorError(
            f"--word-vectors {path}: not a fastText .bin model; a .vec text file has no "
            "subwords, so unseen words and hashtags could not be embedded"
        )
    # Layout: magic, version, then the training args starting with dim.
    return int(struct.unpack("<i", header[8:12])[0])


def load_pretrained_dim(path: Path) -> int:
    """The dimension of a pretrained fastText .bin; raises WordVectorError if it is not one."""
    import fasttext

    if not path.is_file():
        raise WordVectorError(f"--word-vectors {path}: no such file")
    try:
        model = fasttext.load_model(str(path))
    except ValueError as error:
        raise WordVectorError(
            f"--word-vectors {path}: not a fastText .bin model ({error}); a .vec text file has no "
            "subwords, so unseen words and hashtags could not be embedded"
        ) from error
    return int(model.get_dimension())


def copy_pretrained(path: Path, out_path: Path, dim: int) -> dict[str, Any]:
    """Check a pretrained fastText .bin has dimension ``dim`` and copy it to ``out_path``."""
    found = load_pretrained_dim(path)
    if found != dim:
        raise WordVectorError(
            f"--word-vectors {path} has dimension {found}, but word_dim is {dim}; pass --word-dim {found}"
        )
    tmp = out_path.with_name(out_path.name + ".tmp")
    shutil.copyfile(path, tmp)
    tmp.replace(out_path)
    return {"source": str(path.resolve()), "dim": dim}
