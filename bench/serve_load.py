"""Bounded load test of `tunewise serve` on localhost: N concurrent clients for a fixed time
against the local model (`docs`: retrieval + the bundled model) and against retrieval alone
(`/v1/search`). Prints requests/s, p50/p95 latency and failures per scenario.

The server runs as its own process (`tunewise serve`), the clients are threads here, each sending
its next request as soon as the last one is answered (closed loop).

    python bench/serve_load.py [--chat-clients 4] [--search-clients 8] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
QUESTIONS = [json.loads(line)["question"] for line in
             (ROOT / "sample" / "questions.jsonl").read_text().splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen([str(BIN / "tunewise"), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(url + "/health", timeout=1).ok:
                return server, url
        except requests.ConnectionError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"server did not start: {server.stderr.read()}")


def load(url: str, clients: int, seconds: float, make_request) -> dict:
    """Closed-loop clients for `seconds`; only requests sent before the deadline count."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(i: int) -> None:
        session = requests.Session()
        n = i
        while time.perf_counter() < deadline:
            method, path, body = make_request(n)
            n += clients
            started = time.perf_counter()
            try:
                r = session.request(method, url + path, json=body, timeout=600)
                ok, why = r.ok, f"{r.status_code} {r.text[:120]}"
            except requests.RequestException as exc:
                ok, why = False, str(exc)
            elapsed = time.perf_counter() - started
            with lock:
                (latencies.append(elapsed) if ok else failures.append(why))

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    def p(q: float) -> float:
        return (latencies[min(len(latencies) - 1, round(q * (len(latencies) - 1)))]
                if latencies else float("nan"))

    return {"clients": clients, "seconds": round(wall, 1), "requests": len(latencies),
            "failed": len(failures), "rps": round(len(latencies) / wall, 2),
            "p50_s": round(statistics.median(latencies), 4) if latencies else None,
            "p95_s": round(p(0.95), 4), "first_failures": failures[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chat-clients", type=int, default=4)
    parser.add_argument("--search-clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    store = OUT / "serve-load.db"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUNEWISE_STORE_URL": f"sqlite:{store}",
           "TUNEWISE_REGISTRY": str(OUT / "serve-load-models.toml"),
           "TUNEWISE_SERVE_QUEUE_SIZE": str(max(16, 2 * args.chat_clients))}
    subprocess.run([str(BIN / "tunewise"), "ingest", str(ROOT / "sample" / "corpus")], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    server, url = start_server(env)
    try:
        warm = {"model": "docs", "max_tokens": 4,
                "messages": [{"role": "user", "content": QUESTIONS[0]}]}
        requests.post(url + "/v1/chat/completions", json=warm, timeout=600).raise_for_status()

        def chat(n: int):
            return "POST", "/v1/chat/completions", {
                "model": "docs", "max_tokens": args.max_tokens,
                "messages": [{"role": "user", "content": QUESTIONS[n % len(QUESTIONS)]}]}

        def search(n: int):
            return "POST", "/v1/search", {"query": QUESTIONS[n % len(QUESTIONS)], "k": 5}

        results = {"search": load(url, args.search_clients, args.seconds, search),
                   "chat (local model + retrieval)": load(url, args.chat_clients, args.seconds,
                                                          chat)}
        health = requests.get(url + "/health", timeout=10).json()
    finally:
        server.terminate()  # graceful: uvicorn finishes what is in flight
        server.wait(timeout=60)
    for name, r in results.items():
        print(f"{name:32s} {r['clients']} clients {r['seconds']:>5} s: {r['requests']:>5} ok, "
              f"{r['failed']} failed, {r['rps']:>7} req/s, p50 {r['p50_s']} s, p95 {r['p95_s']} s")
    print(json.dumps({"results": results, "health_after": health, "server_exit": server.returncode},
                     indent=2))


if __name__ == "__main__":
    main()
