"""Approximate nearest neighbours for the SQLite store: an HNSW graph (usearch) over the chunk
vectors, so that dense search at a million chunks reads a few thousand vectors, not every one.

The graph is a cache of the store, never the truth. It is kept in a folder beside the store file
(`store.db.ann/`) with a header naming the embedder it was built for and the last `chunk_log`
entry it reflects, and it is brought up to date from that log like the in-memory keyword index
(store/bm25.py). A file that is missing, cut short or altered (its size and CRC-32 are in the
header) or further behind than the log reaches is rebuilt from the store's vectors; one built
for another embedder or dimension is refused with the command that rebuilds it. The candidates
it finds are re-scored with the exact float32 vectors, so an answer's cosines are exact and only
its recall is approximate.

Why usearch: a maintained wheel for every platform (no compiler needed), removal of entries,
int8 storage (a quarter of float32's memory; the exact vectors are in memory for re-scoring
anyway) and save/restore."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from tunewise.store.base import StoreError

if TYPE_CHECKING:
    from usearch.index import Index

log = logging.getLogger(__name__)

FORMAT = 1
# Graph edges a node keeps (HNSW's M). With 32, a hundred near-duplicates of each vector left
# some nodes with hardly a link into them: recall@10 0.79 at a million such chunks with ef_search
# 300, 64 links 0.98 (SciFact train queries; bench/store_scale.py --tune). A saved graph built
# with another number is rebuilt.
CONNECTIVITY = 64
EXPANSION_ADD = 128  # candidate list while inserting (efConstruction)
CANDIDATES = 100  # re-scored exactly for any k below it: recall costs little at this depth
REBUILD = "tunewise store index --rebuild"


class AnnMismatch(StoreError):
    """An index file built for another embedder or dimension than the store's."""


class HnswIndex:
    """An HNSW graph of a store's vectors keyed by row id, and the log entry it reflects."""

    def __init__(self, dimension: int, ef_search: int = 100, index: Index | None = None,
                 connectivity: int | None = None):
        self.index = index or _usearch()(ndim=dimension, metric="cos", dtype="i8",
                                         connectivity=connectivity or CONNECTIVITY,
                                         expansion_add=EXPANSION_ADD)
        self.dimension = dimension
        self.ef_search = ef_search
        self.seq = 0  # the last chunk_log entry applied
        self.unsaved = 0  # changes applied since it was read or written

    def __len__(self) -> int:
        return len(self.index)

    def add(self, rows: Iterable[int], vectors: np.ndarray) -> None:
        keys = np.asarray(rows if isinstance(rows, np.ndarray) else list(rows), dtype=np.uint64)
        if len(keys):
            self.index.add(keys, np.ascontiguousarray(vectors, dtype=np.float32))
            self.unsaved += len(keys)

    def remove(self, rows: Iterable[int]) -> None:
        keys = np.asarray(rows if isinstance(rows, np.ndarray) else list(rows), dtype=np.uint64)
        if len(keys):
            self.unsaved += int(np.sum(self.index.remove(keys)))

    def search(self, vector: np.ndarray, count: int) -> np.ndarray:
        """Row ids of about the `count` nearest vectors (the order is approximate)."""
        count = max(count, CANDIDATES)
        self.index.expansion_search = max(self.ef_search, count)
        return np.asarray(self.index.search(np.asarray(vector, np.float32), count).keys,
                          dtype=np.int64)

    def replay(self, log: list[tuple[int, int]], vectors_of: Callable[[list[int]], dict]) -> None:
        """Apply (row, added) log entries: every row named is dropped, then the rows whose last
        entry is an addition are added back with their current vectors (`vectors_of(rows)`:
        {row: vector}, rows deleted since missing) — so a row id reused by SQLite gets the new
        chunk's vector."""
        last = dict(log)
        named = np.fromiter(last, dtype=np.uint64, count=len(last))
        if len(named):
            self.remove(named[np.asarray(self.index.contains(named), bool).reshape(-1)])
        added = vectors_of([r for r, was_added in last.items() if was_added])
        if added:
            self.add(added, np.stack(list(added.values())))

    # -- the file ---------------------------------------------------------------------------
    def save(self, folder: Path, embedder: str) -> None:
        """Write the index and then its header (each by rename, the header last), so a crash
        at any point leaves the previous pair or the new one; one process writes at a time."""
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            name = f"{self.seq}-{uuid.uuid4().hex[:12]}.usearch"
            staging = folder / f"{name}.partial"
            self.index.save(str(staging))
            with open(staging, "rb+") as f:
                os.fsync(f.fileno())
            crc, size = _crc(staging)
            os.replace(staging, folder / name)
            header = {"format": FORMAT, "embedder": embedder, "dimension": self.dimension,
                      "seq": self.seq, "rows": len(self), "file": name, "size": size, "crc32": crc}
            _write_atomic(folder / "header.json", json.dumps(header))
            for old in folder.iterdir():  # files of earlier saves (or of a save cut short)
                if old.name not in (name, "header.json", "lock"):
                    old.unlink(missing_ok=True)
        self.unsaved = 0

    @classmethod
    def load(cls, folder: Path, embedder: str, dimension: int,
             ef_search: int = 100) -> "HnswIndex | None":
        """The saved index, or None if there is none or it cannot be trusted (said in the log);
        AnnMismatch if it was built for another embedder."""
        try:
            header = json.loads((folder / "header.json").read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable index header (%s); rebuilding it", folder, exc)
            return None
        if (header.get("embedder"), header.get("dimension")) != (embedder, dimension):
            raise AnnMismatch(
                f"{folder} was built for embedder {header.get('embedder')} "
                f"({header.get('dimension')}-d), not this store's {embedder} ({dimension}-d); "
                f"run `{REBUILD}` to build it again")
        path = folder / str(header.get("file", ""))
        try:
            if (header.get("format") != FORMAT or not path.is_file()
                    or _crc(path) != (header.get("crc32"), header.get("size"))):
                raise ValueError("missing, cut short or altered")
            index = _usearch().restore(str(path))
            if index is None or index.ndim != dimension or len(index) != header.get("rows"):
                raise ValueError("not the index its header describes")
            if index.connectivity != CONNECTIVITY:
                raise ValueError(f"built with {index.connectivity} links a node where this "
                                 f"version builds {CONNECTIVITY}")
        except (OSError, ValueError, RuntimeError) as exc:
            log.warning("%s: index file %s (%s); rebuilding it", folder, path.name, exc)
            return None
        loaded = cls(dimension, ef_search, index)
        loaded.seq = int(header["seq"])
        return loaded


def _usearch() -> type[Index]:
    # lazy: usearch (and the tqdm it imports) take 11 ms, paid only by a store that wants a graph
    from usearch.index import Index

    return Index


def _crc(path: Path) -> tuple[int, int]:
    """(CRC-32, size) of a file, read in 8 MB blocks."""
    crc, size = 0, 0
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            crc, size = zlib.crc32(block, crc), size + len(block)
    return crc, size


def _write_atomic(path: Path, text: str) -> None:
    staging = path.with_name(path.name + ".partial")
    with open(staging, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(staging, path)
