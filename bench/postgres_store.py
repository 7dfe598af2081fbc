"""SQLite against PostgreSQL + pgvector, side by side: SciFact retrieval quality (nDCG@10 of each
method through the same evaluation code) and, at 100,000 chunks, query latency (median, p95)
and recall@10 of pgvector's HNSW index against exact search.

The 100,000-chunk set keeps the structure of real embeddings without embedding 100,000 texts on a
CPU: SciFact's 9,707 chunks (their real vectors) plus noisy copies of them, each vector moved to a
cosine of about 0.85 from its original, with the original's text. (Uniform random vectors, as
query_latency.py uses for timing, have no neighbourhoods for HNSW to follow: recall@10 on them is
reported too, as the worst case.)

The PostgreSQL server is the `pgserver` package's (data in bench/out/pgdata, kept between runs);
the stores are copied from the SQLite ones the other benchmarks build (bench/out/scifact.db by
scifact_retrieval.py, bench/out/generated.db by query_latency.py), so no text is embedded again.

    python bench/postgres_store.py [--postgres URL] [--queries 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from common import OUT, SCIFACT, summary_ms
from query_latency import measure
from tunewise.config import Settings
from tunewise.evaluate.datasets import load_questions
from tunewise.evaluate.retrieval import evaluate_retrieval
from tunewise.store import open_store
from tunewise.store.copy import copy_store
from tunewise.workspace import Workspace


def ensure_copy(source_url: str, target_url: str) -> None:
    source, target = open_store(source_url), open_store(target_url)
    if target.stats()["chunks"] < source.stats()["chunks"]:
        started = time.perf_counter()
        report = copy_store(source, target, batch_documents=1000)
        print(f"  copied {report.chunks:,} chunks to PostgreSQL in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    source.close()
    target.close()


def hnsw_recall(url: str, vectors: np.ndarray, label: str, k: int = 10) -> None:
    store = open_store(url)
    found, approx_t, exact_t = 0, [], []
    for v in vectors:
        t = time.perf_counter()
        approx = store.dense(v, k)
        approx_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        exact = store.dense(v, k, exact=True)
        exact_t.append(time.perf_counter() - t)
        found += len({r for r, _ in approx} & {r for r, _ in exact})
    print(f"| {label}, {store.stats()['chunks']:,} chunks | recall@{k} of HNSW vs exact "
          f"{found / (k * len(vectors)):.3f} | HNSW {summary_ms(approx_t)} | exact scan "
          f"{summary_ms(exact_t)} |")
    store.close()


def scifact_copies(source_url: str, target_urls: list[str], n: int = 100_000,
                   cosine: float = 0.85, mix: bool = False) -> None:
    """Write the SciFact chunks and noisy copies of them (to `n` chunks) into each target.
    With `mix`, each copy's vector is instead a blend of its original with another chunk's
    (weight 0.3 to 1), lightly noised: points spread between real embeddings rather than a
    cluster of near-duplicates around each one."""
    from dataclasses import replace

    from tunewise.store import WriteBatch

    source = open_store(source_url)
    originals = list(source.export())
    built = source.embedder()
    source.close()
    rng = np.random.default_rng(0)
    pool = np.concatenate([doc.vectors for doc in originals]).astype(np.float32)  # every real vector
    dim = built[1]
    sigma = np.sqrt((1 / cosine**2 - 1) / dim)  # |noise| ≈ sigma·sqrt(dim) against a unit vector
    for url in target_urls:
        store = open_store(url)
        if store.stats()["chunks"] >= n:
            store.close()
            continue
        store.check_embedder(*built)
        started, written, copy = time.perf_counter(), 0, 0
        with getattr(store, "bulk_load", __import__("contextlib").nullcontext)():
            while written < n:
                batch = WriteBatch()
                for doc in originals:
                    if written >= n:
                        break
                    vectors = doc.vectors
                    if copy and mix:
                        partners = pool[rng.integers(0, len(pool), len(vectors))]
                        weights = rng.uniform(0.3, 1.0, (len(vectors), 1)).astype(np.float32)
                        vectors = vectors + weights * partners + 0.3 * sigma * rng.standard_normal(
                            vectors.shape).astype(np.float32)
                        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
                    elif copy:
                        noisy = vectors + sigma * rng.standard_normal(vectors.shape).astype(np.float32)
                        vectors = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
                    path = f"/scifact100k/{copy}/{doc.document.path.rsplit('/', 1)[-1]}"
                    document = replace(doc.document, path=path)
                    doc_id = f"{doc.id}-{copy}"
                    chunks = [replace(c, id=f"{c.id}-{copy}", document_id=doc_id,
                                      source=document.source) for c in doc.chunks]
                    batch.documents.append(type(doc)(doc_id, document, doc.content_hash, chunks,
                                                     vectors.astype(np.float32)))
                    written += len(chunks)
                store.write(batch)
                copy += 1
        print(f"  wrote {store.stats()['chunks']:,} chunks to {url.split('#')[-1]} in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        store.close()


def cold_keyword(url: str, n: int) -> None:
    times = []
    for _ in range(n):
        store = open_store(url)
        started = time.perf_counter()
        store.keyword("heart disease treatment", 10)
        times.append(time.perf_counter() - started)
        chunks = store.stats()["chunks"]
        store.close()
    print(f"first keyword search of a process at {chunks} chunks: "
          f"median {statistics.median(times):.2f} s ({', '.join(f'{t:.2f}' for t in times)})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--postgres", default="", help="a server URL (default: start pgserver)")
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--cold-keyword", type=int, default=0, metavar="N",
                   help="only time N first keyword searches at 100,000 chunks (each from a store "
                   "opened afresh, so it reads the postings), once the collection exists")
    args = p.parse_args()
    url = args.postgres
    if not url:
        import pgserver

        url = pgserver.get_server(OUT / "pgdata", cleanup_mode=None).get_uri()
    if args.cold_keyword:
        cold_keyword(f"{url}#scifact100k", args.cold_keyword)
        return

    sci_sqlite, gen_sqlite = f"sqlite:{OUT / 'scifact.db'}", f"sqlite:{OUT / 'generated.db'}"
    sci_pg, gen_pg = f"{url}#scifact", f"{url}#generated"
    ensure_copy(sci_sqlite, sci_pg)
    ensure_copy(gen_sqlite, gen_pg)

    print("\n### SciFact test: nDCG@10 by method (median ms per query)\n")
    print("| method | SQLite | PostgreSQL |\n|---|---|---|")
    questions = load_questions(SCIFACT, "beir", "test")
    results = {}
    for label, store_url in (("sqlite", sci_sqlite), ("postgres", sci_pg)):
        with Workspace(Settings().replace("store", url=store_url)) as ws:
            results[label] = evaluate_retrieval(ws, questions, recall_ks=(10, 100))
    for a, b in zip(results["sqlite"], results["postgres"]):
        print(f"| {a.mode} | {a.ndcg_at_10:.3f} ({a.median_ms:.1f} ms) | {b.ndcg_at_10:.3f} "
              f"({b.ndcg_at_10 - a.ndcg_at_10:+.3f}; {b.median_ms:.1f} ms) |")

    queries = [q.question for q in load_questions(SCIFACT, "beir", "test")][: args.queries]
    sci = Workspace(Settings().replace("store", url=sci_sqlite))
    vectors = sci.embedder.embed(queries)
    big_sqlite, big_pg = f"sqlite:{OUT / 'scifact100k.db'}", f"{url}#scifact100k"
    scifact_copies(sci_sqlite, [big_sqlite, big_pg])
    print("\n### HNSW against exact search (dense, k=10)\n")
    print("| store | recall | latency | exact |\n|---|---|---|---|")
    hnsw_recall(sci_pg, vectors, "SciFact")
    hnsw_recall(big_pg, vectors, "SciFact + noisy copies")
    hnsw_recall(gen_pg, vectors, "uniform random vectors")
    print("\n### Query latency at 100,000 chunks (query embedding excluded)\n")
    print("| store | chunks | search | latency |\n|---|---|---|---|")
    for label, store_url in (("SQLite", big_sqlite), ("PostgreSQL", big_pg)):
        with Workspace(Settings().replace("store", url=store_url), embedder=sci.embedder) as ws:
            measure(ws, queries, vectors, label)


if __name__ == "__main__":
    main()
