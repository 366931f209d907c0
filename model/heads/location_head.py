"""City prediction (paper, Fig. 8): a random forest over a tweet's non-location component
embeddings concatenated with the text-branch embedding of the author's profile location; heads fitted
since issue 12 also read hashed character n-grams of the profile-location text itself, and then
hashed word n-grams of the tweet's own text (LocationContext); heads fitted where authors tweet
more than once also read where the author tweeted from before (model.heads.author_history), as
evidence that updates the content prediction (author_posterior).

``location_features`` is the one feature builder, used to fit the head, to evaluate it and to
serve it, so the three can never disagree on the layout.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from model.heads.author_history import AUTHOR_PLACES_FILE, AuthorHistory

if TYPE_CHECKING:
    from model.embedding_batch import EmbeddingBatch
    from model.record import Tweet

FOREST_FILE = "location_forest.joblib"
LINEAR_FILE = "location_linear.npz"
META_FILE = "location.json"
FEATURE_COMPONENTS: tuple[str, ...] = ("text", "image", "hashtags", "user")
"""Every component but location itself, in the paper's order; absent ones become zeros + a flag."""
PROFILE_NGRAM_FEATURES = 4096
"""Width of the hashed character 2-4-gram block of the profile-location text that build-heads fits
(0 in heads fitted before it). A place name's spelling ("Conway, AR", "conway arkansas") is what the
text branch, trained to align tweet bodies, blurs most; hashing needs no fitted vocabulary, so the
service builds the block from the request alone and the head file stays plain arrays."""
TEXT_NGRAM_FEATURES = 4096
"""Width of the hashed word 1-2-gram block of the tweet's own text that build-heads fits (0 in heads
fitted before it). A place named in the tweet (a check-in app's "@ <place>" suffix, a local team or
street) is one sharp token there, while the embeddings spread it over every dimension; hashed for the
same reasons as the profile block."""


@dataclass(frozen=True)
class LocationContext:
    """Per tweet, what a location head may read besides the embeddings: the author's free-text
    profile location, the tweet's own text and the author's id (any may be None; ``author`` may be
    empty, meaning no tweet names its author)."""

    profile: Sequence[str | None]
    tweet: Sequence[str | None]
    author: Sequence[str | None] = ()

    @classmethod
    def of(cls, tweets: Sequence[Tweet]) -> LocationContext:
        return cls([t.user_location for t in tweets], [t.text for t in tweets], [t.user_id for t in tweets])

    def authors(self) -> list[str | None]:
        """One author id (or None) per tweet."""
        return list(self.author) if self.author else [None] * len(self.profile)


@dataclass(frozen=True)
class PlaceGuess:
    place_id: str
    name: str | None
    probability: float
    lat: float | None
    lon: float | None


def profile_char_ngrams(profile_locations: Sequence[str | None], n_features: int) -> NDArray[np.float32]:
    """(N, n_features): L2-normalised counts of the lower-cased profile location's character 2-4-grams
    (within words), hashed; a blank or missing profile is a zero row."""
    from sklearn.feature_extraction.text import HashingVectorizer

    hasher = HashingVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), n_features=n_features, alternate_sign=False, norm="l2"
    )
    texts = [(text or "").strip() for text in profile_locations]
    return np.asarray(hasher.transform(texts).toarray(), dtype=np.float32)


def tweet_word_ngrams(tweet_texts: Sequence[str | None], n_features: int) -> NDArray[np.float32]:
    """(N, n_features): L2-normalised counts of the lower-cased tweet text's word 1-2-grams, hashed;
    a missing text is a zero row."""
    from sklearn.feature_extraction.text import HashingVectorizer

    hasher = HashingVectorizer(
        analyzer="word", ngram_range=(1, 2), n_features=n_features, alternate_sign=False, norm="l2"
    )
    return np.asarray(hasher.transform([text or "" for text in tweet_texts]).toarray(), dtype=np.float32)


def location_features(
    batch: EmbeddingBatch,
    profile: NDArray[np.floating],
    profile_present: NDArray[np.bool_],
    components: Sequence[str] = FEATURE_COMPONENTS,
    texts: LocationContext | None = None,
    profile_ngrams: int = 0,
    text_ngrams: int = 0,
    author_block: NDArray[np.floating] | None = None,
) -> NDArray[np.float32]:
    """(N, (C+1)*dim + C + 1 [+ profile_ngrams] [+ P+1] [+ text_ngrams]): C component blocks, the
    profile block, C+1 presence flags, then the profile text's hashed char n-grams
    (profile_char_ngrams), ``author_block`` (AuthorHistory.block, where given) and the tweet text's
    hashed word n-grams (tweet_word_ngrams), each where its width is > 0. The tweet-text block stays
    last: build-heads may drop it (fit_location.choose_location_head's optional_tail).

    Absent parts are zero vectors; the flags let the forest tell "absent" from "small values".
    """
    if (profile_ngrams or text_ngrams) and texts is None:
        raise ValueError("this location head reads the profile-location and tweet texts: pass texts")
    n, dim = batch.average.shape
    blocks: list[NDArray[np.float32]] = []
    flags: list[NDArray[np.float32]] = []
    for name in components:
        if name in batch.components:
            present = np.asarray(batch.present[name], dtype=bool)  # (N,)
            vectors = np.asarray(batch.components[name], dtype=np.float32)  # (N, dim)
        else:
            present = np.zeros(n, dtype=bool)
            vectors = np.zeros((n, dim), dtype=np.float32)
        blocks.append(vectors * present[:, None])
        flags.append(present.astype(np.float32)[:, None])
    has_profile = np.asarray(profile_present, dtype=bool)  # (N,)
    blocks.append(np.asarray(profile, dtype=np.float32).reshape(n, dim) * has_profile[:, None])
    flags.append(has_profile.astype(np.float32)[:, None])
    extra: list[NDArray[np.float32]] = []
    if texts is not None and profile_ngrams:
        extra.append(profile_char_ngrams(texts.profile, profile_ngrams))
    if author_block is not None:
        extra.append(np.asarray(author_block, dtype=np.float32).reshape(n, -1))
    if texts is not None and text_ngrams:
        extra.append(tweet_word_ngrams(texts.tweet, text_ngrams))
    return np.ascontiguousarray(np.concatenate(blocks + flags + extra, axis=1), dtype=np.float32)


def author_posterior(
    proba: NDArray[np.floating], counts: NDArray[np.floating], content_weight: float
) -> NDArray[np.float64]:
    """(N, P): the content prediction updated by the author's earlier cities, as the posterior mean
    of a Dirichlet whose prior is the content prediction ``proba`` worth ``content_weight`` tweets:
    (counts + w * proba) / (sum(counts) + w). An unknown author (a zero row of ``counts``) keeps
    ``proba``; a small weight lets an author's habit decide (the rule "the author's most frequent
    city, else the content model" is the limit w -> 0), a large one lets the tweet decide.

    Why not a feature block of the author's shares inside the classifier (the heads fitted before
    this did that): a linear head must then learn, for every city apart, that "the author was here"
    points to that same city, from the few training authors of each city; here it is one number,
    chosen on the validation split."""
    if content_weight <= 0:
        raise ValueError("content_weight must be positive")
    n = np.asarray(counts, dtype=np.float64)  # (N, P)
    q = np.asarray(proba, dtype=np.float64)  # (N, P)
    return np.asarray((n + content_weight * q) / (n.sum(axis=1, keepdims=True) + content_weight))


def profile_inputs(
    profile_locations: Sequence[str | None],
    dim: int,
    embed_texts: Callable[[list[str]], NDArray[np.floating]] | None,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """(N, dim) profile block and (N,) its presence, as the service builds them for a request: a
    non-blank profile location goes through the text branch (``embed_texts``; None where the model has
    none, and then every profile is absent). The evaluation scores the served head through this too,
    so the head is judged on the inputs it is served."""
    n = len(profile_locations)
    profile = np.zeros((n, dim), np.float32)  # (N, dim)
    present = np.zeros(n, bool)  # (N,)
    texts = {i: text for i, text in enumerate(profile_locations) if text and text.strip()}
    rows = list(texts)
    if rows and embed_texts is not None:
        profile[rows] = embed_texts(list(texts.values()))  # (R, dim)
        present[rows] = True
    return profile, present


class FlatForest:
    """A fitted scikit-learn forest laid out as flat node arrays, so a few rows walk all trees at once.

    For the one or few rows of a request, scikit-learn's predict_proba spends most of its time
    dispatching a joblib job and validating input per tree; stepping every tree in lockstep with numpy
    is an order of magnitude faster (docs/HISTORY.md; docs/BENCHMARKS.md has today's figure) and
    gives the same probabilities (tests compare with ``predict_proba``). Leaves point to themselves,
    so the walk stops when every tree has reached one. Rows are compared in float32, as the trees do.
    """

    def __init__(self, forest: Any) -> None:
        trees = [estimator.tree_ for estimator in forest.estimators_]
        sizes = np.array([t.node_count for t in trees])
        self.roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)  # (T,)
        own = [np.arange(t.node_count) + root for t, root in zip(trees, self.roots, strict=True)]
        self.left = np.concatenate(
            [
                np.where(t.children_left >= 0, t.children_left + root, ids)
                for t, root, ids in zip(trees, self.roots, own, strict=True)
            ]
        )  # (M,)
        self.right = np.concatenate(
            [
                np.where(t.children_right >= 0, t.children_right + root, ids)
                for t, root, ids in zip(trees, self.roots, own, strict=True)
            ]
        )  # (M,)
        self.feature = np.concatenate([np.maximum(t.feature, 0) for t in trees])  # (M,) leaves: unused 0
        self.threshold = np.concatenate([t.threshold for t in trees])  # (M,) float64
        self.is_leaf = self.left == np.arange(len(self.left))  # (M,)
        leaves = np.flatnonzero(self.is_leaf)
        self.leaf_row = np.full(len(self.left), -1, dtype=np.int64)
        self.leaf_row[leaves] = np.arange(len(leaves))
        counts = np.concatenate([t.value.reshape(t.node_count, -1) for t in trees])[leaves]  # (L, P)
        norm = counts.sum(axis=1, keepdims=True)
        norm[norm == 0.0] = 1.0
        self.leaf_proba = counts / norm  # (L, P) each tree's class distribution at that leaf
        self.n_trees = len(trees)

    def predict_proba(self, features: NDArray[np.floating]) -> NDArray[np.float64]:
        rows = np.ascontiguousarray(features, dtype=np.float32)  # (N, F)
        node = np.repeat(self.roots[None, :], rows.shape[0], axis=0)  # (N, T) current node per tree
        index = np.arange(rows.shape[0])[:, None]  # (N, 1)
        while not self.is_leaf[node].all():
            go_left = rows[index, self.feature[node]] <= self.threshold[node]  # (N, T)
            node = np.where(go_left, self.left[node], self.right[node])
        proba = self.leaf_proba[self.leaf_row[node]].sum(axis=1) / self.n_trees  # (N, P)
        return np.asarray(proba, dtype=np.float64)


class LinearLocation:
    """Multinomial logistic regression over standardised location features, as plain arrays (saved
    as .npz, so loading it runs no pickled code): softmax(((x - mean) / scale) @ coef.T + intercept)."""

    def __init__(
        self,
        coef: NDArray[np.floating],
        intercept: NDArray[np.floating],
        mean: NDArray[np.floating],
        scale: NDArray[np.floating],
        classes: Sequence[str],
    ) -> None:
        self.coef = np.asarray(coef, dtype=np.float32)  # (P, F)
        self.intercept = np.asarray(intercept, dtype=np.float32)  # (P,)
        self.mean = np.asarray(mean, dtype=np.float32)  # (F,)
        self.scale = np.asarray(scale, dtype=np.float32)  # (F,)
        self.classes_ = np.asarray([str(c) for c in classes], dtype=object)

    def predict_proba(self, features: NDArray[np.floating]) -> NDArray[np.float64]:
        x = (np.asarray(features, dtype=np.float32) - self.mean) / self.scale  # (N, F)
        logits = (x @ self.coef.T + self.intercept).astype(np.float64)  # (N, P)
        logits -= logits.max(axis=1, keepdims=True)
        expd = np.exp(logits)
        return np.asarray(expd / expd.sum(axis=1, keepdims=True), dtype=np.float64)

    def save(self, path: Path) -> None:
        with path.open("wb") as handle:
            np.savez(
                handle,
                coef=self.coef,
                intercept=self.intercept,
                mean=self.mean,
                scale=self.scale,
                classes=np.asarray([str(c) for c in self.classes_]),
            )

    @classmethod
    def load(cls, path: Path) -> LinearLocation:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["coef"], z["intercept"], z["mean"], z["scale"], [str(c) for c in z["classes"]])


class LocationPredictor:
    def __init__(
        self,
        forest: Any,
        components: Sequence[str],
        places: dict[str, dict[str, Any]],
        profile_ngrams: int = 0,
        text_ngrams: int = 0,
        authors: AuthorHistory | None = None,
        author_prior: float = 0.0,
    ) -> None:
        """``forest``: a fitted scikit-learn forest, or a LinearLocation where build-heads chose the
        linear head on the validation split; ``profile_ngrams``, ``text_ngrams``: the widths of its
        hashed n-gram blocks (location_features); ``authors``: the table of the authors' earlier
        places it reads (None where it was fitted without one); ``author_prior`` > 0: the table
        updates the prediction (author_posterior, this the content weight), 0: the head was fitted
        with the table as a feature block (heads before the posterior)."""
        if author_prior < 0:
            raise ValueError("author_prior must not be negative")
        self.authors = authors
        self.author_prior = float(author_prior) if authors is not None else 0.0
        self.profile_ngrams = int(profile_ngrams)
        self.text_ngrams = int(text_ngrams)
        self.forest = forest
        self.flat: FlatForest | LinearLocation = (
            forest if isinstance(forest, LinearLocation) else FlatForest(forest)
        )
        self.components = tuple(components)
        self.places = places
        self.classes: list[str] = [str(c) for c in forest.classes_]

    def predict_proba(
        self,
        batch: EmbeddingBatch,
        profile: NDArray[np.floating],
        profile_present: NDArray[np.bool_],
        texts: LocationContext | None = None,
    ) -> NDArray[np.float64]:
        """(N, P) class probabilities, columns in ``self.classes`` order; ``texts``: the tweets'
        profile-location and own texts and authors (needed when the head reads their n-grams or the
        authors' earlier places)."""
        author_block = None
        if self.authors is not None and texts is None:
            raise ValueError("this location head reads the authors' earlier places: pass texts")
        if self.authors is not None and texts is not None and not self.author_prior:
            author_block = self.authors.block(texts.authors(), self.classes)  # (N, P+1)
        features = location_features(
            batch,
            profile,
            profile_present,
            self.components,
            texts,
            self.profile_ngrams,
            self.text_ngrams,
            author_block,
        )  # (N, F) float32
        proba = self.flat.predict_proba(features)  # (N, P)
        if self.authors is not None and texts is not None and self.author_prior:
            counts = self.authors.class_counts(texts.authors(), self.classes)  # (N, P)
            proba = author_posterior(proba, counts, self.author_prior)
        return proba

    def predict(
        self,
        batch: EmbeddingBatch,
        profile: NDArray[np.floating],
        profile_present: NDArray[np.bool_],
        k: int = 1,
        texts: LocationContext | None = None,
    ) -> list[list[PlaceGuess]]:
        proba = self.predict_proba(batch, profile, profile_present, texts)  # (N, P)
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]  # (N, k)
        out: list[list[PlaceGuess]] = []
        for row, idx in zip(proba, order, strict=True):
            guesses = []
            for j in idx.tolist():
                place_id = self.classes[j]
                meta = self.places.get(place_id, {})
                guesses.append(
                    PlaceGuess(place_id, meta.get("name"), float(row[j]), meta.get("lat"), meta.get("lon"))
                )
            out.append(guesses)
        return out

    @classmethod
    def load(cls, heads_dir: Path) -> LocationPredictor:
        """Unpickles the forest: call only after the file's hash has been checked (see loader)."""
        import joblib

        meta = json.loads((heads_dir / META_FILE).read_text(encoding="utf-8"))
        widths = int(meta.get("profile_ngrams", 0)), int(meta.get("text_ngrams", 0))
        authors = AuthorHistory.load(heads_dir / AUTHOR_PLACES_FILE) if meta.get("author_places") else None
        prior = float(meta.get("author_prior", 0.0))
        if meta.get("kind") == "linear":
            linear = LinearLocation.load(heads_dir / LINEAR_FILE)
            return cls(linear, meta["components"], meta.get("places", {}), *widths, authors, prior)
        forest = joblib.load(heads_dir / FOREST_FILE)
        # Requests go through FlatForest; callers of the forest's own predict_proba (the evaluation's
        # latency column) get one thread, since a few rows gain nothing from more.
        forest.n_jobs = 1
        return cls(forest, meta["components"], meta.get("places", {}), *widths, authors, prior)
