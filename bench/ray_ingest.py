"""Ingestion on Ray against ingestion in one process, at equal cores: the same SciFact files into a
fresh SQLite store each time, locally (one process, torch on every core) and on a local Ray cluster
of one-CPU nodes (`ray start` processes, one actor each; this process only writes), alternated
round by round. Both sides have their model loaded before the clock starts.

    python bench/ray_ingest.py [--limit 600] [--parts 12] [--rounds 3]

Prints seconds per side per round, the median overhead (Ray ÷ local - 1), and the bytes each
worker process holds."""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from ingest_speed import split_corpus
from tunewise.config import Settings
from tunewise.ingest import Progress, ingest
from tunewise.ingest.ray import RayWorkers, local_cluster
from tunewise.store import open_store
from tunewise.workspace import Workspace


def timed(paths: list[Path], store_path: Path, workers, settings: Settings) -> tuple[float, int]:
    store = open_store(f"sqlite:{store_path}")
    try:
        started = time.perf_counter()
        report = ingest(paths, store, workers, settings)
        return time.perf_counter() - started, report.chunks
    finally:
        store.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--limit", type=int, default=600, help="first N SciFact documents")
    p.add_argument("--parts", type=int, default=12, help="files the documents are cut into")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--nodes", type=int, default=os.cpu_count() or 2, help="one-CPU Ray nodes")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        parts = split_corpus(tmp, args.limit, args.parts)
        settings = Settings()
        embedder = Workspace(settings).embedder
        embedder.embed(["warm-up"] * 32)
        with local_cluster(nodes=args.nodes, cpus=1) as address, \
                RayWorkers(settings, address) as pool:
            pool.embed(["warm-up"] * 64, Progress())()
            overheads = []
            for r in range(args.rounds):
                seconds = {}
                for side in (("local", "ray") if r % 2 == 0 else ("ray", "local")):
                    workers = embedder if side == "local" else pool
                    seconds[side], chunks = timed(parts, tmp / f"{side}-{r}.db", workers, settings)
                overheads.append(seconds["ray"] / seconds["local"] - 1)
                print(f"round {r + 1}: {chunks} chunks, local {seconds['local']:.1f} s "
                      f"({chunks / seconds['local']:.1f} chunks/s), ray {seconds['ray']:.1f} s "
                      f"({chunks / seconds['ray']:.1f} chunks/s), overhead {overheads[-1]:+.1%}",
                      flush=True)
            resident = pool.resident()
        print(f"median overhead of Ray at {args.nodes} CPUs: {statistics.median(overheads):+.1%}")
        for where, rss in resident:
            print(f"worker {where}: {rss / 2**20:.0f} MiB resident")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"driver (this process, which also ran the local side): peak {peak:.0f} MiB resident")


if __name__ == "__main__":
    main()
