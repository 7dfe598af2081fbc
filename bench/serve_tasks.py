"""The winner of a task decision, served: POST /v1/tasks/NAME of a `tunewise serve` process on
loopback, for the task bench/decide_task.py registered (its recommended system on PhraseBank).

Measured: the latency of one sentence a request (sequential, p50/p95), the throughput of batches
of 64 (one client, then 4 at once), and the same one-sentence traffic under a hostile mix on the
task routes (malformed JSON, wrong types, over-long inputs, too many inputs, 4 MB bodies, lone
surrogates, unknown tasks, no key): its p50/p95 against calm and every status code (goal: no
5xx). Goals (issue 36): p50 ≤ 20 ms for one sentence, ≥ 200 sentences/s in batches, on 2 cores.

    python bench/decide_task.py && python bench/serve_tasks.py [--requests 300] [--seconds 20]
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import statistics
import time
import tomllib

import requests

from common import attacking, percentile, together
from serve_load import OUT, start_server

KEY = "serve-tasks-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
WORK = OUT / "decide"


def sentences() -> list[str]:
    test = WORK / "fpb" / "data" / "test.jsonl"
    return [json.loads(line)["text"] for line in test.read_text().splitlines() if line.strip()]


def one_at_a_time(url: str, task: str, texts: list[str], n: int) -> list[float]:
    times = []
    for i in range(n):
        started = time.perf_counter()
        r = requests.post(f"{url}/v1/tasks/{task}", json={"inputs": [texts[i % len(texts)]]},
                          headers=AUTH, timeout=60)
        times.append(time.perf_counter() - started)
        r.raise_for_status()
    return times


def batches(url: str, task: str, texts: list[str], clients: int, per_client: int,
            size: int = 64) -> float:
    """Sentences a second over `clients` closed-loop clients sending batches of `size`."""
    def client(offset: int) -> None:
        for b in range(per_client):
            start = ((offset * per_client + b) * size) % max(1, len(texts) - size)
            requests.post(f"{url}/v1/tasks/{task}", json={"inputs": texts[start:start + size]},
                          headers=AUTH, timeout=300).raise_for_status()

    started = time.perf_counter()
    together(functools.partial(client, i) for i in range(clients))
    return clients * per_client * size / (time.perf_counter() - started)


def hostile(url: str, task: str) -> list:
    def post(path, body: bytes, headers=AUTH):
        return requests.post(url + path, data=body, timeout=120,
                             headers={**headers, "Content-Type": "application/json"}).status_code

    many = json.dumps({"inputs": ["a short sentence"] * 10_000}).encode()
    long_one = json.dumps({"inputs": ["word " * 30_000]}).encode()  # 150,000 characters
    cut = json.dumps({"inputs": ["profit rose " * 8_000]}).encode()  # 96,000: allowed, cut
    return [
        ("malformed JSON", lambda: post(f"/v1/tasks/{task}", b"{not json")),
        ("inputs not a list", lambda: post(f"/v1/tasks/{task}", b'{"inputs": "text"}')),
        ("inputs of numbers", lambda: post(f"/v1/tasks/{task}", b'{"inputs": [1, 2, 3]}')),
        ("10,000 inputs", lambda: post(f"/v1/tasks/{task}", many)),
        ("one input of 150,000 characters", lambda: post(f"/v1/tasks/{task}", long_one)),
        ("one input of 96,000 characters", lambda: post(f"/v1/tasks/{task}", cut)),
        ("4 MB body", lambda: post(f"/v1/tasks/{task}", b'{"inputs": ["' + b"x" * 4_500_000
                                   + b'"]}')),
        ("lone surrogate", lambda: post(f"/v1/tasks/{task}", b'{"inputs": ["\\ud800"]}')),
        ("unknown task", lambda: post("/v1/tasks/nope", b'{"inputs": ["x"]}')),
        ("empty inputs", lambda: post(f"/v1/tasks/{task}", b'{"inputs": []}')),
        ("no key", lambda: post(f"/v1/tasks/{task}", b'{"inputs": ["x"]}', {})),
        ("task:NAME chat, malformed", lambda: post("/v1/chat/completions",
                                                   b'{"model": "task:' + task.encode()
                                                   + b'", "messages": []}')),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--seconds", type=float, default=20)
    args = p.parse_args()
    registry = WORK / "registry.toml"
    if not registry.exists():
        raise SystemExit("run bench/decide_task.py first: it registers the task served here")
    task, table = next(iter(tomllib.loads(registry.read_text())["tasks"].items()))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUNEWISE_REGISTRY": str(registry),
           "TUNEWISE_SERVE_API_KEYS": KEY, "TUNEWISE_STORE_URL": f"sqlite:{WORK / 'unused.db'}"}
    server, url = start_server(env)
    texts = sentences()
    try:
        one_at_a_time(url, task, texts, 5)  # load the model
        calm = one_at_a_time(url, task, texts, args.requests)
        single = batches(url, task, texts, 1, 10)
        four = batches(url, task, texts, 4, 5)
        statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        with attacking(hostile(url, task), statuses, 2):
            attacked = one_at_a_time(url, task, texts, args.requests)
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"task {task!r}: {table['system']} of {table['run']}")
    print("\n| measure | value |\n|---|---|")
    print(f"| one sentence a request, p50 / p95 ({args.requests} sequential) | "
          f"{1000 * statistics.median(calm):.1f} / {1000 * percentile(calm, 95):.1f} ms |")
    print(f"| batches of 64, one client | {single:.0f} sentences/s |")
    print(f"| batches of 64, 4 clients at once | {four:.0f} sentences/s |")
    print(f"| one sentence under the hostile mix, p50 / p95 | "
          f"{1000 * statistics.median(attacked):.1f} / {1000 * percentile(attacked, 95):.1f} ms |")
    five = sum(n for c in statuses.values() for code, n in c.items()
               if isinstance(code, int) and code >= 500)
    print("\n| hostile request | status codes (count) |\n|---|---|")
    for label, counts in statuses.items():
        print(f"| {label} | " + ", ".join(f"{c}: {n}" for c, n in sorted(counts.items(), key=str))
              + " |")
    print(f"\n5xx responses: {five}")


if __name__ == "__main__":
    main()
