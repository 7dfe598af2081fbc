"""Retrieval quality on BEIR SciFact: nDCG@10 and recall@100 of dense, keyword and hybrid search
with the bundled embedder, chunks aggregated to documents by their best chunk.

    python bench/scifact_retrieval.py [--store sqlite:PATH] [--split test]

Ingests the corpus into the store first (a no-op when it is already there), embeds each query
once and scores every mode on the same vectors. `--alphas` sweeps the convex fusion weight (tune
it on --split train, report it on test)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from common import OUT, SCIFACT

from tunewise.api import Workspace
from tunewise.config import Settings
from tunewise.evaluate.retrieval import load_beir, ndcg, rank_documents, recall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--store", default=f"sqlite:{OUT / 'scifact.db'}")
    p.add_argument("--split", default="test")
    p.add_argument("--alphas", default="", help="comma-separated convex weights to sweep")
    args = p.parse_args()

    ws = Workspace(Settings().replace("store", url=args.store).replace("retrieval", depth=300))
    report = ws.ingest([SCIFACT / "corpus.jsonl"])
    print(f"store: {ws.stats()['documents']} documents, {ws.stats()['chunks']} chunks "
          f"(ingest this run: {report.chunks} chunks in {report.seconds:.0f} s)", file=sys.stderr)
    queries, qrels = load_beir(SCIFACT, args.split)
    ids = list(queries)
    t = time.perf_counter()
    vectors = ws.embedder.embed([queries[i] for i in ids])
    print(f"embedded {len(ids)} queries in {time.perf_counter() - t:.1f} s", file=sys.stderr)

    runs = [("dense", {}), ("keyword", {}), ("hybrid rrf", {"fusion": "rrf"}),
            ("hybrid convex", {"fusion": "convex"})]
    runs += [(f"hybrid convex a={a}", {"fusion": "convex", "alpha": float(a)})
             for a in args.alphas.split(",") if a]
    print(f"SciFact {args.split} ({len(ids)} queries), {ws.embedder.name}, chunks "
          f"{ws.settings.chunking.size}/{ws.settings.chunking.overlap} tokens\n")
    print("| retrieval | nDCG@10 | recall@100 |\n|---|---|---|")
    for name, options in runs:
        mode = name.split()[0]
        settings = ws.settings.replace("retrieval", **options).retrieval
        retriever = type(ws.retriever)(ws.store, ws.embedder, settings)
        scores_ndcg, scores_recall = [], []
        for qid, vector in zip(ids, vectors):
            hits = retriever.search(queries[qid], k=300, mode=mode, vector=vector)
            ranked = rank_documents(hits)
            scores_ndcg.append(ndcg(ranked, qrels[qid], 10))
            scores_recall.append(recall(ranked, qrels[qid], 100))
        print(f"| {name} | {statistics.mean(scores_ndcg):.3f} | {statistics.mean(scores_recall):.3f} |")


if __name__ == "__main__":
    main()
