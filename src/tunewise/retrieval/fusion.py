"""Fusing dense and keyword rankings into one.

`convex` (the default) is a weighted sum of scores normalised per query: cosine similarities
min-max scaled over the candidates, BM25 divided by the best BM25 of the query. Unlike
reciprocal-rank fusion it keeps *how much* better one hit is than the next, which Bruch et al.
("An Analysis of Fusion Functions for Hybrid Retrieval", 2023) found to beat RRF in and out of
domain; bench/scifact_retrieval.py measures both here."""

from __future__ import annotations

FUSIONS = ("convex", "rrf")


def rrf(rankings: list[list[int]], k: int = 60) -> dict[int, float]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking):
            scores[row] = scores.get(row, 0.0) + 1.0 / (k + rank + 1)
    return scores


def convex(dense: dict[int, float], keyword: dict[int, float], alpha: float) -> dict[int, float]:
    """`dense` holds the cosine of every candidate; `keyword` the BM25 of those the keyword
    retriever returned (the others count as 0)."""
    if not dense:
        return {}
    low, high = min(dense.values()), max(dense.values())
    spread = (high - low) or 1.0
    best_bm25 = max(keyword.values(), default=0.0) or 1.0
    return {row: alpha * (cos - low) / spread + (1 - alpha) * keyword.get(row, 0.0) / best_bm25
            for row, cos in dense.items()}
