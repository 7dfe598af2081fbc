"""The ingestion pipeline: files -> documents -> chunks -> vectors -> store.

Work is committed in batches of about `batch_chunks` chunks, one transaction each, and a file is
marked complete only in the transaction that writes its last document. So an interrupted run
leaves a consistent store, and running it again skips what is already there.

A caller that shares the store between threads (the server) passes `lock`: it is held for each
store call only, never while a file is read or embedded."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import deque
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from tunewise.config import Settings
from tunewise.documents import LoadError, chunk_document, load_file
from tunewise.documents.discover import discover
from tunewise.documents.hashing import digest, document_id, file_digest
from tunewise.documents.isolated import read_isolated
from tunewise.documents.metadata import (
    PROPERTIES,
    SOURCE_KEY,
    describe_sources,
    parse_sources,
    read_metadata,
)
from tunewise.embeddings import Embedder
from tunewise.errors import TunewiseError
from tunewise.store import StoredDocument, WriteBatch, WriteStore, ensure_built_with


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, problem it survived)
    ocr: list[tuple[str, int]] = field(default_factory=list)  # (path, pages read by OCR)
    removed: list[str] = field(default_factory=list)  # by --sync
    workers: list[tuple[str, int]] = field(default_factory=list)  # Ray: (where, resident bytes)
    documents: int = 0  # documents written
    chunks: int = 0  # chunks written
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Something was ingested or was already there."""
        return bool(self.added or self.updated or self.unchanged)


class Progress:
    """Hooks for a progress display; the default shows nothing."""

    def start(self, files: int) -> None: ...
    def file_done(self, path: str) -> None: ...
    def embedding(self, chunks: int) -> None: ...
    def embedded(self, chunks: int) -> None: ...
    def indexing(self, done: int, total: int) -> None:
        """The store's search index (its HNSW graph) being built after the writes."""


class IngestError(TunewiseError):
    """Ingestion could not start or go on (e.g. no Ray cluster at the given address)."""


@dataclass
class FileJob:
    """One file to read, with what the store already holds of it."""

    path: Path
    known_hash: str | None  # the file's hash when it was last ingested completely
    existing: dict[str, str]  # document id -> content hash, of the documents stored from it
    metadata: dict


@dataclass
class FileWork:
    """What reading one file produced, wherever it was read (this process or a Ray worker): its new
    or changed documents, chunked, and what the report says of it. Pure: no store involved."""

    name: str
    file_hash: str = ""
    unchanged: bool = False  # the file is byte-for-byte what was ingested
    failure: str | None = None
    documents: list = field(default_factory=list)  # (id, document, content hash, chunks) to write
    stale: list[str] = field(default_factory=list)  # ids of stored documents the file no longer has
    stored: bool = False  # some of it was stored before
    problems: list[str] = field(default_factory=list)
    ocr_pages: int = 0


def read_file(job: FileJob, settings: Settings, tokenizer) -> FileWork:
    """Load, split and chunk one file; documents whose content is already stored are left out."""
    name = str(job.path)
    try:
        extra = {**job.metadata, **_sidecar(job.path)}
        stamp = json.dumps(extra, sort_keys=True, default=str) if extra else ""
        file_hash = file_digest(job.path)
        if extra:  # a new sidecar or --meta value re-ingests an unchanged file
            file_hash += "+" + digest(stamp)
        if job.known_hash == file_hash:
            return FileWork(name, file_hash, unchanged=True)
        read = read_isolated if settings.ingest.isolate else load_file
        loaded = read(job.path, settings.ingest)
    except LoadError as exc:
        return FileWork(name, failure=str(exc))
    except OSError as exc:
        return FileWork(name, failure=f"cannot read: {exc.strerror or exc}")
    except MemoryError:  # read in this process: the file, not the ingest, fails
        return FileWork(name, failure="ran out of memory reading it (read untrusted files with "
                                      "--isolate: [ingest] max_memory_mb)")
    work = FileWork(name, file_hash, problems=list(loaded.problems), ocr_pages=len(loaded.ocr_pages),
                    stored=bool(job.existing))
    current, made = set(), 0
    size, overlap = settings.chunking.size, settings.chunking.overlap
    for doc in loaded.documents:
        doc_id, content_hash = document_id(doc.source), digest(doc.text)
        if settings.ingest.metadata != "off":
            doc = _with_own_metadata(doc, job.path, extra)
        if extra:
            doc = dataclasses.replace(doc, metadata={**doc.metadata, **extra})
            content_hash = digest(doc.text + "\0" + stamp)
        current.add(doc_id)
        if job.existing.get(doc_id) != content_hash:
            chunks = chunk_document(doc, tokenizer, size, overlap)
            made += len(chunks)
            if made > settings.ingest.max_chunks:
                return FileWork(name, failure=f"makes more than {settings.ingest.max_chunks:,} "
                                              "chunks ([ingest] max_chunks)")
            work.documents.append((doc_id, doc, content_hash, chunks))
    work.stale = [doc_id for doc_id in job.existing if doc_id not in current]
    return work


class Workers:
    """Where files are read and chunks embedded. `LocalWorkers` is this process; a Ray actor pool
    (tunewise.ingest.ray) is the other. Embedding is asynchronous: `embed` returns a function that
    waits for the vectors, and up to `ahead` batches may be in flight while earlier ones are
    written, in order."""

    name: str  # the embedder's, as the store records it
    dimension: int
    ahead: int = 0

    def read(self, jobs: Iterator[FileJob]) -> Iterator[FileWork]:
        raise NotImplementedError

    def embed(self, texts: list[str], progress: Progress) -> Callable[[], np.ndarray]:
        raise NotImplementedError

    def resident(self) -> list[tuple[str, int]]:
        """(where, resident bytes) of each worker process; none for this process."""
        return []


class LocalWorkers(Workers):
    def __init__(self, embedder: Embedder, settings: Settings):
        self.embedder, self.settings = embedder, settings
        self.name = embedder.name

    @property
    def dimension(self) -> int:  # asked only when there is something to embed: loads the model
        return self.embedder.dimension

    def read(self, jobs: Iterator[FileJob]) -> Iterator[FileWork]:
        for job in jobs:
            yield read_file(job, self.settings, self.embedder.tokenizer)

    def embed(self, texts: list[str], progress: Progress, step: int = 256) -> Callable[[], np.ndarray]:
        """Embed in length order (little padding per batch) and in slices, so the progress bar
        moves; rows come back in the order of `texts`."""
        order = np.argsort([len(t) for t in texts], kind="stable")
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        progress.embedding(len(texts))
        for i in range(0, len(texts), step):
            part = order[i : i + step]
            vectors[part] = self.embedder.embed([texts[j] for j in part])
            progress.embedded(len(part))
        return lambda: vectors


class _Batcher:
    """Collects documents to write, has them embedded together, writes one transaction per batch,
    in the order the batches were made (a file is marked complete with its last document)."""

    def __init__(self, store: WriteStore, workers: Workers, limit: int, progress: Progress,
                 report: IngestReport, lock: AbstractContextManager):
        self.store, self.workers, self.limit, self.lock = store, workers, limit, lock
        self.progress, self.report = progress, report
        self.batch = WriteBatch()
        self.pending: list = []  # (id, document, content hash, chunks)
        self.pending_chunks = 0
        self.checked = False
        self.in_flight: deque = deque()  # (batch, pending, number of chunks, wait for vectors)

    def add(self, item: tuple) -> None:
        self.pending.append(item)
        self.pending_chunks += len(item[3])
        if self.pending_chunks >= self.limit:
            self.flush()

    def flush(self) -> None:
        if not (self.pending or self.batch.delete_ids or self.batch.files):
            return
        texts = [c.indexed_text for *_, chunks in self.pending for c in chunks]
        if texts and not self.checked:
            with self.lock:
                self.store.check_embedder(self.workers.name, self.workers.dimension)
            self.checked = True
        wait = self.workers.embed(texts, self.progress) if texts else (lambda: None)
        self.in_flight.append((self.batch, self.pending, len(texts), wait))
        self.batch, self.pending, self.pending_chunks = WriteBatch(), [], 0
        while len(self.in_flight) > self.workers.ahead:
            self._write_oldest()

    def finish(self) -> None:
        self.flush()
        while self.in_flight:
            self._write_oldest()

    def _write_oldest(self) -> None:
        batch, pending, n_texts, wait = self.in_flight.popleft()
        vectors, at = wait(), 0
        for doc_id, doc, content_hash, chunks in pending:
            batch.documents.append(StoredDocument(doc_id, doc, content_hash, chunks,
                                                  vectors[at : at + len(chunks)]))
            at += len(chunks)
        with self.lock:
            self.store.write(batch)
        self.report.documents += len(pending)
        self.report.chunks += n_texts


def ingest(paths: Iterable[str | Path], store: WriteStore, embedder: Embedder | Workers, settings: Settings,
           sync: bool = False, progress: Progress | None = None,
           metadata: dict | None = None,
           lock: AbstractContextManager | None = None,
           ask: Callable[[str, Path], tuple[dict, dict]] | None = None) -> IngestReport:
    """Ingest files and folders, reading and embedding with `embedder` in this process or on
    `Workers` (a Ray actor pool). Every document gets `metadata` (e.g. `--meta company=NIKE`),
    over what its file says of itself and under a sidecar `FILE.meta.json` beside it. `ask`
    (documents/metadata.ModelReader) reads, here, the company, year and type the rules missed."""
    started, report = time.perf_counter(), IngestReport()
    progress, lock = progress or Progress(), lock or nullcontext()
    workers = embedder if isinstance(embedder, Workers) else LocalWorkers(embedder, settings)
    paths = list(paths)
    with lock:
        ensure_built_with(store, workers.name)  # fail before reading anything
    files, report.failed = discover(paths, settings.ingest.include, settings.ingest.exclude)
    progress.start(len(files))
    batcher = _Batcher(store, workers, settings.ingest.batch_chunks, progress, report, lock)

    def jobs() -> Iterator[FileJob]:
        for path in files:
            with lock:
                known, existing = store.file_hash(str(path)), store.document_hashes(str(path))
            yield FileJob(path, known, existing, metadata or {})

    for work in workers.read(jobs()):
        if ask is not None and work.documents:
            work.documents = [_asked(item, ask) for item in work.documents]
        _take(work, batcher, report)
        progress.file_done(work.name)
    batcher.finish()
    with lock:
        store.index(progress=progress.indexing, force=False)  # a no-op unless it lags
    if getattr(ask, "problems", 0):
        report.warnings.append(("[ingest] metadata_model", f"{ask.problems} documents' metadata "
                                "could not be read (a failed call or an answer outside the "
                                "schema): those fields are left empty"))
    report.workers = workers.resident()
    if sync:
        with lock:
            report.removed = _sync(store, paths)
    report.seconds = time.perf_counter() - started
    return report


def _take(work: FileWork, batcher: _Batcher, report: IngestReport) -> None:
    """Queue what one file produced for writing, and say what happened to it."""
    if work.failure is not None:
        report.failed.append((work.name, work.failure))
        return
    if work.unchanged:
        report.unchanged.append(work.name)
        return
    report.warnings.extend((work.name, problem) for problem in work.problems)
    if work.ocr_pages:
        report.ocr.append((work.name, work.ocr_pages))
    for item in work.documents:
        batcher.add(item)
    batcher.batch.delete_ids.extend(work.stale)
    batcher.batch.files.append((work.name, work.file_hash))
    if not work.stored:
        report.added.append(work.name)
    elif work.documents or work.stale:
        report.updated.append(work.name)
    else:
        report.unchanged.append(work.name)


def _with_own_metadata(doc, path: Path, given: dict):
    """`doc` with what it says of itself (documents/metadata.py) under what was `given`; the
    sources name each key's origin, "given" for a sidecar's or --meta's."""
    found, sources = read_metadata(doc.text, path)
    found = {k: v for k, v in found.items() if k not in given and k not in doc.metadata}
    origin = {**{k: "file properties" if k in PROPERTIES else "the file"
                 for k in doc.metadata if k != SOURCE_KEY},
              **{k: sources[k] for k in found}, **{k: "given" for k in given}}
    return dataclasses.replace(doc, metadata={**doc.metadata, **found,
                                              **({SOURCE_KEY: describe_sources(origin)}
                                                 if origin else {})})


ASKED = ("company", "year", "doc_type")  # what a metadata model is asked for


def _asked(item: tuple, ask) -> tuple:
    """A document with what the model read of the keys the rules and the user left empty."""
    doc_id, doc, content_hash, chunks = item
    missing = [k for k in ASKED if k not in doc.metadata]
    if not missing:
        return item
    found, sources = ask(doc.text, Path(doc.path))
    found = {k: v for k, v in found.items() if k in missing}
    if not found:
        return item
    origin = {**parse_sources(doc.metadata), **{k: sources[k] for k in found}}
    return (doc_id, dataclasses.replace(doc, metadata={
        **doc.metadata, **found, SOURCE_KEY: describe_sources(origin)}), content_hash, chunks)


def refresh_metadata(store, settings: Settings, lock: AbstractContextManager | None = None
                     ) -> tuple[int, int]:
    """Read again what each stored document says of itself (its first chunks and its file
    name), keeping what was given (a sidecar, --meta) and what its file says of itself; the
    chunks and vectors are not touched, nothing is re-embedded. (changed, documents)."""
    lock = lock or nullcontext()
    with lock:
        stored = [(d.id, d.document.path, d.document.metadata,
                   "\n".join(c.text for c in d.chunks[:60])) for d in store.export()]
    updates = {}
    for doc_id, path, old, text in stored:
        origin = _origins(old)
        kept = {k: v for k, v in old.items()
                if k != SOURCE_KEY and origin.get(k) in ("given", "the file", "file properties")}
        sources = {k: origin[k] for k in kept}
        if settings.ingest.metadata != "off":
            found, found_sources = read_metadata(text, Path(path))
            for key, value in found.items():
                if key not in kept:
                    kept[key], sources[key] = value, found_sources[key]
        new = {**kept, **({SOURCE_KEY: describe_sources(sources)} if sources else {})}
        if new != old:
            updates[doc_id] = new
    if updates:
        with lock:
            store.set_metadata(updates)
    return len(updates), len(stored)


def _origins(metadata: dict) -> dict[str, str]:
    """{key: where it came from} of stored metadata. Metadata stored before sources were kept:
    the file's properties are the file's, a `year` equal to the creation date's is that date
    (dropped), any other key was given."""
    sources = parse_sources(metadata)
    if sources:
        return sources
    created = str(metadata.get("created", ""))[:4]
    return {k: "file properties" if k in PROPERTIES else
            "creation date" if k == "year" and str(v) == created else "given"
            for k, v in metadata.items()}


SIDECAR = ".meta.json"  # report.pdf.meta.json holds report.pdf's metadata


def _sidecar(path: Path) -> dict:
    side = path.with_name(path.name + SIDECAR)
    if not side.is_file():
        return {}
    try:
        found = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise LoadError(f"{side.name}: not a JSON object of metadata ({exc})") from None
    if not isinstance(found, dict):
        raise LoadError(f"{side.name}: not a JSON object of metadata")
    return {str(k): v for k, v in found.items()}


def _sync(store: WriteStore, roots: list) -> list[str]:
    """Remove the documents of files under `roots` that no longer exist."""
    prefixes = [str(Path(r).expanduser().resolve()) for r in roots]
    gone = [p for p in store.paths()
            if any(p == r or p.startswith(r.rstrip("/") + "/") for r in prefixes)
            and not Path(p).exists()]
    for p in gone:
        store.remove_path(p)
    return gone
