"""Retrieval quality on BEIR SciFact: nDCG@10 and recall@100 of dense, keyword and hybrid search
with the bundled embedder, chunks aggregated to documents by their best chunk.

    python bench/scifact_retrieval.py [--store sqlite:PATH] [--split test] [--alphas 0.4,0.5]
    python bench/scifact_retrieval.py --backend onnx --quantize int8 --store sqlite:bench/out/scifact-int8.db

The same measurement as `tunewise eval retrieval --beir DIR`, plus a sweep of the convex fusion
weight (tune it on --split train, report it on test). Ingests the corpus first (a no-op when the
store already holds it)."""

from __future__ import annotations

import argparse
import sys

from common import OUT, SCIFACT
from tunewise.config import Settings
from tunewise.evaluate.datasets import load_questions
from tunewise.evaluate.retrieval import RUNS, evaluate_retrieval
from tunewise.workspace import Workspace


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--store", default=f"sqlite:{OUT / 'scifact.db'}")
    p.add_argument("--split", default="test")
    p.add_argument("--alphas", default="", help="comma-separated convex weights to sweep")
    p.add_argument("--backend", default="local", help="embedder backend: local or onnx")
    p.add_argument("--quantize", default="none", help="onnx: none or int8")
    args = p.parse_args()

    ws = Workspace(Settings().replace("store", url=args.store).replace(
        "embedder", backend=args.backend, quantize=args.quantize))
    report = ws.ingest([SCIFACT / "corpus.jsonl"])
    print(f"store: {ws.stats()['documents']} documents, {ws.stats()['chunks']} chunks "
          f"(ingest this run: {report.chunks} chunks in {report.seconds:.0f} s)", file=sys.stderr)
    questions = load_questions(SCIFACT, "beir", args.split)
    runs = RUNS + tuple((f"hybrid convex a={a}", {"fusion": "convex", "alpha": float(a)})
                        for a in args.alphas.split(",") if a)
    print(f"SciFact {args.split} ({len(questions)} queries), {ws.embedder.name}, chunks "
          f"{ws.settings.chunking.size}/{ws.settings.chunking.overlap} tokens\n")
    print("| retrieval | nDCG@10 | recall@100 |\n|---|---|---|")
    for r in evaluate_retrieval(ws, questions, recall_ks=(100,), runs=runs):
        print(f"| {r.mode} | {r.ndcg_at_10:.3f} | {r.recall_at[100]:.3f} |")


if __name__ == "__main__":
    main()
