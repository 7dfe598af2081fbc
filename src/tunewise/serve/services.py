"""What the HTTP routers call: systems (a model, with or without retrieval) that answer chat
requests, embeddings, and the document store. No HTTP here.

Concurrency: the store is one SQLite connection, so every store operation takes `store_lock`
(retrieval takes milliseconds). A local model answers one request at a time from a bounded queue
(llama.cpp and transformers generate one sequence per call), so a burst of requests waits in line
instead of piling threads onto two cores; past `queue_size` a request is refused as busy. API
models are called concurrently: the endpoint behind them batches."""

from __future__ import annotations

import hashlib
import queue
import re
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from tunewise.errors import TunewiseError
from tunewise.rag import Answer, answer
from tunewise.systems import System
from tunewise.workspace import Workspace

DOCS = "docs"  # the system name of the default model with retrieval
API_WORKERS = 32  # requests to API-backed models in flight at once


class Busy(TunewiseError):
    """Too many requests are waiting for a local model."""

    http_status = 503
    kind = "overloaded"


class NotFound(TunewiseError):
    """An unknown system or document; the message lists what exists."""

    http_status = 404
    kind = "not_found"


class Cancelled(Exception):
    """The client went away while its answer was being generated."""


class ModelQueue:
    """One worker thread that runs jobs for one model in arrival order."""

    def __init__(self, name: str, size: int):
        self.name = name
        self.jobs: queue.Queue = queue.Queue(maxsize=size)
        self.worker = threading.Thread(target=self._work, name=f"model-{name}", daemon=True)
        self.worker.start()

    def submit(self, job: Callable[[], object]) -> Future:
        future: Future = Future()
        try:
            self.jobs.put_nowait((job, future))
        except queue.Full:
            raise Busy(f"{self.jobs.maxsize} requests are waiting for model {self.name!r}; "
                       "retry shortly") from None
        return future

    def _work(self) -> None:
        while True:
            item = self.jobs.get()
            if item is None:
                return
            job, future = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(job())
                except BaseException as exc:  # handed to the waiting request
                    future.set_exception(exc)

    def close(self) -> None:
        self.jobs.put(None)
        self.worker.join(timeout=30)


class _LockedRetriever:
    """The workspace's retriever with the store lock held for each search."""

    def __init__(self, retriever, lock):
        self.retriever, self.lock = retriever, lock

    def search(self, *args, **kwargs):
        with self.lock:
            return self.retriever.search(*args, **kwargs)


class Services:
    def __init__(self, ws: Workspace):
        self.ws = ws
        self.settings = ws.settings
        self.store_lock = threading.RLock()
        self.embed_lock = threading.Lock()
        self._queues: dict[str, ModelQueue] = {}
        self._queues_lock = threading.Lock()
        self._api_calls = ThreadPoolExecutor(API_WORKERS, thread_name_prefix="api-model")

    # --- systems and chat -------------------------------------------------------------------

    def systems(self) -> list[System]:
        """`docs` (the [rag] model with retrieval), then every model alone and with retrieval."""
        out = [System(DOCS, self.settings.rag.model, True)]
        for name in self.settings.models:
            out += [System(name, name, False), System(f"{name}+rag", name, True)]
        return out

    def system(self, name: str | None) -> System:
        name = name or DOCS
        for s in self.systems():
            if s.name == name:
                return s
        raise NotFound(f"unknown model {name!r}; available: "
                       f"{', '.join(s.name for s in self.systems())}")

    def complete(self, system: System, messages: list[dict], max_tokens: int | None,
                 on_token: Callable[[str], None] | None = None, where: tuple = ()) -> Future:
        """Answer in the background; the Future holds an `Answer`. With retrieval, the last user
        message is answered from the documents; without, the whole conversation goes to the
        model as it is."""
        model = self.ws.model(system.model)

        def job() -> Answer:
            if system.rag:
                question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
                return answer(question, model, self.settings.rag,
                              _LockedRetriever(self.ws.retriever, self.store_lock),
                              on_token=on_token, max_tokens=max_tokens, where=where)
            gen = model.generate(messages, max_tokens=max_tokens, on_token=on_token)
            return Answer(messages[-1]["content"], gen.text.strip(), model.name, usage=gen.usage,
                          latency_s=gen.latency_s, first_token_s=gen.first_token_s)

        if model.capabilities.concurrent:
            return self._api_calls.submit(job)
        return self._queue(system.model).submit(job)

    def _queue(self, model: str) -> ModelQueue:
        with self._queues_lock:
            if model not in self._queues:
                self._queues[model] = ModelQueue(model, self.settings.serve.queue_size)
            return self._queues[model]

    # --- embeddings, search, documents ------------------------------------------------------

    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Vectors and the number of tokens the embedder read."""
        with self.embed_lock:
            vectors = self.ws.embedder.embed(texts)
            tokens = sum(len(self.ws.embedder.tokenizer.offsets(t)) for t in texts)
        return [list(map(float, v)) for v in vectors], tokens

    def search(self, query: str, k: int | None, mode: str | None, threshold: float | None,
               where: tuple = ()):
        if mode != "keyword":
            _ = self.ws.embedder  # load outside the lock: the first load takes seconds
        with self.store_lock:
            return self.ws.search(query, k=k, mode=mode, threshold=threshold, where=where)

    def upload(self, filename: str, content: bytes) -> tuple[str, object]:
        """Keep the file under uploads/<id>/ and ingest it; the id is a hash of the content, so
        the same file uploaded twice is one document."""
        name = re.sub(r"[^A-Za-z0-9._ -]", "_", Path(filename or "upload.txt").name).strip()
        doc_id = hashlib.sha256(content).hexdigest()[:16]
        folder = Path(self.settings.serve.uploads) / doc_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (name or "upload.txt")
        path.write_bytes(content)
        _ = self.ws.embedder  # load outside the lock
        with self.store_lock:
            report = self.ws.ingest([path])
        if report.failed:
            shutil.rmtree(folder, ignore_errors=True)
        return doc_id, report

    def delete(self, doc_id: str) -> int:
        if not re.fullmatch(r"[0-9a-f]{16}", doc_id):
            raise NotFound(f"no document {doc_id!r}: ids are the 16 hex digits upload returned")
        folder = Path(self.settings.serve.uploads) / doc_id
        if not folder.is_dir():
            raise NotFound(f"no uploaded document {doc_id!r}")
        with self.store_lock:
            removed = self.ws.remove([folder])
        shutil.rmtree(folder, ignore_errors=True)
        return removed

    def health(self) -> dict:
        with self.store_lock:
            stats = self.ws.stats()
        return {"status": "ok", "documents": stats.get("documents"), "chunks": stats.get("chunks"),
                "waiting": {m: q.jobs.qsize() for m, q in self._queues.items()}}

    def close(self) -> None:
        for q in self._queues.values():
            q.close()
        self._api_calls.shutdown(wait=False, cancel_futures=True)
        self.ws.close()

