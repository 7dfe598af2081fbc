"""A million chunks on one machine: the embedded (SQLite) store's cost curve with its HNSW graph.

For each size (SciFact's 9,707 chunks with their real vectors, plus copies with the originals'
texts — real word statistics without embedding a million texts on a CPU — whose vectors are
blends of two real ones (spread between real embeddings) or noisy copies at a cosine of about
0.85 (a cluster of near-duplicates around each real vector: HNSW's hard case)), in a fresh
process each:
- building the graph (`store.index(rebuild=True)`): seconds, size on disk, peak memory;
- a fresh process opening the store: the first search (reads vectors, postings and the saved
  graph), then hybrid / dense / keyword search of the 300 SciFact test queries (their vectors
  embedded beforehand: the query embedding is excluded), median and p95; dense search exact
  beside it (the crossover), and recall@10 of the graph's answers against exact search;
  the process's resident memory after the searches and its peak.
Then, on SciFact itself: nDCG@10 with the graph against exact search; the ingest throughput
with the graph on against off (alternated); and a kill -9 in the middle of a rebuild.

    python bench/store_scale.py [--sizes 10000,30000,100000,300000,1000000] [--skip-scifact]
    python bench/store_scale.py --postgres [URL] --sizes 10000,30000,100000 --skip-scifact
    python bench/store_scale.py --tune 32,64 --ef 150,200,300,400

`--postgres` measures the same curve on PostgreSQL + pgvector (the `pgserver` package's server,
data in bench/out/pgdata, unless a URL is given): each size's SQLite store is copied into a
collection of its own (timed: the rows, then pgvector's HNSW built once at the end), its index
rebuilt (`REINDEX`), then searched the same way; memory is the client's and the server's (the
proportional set size summed over its processes, so shared buffers count once).

`--tune 32,64 [--ef 150,200,300,400]` instead chooses the graph's links a node and search beam
on SciFact's train queries at a million chunks (how the defaults were set; see `tune`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import OUT, ROOT, SCIFACT, percentile
from postgres_store import scifact_copies
from tunewise.documents.isolated import own_memory

SCIFACT_STORE = f"sqlite:{OUT / 'scifact.db'}"
QUERY_VECTORS = OUT / "scifact-test-queries.npy"
TRAIN_VECTORS = OUT / "scifact-train-queries.npy"


def _load_questions(split: str) -> list:
    from tunewise.evaluate.datasets import load_questions

    return load_questions(SCIFACT, "beir", split)


def _queries() -> list[str]:
    return [q.question for q in _load_questions("test")]


def _memory() -> dict:
    """This process's resident memory now and at its peak, in MB."""
    return {k: own_memory(k) / 2**20 for k in ("VmRSS", "VmHWM")}


def _ms(values: list[float]) -> dict:
    ms = [v * 1000 for v in values]
    return {"p50": statistics.median(ms), "p95": percentile(ms, 95)}


def build(url: str) -> dict:
    """(child) The graph built anew from the store's vectors (PostgreSQL: REINDEX)."""
    from tunewise.config import StoreSettings
    from tunewise.store import open_store

    store = open_store(url, StoreSettings(ann="hnsw"))
    started = time.perf_counter()
    done = store.index(rebuild=True)
    seconds = time.perf_counter() - started
    if url.startswith("sqlite:"):
        size = sum(p.stat().st_size for p in store.ann_folder.glob("*.usearch"))
    else:
        with store._tx() as c:  # the bench reads the index's size where the store keeps it
            size = c.execute("SELECT pg_relation_size(%s::regclass)",
                             (f"{store.schema}.chunks_embedding",)).fetchone()[0]
    return {"rows": done["rows"], "build_s": seconds, "index_mb": size / 2**20,
            "peak_mb": _memory()["VmHWM"]}


def server_memory_mb(command: str = "postgres") -> float:
    """The proportional set size of every `command` process, summed, in MB (shared memory
    divided among its sharers, so a server's shared buffers count once)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/comm"):
        try:
            if status.read_text().strip() != command:
                continue
            rollup = (status.parent / "smaps_rollup").read_text()
        except OSError:  # the process ended meanwhile
            continue
        total += next(int(line.split()[1]) for line in rollup.splitlines()
                      if line.startswith("Pss:"))
    return total / 1024


def search(url: str, ann: str, exact_queries: str = "0", ef_search: str = "") -> dict:
    """(child) The first search of a freshly opened store, then every query's latency; exact
    dense search (the recall reference) for the first `exact_queries` queries (0: all); with
    `ef_search`, that beam instead of the default."""
    from tunewise.config import RetrievalSettings, StoreSettings
    from tunewise.retrieval import Retriever
    from tunewise.store import open_store

    queries, vectors = _queries(), np.load(QUERY_VECTORS)
    before = _memory()["VmRSS"]
    beam = {"ef_search": int(ef_search)} if ef_search else {}
    store = open_store(url, StoreSettings(ann=ann, **beam))
    retriever = Retriever(store, None, RetrievalSettings(k=5))
    started = time.perf_counter()
    retriever.search(queries[0], vector=vectors[0])
    result = {"chunks": store.stats()["chunks"], "first_s": time.perf_counter() - started}
    for mode in ("hybrid", "dense", "keyword"):
        times = []
        for q, v in zip(queries, vectors):
            t = time.perf_counter()
            retriever.search(q, mode=mode, vector=v)
            times.append(time.perf_counter() - t)
        result[mode] = _ms(times)
    times, found = [], 0
    vectors = vectors[:int(exact_queries) or None]
    for v in vectors:
        t = time.perf_counter()
        exact = store.dense(v, 10, exact=True)
        times.append(time.perf_counter() - t)
        found += len({r for r, _ in exact} & {r for r, _ in store.dense(v, 10)})
    result["dense exact"] = _ms(times)
    result["recall@10"] = found / (10 * len(vectors))
    memory = _memory()
    result.update(rss_mb=memory["VmRSS"], peak_mb=memory["VmHWM"], store_mb=memory["VmRSS"] - before)
    return result


def child(*args: str, timeout: float = 3600) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT / "bench")
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def curve(sizes: list[int], vectors: str, server: str = "") -> None:
    """The cost curve of the SQLite store, or with `server` of PostgreSQL: each size's SQLite
    store copied into a collection of its own (timed), then the same build and searches."""
    pg = bool(server)
    print(f"\n### Cost curve, {vectors} ({'PostgreSQL + pgvector' if pg else 'SQLite'}, 2 cores; "
          "query embedding excluded; median / p95 ms)\n")
    # pgvector's exact scan reads every row a query (seconds at a million): 100 queries there
    exact = "100" if pg else "0"
    columns = (["chunks"] + (["copy + HNSW build", "REINDEX"] if pg else ["graph build"])
               + ["index on disk" if pg else "graph on disk", "first search", "hybrid",
                  "dense (HNSW)", "dense exact" + (" (100 queries)" if pg else ""), "keyword",
                  "recall@10" + (" (100 queries)" if pg else ""),
                  "client RSS / peak" if pg else "RSS after / peak"] + (["server PSS"] if pg else []))
    print("| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
    for n in sizes:
        url = source = f"sqlite:{OUT / f'scale-{vectors}-{n}.db'}"
        scifact_copies(SCIFACT_STORE, [source], n=n, mix=vectors == "blends")
        cells = []
        if pg:
            url = f"{server}#scale_{vectors}_{n}"
            seconds = _copied(source, url, n)
            cells.append("(copied before)" if seconds is None else f"{seconds:.0f} s")
        built = child("build", url)
        found = child("search", url, "hnsw", exact)
        cells = [f"{found['chunks']:,}", *cells, f"{built['build_s']:.1f} s",
                 f"{built['index_mb']:.0f} MB", f"{found['first_s']:.1f} s",
                 *(_pair(found[m]) for m in ("hybrid", "dense", "dense exact", "keyword")),
                 f"{found['recall@10']:.3f}", f"{found['rss_mb']:,.0f} / {found['peak_mb']:,.0f} MB"]
        if pg:
            cells.append(f"{server_memory_mb():,.0f} MB")
        print("| " + " | ".join(cells) + " |", flush=True)


def _copied(source: str, target_url: str, n: int) -> float | None:
    """Seconds copying `source` into `target_url` took (rows, then the vector index), or None
    when the target already held `n` chunks."""
    from tunewise.store import open_store
    from tunewise.store.copy import copy_store

    target, started = open_store(target_url), time.perf_counter()
    try:
        if target.stats()["chunks"] >= n:
            return None
        rows = open_store(source)
        copy_store(rows, target, batch_documents=1000)
        rows.close()
        return time.perf_counter() - started
    finally:
        target.close()


def tune(links: list[int], efs: list[int], n: int = 1_000_000) -> None:
    """How many links a node and how wide a search beam: recall@10 against exact search of the
    SciFact *train* queries (the test queries report the curve, so the choice is not made on
    them), for a graph with each number of `links` built from each `n`-chunk store's vectors,
    searched with each beam in `efs`."""
    from tunewise.config import StoreSettings
    from tunewise.store import open_store
    from tunewise.store.ann import HnswIndex

    print(f"\n### Choosing the graph on SciFact's train queries ({n:,} chunks; recall@10 against "
          "exact, median ms a query for the graph's candidates re-scored)\n")
    print("| vectors | links a node | graph build | graph on disk | "
          + " | ".join(f"recall@10 (ms), ef {ef}" for ef in efs) + " |\n" + "|---" * (4 + len(efs)) + "|")
    queries = np.load(TRAIN_VECTORS).astype(np.float32)
    for vectors in ("blends", "copies"):
        url = f"sqlite:{OUT / f'scale-{vectors}-{n}.db'}"
        scifact_copies(SCIFACT_STORE, [url], n=n, mix=vectors == "blends")
        # the store's own vectors and exact search; only the graph differs (its own links)
        store = open_store(url, StoreSettings(ann="exact"))
        exact = [{r for r, _ in store.dense(q, 10)} for q in queries]
        memory = store._refresh()  # the bench reads the store's in-memory vectors
        for m in links:
            graph, started = HnswIndex(memory.vectors.shape[1], connectivity=m), time.perf_counter()
            graph.add(memory.rows, memory.vectors)
            built = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as tmp:
                graph.save(Path(tmp), "tune")
                size = sum(p.stat().st_size for p in Path(tmp).glob("*.usearch"))
            cells = []
            for ef in efs:
                graph.ef_search, found, times = ef, 0, []
                for q, truth in zip(queries, exact):
                    t = time.perf_counter()
                    top = memory.rescored(graph.search(q, 10), q, 10)  # as the store re-scores
                    times.append(time.perf_counter() - t)
                    found += len(truth & {r for r, _ in top})
                cells.append(f"{found / (10 * len(queries)):.3f} ({statistics.median(times) * 1000:.2f} ms)")
            print(f"| {vectors} | {m} | {built:.0f} s | {size / 2**20:.0f} MB | " + " | ".join(cells)
                  + " |", flush=True)
            del graph
        store.close()


def _pair(ms: dict) -> str:
    return f"{ms['p50']:.2f} / {ms['p95']:.2f}"


def scifact_quality() -> None:
    from tunewise.config import Settings
    from tunewise.evaluate.datasets import load_questions
    from tunewise.evaluate.retrieval import evaluate_retrieval
    from tunewise.workspace import Workspace

    print("\n### SciFact test: nDCG@10, the graph against exact search\n")
    print("| method | exact | HNSW | difference |\n|---|---|---|---|")
    questions = load_questions(SCIFACT, "beir", "test")
    scores = {}
    for ann in ("exact", "hnsw"):
        with Workspace(Settings().replace("store", url=SCIFACT_STORE, ann=ann)) as ws:
            scores[ann] = evaluate_retrieval(ws, questions, recall_ks=(10, 100))
    for e, h in zip(scores["exact"], scores["hnsw"]):
        print(f"| {e.mode} | {e.ndcg_at_10:.4f} | {h.ndcg_at_10:.4f} | "
              f"{h.ndcg_at_10 - e.ndcg_at_10:+.4f} |", flush=True)


def ingest_ratio(documents: int = 600, rounds: int = 2) -> None:
    """Chunks a second ingesting the first `documents` SciFact documents into a new store, with
    the graph built at the end (ann = hnsw) and without (exact), alternated."""
    from tunewise.config import Settings
    from tunewise.workspace import Workspace

    corpus = [json.loads(line) for line in open(SCIFACT / "corpus.jsonl")][:documents]
    embedder, rates = None, {"hnsw": [], "exact": []}
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "part.jsonl"
        part.write_text("".join(json.dumps(d) + "\n" for d in corpus))
        for i in range(rounds):
            for ann in ("hnsw", "exact") if i % 2 == 0 else ("exact", "hnsw"):
                settings = Settings().replace("store", url=f"sqlite:{tmp}/{ann}{i}.db", ann=ann)
                with Workspace(settings, embedder=embedder) as ws:
                    embedder = ws.embedder
                    report = ws.ingest([part])
                    chunks = ws.stats()["chunks"]
                    rates[ann].append(chunks / report.seconds)
                    assert (Path(tmp) / f"{ann}{i}.db.ann").exists() == (ann == "hnsw")
    ratio = statistics.median(rates["hnsw"]) / statistics.median(rates["exact"])
    print(f"\ningest of {documents} SciFact documents: {statistics.median(rates['hnsw']):.1f} "
          f"chunks/s with the graph, {statistics.median(rates['exact']):.1f} without; "
          f"ratio {ratio:.3f} (goal ≥ 0.9)", flush=True)


def killed_rebuild(n: int = 100_000, after_s: float = 5.0) -> None:
    """kill -9 a `tunewise store index --rebuild` part-way, then open the store afresh."""
    url = f"sqlite:{OUT / f'scale-blends-{n}.db'}"
    scifact_copies(SCIFACT_STORE, [url], n=n, mix=True)
    process = subprocess.Popen([sys.executable, "-m", "tunewise", "store", "index", "--rebuild",
                                "--store", url], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=ROOT)
    time.sleep(after_s)
    killed = process.poll() is None
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    found = child("search", url, "hnsw")
    print(f"\nkill -9 after {after_s:.0f} s of a rebuild at {n:,} chunks "
          f"({'mid-build' if killed else 'it had finished'}): the next process searched "
          f"{found['chunks']:,} chunks, recall@10 {found['recall@10']:.3f}, first search "
          f"{found['first_s']:.1f} s", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,30000,100000,300000,1000000")
    p.add_argument("--vectors", default="blends,copies",
                   help="blends: each added vector a blend of two real ones; copies: noisy "
                   "copies of the real ones (near-duplicate clusters: HNSW's worst case)")
    p.add_argument("--skip-scifact", action="store_true", help="only the cost curve")
    p.add_argument("--postgres", nargs="?", const="pgserver", default="",
                   help="the curve on PostgreSQL instead (a server URL; default: start pgserver)")
    p.add_argument("--tune", metavar="LINKS", default="",
                   help="instead: choose the graph's links a node (e.g. 32,64) and --ef on "
                   "SciFact's train queries at a million chunks")
    p.add_argument("--ef", default="150,200,300,400", help="--tune: search beams to try")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        what, *rest = args.child
        print(json.dumps(build(*rest) if what == "build" else search(*rest)))
        return

    from tunewise.config import Settings
    from tunewise.workspace import Workspace

    with Workspace(Settings().replace("store", url=SCIFACT_STORE)) as ws:
        ws.ingest([SCIFACT / "corpus.jsonl"])  # a no-op once the store is built
        if not QUERY_VECTORS.exists():
            np.save(QUERY_VECTORS, ws.embedder.embed(_queries()))
        if args.tune and not TRAIN_VECTORS.exists():
            np.save(TRAIN_VECTORS, ws.embedder.embed([q.question for q in _load_questions("train")]))
    if args.tune:
        tune([int(m) for m in args.tune.split(",")], [int(ef) for ef in args.ef.split(",")])
        return
    server = args.postgres
    if server == "pgserver":
        import pgserver

        server = pgserver.get_server(OUT / "pgdata", cleanup_mode=None).get_uri()
    for vectors in args.vectors.split(","):
        sizes = [int(n) for n in args.sizes.split(",")]
        curve(sizes, vectors, server)
    if not args.skip_scifact:
        scifact_quality()
        ingest_ratio()
        killed_rebuild()


if __name__ == "__main__":
    main()
