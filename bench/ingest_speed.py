"""Ingestion speed: end-to-end chunks/s of `Workspace.ingest` (load, chunk, embed, write SQLite)
divided by raw sentence-transformers `encode()` chunks/s on the very same chunk texts, both in
this run, both with the model already loaded.

    python bench/ingest_speed.py [--limit 1000] [--parts 4] [--backend onnx --quantize int8]

The corpus is cut into `--parts` files; each part is encoded raw and ingested back to back (the
order alternating), so that the machine's drifting speed hits both sides alike. A ratio of 1.0
means the pipeline costs nothing beyond the model. With `--backend onnx` the ingest embeds on ONNX
Runtime while the baseline stays torch `encode()`: the ratio is then the end-to-end speed-up."""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

from common import SCIFACT
from tunewise.config import Settings
from tunewise.documents import chunk_document, load_file
from tunewise.embeddings.local import LocalEmbedder
from tunewise.workspace import Workspace


def split_corpus(folder: Path, limit: int, parts: int) -> list[Path]:
    with open(SCIFACT / "corpus.jsonl") as src:
        lines = list(itertools.islice(src, limit) if limit else src)
    size = -(-len(lines) // parts)
    paths = []
    for i in range(parts):
        path = folder / f"part{i}.jsonl"
        path.write_text("".join(lines[i * size : (i + 1) * size]))
        paths.append(path)
    return paths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--limit", type=int, default=0, help="first N SciFact documents (0 = all)")
    p.add_argument("--parts", type=int, default=4)
    p.add_argument("--backend", default="local", help="the ingest's embedder: local or onnx")
    p.add_argument("--quantize", default="none", help="onnx: none or int8")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        parts = split_corpus(Path(tmp), args.limit, args.parts)
        settings = Settings().replace("store", url=f"sqlite:{tmp}/store.db").replace(
            "embedder", backend=args.backend, quantize=args.quantize)
        ws = Workspace(settings)
        embedder = ws.embedder
        embedder.embed(["warm-up"] * 64)  # loaded (and exported) before timing either side
        # the baseline: torch (the ingest's own model when it embeds with torch too)
        model = (embedder if args.backend == "local" else LocalEmbedder()).model
        model.encode(["warm-up"] * 64)
        raw_s = ours_s = chunks = 0.0
        ratios = []
        for i, part in enumerate(parts):
            texts = [c.text for d in load_file(part).documents
                     for c in chunk_document(d, embedder.tokenizer, 256, 32)]
            timings = {}
            for side in (("raw", "ours") if i % 2 == 0 else ("ours", "raw")):
                t = time.perf_counter()
                if side == "raw":
                    model.encode(texts)  # the baseline: sentence-transformers' defaults
                else:
                    report = ws.ingest([part])
                    assert report.chunks == len(texts), (report.chunks, len(texts))
                timings[side] = time.perf_counter() - t
            raw_s, ours_s, chunks = raw_s + timings["raw"], ours_s + timings["ours"], chunks + len(texts)
            ratios.append(timings["raw"] / timings["ours"])
            print(f"part {i + 1}: {len(texts)} chunks, raw encode() {len(texts) / timings['raw']:.1f}"
                  f" chunks/s, tunewise ingest {len(texts) / timings['ours']:.1f} chunks/s, "
                  f"ratio {ratios[-1]:.3f}", flush=True)
        print(f"all {int(chunks)} chunks: raw {chunks / raw_s:.1f} chunks/s, tunewise "
              f"{chunks / ours_s:.1f} chunks/s, ratio {raw_s / ours_s:.3f} "
              f"(median of parts {statistics.median(ratios):.3f})")


if __name__ == "__main__":
    main()
