"""Fitting the retriever on SciFact: the bundled embedder fine-tuned and a cross-encoder trained on
the **train** qrels (809 claims), on questions a teacher synthesized from the corpus, or on
pseudo-questions (the Inverse Cloze Task: no labels, no teacher), measured on the 300 **test**
claims beside the shipped retriever; then query latency with the reranker at k = 10 over 20 and
50 candidates.

    python bench/retriever_finetune.py                      # train qrels
    python bench/retriever_finetune.py --pairs synth.jsonl  # `tunewise data synth` output
    python bench/retriever_finetune.py --pseudo 2000        # inverse cloze task on 2,000 chunks

Stores and models go to bench/out (the SciFact store is built first when missing; the
re-embedded copy beside it). A finished training stage is reused by a second run."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from common import OUT, SCIFACT, percentile
from tunewise.config import Settings
from tunewise.evaluate.datasets import load_questions
from tunewise.evaluate.retrieval import evaluate_retrieval
from tunewise.rerank.cross_encoder import CrossEncoderReranker
from tunewise.retrieval import Retriever
from tunewise.store.copy import copy_store
from tunewise.train.retriever import finetune_retriever
from tunewise.workspace import Workspace

RUNS = (("dense", {}), ("keyword", {}), ("hybrid convex", {"fusion": "convex"}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", default="", help="training data (default: SciFact's train qrels)")
    p.add_argument("--out", default="", help="folder for the trained models")
    p.add_argument("--pseudo", type=int, default=0, help="inverse cloze task on N chunks")
    p.add_argument("--epochs", type=float, default=2)
    p.add_argument("--no-reranker", action="store_true", help="fit the embedder alone")
    args = p.parse_args()
    base_store = OUT / "scifact.db"
    kind = "synth" if args.pairs else "ict" if args.pseudo else "train"
    out = Path(args.out or OUT / f"ret-scifact-{kind}")
    ws = Workspace(Settings().replace("store", url=f"sqlite:{base_store}"))
    started = time.perf_counter()
    ws.ingest([SCIFACT / "corpus.jsonl"])
    print(f"store: {ws.stats()['chunks']} chunks ({time.perf_counter() - started:.0f} s)",
          file=sys.stderr)

    data = None if args.pseudo else Path(args.pairs) if args.pairs else SCIFACT
    record = finetune_retriever(ws, data, out, split="train" if kind == "train" else None,
                                epochs=args.epochs, pseudo=args.pseudo,
                                reranker=not args.no_reranker)
    took = {s: f"{record[s]['seconds']:.0f} s ({record[s]['steps']} steps)" if s in record else "–"
            for s in ("embedder", "reranker")}
    print(f"trained on {record.get('pairs')} pairs: {took}", file=sys.stderr)
    tuned = Workspace(Settings().replace("store", url=f"sqlite:{out / 'store.db'}")
                      .replace("embedder", model=str(out / "embedder")))
    started = time.perf_counter()
    copy_store(ws.store, tuned.store, embedder=tuned.embedder)
    print(f"re-embedded in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    test = load_questions(SCIFACT, "beir", "test")
    reranker = CrossEncoderReranker(str(out / "reranker")) if "reranker" in record else None
    rows = []
    for label, w in (("shipped embedder", ws), ("fine-tuned embedder", tuned)):
        for r in evaluate_retrieval(w, test, recall_ks=(10, 100), runs=RUNS):
            rows.append((f"{label}, {r.mode}", r.ndcg_at_10, r.recall_at[100]))
        if reranker:  # it reorders the 30 best chunks (3x the cut of 10)
            [r] = evaluate_retrieval(w, test, recall_ks=(10,), runs=RUNS[2:], reranker=reranker)
            rows.append((f"{label}, hybrid + trained cross-encoder", r.ndcg_at_10, None))
    source = {"synth": "synthesized questions", "ict": "pseudo-questions (inverse cloze task)",
              "train": "the train qrels"}[kind]
    print(f"\nSciFact test ({len(test)} claims); trained on {source} "
          f"({record.get('pairs')} pairs, {record.get('mined')} mined negatives, "
          f"{args.epochs:g} epochs)\n")
    print("| retrieval | nDCG@10 | recall@100 |\n|---|---|---|")
    for name, ndcg, rec in rows:
        print(f"| {name} | {ndcg:.3f} | {'–' if rec is None else f'{rec:.3f}'} |")
    print(f"\ntraining on this machine: embedder {took['embedder']}, cross-encoder "
          f"{took['reranker']}")
    if reranker:
        latency(ws, reranker, test[:100])


def latency(ws, reranker, questions) -> None:
    """ms per query at k = 10: hybrid alone, and reranking 20 and 50 candidates (the query's
    embedding excluded, as in the other latency tables)."""
    from dataclasses import replace

    vectors = ws.embedder.embed([q.question for q in questions])
    print("\n| k = 10 | median ms | p95 ms |\n|---|---|---|")
    for label, depth in (("hybrid", None), ("hybrid + rerank 20", 20), ("hybrid + rerank 50", 50)):
        settings = replace(ws.settings.retrieval, rerank_depth=depth or 20)
        retriever = Retriever(ws.store, ws.embedder, settings, reranker if depth else None)
        retriever.search(questions[0].question, k=10, vector=vectors[0])  # loads the models
        times = []
        for q, v in zip(questions, vectors):
            t = time.perf_counter()
            retriever.search(q.question, k=10, vector=v, question_filter=False)
            times.append((time.perf_counter() - t) * 1000)
        print(f"| {label} | {statistics.median(times):.1f} | {percentile(times, 95):.1f} |")


if __name__ == "__main__":
    main()
