"""Real processes: an ingest killed mid-run and re-run, and two ingests into one store at once.
Afterwards the store must hold exactly the chunks a clean run produces: no duplicate, none missing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tunewise.documents import chunk_document, load_file
from tunewise.ingest import discover

TOPICS = ["compressor", "defrost", "refrigerant", "warranty", "installer", "thermostat",
          "radiator", "invoice", "firmware", "telemetry"]


def make_corpus(folder: Path, records: int, files: int, seed: int = 0) -> Path:
    folder.mkdir(parents=True)
    with open(folder / "records.jsonl", "w") as f:
        for i in range(records):
            t = TOPICS[(i + seed) % len(TOPICS)]
            text = (f"Record {i} explains the {t}. The {t} of unit {i} was checked on day {i % 28}. "
                    f"Engineers noted that {t} number {i * 7} needs attention. ") * (1 + i % 3)
            f.write(json.dumps({"id": f"r{i}", "title": f"{t} {i}", "text": text}) + "\n")
    for j in range(files):
        (folder / f"note-{seed}-{j}.md").write_text(
            f"# Note {j}\n\n" + f"Paragraph about the {TOPICS[j % 10]} in note {j}. " * 40)
    return folder


def expected_chunk_ids(paths: list[Path], tokenizer) -> set[str]:
    files, _ = discover(paths)
    return {c.id for f in files for d in load_file(f).documents
            for c in chunk_document(d, tokenizer, 256, 32)}


def run_ingest(paths: list[Path], store: Path, **popen) -> subprocess.Popen:
    env = dict(os.environ, TUNEWISE_INGEST_BATCH_CHUNKS="8", HF_HUB_OFFLINE="1")
    return subprocess.Popen([sys.executable, "-m", "tunewise", "ingest", *map(str, paths),
                             "--store", f"sqlite:{store}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def check_consistent(store: Path) -> list[str]:
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    bad = db.execute("SELECT d.id FROM documents d LEFT JOIN chunks c ON c.document_id = d.id "
                     "GROUP BY d.id HAVING count(c.rowid) != d.n_chunks").fetchall()
    assert bad == [], "documents whose chunks are partly written"
    orphans = db.execute("SELECT count(*) FROM chunks WHERE document_id NOT IN "
                         "(SELECT id FROM documents)").fetchone()[0]
    assert orphans == 0
    ids = [r[0] for r in db.execute("SELECT id FROM chunks")]
    assert len(ids) == len(set(ids)), "duplicate chunks"
    db.close()
    return ids


def count_chunks(store: Path) -> int:
    try:
        with sqlite3.connect(store, timeout=1) as db:
            return db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_killed_ingest_leaves_a_consistent_store_and_resumes(tmp_path, embedder):
    corpus = make_corpus(tmp_path / "corpus", records=240, files=10)
    store = tmp_path / "store.db"
    proc = run_ingest([corpus], store)
    deadline = time.time() + 240
    while count_chunks(store) < 40 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be killed: " + proc.stdout.read()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = check_consistent(store)
    expected = expected_chunk_ids([corpus], embedder.tokenizer)
    assert 0 < len(partial) < len(expected)

    rerun = run_ingest([corpus], store)
    output, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, output
    assert set(check_consistent(store)) == expected
    again = run_ingest([corpus], store).communicate(timeout=300)[0]
    assert f"0 added, 0 updated, {len(discover([corpus])[0])} unchanged" in " ".join(again.split())


def test_two_processes_ingest_into_one_store(tmp_path, embedder):
    a = make_corpus(tmp_path / "a", records=60, files=4, seed=1)
    b = make_corpus(tmp_path / "b", records=60, files=4, seed=2)
    shared = make_corpus(tmp_path / "shared", records=40, files=2, seed=3)
    store = tmp_path / "store.db"
    procs = [run_ingest([a, shared], store), run_ingest([shared, b], store)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    expected = expected_chunk_ids([a, b, shared], embedder.tokenizer)
    assert set(check_consistent(store)) == expected
