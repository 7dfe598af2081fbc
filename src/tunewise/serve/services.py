"""What the HTTP routers call: systems (a model, with or without retrieval) that answer chat
requests, embeddings, and the document store. No HTTP here.

Concurrency: each collection's store is one SQLite connection, so every store call takes the
collection's lock (retrieval takes milliseconds); reading and embedding an upload happen outside
it. A local model answers one request at a time from a bounded queue
(llama.cpp and transformers generate one sequence per call), so a burst of requests waits in line
instead of piling threads onto two cores; past `queue_size` a request is refused as busy. API
models are called concurrently: the endpoint behind them batches."""

from __future__ import annotations

import collections
import hashlib
import json
import queue
import re
import shutil
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from tunewise.documents.isolated import close_readers
from tunewise.errors import TunewiseError
from tunewise.evaluate.runner import MANIFEST
from tunewise.models import capabilities
from tunewise.models.base import Usage
from tunewise.objects import COLLECTION
from tunewise.rag import Answer, answer
from tunewise.serve.ingest_process import IngestProcesses
from tunewise.serve.uploads import UploadQueue
from tunewise.store import DEFAULT_COLLECTION
from tunewise.systems import System
from tunewise.workspace import Workspace

DOCS = "docs"  # the system name of the default model with retrieval
API_WORKERS = 32  # requests to API-backed models in flight at once
TASK = "task:"  # `task:NAME`: a served task system as a chat model (its reply: the JSON answer)
HEALTH_WAIT_S = 0.05  # /health reads fresh counts if the store is free this soon, else the last
MAX_TASK_CHARS = 100_000  # characters of one task input (a long document is cut to fit anyway)


def last_question(messages: list[dict]) -> str:
    """The last user message of a conversation ("" when there is none)."""
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def request_log(root: str | Path, collection: str) -> Path:
    """Where a collection's logged requests are appended (collection names are checked to be
    plain names: never a path)."""
    if not COLLECTION.fullmatch(collection):
        raise TunewiseError(f"{collection[:60]!r}: not a collection name")
    return Path(root) / collection / "requests.jsonl"


class Busy(TunewiseError):
    """Too many requests are waiting for a local model."""

    http_status = 503
    kind = "overloaded"


class NotFound(TunewiseError):
    """An unknown system or document; the message lists what exists."""

    http_status = 404
    kind = "not_found"


class Forbidden(TunewiseError):
    """The caller's key does not cover what it asked for."""

    http_status = 403
    kind = "permission_error"


def report_collection(run: Path) -> str | None:
    """The collection a run's report belongs to: that of the store its run searched (its
    manifest's store URL, `#name` or the default); None for a run that used no store."""
    try:
        url = json.loads((run / MANIFEST).read_text()).get("store")
    except (OSError, ValueError, AttributeError):
        return None
    return (url.partition("#")[2] or DEFAULT_COLLECTION) if isinstance(url, str) and url else None


def may_read_report(caller, collection: str | None) -> bool:
    """Admins read every report; a team key those of the collections it may read."""
    return caller.admin or (collection is not None and caller.may_read(collection))


def scoped(caller, collection: str | None, write: bool = False) -> str:
    """The collection a request names (or the key's own), if the key may read (write) it. The
    answer is the same whether or not the collection exists: a key learns nothing of others."""
    name = collection or caller.collection
    if not (caller.may_write(name) if write else caller.may_read(name)):
        raise Forbidden(f"this key may not {'write to' if write else 'read'} collection {name!r}")
    return name


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
    """A collection's retriever with its store lock held for each search."""

    def __init__(self, retriever, lock):
        self.retriever, self.lock = retriever, lock

    def search(self, *args, **kwargs):
        with self.lock:
            return self.retriever.search(*args, **kwargs)

    def search_explained(self, *args, **kwargs):
        with self.lock:
            return self.retriever.search_explained(*args, **kwargs)


class Collection:
    """One collection's workspace (its own store), the lock its store calls take, and the
    folder its uploads are kept in."""

    def __init__(self, name: str, ws: Workspace, uploads: Path):
        self.name, self.ws, self.uploads = name, ws, uploads / name
        self.lock = threading.RLock()


MAX_NAME = 120  # characters of an upload's file name kept (its extension always is)


def upload_name(filename: str) -> str:
    """A safe file name for an upload: its last path part, odd characters replaced, a long stem
    shortened; a name with nothing left (``..``, ``a/..``, empty) is refused."""
    name = re.split(r"[/\\]", filename or "")[-1]
    name = re.sub(r"[^A-Za-z0-9._ -]", "_", name).strip(" .")
    if not name or set(name) <= {"_"}:
        raise TunewiseError(f"{filename[:80]!r}: not a usable file name")
    stem, dot, suffix = name.rpartition(".")
    if dot and len(suffix) <= 10:
        return stem[:MAX_NAME] + "." + suffix
    return name[:MAX_NAME]


class Services:
    def __init__(self, ws: Workspace):
        # uploads are untrusted: each is read in a reader process bounded in memory and time
        ws.settings = ws.settings.replace("ingest", isolate=True)
        self.ws = ws  # the default collection's
        self.settings = ws.settings
        self.root = Path.cwd()
        self.uploads = Path(ws.settings.serve.uploads).resolve()  # uploads/<collection>/<id>/
        self.embed_lock = threading.Lock()
        self._collections: dict[str, Collection] = {}
        self._collections_lock = threading.Lock()
        self._upload_locks: dict[str, threading.Lock] = {}
        self._queues: dict[str, ModelQueue] = {}
        self._queues_lock = threading.Lock()
        self._tasks: dict = {}  # served task systems, loaded on first use
        self._log_lock = threading.Lock()
        self._api_calls = ThreadPoolExecutor(API_WORKERS, thread_name_prefix="api-model")
        serve = ws.settings.serve
        # the threads that answer searches, listings and deletes: never taken by an upload,
        # which the upload queue's own worker (serve/uploads.py) hands to an ingest process
        # (serve/ingest_process.py), or indexes itself with [serve] ingest_process = false
        self.requests = ThreadPoolExecutor(serve.request_threads, thread_name_prefix="request")
        self.ingester = (IngestProcesses(serve.ingest_workers, serve.ingest_memory_mb)
                         if serve.ingest_process else None)
        self.upload_queue = UploadQueue(self.uploads, self._index, serve.ingest_workers,
                                        serve.uploads_per_key, serve.upload_queue)
        self.replayed = self.upload_queue.replay()  # acknowledged before a stop, not yet indexed
        self._counts: dict = {}  # the default collection's last counts, for /health

    def collection(self, name: str) -> Collection:
        """The collection called `name`, opened on first use."""
        with self._collections_lock:
            if name not in self._collections:
                ws = self.ws if name == DEFAULT_COLLECTION else self.ws.collection(name)
                self._collections[name] = Collection(name, ws, self.uploads)
            return self._collections[name]

    # --- systems and chat -------------------------------------------------------------------

    def systems(self) -> list[System]:
        """`docs` (the [rag] model with retrieval), then every model alone and with retrieval,
        then every served task as `task:NAME`."""
        out = [System(DOCS, self.settings.rag.model, rag=True)]
        for name in self.settings.models:
            out += [System(name, name), System(f"{name}+rag", name, rag=True)]
        return out + [System(TASK + name, "") for name in self.settings.tasks]

    def system(self, name: str | None) -> System:
        name = name or DOCS
        for s in self.systems():
            if s.name == name:
                return s
        raise NotFound(f"unknown model {name!r}; available: "
                       f"{', '.join(s.name for s in self.systems())}")

    def complete(self, system: System, messages: list[dict], max_tokens: int | None,
                 on_token: Callable[[str], None] | None = None, where: tuple = (),
                 collection: str | None = DEFAULT_COLLECTION) -> Future:
        """Answer in the background; the Future holds an `Answer`. With retrieval, the last user
        message is answered from the collection's documents; without, the whole conversation
        goes to the model as it is."""
        question = last_question(messages)
        if system.name.startswith(TASK):
            return self._task_chat(system.name[len(TASK):], question, on_token)
        model = self.ws.model(system.model)
        found = self.collection(collection) if system.rag else None
        if found is not None:  # the question is searched: bounded as a search query is
            self.check_query(question)

        def job() -> Answer:
            if found is not None:
                return answer(question, model, self.settings.rag,
                              _LockedRetriever(found.ws.retriever, found.lock),
                              on_token=on_token, max_tokens=max_tokens, where=where)
            gen = model.generate(messages, max_tokens=max_tokens, on_token=on_token)
            return Answer(messages[-1]["content"], gen.text.strip(), model.name, usage=gen.usage,
                          latency_s=gen.latency_s, first_token_s=gen.first_token_s)

        if model.capabilities.concurrent:
            return self._api_calls.submit(job)
        return self._queue(system.model).submit(job)

    # --- served task systems ([tasks.NAME]) ---------------------------------------------------

    def tasks(self) -> list[dict]:
        """Each served task: its name, task, system and labels or keys."""
        return [self.task(name).describe() for name in self.settings.tasks]

    def task(self, name: str):
        """The served task NAME (loaded on first use; its model on the first prediction)."""
        # lazy: loads the task modules
        from tunewise.tasks.served import ServedTask

        with self._queues_lock:
            if name not in self._tasks:
                self._tasks[name] = ServedTask(self.ws, name)  # UnknownTask: 404
            return self._tasks[name]

    def predict(self, name: str, texts: list[str]) -> Future:
        """Predict `texts` with task NAME in the background; the Future holds the predictions.
        Bounded: at most [serve] max_task_inputs texts of MAX_TASK_CHARS each; a local model
        predicts one request at a time from its queue, as chat does."""
        limit = self.settings.serve.max_task_inputs
        if not texts:
            raise TunewiseError("inputs: give at least one text")
        if len(texts) > limit:
            raise TunewiseError(f"inputs: {len(texts)} texts; at most {limit} a request "
                                "([serve] max_task_inputs)", http_status=413)
        for i, text in enumerate(texts):
            if not text.strip():
                raise TunewiseError(f"inputs[{i}]: empty text")
            if len(text) > MAX_TASK_CHARS:
                raise TunewiseError(f"inputs[{i}]: {len(text):,} characters; at most "
                                    f"{MAX_TASK_CHARS:,}", http_status=413)
        task = self.task(name)
        # a prompted system's model ("" for one trained or a baseline); an unknown one fails in
        # its queue with ModelError, as chat does
        configured = self.settings.models.get(task.system.model)
        if configured is not None and capabilities(configured, task.system.model).concurrent:
            return self._api_calls.submit(task.predict, texts)
        return self._queue(TASK + name).submit(lambda: task.predict(texts))

    def _task_chat(self, name: str, question: str,
                   on_token: Callable[[str], None] | None = None) -> Future:
        """Task NAME as a chat model: the last user message is the input, the reply its JSON
        answer ({"output": …, "system": …, "probabilities": …})."""
        done: Future = Future()
        inner = self.predict(name, [question])

        def finish(f: Future) -> None:
            try:
                p = f.result()[0]
            except BaseException as exc:
                done.set_exception(exc)
                return
            text = json.dumps(p.to_dict(), ensure_ascii=False)
            try:
                if on_token:  # streamed: the whole answer is one chunk
                    on_token(text)
            except BaseException as exc:  # the client left
                done.set_exception(exc)
                return
            done.set_result(Answer(question, text, TASK + name,
                                   usage=Usage(p.prompt_tokens, p.completion_tokens)))
        inner.add_done_callback(finish)
        return done

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

    def check_query(self, query: str) -> None:
        """A query longer than [serve] max_query_chars is refused (400) before it is embedded,
        tokenized for BM25 or searched: a 4 MB query must not hold the store."""
        most = self.settings.serve.max_query_chars
        if len(query) > most:
            raise TunewiseError(f"the query has {len(query):,} characters; at most {most:,} "
                                "([serve] max_query_chars)")

    def search(self, query: str, k: int | None, mode: str | None, min_similarity: float | None,
               where: tuple = (), collection: str = DEFAULT_COLLECTION):
        self.check_query(query)
        found = self.collection(collection)
        if mode != "keyword":
            _ = self.ws.embedder  # load outside the lock: the first load takes seconds
        with found.lock:
            return found.ws.search_explained(query, k=k, mode=mode, min_similarity=min_similarity,
                                             where=where)

    def display(self, source: str) -> str:
        """A source as a client sees it: an upload by its file name, a file under the folder
        the server runs in relative to it, any other by its name — never a server's full path."""
        path, hash_, key = source.partition("#")
        p = Path(path)
        inside = p.is_relative_to(self.root) and not p.is_relative_to(self.uploads)
        return (str(p.relative_to(self.root)) if inside else p.name) + hash_ + key

    def file_url(self, source: str, page: int | None, collection: str | None) -> str | None:
        """Where a client opens the file a passage came from: an upload's original, a PDF at the
        cited page (`#page=N`, which browsers' PDF viewers open at); None for files that were
        not uploaded (the server does not hand out its own disk)."""
        path = Path(source.partition("#")[0])
        collection = collection or DEFAULT_COLLECTION
        if path.parent.parent != self.collection(collection).uploads:
            return None
        query = f"?collection={collection}" if collection != DEFAULT_COLLECTION else ""
        anchor = f"#page={page}" if page and path.suffix.lower() == ".pdf" else ""
        return f"/v1/documents/{path.parent.name}/file{query}{anchor}"

    def _upload_folder(self, doc_id: str, collection: str) -> Path:
        """Where upload `doc_id` of `collection` is kept (whether or not it is there)."""
        if not re.fullmatch(r"[0-9a-f]{16}", doc_id):
            raise NotFound(f"no document {doc_id!r}: ids are the 16 hex digits upload returned")
        return self.collection(collection).uploads / doc_id

    def original(self, doc_id: str, collection: str = DEFAULT_COLLECTION) -> Path:
        """The file an upload was made from, as it was sent."""
        folder = self._upload_folder(doc_id, collection)
        kept = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        if not kept:
            raise NotFound(f"no uploaded document {doc_id!r} in collection {collection!r}")
        return kept[0]

    def upload(self, filename: str, content: bytes, collection: str = DEFAULT_COLLECTION,
               key: str = "") -> tuple[str, Future]:
        """Keep the file as uploads/<collection>/<id>/<name> and queue it for indexing; the
        Future holds the ingest report. The id is a hash of the content, so the same bytes
        uploaded twice, under any name, are one document. A new file is written in a staging
        folder and moved into place whole; the queue's record is durable before this returns
        (serve/uploads.py). `key` is the caller's, whose uploads in flight are bounded."""
        name = upload_name(filename)
        doc_id = hashlib.sha256(content).hexdigest()[:16]
        found = self.collection(collection)
        folder = found.uploads / doc_id
        with self._upload_lock(f"{collection}/{doc_id}"):
            kept = sorted(folder.iterdir()) if folder.is_dir() else []
            if kept:  # these bytes are here already: make sure they are indexed, keep them
                return doc_id, self.upload_queue.submit(collection, doc_id, kept[0], key)
            staging = found.uploads / ".staging" / f"{doc_id}-{uuid.uuid4().hex[:8]}"
            staging.mkdir(parents=True)
            (staging / name).write_bytes(content)
            shutil.rmtree(folder, ignore_errors=True)  # an empty folder a crash left behind
            staging.rename(folder)
            try:
                return doc_id, self.upload_queue.submit(collection, doc_id, folder / name, key)
            except BaseException:  # refused (quota, queue full): nothing of it is kept
                shutil.rmtree(folder, ignore_errors=True)
                raise

    def _index(self, collection: str, path: Path):
        """Read, chunk, embed and store one upload (the upload queue's worker calls this); a file
        that cannot be read is removed, and only what this upload made."""
        found = self.collection(collection)
        with self._upload_lock(f"{collection}/{path.parent.name}"):
            if self.ingester is not None:  # in an ingest process: the server's store sees the
                report = self.ingester.ingest(found.ws.settings, path)  # chunks by its log
            else:
                report = found.ws.ingest([path], lock=found.lock)
            if report.failed:  # nothing of it is kept: what a killed ingest process wrote
                with found.lock:  # of a file of several documents is removed too
                    found.ws.store.remove_path(str(path.resolve()))
                shutil.rmtree(path.parent, ignore_errors=True)
        return report

    def upload_state(self, doc_id: str, collection: str = DEFAULT_COLLECTION) -> dict:
        """Where an upload is: queued, indexing, failed (with the reason) or indexed (with its
        documents and chunks)."""
        folder = self._upload_folder(doc_id, collection)
        state = self.upload_queue.state(collection, doc_id)
        if state is not None:
            return {"id": doc_id, "collection": collection, "status": state["status"],
                    **({"reason": state["reason"]} if "reason" in state else {})}
        listed = next((f for f in self.documents(collection) if f["id"] == doc_id), None)
        if not folder.is_dir() or listed is None:
            raise NotFound(f"no uploaded document {doc_id!r} in collection {collection!r}")
        return {"id": doc_id, "collection": collection, "status": "indexed",
                "filename": listed["source"], "documents": listed["documents"],
                "chunks": listed["chunks"]}

    def _upload_lock(self, key: str) -> threading.Lock:
        with self._collections_lock:
            return self._upload_locks.setdefault(key, threading.Lock())

    def documents(self, collection: str) -> list[dict]:
        """The files of a collection: uploads with their id, others by their shown name."""
        found = self.collection(collection)
        with found.lock:
            files = found.ws.store.files()
        out = []
        for path, documents, chunks in files:
            p = Path(path)
            upload_id = p.parent.name if p.parent.parent == found.uploads else None
            out.append({"id": upload_id, "source": self.display(path), "documents": documents,
                        "chunks": chunks})
        return out

    def delete(self, doc_id: str, collection: str = DEFAULT_COLLECTION) -> int:
        folder = self._upload_folder(doc_id, collection)
        found = self.collection(collection)
        state = self.upload_queue.state(collection, doc_id)
        if state is not None and state["status"] in ("queued", "indexing"):
            raise TunewiseError(f"document {doc_id!r} is being indexed; delete it when "
                                f"GET /v1/documents/{doc_id} says indexed", http_status=409)
        self.upload_queue.forget(collection, doc_id)
        with self._upload_lock(f"{collection}/{doc_id}"):
            if not folder.is_dir():
                raise NotFound(f"no uploaded document {doc_id!r} in collection {collection!r}")
            with found.lock:
                removed = found.ws.remove([folder])
            shutil.rmtree(folder, ignore_errors=True)
        return removed

    def reports(self, caller) -> list[dict]:
        """The decision reports of the runs in [serve] runs (RUN/report.html) that `caller` may
        read, newest first."""
        root = Path(self.settings.serve.runs)
        found = sorted(root.glob("*/report.html"), key=lambda p: -p.stat().st_mtime) \
            if root.is_dir() else []
        runs = [(p.parent.name, report_collection(p.parent)) for p in found]
        return [{"run": run, "url": f"/reports/{run}", "collection": collection}
                for run, collection in runs if may_read_report(caller, collection)]

    def report(self, run: str, caller) -> str:
        """RUN's report.html, if `caller` may read it; one it may not is as missing as one that
        does not exist (a key learns nothing of other teams' runs)."""
        if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,100}", run):
            raise NotFound(f"no report {run[:40]!r}")
        path = Path(self.settings.serve.runs) / run / "report.html"
        if not path.is_file() or not may_read_report(caller, report_collection(path.parent)):
            raise NotFound(f"no report {run!r}: `tunewise report` writes RUN/report.html under "
                           f"{self.settings.serve.runs}")
        return path.read_text(encoding="utf-8")

    # --- request logs (opt-in: [serve] log_requests) ----------------------------------------

    def log(self, caller, kind: str, model: str, inputs: list, outputs: list,
            collection: str | None = None) -> None:
        """Append a request and its answers to its collection's log, if that collection logs:
        the caller's collection (the one it named, else its key's first), never another's."""
        name = collection or caller.collection
        wanted = self.settings.serve.log_requests
        if not ("*" in wanted or name in wanted):
            return
        path = request_log(self.settings.serve.logs, name)
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "kind": kind,
                           "model": model, "key": caller.name, "inputs": inputs,
                           "outputs": outputs}, ensure_ascii=False) + "\n"
        with self._log_lock:  # one line at a time: lines of two requests never interleave
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(line)

    def logged(self, caller, collection: str | None, limit: int = 100) -> list[dict]:
        """The last `limit` logged requests of a collection the caller may read."""
        name = scoped(caller, collection)
        path = request_log(self.settings.serve.logs, name)
        if not path.is_file():
            return []
        with open(path, encoding="utf-8") as f:
            lines = collections.deque(f, maxlen=limit)  # streamed: memory bounded by `limit`
        return [json.loads(line) for line in lines if line.strip()]

    def health(self) -> dict:
        """Alive, with the default collection's counts: read when its store is free within
        HEALTH_WAIT_S, else the last ones read — a health check never waits behind a search or
        an ingest."""
        lock = self.collection(DEFAULT_COLLECTION).lock
        if lock.acquire(timeout=HEALTH_WAIT_S):
            try:
                self._counts = self.ws.stats()
            finally:
                lock.release()
        return {"status": "ok", "documents": self._counts.get("documents"),
                "chunks": self._counts.get("chunks"),
                "waiting": {m: q.jobs.qsize() for m, q in self._queues.items()},
                "uploads_waiting": self.upload_queue.waiting()}

    def close(self) -> None:
        self.upload_queue.close()  # what is still queued is indexed on the next start
        if self.ingester is not None:
            self.ingester.close()
        self.requests.shutdown(wait=False, cancel_futures=True)
        for q in self._queues.values():
            q.close()
        self._api_calls.shutdown(wait=False, cancel_futures=True)
        for name, found in self._collections.items():
            if name != DEFAULT_COLLECTION:
                found.ws.close()
        self.ws.close()
        close_readers()
