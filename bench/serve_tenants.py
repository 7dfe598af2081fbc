"""One tenant cannot hurt another (issue 38), measured on loopback against a `tunewise serve`
process: team B's searches (and `/health`) while team A uploads heavy files, while the
amplification bombs are uploaded, the local model's decode speed while uploads are indexed, and
a kill -9 with uploads queued. A sibling of serve_hostile.py, whose helpers it uses.

Printed: search and health p50/p95 calm and under each load (goal: p95 ≤ 1.5× calm), team A's
answers (201/202/429), the server's resident memory during the .docx text bomb against idle
(goal ≤ 1.5×), how long the 1 MB `<a` HTML takes to end (goal ≤ max_seconds + 2 s), decode
tokens/s calm and during uploads (goal ≥ 0.9×), and after kill -9 and restart: every
acknowledged upload indexed exactly once.

    python bench/serve_tenants.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

import requests

from common import free_port, in_background, wait_until_up
from serve_hostile import probed
from serve_load import BIN, OUT, ROOT

sys.path.insert(0, str(ROOT))
from tests.hostile_files import docx_with_body  # noqa: E402

A, B, C = "team-a-key-0123456789", "team-b-key-0123456789", "team-c-key-0123456789"
MAX_SECONDS = 20  # [ingest] max_seconds of the server
CONFIG = f"""
[store]
url = "sqlite:store.db"
[ingest]
max_seconds = {MAX_SECONDS}
[serve]
uploads = "uploads"
upload_wait_s = {{wait}}
[serve.keys.a]
key_env = "A_KEY"
read = ["a"]
write = ["a"]
[serve.keys.b]
key_env = "B_KEY"
read = ["b"]
write = ["b"]
[serve.keys.c]
key_env = "C_KEY"
read = ["c"]
write = ["c"]
"""


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def start(work, wait: float) -> tuple[subprocess.Popen, str]:
    (work / "tunewise.toml").write_text(CONFIG.format(wait=wait))
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "A_KEY": A, "B_KEY": B, "C_KEY": C,
           "TUNEWISE_REGISTRY": str(work / "models.toml")}
    server = subprocess.Popen([str(BIN / "tunewise"), "serve", "--port", str(port)], cwd=work,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    if not wait_until_up(url + "/health", server):
        raise RuntimeError("the server did not start")
    return server, url


def prose(n: int, size: int) -> bytes:
    """`size` bytes of varied sentences (so a file is read, chunked and embedded in full)."""
    words = "heat pump clearance outdoor unit installer defrost cycle refrigerant".split()
    out, i, total = [], n * 7919, 0
    while total < size:
        out.append(" ".join(words[(i + j * 3) % len(words)] for j in range(12)) + f" {i}. ")
        total += len(out[-1])
        i += 1
    return "".join(out).encode()[:size]


def probe(url: str, pid: int, seconds: float, load=None) -> dict:
    """Team B's searches and health checks timed for `seconds` (serve_hostile.probed) while team
    A's `load` runs; the server's peak resident memory meanwhile."""
    answers: collections.Counter = collections.Counter()
    with loading(load, answers):
        found = probed(url, seconds, pid, key=B)
    return {**found, "answers": {**found["answers"], **answers}, "rss": found["peak"]["server"],
            "children": found["peak"]["readers"]}  # the ingest process and reader processes


def loading(load, answers: collections.Counter):
    """Team A's load — (work, threads) from heavy_uploads or bomb — running while the block
    runs; none when `load` is None."""
    return in_background(load[0], load[1], answers) if load else contextlib.nullcontext()


def heavy_uploads(url: str) -> tuple:
    """Team A's six clients, each uploading new 400 KB prose files back to back (a 429 waits
    its Retry-After)."""
    def load(i: int, stop: threading.Event, answers: collections.Counter) -> None:
        n = 0
        while not stop.is_set():
            r = requests.post(url + "/v1/documents", headers=auth(A), timeout=300,
                              files={"file": (f"a{i}-{n}.txt", prose(i * 1000 + n, 400_000),
                                              "text/plain")})
            answers[f"team A upload {r.status_code}"] += 1
            if r.status_code == 429:
                time.sleep(float(r.headers.get("Retry-After", 1)))
            n += 1
    return load, 6


def bomb(url: str, name: str, data_of) -> tuple:
    """One client of team A sending the file `data_of(n)` over and over."""
    def load(i: int, stop: threading.Event, answers: collections.Counter) -> None:
        n = 0
        while not stop.is_set():
            started = time.perf_counter()
            r = requests.post(url + "/v1/documents", headers=auth(A), timeout=300,
                              files={"file": (name, data_of(n), "application/octet-stream")})
            answers[f"{name} {r.status_code}"] += 1
            answers[f"{name} seconds"] = max(answers.get(f"{name} seconds", 0),
                                             round(time.perf_counter() - started, 2))
            n += 1
    return load, 1


def settle(url: str) -> None:
    """Wait until the upload queue is empty (what one phase queued never runs into the next)."""
    while requests.get(url + "/health", timeout=120).json().get("uploads_waiting"):
        time.sleep(0.5)


def decode_speed(url: str, seconds: float, load=None) -> float:
    """Median completion tokens/s of the local model (no retrieval) over `seconds`."""
    rates = []
    with loading(load, collections.Counter()):
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or not rates:
            started = time.perf_counter()
            r = requests.post(url + "/v1/chat/completions", headers=auth(B), timeout=300, json={
                "model": "local", "max_tokens": 48, "temperature": 0,
                "messages": [{"role": "user", "content": "Write about heat pumps in winter."}]})
            r.raise_for_status()
            rates.append(r.json()["usage"]["completion_tokens"] / (time.perf_counter() - started))
    return statistics.median(rates)


def text_bomb(n: int) -> bytes:
    """~200 KB .docx of 40,000 one-line paragraphs: 40+ MB of text (issue 38's)."""
    line = b"<w:p><w:r><w:t>" + b"amplified paragraph text " * 40 + b"</w:t></w:r></w:p>"
    return docx_with_body(line * 40_000 + f"<w:p><w:r><w:t>{n}</w:t></w:r></w:p>".encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    work = OUT / "serve-tenants"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUNEWISE_REGISTRY": str(work / "models.toml")}
    subprocess.run([str(BIN / "tunewise"), "ingest", str(ROOT / "sample" / "corpus"), "--store",
                    f"sqlite:{work / 'store.db'}#b"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    server, url = start(work, wait=30)
    rows = []
    try:
        requests.post(url + "/v1/search", headers=auth(B), timeout=120,
                      json={"query": "warm up", "k": 1}).raise_for_status()
        calm = probe(url, server.pid, args.seconds)
        idle_rss = calm["rss"]
        rows.append(("calm", calm))
        rows.append(("team A: 6 clients uploading 400 KB files", probe(url, server.pid, args.seconds,
                                                                       heavy_uploads(url))))
        settle(url)
        rows.append((f"team A: .docx text bomb ({len(text_bomb(0)) // 1024} KB → 40 MB of text)",
                     probe(url, server.pid, args.seconds, bomb(url, "text.docx", text_bomb))))
        settle(url)
        rows.append(("team A: 1 MB of unfinished `<a` tags (HTML)", probe(
            url, server.pid, args.seconds, bomb(url, "tags.html",
                                    lambda n: b"<p>x</p>" + b"<a" * 500_000 + str(n).encode()))))
        settle(url)
        calm_decode = decode_speed(url, args.seconds)
        busy_decode = decode_speed(url, args.seconds, heavy_uploads(url))
    finally:
        server.terminate()
        server.wait(timeout=60)
    print("| team B's traffic | search p50 / p95 | p95 × calm | health p95 | × calm | "
          "server peak RSS | largest child's peak RSS | answers to team A |")
    print("|---|---|---|---|---|---|---|---|")
    base = rows[0][1]
    for label, r in rows:
        others = ", ".join(f"{k}: {v}" for k, v in sorted(r["answers"].items())
                           if not k.startswith(("search", "health")))
        fails = {k: v for k, v in r["answers"].items()
                 if k.startswith(("search", "health")) and not k.endswith("200")}
        print(f"| {label} | {r['p50']['search'] * 1000:.0f} / {r['p95']['search'] * 1000:.0f} ms | "
              f"{r['p95']['search'] / base['p95']['search']:.2f}× | "
              f"{r['p95']['health'] * 1000:.0f} ms | {r['p95']['health'] / base['p95']['health']:.2f}× | "
              f"{r['rss']:.0f} MB ({r['rss'] / idle_rss:.2f}× idle) | {r['children']:.0f} MB | "
              f"{others or '–'}"
              f"{' | failed probes: ' + str(fails) if fails else ''} |")
    print(f"\ndecode tokens/s of the local model: calm {calm_decode:.1f}, while team A uploads "
          f"{busy_decode:.1f} ({busy_decode / calm_decode:.2f}×)")
    crash(work)


def crash(work) -> None:
    """Uploads acknowledged (202: upload_wait_s ~ 0), the server killed -9 at once, restarted:
    every acknowledged upload is indexed exactly once."""
    server, url = start(work, wait=0.001)
    acknowledged = []
    for key in (A, B, C):
        for n in range(4):
            r = requests.post(url + "/v1/documents", headers=auth(key), timeout=120,
                              files={"file": (f"crash-{n}.txt", prose(50_000 + n * 7 + len(key)
                                                                      + ord(key[5]), 200_000),
                                              "text/plain")})
            if r.status_code in (201, 202):
                acknowledged.append((key, r.json()["id"], r.status_code))
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    waiting = [p for p in (work / "uploads").glob("*/.queue/*.json")]
    started = time.perf_counter()
    server, url = start(work, wait=30)
    try:
        while requests.get(url + "/health", timeout=60).json().get("uploads_waiting"):
            time.sleep(0.5)
        indexed = time.perf_counter() - started
        states = collections.Counter(
            requests.get(f"{url}/v1/documents/{doc_id}", headers=auth(key), timeout=60).json()
            .get("status") for key, doc_id, _ in acknowledged)
    finally:
        server.terminate()
        server.wait(timeout=60)
    # exactly once: each uploaded file one row in `files`, its documents' chunks no more than
    # their n_chunks, in every collection's store
    twice, integrity = 0, set()
    for name in ("a", "b", "c"):
        db = sqlite3.connect(work / f"store.{name}.db")
        twice += db.execute("SELECT COUNT(*) FROM documents d WHERE d.n_chunks != (SELECT "
                            "COUNT(*) FROM chunks c WHERE c.document_id = d.id)").fetchone()[0]
        twice += db.execute("SELECT COUNT(*) - COUNT(DISTINCT path) FROM documents WHERE path "
                            "LIKE '%/uploads/%'").fetchone()[0]  # an upload: one .txt, one document
        integrity.add(db.execute("PRAGMA integrity_check").fetchone()[0])
        db.close()
    print(f"\nkill -9 with uploads queued: {len(acknowledged)} acknowledged "
          f"({collections.Counter(s for *_, s in acknowledged)}), {len(waiting)} records still "
          f"queued at the kill; after restart, all indexed in {indexed:.1f} s: {dict(states)}; "
          f"documents stored twice or with missing chunks: {twice}; SQLite integrity_check: "
          f"{integrity}")


if __name__ == "__main__":
    main()
