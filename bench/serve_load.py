"""Bounded load test of `tunewise serve` on localhost: N concurrent clients for a fixed time
against the local model (`docs`: retrieval + the bundled model) and against retrieval alone
(`/v1/search`). Prints requests/s, p50/p95 latency and failures per scenario.

The server runs as its own process (`tunewise serve`), the clients are threads here, each sending
its next request as soon as the last one is answered (closed loop).

    python bench/serve_load.py [--chat-clients 4] [--search-clients 8] [--seconds 60]
    python bench/serve_load.py --servers 2 --postgres [--upload-clients 2]

With `--servers 2 --postgres`: two server processes on one PostgreSQL collection (a PostgreSQL
started from the `pgserver` package), the clients spread over both, uploads mixed in, and the
seconds until an upload through one server is found through the other (and a deletion likewise).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from common import free_port, together, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
KEY = "serve-load-key-0123456789"  # uploads need a key; searches send it too
AUTH = {"Authorization": f"Bearer {KEY}"}
QUESTIONS = [json.loads(line)["question"] for line in
             (ROOT / "sample" / "questions.jsonl").read_text().splitlines() if line.strip()]


def start_server(env: dict) -> tuple[subprocess.Popen, str]:
    """One `tunewise serve` process on a free port, once it answers /health."""
    port = free_port()
    server = subprocess.Popen([str(BIN / "tunewise"), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    if wait_until_up(url + "/health", server):
        return server, url
    server.kill()
    raise RuntimeError(f"server did not start: {server.stderr.read()}")


def load(urls: list[str], clients: int, seconds: float, make_request) -> dict:
    """Closed-loop clients for `seconds`, client i on server i mod len(urls); only requests sent
    before the deadline count. `make_request(n)` gives (method, path, json or files)."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(i: int) -> None:
        session, url = requests.Session(), urls[i % len(urls)]
        n = i
        while time.perf_counter() < deadline:
            method, path, body = make_request(n)
            n += clients
            started = time.perf_counter()
            upload = {"files": body} if path == "/v1/documents" else {"json": body}
            try:
                r = session.request(method, url + path, headers=AUTH, timeout=600, **upload)
                ok, why = r.ok, f"{r.status_code} {r.text[:120]}"
            except requests.RequestException as exc:
                ok, why = False, str(exc)
            elapsed = time.perf_counter() - started
            with lock:
                (latencies.append(elapsed) if ok else failures.append(why))

    started = time.perf_counter()
    together(functools.partial(client, i) for i in range(clients))
    wall = time.perf_counter() - started
    latencies.sort()
    def p(q: float) -> float:
        return (latencies[min(len(latencies) - 1, round(q * (len(latencies) - 1)))]
                if latencies else float("nan"))

    return {"clients": clients, "seconds": round(wall, 1), "requests": len(latencies),
            "failed": len(failures), "rps": round(len(latencies) / wall, 2),
            "p50_s": round(statistics.median(latencies), 4) if latencies else None,
            "p95_s": round(p(0.95), 4), "first_failures": failures[:3]}


def seconds_until(check, limit: float = 30.0) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > limit:
            return float("inf")
        time.sleep(0.02)
    return time.perf_counter() - started


def visibility(urls: list[str]) -> dict:
    """Seconds until an upload through the first server is found through the last, and until its
    deletion through the last is seen by the first."""
    def found(url: str) -> bool:
        hits = requests.post(url + "/v1/search", headers=AUTH, timeout=60,
                             json={"query": "cloudberry porridge canteen", "k": 3}).json()["data"]
        return any(h["source"] == "canteen.txt" for h in hits)

    fact = b"The canteen serves cloudberry porridge on Tuesdays."
    up = requests.post(urls[0] + "/v1/documents", headers=AUTH, timeout=60,
                       files={"file": ("canteen.txt", fact, "text/plain")})
    up.raise_for_status()
    seen = seconds_until(lambda: found(urls[-1]))
    requests.delete(f"{urls[-1]}/v1/documents/{up.json()['id']}", headers=AUTH,
                    timeout=60).raise_for_status()
    gone = seconds_until(lambda: not found(urls[0]))
    return {"upload_seen_s": round(seen, 3), "delete_seen_s": round(gone, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chat-clients", type=int, default=4)
    parser.add_argument("--search-clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--servers", type=int, default=1, help="server processes on one store")
    parser.add_argument("--postgres", action="store_true",
                        help="a PostgreSQL collection (from pgserver) instead of a SQLite file")
    parser.add_argument("--upload-clients", type=int, default=0,
                        help="clients uploading small documents during the search load")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:  # a fresh store and uploads folder each run
        run(args, Path(tmp))


def run(args, tmp: Path) -> None:
    if args.postgres:
        import pgserver

        postgres = pgserver.get_server(tmp / "pgdata", cleanup_mode="stop")
        store = f"{postgres.get_uri()}#serve_load"
    else:
        postgres, store = None, f"sqlite:{tmp / 'store.db'}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUNEWISE_STORE_URL": store,
           "TUNEWISE_REGISTRY": str(OUT / "serve-load-models.toml"),
           "TUNEWISE_SERVE_UPLOADS": str(tmp / "uploads"),
           "TUNEWISE_SERVE_API_KEYS": KEY,
           "TUNEWISE_SERVE_QUEUE_SIZE": str(max(16, 2 * args.chat_clients))}
    subprocess.run([str(BIN / "tunewise"), "ingest", str(ROOT / "sample" / "corpus")], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    servers = [start_server(env) for _ in range(args.servers)]
    urls = [url for _, url in servers]
    try:
        warm = {"model": "docs", "max_tokens": 4,
                "messages": [{"role": "user", "content": QUESTIONS[0]}]}
        for url in urls:
            requests.post(url + "/v1/chat/completions", json=warm, headers=AUTH,
                          timeout=600).raise_for_status()

        def chat(n: int):
            return "POST", "/v1/chat/completions", {
                "model": "docs", "max_tokens": args.max_tokens,
                "messages": [{"role": "user", "content": QUESTIONS[n % len(QUESTIONS)]}]}

        def search(n: int):
            return "POST", "/v1/search", {"query": QUESTIONS[n % len(QUESTIONS)], "k": 5}

        def search_or_upload(n: int):
            if n % (args.search_clients + args.upload_clients) >= args.search_clients:
                note = f"Load note {n}: the heat pump number {n} hums at night.".encode()
                return "POST", "/v1/documents", {"file": (f"note-{n}.txt", note, "text/plain")}
            return search(n)

        results = {"search": load(urls, args.search_clients, args.seconds, search)}
        if args.upload_clients:
            results["search + uploads"] = load(urls, args.search_clients + args.upload_clients,
                                               args.seconds, search_or_upload)
        results["chat (local model + retrieval)"] = load(urls, args.chat_clients, args.seconds, chat)
        seen = visibility(urls) if len(urls) > 1 else {}
        health = requests.get(urls[0] + "/health", timeout=10).json()
    finally:
        for server, _ in servers:
            server.terminate()  # graceful: uvicorn finishes what is in flight
        for server, _ in servers:
            server.wait(timeout=60)
        if postgres is not None:
            postgres.cleanup()
    for name, r in results.items():
        print(f"{name:32s} {r['clients']} clients {r['seconds']:>5} s: {r['requests']:>5} ok, "
              f"{r['failed']} failed, {r['rps']:>7} req/s, p50 {r['p50_s']} s, p95 {r['p95_s']} s")
    if seen:
        print(f"upload through server 1 found through server {len(urls)} after "
              f"{seen['upload_seen_s']} s; its deletion seen after {seen['delete_seen_s']} s")
    print(json.dumps({"results": results, "visibility": seen, "health_after": health,
                      "server_exits": [server.returncode for server, _ in servers]}, indent=2))


if __name__ == "__main__":
    main()
