"""FAISS indexes against numpy brute force on seeded data."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from model.heads.retrieval_index import RetrievalIndex
from model.heads.vector_index import build_index, normalise_rows, save_index, search_max_over_rows


def brute_max_over_rows(
    items: np.ndarray, queries: list[np.ndarray], k: int
) -> list[list[tuple[int, float]]]:
    items = normalise_rows(items)
    out = []
    for q in queries:
        scores = (normalise_rows(q) @ items.T).max(axis=0)  # (N,) best cosine over the query's rows
        order = np.lexsort((np.arange(len(scores)), -scores))[:k]
        out.append([(int(j), float(scores[j])) for j in order])
    return out


@pytest.mark.parametrize("k", [1, 5, 20])
def test_flat_index_equals_numpy_brute_force(k: int) -> None:
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(7)
    items = rng.standard_normal((500, 24)).astype(np.float32)
    queries = [rng.standard_normal((int(rng.integers(1, 5)), 24)).astype(np.float32) for _ in range(40)]
    index = build_index(items)
    assert isinstance(index, faiss.IndexFlatIP)
    got = search_max_over_rows(index, queries, k)
    want = brute_max_over_rows(items, queries, k)
    for g, w in zip(got, want, strict=True):
        assert [j for j, _ in g] == [j for j, _ in w]
        np.testing.assert_allclose([s for _, s in g], [s for _, s in w], rtol=1e-5, atol=1e-5)


def test_k_larger_than_index_returns_everything_once() -> None:
    rng = np.random.default_rng(1)
    items = rng.standard_normal((6, 8)).astype(np.float32)
    got = search_max_over_rows(build_index(items), [rng.standard_normal((3, 8))], 10)[0]
    assert sorted(j for j, _ in got) == list(range(6))


def test_hnsw_recall_against_exact_search() -> None:
    """Clustered vectors (like embeddings, unlike isotropic noise): HNSW recall@10 vs exact search."""
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((50, 32))
    items = (centres[rng.integers(50, size=6000)] + 0.4 * rng.standard_normal((6000, 32))).astype(np.float32)
    queries = [
        (centres[rng.integers(50)] + 0.4 * rng.standard_normal((1, 32))).astype(np.float32)
        for _ in range(200)
    ]
    hnsw = build_index(items, hnsw_threshold=1000)
    assert isinstance(hnsw, faiss.IndexHNSWFlat)
    exact = build_index(items)
    got = search_max_over_rows(hnsw, queries, 10)
    want = search_max_over_rows(exact, queries, 10)
    recall = np.mean(
        [len({j for j, _ in g} & {j for j, _ in w}) / 10 for g, w in zip(got, want, strict=True)]
    )
    assert recall >= 0.95, f"HNSW recall@10 {recall:.3f}"


def test_retrieval_index_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    items = rng.standard_normal((50, 8)).astype(np.float32)
    ids = [f"t{i}" for i in range(50)]
    save_index(build_index(items), tmp_path / "image_index.faiss")
    (tmp_path / "image_index.json").write_text('{{"ids": {}}}'.format(str(ids).replace("'", '"')))
    loaded = RetrievalIndex.load(tmp_path, "image_index")
    hits = loaded.search([items[17:18], items[3:5]], 2)
    assert hits[0][0][0] == "t17" and hits[0][0][1] == pytest.approx(1.0, abs=1e-5)
    assert {hits[1][0][0], hits[1][1][0]} == {"t3", "t4"}
