"""Retrieval quality against gold documents: nDCG@k, recall@k and MRR of each retrieval mode
over a question set (a BEIR folder, or any question file whose questions name `doc_ids`)."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, replace
from typing import Callable

from tunewise.objects import Hit
from tunewise.parts import Parts
from tunewise.retrieval import Retriever


def matches(source: str, gold: str) -> bool:
    """Whether a retrieved document ("path" or "path#key") is the gold document named by its
    record key, its path, or the end of its path ("policies/travel.md")."""
    path, _, key = source.rpartition("#") if "#" in source else (source, "", "")
    return gold in (key, path) or path.endswith("/" + gold.lstrip("/"))


def gold_ranking(sources: list[str], gold: list[str] | tuple[str, ...]) -> list[str]:
    """Retrieved documents in rank order, each renamed to the gold id it matches."""
    return [next((g for g in gold if matches(s, g)), s) for s in sources]


def rank_documents(hits: list[Hit]) -> list[str]:
    """Document sources in order of their best chunk: a document ranks where its first hit does."""
    return list(dict.fromkeys(h.chunk.source for h in hits))


def ndcg(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranked: list[str], relevant: dict[str, int], k: int = 100) -> float:
    gold = {d for d, r in relevant.items() if r > 0}
    return len(gold & set(ranked[:k])) / len(gold) if gold else 0.0


def mrr(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    return next((1.0 / (i + 1) for i, d in enumerate(ranked[:k]) if relevant.get(d, 0) > 0), 0.0)


@dataclass(frozen=True)
class RetrievalScores:
    mode: str  # "dense", "keyword", "hybrid convex", "hybrid rrf"
    questions: int
    ndcg_at_10: float
    recall_at: dict[int, float]  # k -> mean recall@k
    mrr_at_10: float
    median_ms: float  # per query, the query embedding excluded (it is shared by all modes)


RUNS = (("dense", {}), ("keyword", {}), ("hybrid rrf", {"fusion": "rrf"}),
        ("hybrid convex", {"fusion": "convex"}))


def evaluate_retrieval(ws: Parts, questions, recall_ks: tuple[int, ...] = (5, 100),
                       runs=RUNS, on_query: Callable[[], None] | None = None,
                       reranker=None) -> list[RetrievalScores]:
    """Score each retrieval run on `questions` (with `doc_ids`) over the workspace's store. Each
    query is embedded once and every mode ranks the same vector. With `reranker`, it reorders
    every candidate fetched (3x the deepest cut), and its time counts in the latency."""
    questions = [q for q in questions if q.doc_ids]
    # Chunks, not documents, are retrieved: 3x the deepest cut leaves enough distinct documents.
    depth = 3 * max(max(recall_ks), 10)
    vectors = ws.embedder.embed([q.question for q in questions])
    results = []
    for name, options in runs:
        mode = name.split()[0]
        settings = replace(ws.settings.retrieval, depth=max(ws.settings.retrieval.depth, depth),
                           **options)
        retriever = Retriever(ws.store, ws.embedder, settings, reranker)
        n, rec, rr, times = [], {k: [] for k in recall_ks}, [], []
        for q, vector in zip(questions, vectors):
            started = time.perf_counter()
            hits = retriever.search(q.question, k=depth, mode=mode, vector=vector)
            times.append(time.perf_counter() - started)
            ranked = gold_ranking(rank_documents(hits), q.doc_ids)
            relevant = {g: 1 for g in q.doc_ids}
            n.append(ndcg(ranked, relevant, 10))
            rr.append(mrr(ranked, relevant, 10))
            for k in recall_ks:
                rec[k].append(recall(ranked, relevant, k))
            if on_query:
                on_query()
        results.append(RetrievalScores(
            name, len(questions), statistics.mean(n), {k: statistics.mean(v) for k, v in rec.items()},
            statistics.mean(rr), statistics.median(times) * 1000))
    return results
