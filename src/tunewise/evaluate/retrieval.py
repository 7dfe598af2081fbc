"""Retrieval metrics against gold documents (nDCG@k, recall@k, MRR) and BEIR folders
(corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)."""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path

from tunewise.types import Hit


def load_beir(folder: str | Path, split: str = "test") -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """(queries {id: text}, qrels {query id: {doc id: relevance}}) for the queries judged in `split`."""
    folder = Path(folder)
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(folder / "qrels" / f"{split}.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query-id"]][row["corpus-id"]] = int(row["score"])
    queries = {}
    with open(folder / "queries.jsonl") as f:
        for line in f:
            q = json.loads(line)
            if q["_id"] in qrels:
                queries[q["_id"]] = q["text"]
    return queries, dict(qrels)


def rank_documents(hits: list[Hit]) -> list[str]:
    """Document keys in order of their best chunk: a document ranks where its first hit does."""
    seen: dict[str, None] = {}
    for h in hits:
        seen.setdefault(h.chunk.source.rsplit("#", 1)[-1], None)
    return list(seen)


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
