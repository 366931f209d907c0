"""The user component: node2vec vectors of the weighted user-mention graph (paper: fastnode2vec).

Edge (u, v, w): user u mentioned user v in w training tweets. Only users with at least one edge
are in the graph; every other author has no user component.

The walks treat the graph as undirected (an edge's weight is the sum of mentions both ways).
A directed walk stops at any account that is mentioned but never mentions anyone, which on
Twitter is most popular accounts, so they would get one-step walks and near-random vectors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.record import Tweet


@dataclass(frozen=True)
class Node2VecParams:
    dim: int = 300
    walk_length: int = 40
    window: int = 5  # half the context, as fastnode2vec (gensim) counts it
    walks_per_node: int = 10  # fastnode2vec's "epochs": walks started from every node
    p: float = 1.0
    q: float = 1.0
    seed: int = 0


def mention_counts(tweets: Iterable[Tweet]) -> Counter[tuple[str, str]]:
    """(author, mentioned) -> number of tweets in which the author mentioned that user.

    A tweet mentioning the same user twice counts once; self-mentions are not edges.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for tweet in tweets:
        if tweet.user_id is None:
            continue
        for mentioned in set(tweet.mentions):
            if mentioned != tweet.user_id:
                counts[(tweet.user_id, mentioned)] += 1
    return counts


def train_user_vectors(
    edges: Counter[tuple[str, str]], params: Node2VecParams, verbose: bool = True
) -> tuple[list[str], np.ndarray]:
    """node2vec over the mention graph: (sorted user ids, (U, dim) float32 vectors)."""
    from fastnode2vec import Graph, Node2Vec

    if not edges:
        return [], np.zeros((0, params.dim), dtype=np.float32)
    graph = Graph(
        ((u, v, float(w)) for (u, v), w in edges.items()),
        directed=False,
        weighted=True,
        verbose=verbose,
        number_of_edges=len(edges),
    )
    # workers=1 with a seed makes the walks and the vectors reproducible (fastnode2vec's own note).
    model = Node2Vec(
        graph,
        dim=params.dim,
        walk_length=params.walk_length,
        window=params.window,
        p=params.p,
        q=params.q,
        workers=1,
        seed=params.seed,
    )
    model.train(epochs=params.walks_per_node, verbose=verbose)
    users = sorted(str(name) for name in graph.node_names)
    vectors = np.stack([model.wv[user] for user in users]).astype(np.float32)  # (U, dim)
    return users, vectors


def save_user_vectors(users: list[str], vectors: np.ndarray, vectors_path: Path, ids_path: Path) -> None:
    import json

    from safetensors.numpy import save_file

    tmp = vectors_path.with_name(vectors_path.name + ".tmp")
    save_file({"vectors": np.ascontiguousarray(vectors, dtype=np.float32)}, str(tmp))
    tmp.replace(vectors_path)
    ids_path.write_text(json.dumps(users), encoding="utf-8")


def build_user_vectors(
    tweets: Iterable[Tweet], params: Node2VecParams, vectors_path: Path, ids_path: Path, verbose: bool = True
) -> dict[str, Any]:
    edges = mention_counts(tweets)
    users, vectors = train_user_vectors(edges, params, verbose=verbose)
    save_user_vectors(users, vectors, vectors_path, ids_path)
    return {"users": len(users), "edges": len(edges), "mentions": int(sum(edges.values()))}
