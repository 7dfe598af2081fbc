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
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from tunewise.config import Settings
from tunewise.documents import LOADERS, LoadError, chunk_document, load_file
from tunewise.documents.hashing import digest, document_id, file_digest
from tunewise.embeddings import Embedder
from tunewise.objects import source_matches
from tunewise.store import Store, StoredDocument, WriteBatch, ensure_built_with


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, problem it survived)
    ocr: list[tuple[str, int]] = field(default_factory=list)  # (path, pages read by OCR)
    removed: list[str] = field(default_factory=list)  # by --sync
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


def discover(paths: Iterable[str | Path], include: tuple[str, ...] = (),
             exclude: tuple[str, ...] = ()) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files under `paths` (recursively) in a known format, filtered by globs on their path.
    A path named explicitly is kept whatever its format, so that the user hears why it failed."""
    files, missing = [], []
    for given in paths:
        p = Path(given).expanduser().resolve()
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file()
                           and f.suffix.lower() in LOADERS and not _hidden(f.relative_to(p)))
        elif p.exists():
            found = [p]
        else:
            missing.append((str(p), "no such file or folder"))
            continue
        files.extend(f for f in found if _wanted(f, include, exclude))
    return list(dict.fromkeys(files)), missing


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _wanted(path: Path, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Globs match as source globs do (objects.source_glob): '*.pdf' and 'drafts/*' anywhere."""
    text = path.as_posix()

    def match(pattern: str) -> bool:
        return source_matches(text, pattern)

    return (not include or any(map(match, include))) and not any(map(match, exclude))


class _Batcher:
    """Collects documents to write, embeds them together, writes one transaction."""

    def __init__(self, store: Store, embedder: Embedder, limit: int, progress: Progress,
                 report: IngestReport, lock: AbstractContextManager):
        self.store, self.embedder, self.limit, self.lock = store, embedder, limit, lock
        self.progress, self.report = progress, report
        self.batch = WriteBatch()
        self.pending: list = []  # (id, document, content hash, chunks)
        self.pending_chunks = 0
        self.checked = False

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
                self.store.check_embedder(self.embedder.name, self.embedder.dimension)
            self.checked = True
        vectors = self._embed(texts)
        at = 0
        for doc_id, doc, content_hash, chunks in self.pending:
            self.batch.documents.append(StoredDocument(doc_id, doc, content_hash, chunks,
                                                       vectors[at : at + len(chunks)]))
            at += len(chunks)
        with self.lock:
            self.store.write(self.batch)
        self.report.documents += len(self.pending)
        self.report.chunks += len(texts)
        self.batch, self.pending, self.pending_chunks = WriteBatch(), [], 0

    def _embed(self, texts: list[str], step: int = 256) -> np.ndarray:
        """Embed in length order (little padding per batch) and in slices, so the progress bar
        moves; rows come back in the order of `texts`."""
        order = np.argsort([len(t) for t in texts], kind="stable")
        vectors = np.zeros((len(texts), self.embedder.dimension), dtype=np.float32)
        self.progress.embedding(len(texts))
        for i in range(0, len(texts), step):
            part = order[i : i + step]
            vectors[part] = self.embedder.embed([texts[j] for j in part])
            self.progress.embedded(len(part))
        return vectors


def ingest(paths: Iterable[str | Path], store: Store, embedder: Embedder, settings: Settings,
           sync: bool = False, progress: Progress | None = None,
           metadata: dict | None = None,
           lock: AbstractContextManager | None = None) -> IngestReport:
    """Ingest files and folders. Every document gets `metadata` (e.g. `--meta company=NIKE`),
    over what its file says of itself and under a sidecar `FILE.meta.json` beside it."""
    started, report = time.perf_counter(), IngestReport()
    progress, lock = progress or Progress(), lock or nullcontext()
    paths = list(paths)
    with lock:
        ensure_built_with(store, embedder.name)  # fail before reading anything
    files, report.failed = discover(paths, settings.ingest.include, settings.ingest.exclude)
    progress.start(len(files))
    batcher = _Batcher(store, embedder, settings.ingest.batch_chunks, progress, report, lock)
    for path in files:
        _ingest_file(path, store, embedder, settings, batcher, report, metadata or {}, lock)
        progress.file_done(str(path))
    batcher.flush()
    if sync:
        with lock:
            report.removed = _sync(store, paths)
    report.seconds = time.perf_counter() - started
    return report


def _ingest_file(path: Path, store: Store, embedder: Embedder, settings: Settings,
                 batcher: _Batcher, report: IngestReport, metadata: dict,
                 lock: AbstractContextManager) -> None:
    name = str(path)
    try:
        extra = {**metadata, **_sidecar(path)}
        stamp = json.dumps(extra, sort_keys=True, default=str) if extra else ""
        file_hash = file_digest(path)
        if extra:  # a new sidecar or --meta value re-ingests an unchanged file
            file_hash += "+" + digest(stamp)
        with lock:
            known = store.file_hash(name)
        if known == file_hash:
            report.unchanged.append(name)
            return
        loaded = load_file(path, settings.ingest)
    except LoadError as exc:
        report.failed.append((name, str(exc)))
        return
    except OSError as exc:
        report.failed.append((name, f"cannot read: {exc.strerror or exc}"))
        return
    report.warnings.extend((name, problem) for problem in loaded.problems)
    if loaded.ocr_pages:
        report.ocr.append((name, len(loaded.ocr_pages)))
    with lock:
        existing = store.document_hashes(name)
    current, changed = set(), False
    size, overlap = settings.chunking.size, settings.chunking.overlap
    for doc in loaded.documents:
        doc_id, content_hash = document_id(doc.source), digest(doc.text)
        if extra:
            doc = dataclasses.replace(doc, metadata={**doc.metadata, **extra})
            content_hash = digest(doc.text + "\0" + stamp)
        current.add(doc_id)
        if existing.get(doc_id) == content_hash:
            continue
        changed = True
        batcher.add((doc_id, doc, content_hash, chunk_document(doc, embedder.tokenizer, size, overlap)))
    stale = [doc_id for doc_id in existing if doc_id not in current]
    batcher.batch.delete_ids.extend(stale)
    batcher.batch.files.append((name, file_hash))
    if not existing:
        report.added.append(name)
    elif changed or stale:
        report.updated.append(name)
    else:
        report.unchanged.append(name)


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


def _sync(store: Store, roots: list) -> list[str]:
    """Remove the documents of files under `roots` that no longer exist."""
    prefixes = [str(Path(r).expanduser().resolve()) for r in roots]
    gone = [p for p in store.paths()
            if any(p == r or p.startswith(r.rstrip("/") + "/") for r in prefixes)
            and not Path(p).exists()]
    for p in gone:
        store.remove_path(p)
    return gone
