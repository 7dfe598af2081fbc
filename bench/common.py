"""Helpers shared by the benchmark scripts: the shared datasets and timing summaries."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("TUNEWISE_DATA", ROOT.parent / "shared" / "data"))
SCIFACT = DATA / "scifact"
OUT = ROOT / "bench" / "out"  # stores built by the benchmarks (git-ignored)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary_ms(seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"median {statistics.median(ms):.2f} ms, p95 {percentile(ms, 95):.2f} ms (n={len(ms)})"
