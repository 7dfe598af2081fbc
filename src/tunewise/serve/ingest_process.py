"""Uploads indexed in a process of their own: reading, chunking and embedding an upload never share
the server's memory or its CPU threads (torch's parallel loops included), so a large or
amplifying upload costs that process, not the searches, the health check or the local model.

The server keeps its store open for searching; the ingest process writes through its own
connection, as a second `tunewise ingest` would, and the server's next search reads the chunks
it added from the store's log (store/sqlite.py, store/postgres.py).

An ingest process is started on the first upload (spawn: a clean interpreter), loads each
collection's embedder once, and ingests one file at a time at a lower CPU priority. One that dies
(the out-of-memory killer, a kill -9) fails the upload it held with that reason and is replaced
at the next upload; one that has grown past `[serve] ingest_memory_mb` after an upload is
replaced, so the memory a large file took goes back to the machine."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from tunewise.config import Settings
from tunewise.documents.isolated import own_memory
from tunewise.errors import TunewiseError
from tunewise.ingest import IngestReport

NICE = 10  # below the server's request threads
STOPPED = ("the ingest process stopped while indexing this file (out of memory, or killed); "
           "nothing of it is kept")


class IngestProcessError(TunewiseError):
    """The ingest process could not start."""

    http_status = 503
    kind = "overloaded"


def _yield_cpu() -> None:
    """Run only on CPU time the server leaves: SCHED_IDLE on Linux (threads started later, torch's
    included, inherit it), else a lower nice. Nice 10 alone left the local model 0.73x its calm
    decode speed while uploads were embedded (bench/serve_tenants.py)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        try:
            os.nice(NICE)
        except OSError:
            pass


def _work(conn: Connection) -> None:
    """The ingest process: ingest each (settings, path) it is sent, answer (report or error,
    resident MB), until the server closes the pipe."""
    # lazy: the process imports the workspace (torch, the embedder) only once it is its own
    from tunewise.workspace import Workspace

    _yield_cpu()
    workspaces: dict[str, Workspace] = {}
    embedders: dict[str, object] = {}
    while True:
        try:
            settings, path = conn.recv()
        except (EOFError, OSError):
            return
        try:
            ws = workspaces.get(settings.store.url)
            if ws is None:
                ws = Workspace(settings, embedder=embedders.get(repr(settings.embedder)))
                workspaces[settings.store.url] = ws
                embedders[repr(settings.embedder)] = ws.embedder
            answer = (ws.ingest([path]), None)
        except Exception as exc:  # the store or the embedder: the server says it, keeps the upload
            answer = (None, exc if isinstance(exc, TunewiseError) else TunewiseError(
                f"{type(exc).__name__}: {exc}"))
        conn.send((*answer, own_memory() / 2**20))


class _Process:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        # not a daemon: a daemon may not start the reader processes ingest uses
        self.process = ctx.Process(target=_work, args=(child,), name="tunewise-ingest")
        self.process.start()
        child.close()

    def ingest(self, settings: Settings, path: Path) -> tuple[IngestReport | None, Exception | None, float]:
        self.conn.send((settings, str(path)))
        return self.conn.recv()  # EOFError: the process died

    def stop(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(10)


class IngestProcesses:
    """At most `count` ingest processes, each taking one upload at a time."""

    def __init__(self, count: int, memory_mb: float):
        self.count, self.memory_mb = count, memory_mb
        self._idle: list[_Process] = []
        self._all: set[_Process] = set()
        self._lock = threading.Lock()
        atexit.register(self.close)

    def ingest(self, settings: Settings, path: Path) -> IngestReport:
        """Ingest `path` into the store `settings` name, in an ingest process; a process that
        dies meanwhile makes the file a failed one (with the reason), never the server's error."""
        worker = self._take()
        try:
            report, error, resident = worker.ingest(settings, path)
        except (EOFError, OSError):
            self._drop(worker)
            return IngestReport(failed=[(str(path), STOPPED)])
        if resident > self.memory_mb:
            self._drop(worker)  # give back what this file took
        else:
            with self._lock:
                self._idle.append(worker)
        if error is not None:
            raise error
        return report

    def _take(self) -> _Process:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.process.is_alive():
                    return worker
                self._all.discard(worker)
            if len(self._all) >= self.count:  # the upload queue never runs more than count
                raise IngestProcessError(f"all {self.count} ingest processes are busy")
            try:
                worker = _Process()
            except OSError as exc:
                raise IngestProcessError(f"cannot start an ingest process: {exc}") from exc
            self._all.add(worker)
            return worker

    def _drop(self, worker: _Process) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.stop()

    def pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._all]

    def close(self) -> None:
        with self._lock:
            workers, self._all, self._idle = list(self._all), set(), []
        for worker in workers:
            worker.stop()
