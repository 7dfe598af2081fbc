"""Uploads indexed off the request path: an accepted upload is written to disk with a durable
"queued" record, then read, chunked, embedded and stored by the ingest worker — its own bounded
thread pool, never the threads that answer searches — while the request waits at most
`[serve] upload_wait_s` for the outcome (then 202: `GET /v1/documents/{id}` says queued,
indexing, indexed or failed with the reason).

Durable: the record (uploads/<collection>/.queue/<id>.json, written whole by rename) exists
before the upload is acknowledged and is removed only after its chunks are committed; on start
every record still "queued" is indexed again. Ingest is idempotent by content hash, so an upload
interrupted at any point is indexed exactly once.

Fair: each key may have `[serve] uploads_per_key` uploads queued or indexing at once (429 with
Retry-After past it), and the queue holds at most `[serve] upload_queue` in all (503).

The worker threads hand each upload to an ingest process (serve/ingest_process.py: its own
memory and threads, run only on CPU time the server leaves), or with `[serve] ingest_process =
false` index it themselves at a lower CPU priority (nice, which Linux keeps per thread and which
the threads they start for torch's parallel loops inherit); either way searches and the local
model go first."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tunewise.errors import TunewiseError

QUEUE = ".queue"  # the records' folder under each collection's uploads folder
NICE = 10  # the ingest worker's CPU priority below the request threads (Linux: per thread)


class TooManyUploads(TunewiseError):
    """This key has as many uploads in flight as it may."""

    http_status = 429
    kind = "rate_limit_error"


class QueueFull(TunewiseError):
    """The ingest queue is full: every key together has this many uploads waiting."""

    http_status = 503
    kind = "overloaded"


@dataclass
class Job:
    collection: str
    doc_id: str
    path: Path  # the uploaded file, in place
    key: str  # the caller that sent it (its quota)
    future: Future
    running: bool = False  # the worker has taken it


def _write_whole(path: Path, record: dict) -> None:
    """Write `record` as JSON so that a reader (or a restart) sees the old or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    with open(part, "w", encoding="utf-8") as f:
        json.dump(record, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(part, path)


def _lower_priority() -> None:
    """The calling thread yields the CPU to the request threads (Linux applies nice per thread;
    threads it starts inherit it)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError):  # not Linux, or not permitted: the queue still bounds it
        pass


class UploadQueue:
    """Accepted uploads and the worker that indexes them. `index(collection, path)` does the
    work (the collection's ingest under its store lock) and returns the ingest report."""

    def __init__(self, uploads: Path, index: Callable[[str, Path], object], workers: int,
                 per_key: int, size: int):
        self.uploads, self.index = uploads, index
        self.per_key, self.size = per_key, size
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="ingest",
                                        initializer=_lower_priority)
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str], Job] = {}  # (collection, id) -> job in flight

    def record(self, collection: str, doc_id: str) -> Path:
        return self.uploads / collection / QUEUE / f"{doc_id}.json"

    def submit(self, collection: str, doc_id: str, path: Path, key: str) -> Future:
        """Queue `path` (already in place) for indexing; the Future holds the ingest report. The
        same upload already in flight is not queued twice: its Future is returned."""
        with self._lock:
            job = self._jobs.get((collection, doc_id))
            if job is not None:
                return job.future
            mine = sum(1 for j in self._jobs.values() if j.key == key)
            if mine >= self.per_key:
                raise TooManyUploads(f"this key has {mine} uploads being indexed; at most "
                                     f"{self.per_key} at once ([serve] uploads_per_key): retry "
                                     "when one is done")
            if len(self._jobs) >= self.size:
                raise QueueFull(f"{len(self._jobs)} uploads are waiting to be indexed ([serve] "
                                "upload_queue); retry shortly")
            _write_whole(self.record(collection, doc_id),
                         {"status": "queued", "file": path.name, "time": time.time()})
            job = Job(collection, doc_id, path, key, Future())
            self._jobs[(collection, doc_id)] = job
        self._pool.submit(self._run, job)
        return job.future

    def _run(self, job: Job) -> None:
        job.running = True
        try:
            report = self.index(job.collection, job.path)
        except BaseException as exc:  # the store or the embedder failed: the upload stays queued
            self._finish(job)
            job.future.set_exception(exc)
            return
        failed = getattr(report, "failed", None)
        if failed:  # the file cannot be read: say why, for GET /v1/documents/{id}
            _write_whole(self.record(job.collection, job.doc_id),
                         {"status": "failed", "file": job.path.name, "reason": failed[0][1],
                          "time": time.time()})
        else:
            self.record(job.collection, job.doc_id).unlink(missing_ok=True)
        self._finish(job)
        job.future.set_result(report)

    def _finish(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop((job.collection, job.doc_id), None)

    def state(self, collection: str, doc_id: str) -> dict | None:
        """{"status": queued | indexing | failed, …} of an upload, None when it has no record
        (indexed, or never uploaded)."""
        with self._lock:
            job = self._jobs.get((collection, doc_id))
        if job is not None and job.running:
            return {"status": "indexing"}
        try:
            return json.loads(self.record(collection, doc_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def forget(self, collection: str, doc_id: str) -> None:
        """Drop a failed upload's record (its document was deleted or uploaded again)."""
        self.record(collection, doc_id).unlink(missing_ok=True)

    def waiting(self) -> int:
        with self._lock:
            return len(self._jobs)

    def replay(self) -> int:
        """Queue again every upload acknowledged but not indexed when the server last stopped
        (its record still says queued); returns how many."""
        count = 0
        for record in sorted(self.uploads.glob(f"*/{QUEUE}/*.json")):
            try:
                state = json.loads(record.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if state.get("status") != "queued":
                continue
            collection, doc_id = record.parent.parent.name, record.stem
            path = record.parent.parent / doc_id / str(state.get("file", ""))
            if not path.is_file():  # its file is gone: nothing to index
                record.unlink(missing_ok=True)
                continue
            with self._lock:
                job = Job(collection, doc_id, path, "", Future())  # no key: not on anyone's quota
                self._jobs[(collection, doc_id)] = job
            self._pool.submit(self._run, job)
            count += 1
        return count

    def close(self) -> None:
        """Stop: queued jobs are dropped (their records stay, so the next start indexes them)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
