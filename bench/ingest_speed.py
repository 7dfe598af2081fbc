"""Ingestion speed: end-to-end chunks/s of `Workspace.ingest` (load, chunk, embed, write SQLite)
divided by raw sentence-transformers `encode()` chunks/s on the very same chunk texts, both in
this run, both with the model already loaded.

    python bench/ingest_speed.py [--limit 1000] [--repeat 1]

A ratio of 1.0 means the pipeline costs nothing beyond the model."""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

from common import SCIFACT

from tunewise.api import Workspace
from tunewise.config import Settings
from tunewise.documents import chunk_document, load_file


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--limit", type=int, default=0, help="first N SciFact documents (0 = all)")
    p.add_argument("--repeat", type=int, default=1, help="alternate baseline and ours N times")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        with open(SCIFACT / "corpus.jsonl") as src, open(corpus, "w") as dst:
            lines = itertools.islice(src, args.limit) if args.limit else src
            dst.writelines(lines)
        probe = Workspace(Settings())
        embedder = probe.embedder
        model = embedder.model  # load before timing either side
        texts = [c.text for d in load_file(corpus).documents
                 for c in chunk_document(d, embedder.tokenizer, 256, 32)]
        print(f"{len(texts)} chunks from {args.limit or 'all'} SciFact documents")
        model.encode(texts[:64])  # warm-up
        ratios = []
        for run in range(args.repeat):
            t = time.perf_counter()
            model.encode(texts)  # the baseline: sentence-transformers defaults
            raw = len(texts) / (time.perf_counter() - t)

            ws = Workspace(Settings().replace("store", url=f"sqlite:{tmp}/run{run}.db"))
            ws.__dict__["embedder"] = embedder
            t = time.perf_counter()
            report = ws.ingest([corpus])
            ours = report.chunks / (time.perf_counter() - t)
            assert report.chunks == len(texts), (report.chunks, len(texts))
            ws.close()
            ratios.append(ours / raw)
            print(f"run {run + 1}: raw encode() {raw:.1f} chunks/s, tunewise ingest "
                  f"{ours:.1f} chunks/s, ratio {ours / raw:.3f}")
        print(f"median ratio {statistics.median(ratios):.3f} over {len(ratios)} run(s)")


if __name__ == "__main__":
    main()
