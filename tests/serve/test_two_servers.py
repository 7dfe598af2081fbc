"""Two `tunewise serve` processes on one PostgreSQL collection, as a team would run them behind a
load balancer: an upload through one is found through the other within a second, a deletion
likewise, and a mixed load spread over both has no failures."""

import os
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.http_server import free_port, wait_until_up

KEY = "two-servers-key-0123456789"
CONFIG = """
[store]
url = "{url}"
[serve]
api_keys = ["{key}"]
uploads = "uploads"
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory, postgres_url):
    """(URL of server A, URL of server B): two processes, one collection, one uploads folder."""
    import psycopg

    root = tmp_path_factory.mktemp("two-servers")
    name = f"two_servers_{os.getpid()}"
    (root / "tunewise.toml").write_text(CONFIG.format(url=f"{postgres_url}#{name}", key=KEY))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    processes, urls = [], []
    for label in ("a", "b"):
        port = free_port()
        log = open(root / f"server-{label}.log", "wb")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "tunewise", "serve", "--port", str(port)], cwd=root, env=env,
            stdout=log, stderr=subprocess.STDOUT))
        urls.append(f"http://127.0.0.1:{port}")
    for url, process in zip(urls, processes):
        wait_until_up(url + "/health", process)
    yield urls
    for process in processes:
        process.terminate()
        process.wait(timeout=30)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS tunewise_{name} CASCADE")


AUTH = {"Authorization": f"Bearer {KEY}"}


def search(url: str, query: str) -> list[dict]:
    answer = requests.post(url + "/v1/search", headers=AUTH, json={"query": query, "k": 3})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def seconds_until(check, limit: float = 5.0) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < limit, "not seen in time"
        time.sleep(0.05)
    return time.monotonic() - started


def test_an_upload_through_one_is_found_through_the_other(servers):
    a, b = servers
    fact = b"The two-server canteen serves cloudberry porridge on Tuesdays."
    for server in (a, b):  # both have read the collection (and loaded the embedder) before
        search(server, "cloudberry porridge")  # the upload, indexed by A's ingest process
    up = requests.post(a + "/v1/documents", headers=AUTH,
                       files={"file": ("canteen.txt", fact, "text/plain")})
    assert up.status_code == 201, up.text
    found = seconds_until(lambda: any(h["source"] == "canteen.txt"
                                      for h in search(b, "cloudberry porridge")))
    assert found < 1.0
    for mode in ("keyword", "dense"):
        hits = requests.post(b + "/v1/search", headers=AUTH, json={
            "query": "cloudberry porridge", "k": 1, "mode": mode}).json()["data"]
        assert hits[0]["source"] == "canteen.txt", mode
    listed = requests.get(b + "/v1/documents", headers=AUTH).json()["data"]
    assert [d["source"] for d in listed] == ["canteen.txt"]
    gone = requests.delete(f"{b}/v1/documents/{up.json()['id']}", headers=AUTH)
    assert gone.status_code == 200 and gone.json()["documents"] == 1
    removed = seconds_until(lambda: not any(h["source"] == "canteen.txt"
                                            for h in search(a, "cloudberry porridge")))
    assert removed < 1.0


def test_a_load_spread_over_both_has_no_failures(servers):
    statuses: list[int] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 6

    def client(i: int) -> None:
        url = servers[i % 2]
        n = 0
        while time.monotonic() < deadline:
            n += 1
            if n % 5 == 0:  # every fifth request an upload, the rest searches
                r = requests.post(url + "/v1/documents", headers=AUTH, files={"file": (
                    f"note-{i}-{n}.txt", f"Load note {i}-{n}: the heat pump {n} hums.".encode(),
                    "text/plain")})
            else:
                r = requests.post(url + "/v1/search", headers=AUTH,
                                  json={"query": f"heat pump {n} hums", "k": 5})
            with lock:
                statuses.append(r.status_code)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses and all(s in (200, 201) for s in statuses), sorted(set(statuses))
    uploads = sum(s == 201 for s in statuses)
    for url in servers:  # every upload listed once, through either server
        listed = requests.get(url + "/v1/documents", headers=AUTH).json()["data"]
        notes = [d["source"] for d in listed if d["source"].startswith("note-")]
        assert len(notes) == len(set(notes)) == uploads
