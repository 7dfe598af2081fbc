"""Uploads are indexed off the request path by the upload queue (serve/uploads.py): bounded per
key (429) and in all (503), durable (a record before the acknowledgement, replayed on start),
their state readable; a health check never waits behind the store."""

import json
import threading
import time

import pytest
import requests

from tests.serve.conftest import KEY, start
from tunewise.config import Settings
from tunewise.serve.uploads import QueueFull, TooManyUploads, UploadQueue
from tunewise.store import DEFAULT_COLLECTION
from tunewise.workspace import Workspace

AUTH = {"Authorization": f"Bearer {KEY}"}


class Gate:
    """An index function that holds every job until released, and counts what it indexed."""

    def __init__(self):
        self.open = threading.Event()
        self.indexed: list[str] = []

    def __call__(self, collection, path):
        self.open.wait(30)
        self.indexed.append(f"{collection}/{path.parent.name}")
        return None


def placed(root, collection, doc_id, text=b"text"):
    folder = root / collection / doc_id
    folder.mkdir(parents=True)
    (folder / "a.txt").write_bytes(text)
    return folder / "a.txt"


def test_a_key_past_its_uploads_in_flight_gets_429_and_other_keys_go_on(tmp_path):
    gate = Gate()
    queue = UploadQueue(tmp_path, gate, workers=1, per_key=2, size=3)
    for i in range(2):
        queue.submit("a", f"{i:016x}", placed(tmp_path, "a", f"{i:016x}"), key="team-a")
    with pytest.raises(TooManyUploads, match=r"uploads_per_key") as refused:
        queue.submit("a", "2" * 16, placed(tmp_path, "a", "2" * 16), key="team-a")
    assert refused.value.http_status == 429
    done = queue.submit("b", "3" * 16, placed(tmp_path, "b", "3" * 16), key="team-b")
    with pytest.raises(QueueFull, match=r"upload_queue"):
        queue.submit("b", "4" * 16, placed(tmp_path, "b", "4" * 16), key="team-c")
    gate.open.set()
    done.result(timeout=30)
    assert sorted(gate.indexed) == ["a/" + "0" * 16, "a/" + "0" * 15 + "1", "b/" + "3" * 16]
    queue.close()


def test_the_same_upload_in_flight_is_queued_once(tmp_path):
    gate = Gate()
    queue = UploadQueue(tmp_path, gate, workers=1, per_key=4, size=8)
    path = placed(tmp_path, "a", "5" * 16)
    first = queue.submit("a", "5" * 16, path, key="k")
    assert queue.submit("a", "5" * 16, path, key="k") is first
    gate.open.set()
    first.result(timeout=30)
    assert gate.indexed == ["a/" + "5" * 16]
    queue.close()


def test_an_acknowledged_upload_is_recorded_before_it_is_indexed_and_replayed_on_start(tmp_path):
    stop = threading.Event()

    def killed(collection, path):  # the process dies while indexing: nothing is committed
        stop.wait(30)
        raise RuntimeError("killed")

    queue = UploadQueue(tmp_path, killed, workers=1, per_key=4, size=8)
    queue.submit("a", "6" * 16, placed(tmp_path, "a", "6" * 16), key="k")
    record = json.loads(queue.record("a", "6" * 16).read_text())
    assert record["status"] == "queued" and record["file"] == "a.txt"
    stop.set()
    queue.close()
    gate = Gate()
    gate.open.set()
    again = UploadQueue(tmp_path, gate, workers=1, per_key=4, size=8)
    assert again.replay() == 1
    for _ in range(300):
        if not queue.record("a", "6" * 16).exists():
            break
        time.sleep(0.1)
    assert gate.indexed == ["a/" + "6" * 16] and not queue.record("a", "6" * 16).exists()
    again.close()


@pytest.fixture
def quick(tmp_path, embedder, local_model):
    """A server that answers an upload before it is indexed (upload_wait_s ~ 0)."""
    from tunewise.serve.app import create_app

    settings = Settings().replace("store", url=f"sqlite:{tmp_path / 'store.db'}").replace(
        "serve", api_keys=(KEY,), uploads=str(tmp_path / "uploads"), upload_wait_s=0.001)
    ws = Workspace(settings, embedder=embedder, models={"local": local_model})
    app = create_app(ws)
    server, thread, url = start(app)
    yield url, tmp_path, app.app.state.services
    server.should_exit = True
    thread.join(timeout=30)


def poll(url: str, doc_id: str, until: str) -> dict:
    for _ in range(600):
        state = requests.get(f"{url}/v1/documents/{doc_id}", headers=AUTH, timeout=60).json()
        if state["status"] not in ("queued", "indexing"):
            break
        time.sleep(0.1)
    assert state["status"] == until, state
    return state


def test_an_upload_not_indexed_in_time_is_202_and_its_state_says_when_it_is(quick):
    url, _, _ = quick
    long = " ".join(f"Paragraph {i}: the outdoor unit needs 30 cm of clearance." for i in range(400))
    sent = requests.post(f"{url}/v1/documents", headers=AUTH, timeout=60, files={
        "file": ("pump.txt", long.encode(), "text/plain")})
    # queued behind it, on the one ingest worker
    bad = requests.post(f"{url}/v1/documents", headers=AUTH, timeout=60, files={
        "file": ("bad.pdf", b"%PDF-1.7 not really", "application/pdf")})
    assert (sent.status_code, bad.status_code) == (202, 202), (sent.text, bad.text)
    body = sent.json()
    assert body["status"] == "queued" and body["url"] == f"/v1/documents/{body['id']}"
    assert poll(url, body["id"], "indexed")["chunks"] > 1
    assert "PDF" in poll(url, bad.json()["id"], "failed")["reason"]
    missing = requests.get(f"{url}/v1/documents/{'0' * 16}", headers=AUTH, timeout=60)
    assert missing.status_code == 404


def test_a_server_started_over_unindexed_uploads_indexes_each_once(tmp_path, embedder, local_model):
    from tunewise.serve.services import Services

    uploads = tmp_path / "uploads"
    path = placed(uploads, "default", "7" * 16, b"Heat pumps move heat from outside air.")
    UploadQueue(uploads, Gate(), 1, 4, 8).submit("default", "7" * 16, path, "k")  # never run
    settings = Settings().replace("store", url=f"sqlite:{tmp_path / 'store.db'}").replace(
        "serve", uploads=str(uploads))
    ws = Workspace(settings, embedder=embedder, models={"local": local_model})
    services = Services(ws)
    assert services.replayed == 1
    for _ in range(600):
        if services.upload_state("7" * 16)["status"] == "indexed":
            break
        time.sleep(0.1)
    assert services.upload_state("7" * 16)["chunks"] == 1
    assert [f["id"] for f in services.documents("default")] == ["7" * 16]
    services.close()


def test_health_answers_while_the_store_is_held(quick):
    url, _, services = quick
    assert requests.get(f"{url}/health", timeout=60).json()["chunks"] == 0  # counts read once
    with services.collection(DEFAULT_COLLECTION).lock:  # as a long search or write holds it
        answered = requests.get(f"{url}/health", timeout=10)
    assert answered.status_code == 200 and answered.json()["chunks"] == 0
