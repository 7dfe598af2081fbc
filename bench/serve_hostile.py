"""`tunewise serve` under a hostile mix beside normal traffic, on loopback, bounded in count and
time. Normal traffic: 8 clients search, 4 upload new small documents (closed loop). The hostile
mix, from 3 more threads: bodies far over the limit without a key (announced, and streamed),
oversize chunked bodies with a key, a zip-bomb .docx, a .docx of empty paragraphs, a PDF over the
page limit, bad file names, lone surrogates and malformed JSON. Then the file bombs one at a
time (issue 29: HTML of 100,000 siblings and of 50,000 nested divs, a .docx of 6,000,000 empty
paragraphs, a PDF Flate bomb, a PDF page tree that loops, absurd JSONL, 900 KB without a space,
a prompt longer than the context window), each sent over and over for --bomb-seconds while 2
clients time searches and health checks.

Printed: the normal traffic's p50/p95 with and without the hostile mix (goal: p95 within 1.5×),
the server's peak memory (VmHWM) after each phase against its body limits, the status codes of
the hostile requests (goal: no 5xx anywhere), and the state at the end: every upload the server
accepted is listed exactly once, its file is on disk, and SQLite's integrity check passes. For
the file bombs: search and health p95 during each against calm (goal ≤ 1.5×), its answers, and
the server's and its reader processes' peak memory (goal: ≤ 2× idle + [ingest] max_memory_mb).

    python bench/serve_hostile.py [--seconds 30] [--bomb-seconds 10]
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

import requests

from common import attacking, together
from serve_load import BIN, OUT, QUESTIONS, ROOT, start_server

sys.path.insert(0, str(ROOT))
from tests.hostile_files import (  # noqa: E402
    docx_bytes,
    docx_paragraph_bomb,
    html_nested,
    html_siblings,
    pdf_bytes,
    pdf_flate_bomb,
    pdf_page_tree_loop,
    raw,
)

KEY = "bench-key-0123456789"
UPLOAD_MB, BODY_KB = 1, 64
READER_MB = 256  # [ingest] max_memory_mb of the server's reader processes


def peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            found += [int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
        except OSError:
            pass
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def status(*args, **kwargs) -> int:
    return raw(*args, **kwargs)[0]


def hostile_requests(url: str) -> list:
    """(label, callable returning a status) — each a request a stranger or a careless client
    sends."""
    auth = {"Authorization": f"Bearer {KEY}"}
    bomb = docx_bytes(["bomb"], padding=300 * 2**20)  # ~300 KB on the wire, 300 MB unpacked
    empty = docx_bytes([""] * 10_000 + ["x"])
    long_pdf = pdf_bytes(600)
    piece = b"x" * 65536
    chunked = [b"%x\r\n%s\r\n" % (len(piece), piece)] * 64 + [b"0\r\n\r\n"]

    def upload(name, data, headers=auth):
        return requests.post(url + "/v1/documents", headers=headers, timeout=120,
                             files={"file": (name, data, "application/octet-stream")}).status_code

    def post(path, data, headers=auth):
        return requests.post(url + path, data=data, timeout=120,
                             headers={**headers, "Content-Type": "application/json"}).status_code

    return [
        ("200 MB announced, no key", lambda: status(
            url, "POST /v1/documents HTTP/1.1\nHost: x\nContent-Length: 200000000\n"
            "Content-Type: multipart/form-data; boundary=b\n", read_first=True)),
        ("4 MB streamed to /v1/search, no key", lambda: status(
            url, "POST /v1/search HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n"
            "Content-Type: application/json\n", chunked)),
        ("4 MB chunked to /v1/search, with key", lambda: status(
            url, f"POST /v1/search HTTP/1.1\nHost: x\nAuthorization: Bearer {KEY}\n"
            "Transfer-Encoding: chunked\nContent-Type: application/json\n", chunked)),
        ("malformed JSON, no key", lambda: post("/v1/search", b"{not json", {})),
        ("zip-bomb .docx (300 MB unpacked)", lambda: upload("bomb.docx", bomb)),
        (".docx of 10,000 empty paragraphs", lambda: upload("empty.docx", empty)),
        ("600-page PDF", lambda: upload("long.pdf", long_pdf)),
        ("file name '..'", lambda: upload("..", b"dots")),
        ("file name of 300 characters", lambda: upload("n" * 300 + ".txt", b"x" * 10)),
        ("lone surrogate in chat", lambda: post(
            "/v1/chat/completions", b'{"messages": [{"role": "user", "content": "\\ud800"}]}')),
        ("lone surrogate in embeddings", lambda: post("/v1/embeddings", b'{"input": "\\ud800"}')),
    ]


def file_bombs(url: str) -> list:
    """(label, callable returning a status): the files of issue 29, each made new per call where
    the server would accept it (so it is read again, not found unchanged)."""
    auth = {"Authorization": f"Bearer {KEY}"}
    made = {"docx": docx_paragraph_bomb(6_000_000), "flate": pdf_flate_bomb(300),
            "loop": pdf_page_tree_loop(), "siblings": html_siblings(100_000),
            "nested": html_nested(50_000)}
    n = iter(range(10**9))

    def upload(name, data):
        return requests.post(url + "/v1/documents", headers=auth, timeout=300,
                             files={"file": (name, data, "application/octet-stream")}).status_code

    def fresh(data: bytes) -> bytes:
        return data + f"<!-- {next(n)} -->".encode()

    return [
        ("800 KB .html of 100,000 sibling <p>", lambda: upload("s.html", fresh(made["siblings"]))),
        ("550 KB .html of 50,000 nested <div>", lambda: upload("n.html", fresh(made["nested"]))),
        (f".docx of 6,000,000 empty paragraphs ({len(made['docx']) // 1024} KB)",
         lambda: upload("p.docx", made["docx"])),
        (f"PDF Flate bomb ({len(made['flate']) / 2**20:.1f} MB, 300 MB inflated)",
         lambda: upload("f.pdf", made["flate"])),
        ("PDF whose page tree loops", lambda: upload("l.pdf", made["loop"])),
        ("JSONL nested 100,000 deep, an id of 5,000 digits", lambda: upload(
            "a.jsonl", b"[" * 100_000 + b"\n" + b'{"id": ' + b"9" * 5000 + b"}\n")),
        ("900 KB .txt without a space", lambda: upload("w.txt", b"q" * 899_000 + str(next(n)).encode())),
        ("prompt longer than the context window", lambda: requests.post(
            url + "/v1/chat/completions", headers=auth, timeout=300, json={
                "model": "local", "messages": [{"role": "user", "content": "word " * 9000}],
                "max_tokens": 4}).status_code),
    ]


def probed(url: str, seconds: float, server_pid: int, send=None, key: str = KEY) -> dict:
    """2 clients timing searches (with `key`) and health checks for `seconds`, while `send` (a
    bomb) is sent over and over from another thread; the peak memory of the server and its
    readers meanwhile."""
    auth = {"Authorization": f"Bearer {key}"}
    lat: dict[str, list[float]] = {"search": [], "health": []}
    answers: collections.Counter = collections.Counter()
    deadline = time.perf_counter() + seconds
    peak = {"server": 0.0, "readers": 0.0}

    def client(kind: str) -> None:
        session, n = requests.Session(), 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if kind == "search":
                r = session.post(url + "/v1/search", headers=auth, timeout=60,
                                 json={"query": QUESTIONS[n % len(QUESTIONS)], "k": 5})
            else:
                r = session.get(url + "/health", timeout=60)
            if r.ok:
                lat[kind].append(time.perf_counter() - started)
            answers[f"{kind} {r.status_code}"] += 1
            n += 1

    def bomber() -> None:
        while time.perf_counter() < deadline:
            try:
                answers[send()] += 1
            except (requests.RequestException, OSError) as exc:
                answers[type(exc).__name__] += 1

    def watch() -> None:
        while time.perf_counter() < deadline:
            peak["server"] = max(peak["server"], rss_mb(server_pid))
            peak["readers"] = max([peak["readers"], *(rss_mb(c) for c in children(server_pid))])
            time.sleep(0.05)

    together([lambda: client("search"), lambda: client("health"), watch]
             + ([bomber] if send else []))
    return {"p50": {k: sorted(v)[int(0.5 * (len(v) - 1))] for k, v in lat.items()},
            "p95": {k: sorted(v)[int(0.95 * (len(v) - 1))] for k, v in lat.items()},
            "answers": dict(answers), "peak": peak}


def normal(url: str, seconds: float, accepted: list, statuses: collections.Counter) -> dict:
    """8 searching and 4 uploading clients, closed loop, for `seconds`."""
    auth = {"Authorization": f"Bearer {KEY}"}
    lat: dict[str, list[float]] = {"search": [], "upload": []}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(kind: str, i: int) -> None:
        session, n = requests.Session(), 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if kind == "search":
                r = session.post(url + "/v1/search", headers=auth, timeout=120,
                                 json={"query": QUESTIONS[(i + n) % len(QUESTIONS)], "k": 5})
            else:
                text = f"Bench note {i}-{n}-{time.time_ns()}: the heat pump test ran fine."
                r = session.post(url + "/v1/documents", headers=auth, timeout=120,
                                 files={"file": (f"note-{i}-{n}.txt", text.encode(), "text/plain")})
            elapsed = time.perf_counter() - started
            with lock:
                statuses[r.status_code] += 1
                if r.ok:
                    lat[kind].append(elapsed)
                    if kind == "upload":
                        accepted.append(r.json()["id"])
            n += 1

    together(functools.partial(client, k, i)
             for k, count in (("search", 8), ("upload", 4)) for i in range(count))
    return {k: {"requests": len(v), "p50_s": round(statistics.median(v), 3),
                "p95_s": round(sorted(v)[int(0.95 * (len(v) - 1))], 3)} for k, v in lat.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--bomb-seconds", type=float, default=10)
    args = parser.parse_args()
    work = OUT / "serve-hostile"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    store = work / "store.db"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUNEWISE_STORE_URL": f"sqlite:{store}",
           "TUNEWISE_REGISTRY": str(work / "models.toml"), "TUNEWISE_SERVE_API_KEYS": KEY,
           "TUNEWISE_SERVE_UPLOADS": str(work / "uploads"),
           "TUNEWISE_SERVE_MAX_UPLOAD_MB": str(UPLOAD_MB),
           "TUNEWISE_SERVE_MAX_BODY_KB": str(BODY_KB), "TUNEWISE_INGEST_MAX_PAGES": "500",
           "TUNEWISE_INGEST_MAX_MEMORY_MB": str(READER_MB)}
    subprocess.run([str(BIN / "tunewise"), "ingest", str(ROOT / "sample" / "corpus")], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    server, url = start_server(env)
    accepted: list[str] = []
    statuses: collections.Counter = collections.Counter()
    hostile_statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    try:
        auth = {"Authorization": f"Bearer {KEY}"}
        requests.post(url + "/v1/search", json={"query": "warm up", "k": 1}, headers=auth,
                      timeout=120).raise_for_status()
        for name, data in (("warm.docx", docx_bytes(["A small report."])), ("warm.pdf", pdf_bytes(2))):
            # the .docx and PDF readers load on first use: warm them before measuring memory
            requests.post(url + "/v1/documents", headers=auth, timeout=120,
                          files={"file": (name, data, "application/octet-stream")}).raise_for_status()
        attacks = hostile_requests(url)
        # each hostile request alone first: what it adds to the server's peak memory
        alone = {}
        for label, send in attacks:
            before = peak_rss_mb(server.pid)
            hostile_statuses[label][send()] += 1
            alone[label] = peak_rss_mb(server.pid) - before
        calm = normal(url, args.seconds, accepted, statuses)
        peak_calm = peak_rss_mb(server.pid)
        with attacking(attacks, hostile_statuses, 3):
            under_attack = normal(url, args.seconds, accepted, statuses)
        peak_attack = peak_rss_mb(server.pid)
        # the file bombs, one at a time, against a calm baseline of the same probes
        calm_probe = probed(url, args.bomb_seconds, server.pid)
        bombs = [(label, probed(url, args.bomb_seconds, server.pid, send))
                 for label, send in file_bombs(url)]
        listed = requests.get(url + "/v1/documents", headers={"Authorization": f"Bearer {KEY}"},
                              timeout=60).json()["data"]
    finally:
        server.terminate()
        server.wait(timeout=60)
    ids = [d["id"] for d in listed if d["id"]]
    on_disk = [p for p in (work / "uploads").rglob("*") if p.is_file() and ".staging" not in p.parts]
    integrity = sqlite3.connect(store).execute("PRAGMA integrity_check").fetchone()[0]
    five = sum(n for code, n in statuses.items() if isinstance(code, int) and code >= 500) + sum(
        n for c in hostile_statuses.values() for code, n in c.items()
        if isinstance(code, int) and code >= 500)
    print("| normal traffic | calm p50 / p95 | under the hostile mix p50 / p95 | p95 ratio |")
    print("|---|---|---|---|")
    for kind in ("search", "upload"):
        a, b = calm[kind], under_attack[kind]
        print(f"| {kind} ({a['requests']} / {b['requests']} requests) | {a['p50_s']} / {a['p95_s']} s"
              f" | {b['p50_s']} / {b['p95_s']} s | {b['p95_s'] / a['p95_s']:.2f}× |")
    print(f"\nserver peak memory (VmHWM): {peak_calm:.0f} MB after the calm phase, {peak_attack:.0f} MB "
          f"after the hostile one (+{peak_attack - peak_calm:.0f} MB; body limits {UPLOAD_MB} MB "
          f"upload, {BODY_KB} KB JSON)")
    print("\n| hostile request | status codes (count) | alone: peak memory added |\n|---|---|---|")
    for label, counts in hostile_statuses.items():
        print(f"| {label} | " + ", ".join(f"{c}: {n}" for c, n in sorted(counts.items(), key=str))
              + f" | {alone[label]:+.1f} MB |")
    print(f"\n5xx responses: {five} | normal statuses: {dict(statuses)}")
    print(f"uploads accepted: {len(accepted)} ({len(set(accepted))} distinct) | listed with an id: "
          f"{len(ids)} ({len(set(ids))} distinct) | accepted but not listed: "
          f"{len(set(accepted) - set(ids))} | files on disk: {len(on_disk)} | "
          f"SQLite integrity_check: {integrity}")
    idle = calm_probe["peak"]["server"]
    print(f"\nfile bombs, one at a time for {args.bomb_seconds:g} s each (2 probing clients); calm "
          f"p95: search {calm_probe['p95']['search']:.3f} s, health {calm_probe['p95']['health']:.3f} s,"
          f" server {idle:.0f} MB resident; goal: ≤ 2 × {idle:.0f} + {READER_MB} = "
          f"{2 * idle + READER_MB:.0f} MB")
    print("\n| file bomb | its answers | search p95 | health p95 | peak server + reader MB |")
    print("|---|---|---|---|---|")
    for label, b in bombs:
        codes = ", ".join(f"{c}: {n}" for c, n in sorted(b["answers"].items(), key=str)
                          if not str(c).startswith(("search", "health")))
        five += sum(n for c, n in b["answers"].items()  # "search 503" or a bomb's own 5xx
                    if str(c).split()[-1].isdigit() and int(str(c).split()[-1]) >= 500)
        print(f"| {label} | {codes} | {b['p95']['search']:.3f} s "
              f"({b['p95']['search'] / calm_probe['p95']['search']:.2f}×) | {b['p95']['health']:.3f} s "
              f"({b['p95']['health'] / calm_probe['p95']['health']:.2f}×) | "
              f"{b['peak']['server']:.0f} + {b['peak']['readers']:.0f} = "
              f"{b['peak']['server'] + b['peak']['readers']:.0f} |")
    print(f"\n5xx responses, bombs included: {five}")
    print(json.dumps({"calm": calm, "hostile": under_attack, "peak_mb": [peak_calm, peak_attack],
                      "hostile_statuses": {k: dict(v) for k, v in hostile_statuses.items()}},
                     default=str))


if __name__ == "__main__":
    main()
