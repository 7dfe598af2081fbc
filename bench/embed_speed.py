"""Embedding throughput: the ONNX Runtime embedder (float32 and int8) against sentence-transformers'
`encode()` on the same SciFact chunks, alternated round by round in one run (this machine is
shared and noisy: the medians and their ratios are the figures).

    python bench/embed_speed.py [--chunks 512] [--rounds 5]

The chunks are the SciFact store's (bench/out/scifact.db, built by scifact_retrieval.py)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from common import OUT
from tunewise.embeddings.local import LocalEmbedder
from tunewise.embeddings.onnx import OnnxEmbedder
from tunewise.store import open_store


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chunks", type=int, default=512)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--store", default=f"sqlite:{OUT / 'scifact.db'}")
    args = p.parse_args()

    store = open_store(args.store)
    texts = [c.indexed_text for _, c in zip(range(args.chunks), store.iter_chunks())]
    embedders = {"torch encode()": LocalEmbedder(), "onnx float32": OnnxEmbedder(),
                 "onnx int8": OnnxEmbedder(quantize="int8")}
    for e in embedders.values():
        e.embed(texts[:8])  # load, export once, warm up
    rates: dict[str, list[float]] = {name: [] for name in embedders}
    for r in range(args.rounds):
        for name, e in embedders.items():
            started = time.perf_counter()
            e.embed(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
        print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1]:.1f}/s" for n, v in rates.items()),
              file=sys.stderr)
    base = statistics.median(rates["torch encode()"])
    print(f"| embedder | chunks/s (median of {args.rounds}) | ratio to torch |\n|---|---|---|")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
