"""Helpers shared by the benchmark scripts: the shared datasets and timing summaries."""

from __future__ import annotations

import os
import socket
import statistics
import time
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process, tries: int = 600, pause: float = 0.1) -> bool:
    """Whether GET `url` answered 200 before `tries` attempts ran out or `process` exited."""
    import requests

    for _ in range(tries):
        try:
            if requests.get(url, timeout=1).ok:
                return True
        except requests.ConnectionError:
            if process.poll() is not None:
                return False
            time.sleep(pause)
    return False
