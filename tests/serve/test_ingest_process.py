"""Uploads indexed in a process of their own (serve/ingest_process.py): the server's store sees
what that process wrote; a process killed mid-file fails that file with the reason and the next
upload gets a fresh one; a process grown past its memory bound is replaced."""

import os
import signal
import threading
import time

from tests.conftest import SAMPLE
from tunewise.config import Settings
from tunewise.serve.ingest_process import STOPPED, IngestProcesses
from tunewise.serve.services import Services
from tunewise.workspace import Workspace


def test_an_upload_is_indexed_by_another_process_and_found_by_the_server(tmp_path, embedder):
    settings = Settings().replace("store", url=f"sqlite:{tmp_path / 'store.db'}").replace(
        "serve", uploads=str(tmp_path / "uploads"), ingest_process=True)
    ws = Workspace(settings, embedder=embedder)
    services = Services(ws)
    try:
        text = (SAMPLE / "policies" / "travel-expense-policy.md").read_bytes()
        doc_id, done = services.upload("travel.md", text)
        report = done.result(timeout=300)
        assert not report.failed and report.chunks > 0
        (pid,) = services.ingester.pids()
        assert pid != os.getpid()
        hits, _ = services.search("per diem for meals", k=3, mode=None, min_similarity=None)
        assert hits and hits[0].chunk.source.endswith("travel.md")
        assert services.upload_state(doc_id)["status"] == "indexed"
    finally:
        services.close()
    assert not services.ingester.pids()  # closed with the server


def test_a_killed_ingest_process_fails_its_file_and_the_next_upload_gets_a_new_one(tmp_path):
    settings = Settings().replace("store", url=f"sqlite:{tmp_path / 'store.db'}")
    processes = IngestProcesses(count=1, memory_mb=100_000)
    big = tmp_path / "long.txt"  # about 700 chunks: tens of seconds to embed on 2 cores
    big.write_text(" ".join(f"sentence {i} about heat pumps and their warranty." for i in range(20_000)))
    answer = {}
    worker = threading.Thread(target=lambda: answer.update(report=processes.ingest(settings, big)))
    worker.start()
    deadline = time.time() + 120
    while not processes.pids() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(8)  # past its start: reading or embedding the file
    (pid,) = processes.pids()
    os.kill(pid, signal.SIGKILL)
    worker.join(60)
    assert answer["report"].failed == [(str(big), STOPPED)]
    small = tmp_path / "small.txt"
    small.write_text("The heat pump warranty lasts seven years.")
    report = processes.ingest(settings, small)
    assert not report.failed and report.chunks == 1
    assert processes.pids() and processes.pids()[0] != pid
    assert Workspace(settings).stats()["chunks"] == 1  # nothing of the killed file was stored
    processes.close()


def test_an_ingest_process_past_its_memory_bound_is_replaced_after_its_file(tmp_path):
    settings = Settings().replace("store", url=f"sqlite:{tmp_path / 'store.db'}")
    processes = IngestProcesses(count=1, memory_mb=1)  # every process is past 1 MB
    seen = []
    for i in range(2):
        doc = tmp_path / f"{i}.txt"
        doc.write_text(f"Document {i} about heat pumps.")
        assert not processes.ingest(settings, doc).failed
        seen.append(processes.pids())
    assert seen == [[], []]  # each was stopped once its file was done
    assert Workspace(settings).stats()["documents"] == 2
    processes.close()
