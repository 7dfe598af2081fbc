"""Retrieval settings fitted to the user's own questions. The fusion weight was chosen on SciFact
(α = 0.6); on other corpora keyword or dense search may deserve more weight. A seeded half of the
questions picks the fusion (convex α on a grid, or RRF) by nDCG@10, the number of passages k and
the least passage similarity; the other half, never seen while choosing, reports the gain."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from tunewise.evaluate.datasets import DatasetError
from tunewise.evaluate.retrieval import evaluate_retrieval, gold_ranking
from tunewise.parts import Parts
from tunewise.retrieval import Retriever

ALPHAS = tuple(round(a / 10, 1) for a in range(11))
KS = (3, 5, 8, 10)
RECALL_SLACK = 0.02  # the smallest k whose recall is within this of recall@10
SIMILARITY_LOSS = 0.01  # the least similarity drops the gold passage of at most this share of questions


@dataclass(frozen=True)
class Tuning:
    fusion: str
    alpha: float
    k: int
    min_passage_similarity: float
    tuned_on: int  # questions
    held_out: int
    grid: list[tuple[str, float]]  # (setting, nDCG@10 on the tuning half)
    before: dict[str, float]  # held-out nDCG@10 and recall@k with the settings in force
    after: dict[str, float]  # the same with the tuned settings

    def settings(self) -> dict[str, dict]:
        """The tuned values as tunewise.toml sections."""
        return {"retrieval": {"fusion": self.fusion, "alpha": self.alpha, "k": self.k},
                "rag": {"min_passage_similarity": self.min_passage_similarity}}


def tune_retrieval(ws: Parts, questions, seed: int = 0) -> Tuning:
    questions = [q for q in questions if q.doc_ids]
    if len(questions) < 10:
        raise DatasetError(f"tuning needs at least 10 questions that name their gold documents "
                           f"(doc_ids); this set has {len(questions)}")
    shuffled = sorted(questions, key=lambda q: q.id)
    random.Random(seed).shuffle(shuffled)
    half = len(shuffled) // 2
    tune, held = shuffled[:half], shuffled[half:]
    runs = [(f"hybrid convex α={a}", {"fusion": "convex", "alpha": a}) for a in ALPHAS]
    runs.append(("hybrid rrf", {"fusion": "rrf"}))
    scores = evaluate_retrieval(ws, tune, recall_ks=KS, runs=runs)
    best_name, best = max(zip((n for n, _ in runs), scores), key=lambda x: x[1].ndcg_at_10)
    options = dict(runs)[best_name]
    top10 = best.recall_at[10]
    k = next(k for k in KS if best.recall_at[k] >= top10 - RECALL_SLACK)
    tuned = replace(ws.settings.retrieval, **options, k=k)
    least = _min_passage_similarity(ws, tune, tuned)
    current = ws.settings.retrieval
    ks = tuple(sorted({current.k, k}))  # both sides at both cut-offs: comparable columns
    before, after = _held_out(ws, held, [current, tuned], ks)
    return Tuning(options["fusion"], options.get("alpha", current.alpha), k, least,
                  len(tune), len(held), [(n, s.ndcg_at_10) for (n, _), s in zip(runs, scores)],
                  before, after)


def _min_passage_similarity(ws: Parts, questions, settings) -> float:
    """The highest cosine (to 0.01) below which at most SIMILARITY_LOSS of the questions would
    lose their best gold passage: answerable questions keep their evidence, and off-topic ones
    (whose passages score lower) are refused."""
    retriever = Retriever(ws.store, ws.embedder, settings)
    vectors = ws.embedder.embed([q.question for q in questions])  # one batch, not one a query
    best = []
    for q, vector in zip(questions, vectors):
        hits = retriever.search(q.question, k=max(settings.depth, 30), vector=vector)
        ranked = gold_ranking([h.chunk.source for h in hits], q.doc_ids)
        sims = [h.similarity for h, doc in zip(hits, ranked) if doc in q.doc_ids
                and h.similarity is not None]
        if sims:
            best.append(max(sims))
    if not best:
        return ws.settings.rag.min_passage_similarity
    best.sort()
    cut = best[min(len(best) - 1, int(SIMILARITY_LOSS * len(best)))]
    return max(0.0, math.floor(cut * 100) / 100)


def _held_out(ws: Parts, questions, settings: list, ks: tuple[int, ...]) -> list[dict[str, float]]:
    """nDCG@10 and recall at each cut-off of each settings, in one pass (the questions are
    embedded once for all)."""
    runs = [(f"hybrid {s.fusion}", {"fusion": s.fusion, "alpha": s.alpha}) for s in settings]
    return [{"ndcg@10": r.ndcg_at_10, **{f"recall@{k}": r.recall_at[k] for k in ks}}
            for r in evaluate_retrieval(ws, questions, recall_ks=ks, runs=runs)]


__all__ = ["Tuning", "tune_retrieval"]
