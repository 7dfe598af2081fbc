"""The keyword index: words -> hashed, stemmed terms at write time; an in-memory BM25 index
over them at query time, updated in place as documents come and go.

Why not SQLite FTS5's bm25()? It scores every row that matches any query word: at 100,000 chunks a
typical question matches ~50,000 rows and takes ~70 ms (bench/query_latency.py). Here the postings
are numpy arrays grouped by term, so a query touches only its own terms' postings and scores them
with a few vector operations: ~2 ms at 100,000 chunks, with the same ranking quality on SciFact
(the approach of bm25s, Lù 2024). Unlike bm25s the weights are not precomputed: they depend on the
collection's statistics, which every upload changes, and computing them for a query's postings
lets an upload add its own postings instead of rebuilding the index (store/sqlite.py)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import snowballstemmer

# Words too common to help BM25; dropping them also keeps the index and the queries small.
STOPWORDS = frozenset("""a about above after again against all am an and any are as at be because
been before being below between both but by can could did do does doing down during each few for
from further had has have having he her here hers herself him himself his how i if in into is it
its itself just me more most my myself no nor not now of off on once only or other our ours out
over own same she should so some such than that the their theirs them themselves then there these
they this those through to too under until up very was we were what when where which while who
whom why will with would you your yours""".split())

_WORD = re.compile(r"\w+")
_STEMMER = snowballstemmer.stemmer("english")
K1, B = 1.2, 0.75  # the usual BM25 constants (Lucene's and FTS5's defaults)


def inverse_document_frequency(n, df):
    """BM25's idf of a term in `df` of `n` chunks (the +1 inside the log keeps it positive);
    shared by the SQLite index and the PostgreSQL store's SQL."""
    return np.log1p((n - df + 0.5) / (df + 0.5))


@lru_cache(maxsize=1 << 20)
def _term_id(word: str) -> int:
    """A 64-bit id of the stemmed word: no vocabulary table to keep in sync between writers."""
    return stem_id(_STEMMER.stemWord(word))


@lru_cache(maxsize=1 << 20)
def stem_id(stem: str) -> int:
    """The 64-bit id of an already stemmed word (PostgreSQL's lexemes are)."""
    return int.from_bytes(hashlib.blake2b(stem.encode(), digest_size=8).digest(), "little")


def analyse(text: str) -> list[int]:
    """Term ids of the words of `text`: lowercased, stopwords dropped, stemmed (Porter2)."""
    return [_term_id(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def query_term_ids(query: str) -> np.ndarray:
    """Distinct term ids of a query (none for a query of stopwords only: they are not indexed)."""
    return np.unique(np.array(analyse(query), dtype=np.uint64))


def encode_terms(text: str) -> tuple[bytes, bytes, int]:
    """(term ids, counts, length) of a chunk as BLOBs for the store."""
    ids = np.array(analyse(text), dtype=np.uint64)
    terms, counts = np.unique(ids, return_counts=True)
    return terms.tobytes(), np.minimum(counts, 65535).astype(np.uint16).tobytes(), len(ids)


@dataclass
class _Segment:
    """Postings of some rows: a term × position sparse matrix of raw counts, compressed by column
    (each term's positions and counts contiguous), built in one sort."""

    terms: np.ndarray  # (n_terms,) sorted uint64 term ids
    indptr: np.ndarray  # (n_terms + 1,) where each term's postings start
    # int32 and uint16: 6 bytes a posting (a million chunks hold ~57 million of them)
    positions: np.ndarray  # (nnz,) int32
    counts: np.ndarray  # (nnz,) uint16, as stored

    @classmethod
    def of(cls, terms: np.ndarray, positions: np.ndarray, counts: np.ndarray) -> "_Segment":
        # positions arrive in increasing order (one add, or segments merged in order), so a
        # stable sort by term keeps each term's postings ordered: half lexsort's time
        order = np.argsort(terms, kind="stable")
        terms, positions, counts = terms[order], positions[order], counts[order]
        starts = (np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]]) if len(terms)
                  else np.zeros(0, np.int64))
        return cls(terms[starts], np.r_[starts, len(terms)].astype(np.int64), positions, counts)

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray] | None:
        i = int(np.searchsorted(self.terms, np.uint64(term)))
        if i == len(self.terms) or int(self.terms[i]) != term:
            return None
        span = slice(self.indptr[i], self.indptr[i + 1])
        return self.positions[span], self.counts[span]

    def triplets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.repeat(self.terms, np.diff(self.indptr)), self.positions, self.counts


class BM25Index:
    """BM25 over raw term counts, kept up to date in place: segments of postings (one built at
    load, one more per `add`), and a mask of the removed positions. Scores use the statistics of
    the live rows at query time — a term's document frequency is its live postings, N the live
    rows, the mean length theirs — so they equal those of a fresh build of the same rows, and a
    document added or removed costs its own terms, not a rebuild. Segments are merged (one sort)
    once there are more than `MAX_SEGMENTS` or the added rows pass a sixteenth of the rest. A
    first load may come as several `load` segments (a million chunks in one sort needed 2 GB more
    than the index it built): those are kept as they are, and only what is added later is merged.

    Positions are handed out in order of `add` and never reused; the caller maps its row ids to
    them."""

    MAX_SEGMENTS = 8

    def __init__(self) -> None:
        self.segments: list[_Segment] = []
        self.lengths = np.zeros(0, np.float32)  # per position
        self.alive = np.zeros(0, bool)
        self.size = 0  # positions handed out
        self.live = 0
        self.total_length = 0.0
        self.merged_rows = 0  # rows in the first (largest) segment when it was built
        self.base = 0  # segments of the first load, never merged with what is added after

    @classmethod
    def build(cls, term_blobs: list[bytes], count_blobs: list[bytes], lengths) -> "BM25Index":
        index = cls()
        index.add(term_blobs, count_blobs, lengths)
        return index

    def add(self, term_blobs: list[bytes], count_blobs: list[bytes], lengths) -> np.ndarray:
        """Index rows (each as `encode_terms` wrote it); returns their positions."""
        return self.add_arrays(np.frombuffer(b"".join(term_blobs), dtype=np.uint64),
                               np.frombuffer(b"".join(count_blobs), dtype=np.uint16),
                               np.array([len(b) // 8 for b in term_blobs], dtype=np.int64),
                               lengths)

    def add_arrays(self, terms: np.ndarray, counts: np.ndarray, per_row: np.ndarray,
                   lengths, load: bool = False) -> np.ndarray:
        """Index rows given as their term ids and counts end to end, `per_row` terms each;
        `load`: a part of the first load, a segment kept as it is."""
        n = len(per_row)
        positions = np.arange(self.size, self.size + n, dtype=np.int64)
        if self.size:  # room to grow; a first load takes exactly what it needs
            self.lengths, self.alive = grown(self.lengths, self.size + n), grown(self.alive, self.size + n)
        else:
            self.lengths, self.alive = np.zeros(n, np.float32), np.zeros(n, bool)
        lengths = np.asarray(lengths, dtype=np.float32).reshape(n)
        self.lengths[positions] = lengths
        self.alive[positions] = True
        self.size += n
        self.live += n
        self.total_length += float(lengths.sum())
        self.segments.append(_Segment.of(terms, np.repeat(positions.astype(np.int32), per_row),
                                         counts.astype(np.uint16, copy=False)))
        if load:
            self.base += 1
            self.merged_rows = self.size
        elif len(self.segments) == 1:
            self.merged_rows = n
        elif self.size - self.merged_rows > max(256, self.merged_rows // 16):
            self.compact(first=self.base)  # the added rows are many: fold them into one segment
        elif len(self.segments) > self.MAX_SEGMENTS + self.base:
            self.compact(first=self.base + 1)  # many small uploads: merge them, not the main one
        return positions

    def remove(self, positions) -> None:
        positions = np.unique(np.asarray(positions, dtype=np.int64))
        positions = positions[self.alive[positions]]
        self.alive[positions] = False
        self.live -= len(positions)
        self.total_length -= float(self.lengths[positions].sum())

    def compact(self, first: int = 0) -> None:
        """Merge the segments from `first` on into one (all of them by default), dropping the
        removed rows' postings."""
        if len(self.segments) <= first:
            return
        parts = [seg.triplets() for seg in self.segments[first:]]
        terms, positions, counts = (np.concatenate([p[i] for p in parts]) for i in range(3))
        keep = self.alive[positions]
        self.segments[first:] = [_Segment.of(terms[keep], positions[keep], counts[keep])]
        if first <= self.base:
            self.merged_rows = self.size
            self.base = min(self.base, first)

    def scores(self, query: np.ndarray) -> np.ndarray:
        """(n_rows,) BM25 score of every position for the query's term ids; 0 where nothing
        matches or the row was removed."""
        out = np.zeros(self.size, dtype=np.float32)
        if not self.live:
            return out
        avg = max(self.total_length / self.live, 1e-9)
        for term in query.tolist():
            found = [p for p in (seg.postings(term) for seg in self.segments) if p is not None]
            if not found:
                continue
            pos = np.concatenate([f[0] for f in found])
            tf = np.concatenate([f[1] for f in found]).astype(np.float32)
            live = self.alive[pos]
            pos, tf = pos[live], tf[live]
            if not len(pos):
                continue
            idf = inverse_document_frequency(self.live, len(pos))
            norm = K1 * (1 - B + B * self.lengths[pos] / avg)
            out[pos] += (idf * tf * (K1 + 1) / (tf + norm)).astype(np.float32)  # one posting a row
        return out


LOG_KEEP = 200_000  # chunk_log entries a store keeps; a reader further behind reloads everything
RELOAD_DEAD = 0.25  # reload everything once this share of the in-memory rows is removed ones


class KeywordRows:
    """A BM25Index addressed by a store's row ids, kept current from the store's log of chunks
    added and removed (`chunk_log`, written by triggers): `replay` applies the removals and names
    the rows to read and `add`. Removed rows stay as dead positions until a whole reload."""

    def __init__(self) -> None:
        self.bm25 = BM25Index()
        self.rows = np.zeros(0, np.int64)  # row id per position
        self.where: dict[int, int] = {}  # row id -> position, live rows only
        self.seq = 0  # the last log entry applied

    @property
    def size(self) -> int:
        return self.bm25.size

    @property
    def alive(self) -> np.ndarray:
        return self.bm25.alive[: self.size]

    def dead(self) -> int:
        return self.size - self.bm25.live

    def needs_reload(self, first_logged: int | None) -> bool:
        """Whether to read the store whole rather than replay its log: the log no longer holds
        every entry since this index's last look (`first_logged` is its oldest), or more than
        RELOAD_DEAD of the positions are removed rows."""
        return ((first_logged is not None and self.seq < first_logged - 1)
                or self.dead() > RELOAD_DEAD * max(self.size, 1))

    def add(self, rows: list[int], term_blobs: list[bytes], count_blobs: list[bytes],
            lengths) -> np.ndarray:
        return self._placed(rows, self.bm25.add(term_blobs, count_blobs, lengths))

    def add_arrays(self, rows: np.ndarray, terms: np.ndarray, counts: np.ndarray,
                   per_row: np.ndarray, lengths, load: bool = False) -> np.ndarray:
        return self._placed(rows, self.bm25.add_arrays(terms, counts, per_row, lengths, load))

    def _placed(self, rows, positions: np.ndarray) -> np.ndarray:
        self.rows = grown(self.rows, self.size) if len(self.rows) else np.zeros(self.size, np.int64)
        self.rows[positions] = rows
        self.where.update(zip(np.asarray(rows).tolist(), positions.tolist()))
        return positions

    def remove(self, rows: list[int]) -> None:
        self.bm25.remove([self.where.pop(r) for r in rows if r in self.where])

    def replay(self, log: list[tuple[int, bool]]) -> list[int]:
        """Apply the removals of a log of (row, added) in order; the rows added since, to read."""
        added: dict[int, None] = {}
        for row, was_added in log:
            if was_added:
                added[row] = None
            elif row in added:
                del added[row]  # added and removed again since the last look
            else:
                self.remove([row])
        return list(added)

    def top(self, scores: np.ndarray, k: int, scope: np.ndarray | None = None
            ) -> list[tuple[int, float]]:
        """The k best (row, score) pairs, best first (ties: the older row), dead positions and
        rows outside `scope` (row ids) left out; `scores` by position."""
        rows = self.rows[: self.size]
        scores = np.where(self.alive, scores, -np.inf)
        if scope is not None:
            scores = np.where(np.isin(rows, scope), scores, -np.inf)
        if not len(rows) or k <= 0:
            return []
        k = min(k, len(rows))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(rows) else np.arange(len(rows))
        top = top[np.lexsort((rows[top], -scores[top]))]
        return [(int(rows[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]


def grown(array: np.ndarray, needed: int) -> np.ndarray:
    """`array` (rows along the first axis) with room for at least `needed` rows: unchanged if it
    has it, else copied into one a quarter larger, so uploads do not copy it each time."""
    if len(array) >= needed:
        return array
    out = np.zeros((max(needed + needed // 4, 1024),) + array.shape[1:], array.dtype)
    out[: len(array)] = array
    return out
