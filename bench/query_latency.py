"""Query latency of hybrid search, the query embedding excluded: on the SciFact store and on a
generated store of 100,000 chunks (texts recombined from SciFact sentences, random unit vectors:
latency depends on the sizes, not on the values); and the first search right after another
connection uploads a document, as the store applies it (only the new chunks) against reloading
the whole index (what it did before), alternated in one run.

    python bench/query_latency.py [--chunks 100000] [--scifact-store sqlite:PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time

import numpy as np

from common import OUT, SCIFACT, summary_ms
from tunewise.config import Settings
from tunewise.documents.hashing import chunk_id, digest, document_id
from tunewise.evaluate.datasets import load_questions
from tunewise.objects import Chunk, Document
from tunewise.store import StoredDocument, WriteBatch, open_store
from tunewise.workspace import Workspace


def generate_store(url: str, n_chunks: int, dim: int, name: str) -> None:
    store = open_store(url)
    have = store.stats()["chunks"]
    if have >= n_chunks:
        return
    store.check_embedder(name, dim)
    sentences = [s for line in open(SCIFACT / "corpus.jsonl")
                 for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]) if len(s) > 20]
    rng, gen = random.Random(0), np.random.default_rng(0)
    t = time.perf_counter()
    for start in range(have, n_chunks, 5000):
        batch = WriteBatch()
        for i in range(start, min(start + 5000, n_chunks)):
            text = " ".join(rng.choice(sentences) for _ in range(6))
            doc = Document(path=f"/generated/doc{i}.txt", text=text, title=f"doc {i}")
            did, h = document_id(doc.source), digest(text)
            chunk = Chunk(chunk_id(did, h, 0, text), did, 0, text, 0, len(text), doc.source)
            v = gen.standard_normal((1, dim)).astype(np.float32)
            batch.documents.append(StoredDocument(did, doc, h, [chunk], v / np.linalg.norm(v)))
        store.write(batch)
        print(f"  generated {min(start + 5000, n_chunks)} chunks "
              f"({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    store.close()


def measure(ws: Workspace, queries: list[str], vectors: np.ndarray, label: str) -> None:
    retriever = ws.retriever
    t = time.perf_counter()
    retriever.search(queries[0], k=5, vector=vectors[0])
    cold = time.perf_counter() - t
    for mode in ("hybrid", "dense", "keyword"):
        times = []
        for q, v in zip(queries, vectors):
            t = time.perf_counter()
            retriever.search(q, k=5, mode=mode, vector=v)
            times.append(time.perf_counter() - t)
        print(f"| {label} | {ws.stats()['chunks']} | {mode} | {summary_ms(times)} |")
    print(f"| {label} | {ws.stats()['chunks']} | first query (loads the index) | {cold * 1000:.0f} ms |")


def after_upload(ws: Workspace, url: str, queries: list[str], vectors: np.ndarray,
                 rounds: int = 20, chunks: int = 5) -> None:
    """Upload a document of `chunks` chunks through another connection, then time the reader's
    next hybrid search: applied from chunk_log, or with the in-memory index dropped (reloaded)."""
    writer = open_store(url)
    rng, gen = random.Random(1), np.random.default_rng(1)
    words = " ".join(queries).split()
    times: dict[str, list[float]] = {"applied": [], "reloaded": []}
    for i in range(rounds):
        for how in ("applied", "reloaded"):
            text = " ".join(rng.choice(words) for _ in range(60 * chunks))
            doc = Document(path=f"/uploads/u{i}-{how}.txt", text=text, title="upload")
            did, h = document_id(doc.source), digest(text)
            parts = [text[j::chunks] for j in range(chunks)]
            v = gen.standard_normal((chunks, vectors.shape[1])).astype(np.float32)
            writer.write(WriteBatch(documents=[StoredDocument(did, doc, h, [
                Chunk(chunk_id(did, h, j, t), did, j, t, 0, len(t), doc.source)
                for j, t in enumerate(parts)], v / np.linalg.norm(v, axis=1, keepdims=True))]))
            if how == "reloaded":
                ws.store._memory = None
            t = time.perf_counter()
            ws.retriever.search(queries[i], k=5, vector=vectors[i])
            times[how].append(time.perf_counter() - t)
    writer.remove_path("/uploads")
    writer.close()
    for how, values in times.items():
        print(f"| generated | after an upload of {chunks} chunks | hybrid, {how} | "
              f"{summary_ms(values)} |")
    ratio = statistics.median(times["reloaded"]) / statistics.median(times["applied"])
    print(f"applied is {ratio:.0f}x faster than a reload (medians)", file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--scifact-store", default=f"sqlite:{OUT / 'scifact.db'}")
    p.add_argument("--generated-store", default=f"sqlite:{OUT / 'generated.db'}")
    args = p.parse_args()

    queries = [q.question for q in load_questions(SCIFACT, "beir", "test")]
    sci = Workspace(Settings().replace("store", url=args.scifact_store))
    sci.ingest([SCIFACT / "corpus.jsonl"])  # a no-op once the store is built
    vectors = sci.embedder.embed(queries)
    print("| store | chunks | search | latency (query embedding excluded) |\n|---|---|---|---|")
    measure(sci, queries, vectors, "SciFact")
    generate_store(args.generated_store, args.chunks, vectors.shape[1], sci.embedder.name)
    gen = Workspace(Settings().replace("store", url=args.generated_store), embedder=sci.embedder)
    measure(gen, queries, vectors, "generated")
    after_upload(gen, args.generated_store, queries, vectors)


if __name__ == "__main__":
    main()
