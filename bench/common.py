"""Helpers shared by the benchmark scripts: the shared datasets and timing summaries."""

from __future__ import annotations

import os
import socket
import statistics
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

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


def together(calls: Iterable[Callable[[], object]]) -> None:
    """Run each zero-argument callable in a thread of its own; return when all are done."""
    threads = [threading.Thread(target=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@contextmanager
def in_background(work: Callable, count: int, *args) -> Iterator[None]:
    """`count` threads running `work(i, stop, *args)` while the block runs; then `stop` is set
    and they are joined."""
    stop = threading.Event()
    threads = [threading.Thread(target=work, args=(i, stop, *args)) for i in range(count)]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        stop.set()
        for t in threads:
            t.join()


@contextmanager
def attacking(attacks: list, statuses: dict, count: int) -> Iterator[None]:
    """`count` threads sending the (label, send) `attacks` in turn while the block runs, each
    answer (a status, or the exception's name) counted in statuses[label]."""
    import requests

    def attacker(offset: int, stop: threading.Event) -> None:
        n = offset
        while not stop.is_set():
            label, send = attacks[n % len(attacks)]
            try:
                statuses[label][send()] += 1
            except (requests.RequestException, OSError) as exc:
                statuses[label][type(exc).__name__] += 1
            n += count

    with in_background(attacker, count):
        yield
