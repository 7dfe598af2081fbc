"""The keyword index: words -> hashed, stemmed terms at write time; an in-memory BM25 index
over them at query time.

Why not SQLite FTS5's bm25()? It scores every row that matches any query word: at 100,000 chunks a
typical question matches ~50,000 rows and takes ~70 ms (bench/query_latency.py). Here each
(term, chunk) BM25 weight is computed once when the index is loaded, so a query only sums a few
columns of a sparse matrix: ~2 ms at 100,000 chunks, with the same ranking quality on SciFact
(the approach of bm25s, Lù 2024)."""

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
    stem = _STEMMER.stemWord(word)
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
class BM25Index:
    """A term x chunk sparse matrix of BM25 weights in compressed-column form."""

    n_rows: int
    terms: np.ndarray  # (n_terms,) sorted uint64 term ids
    indptr: np.ndarray  # (n_terms + 1,) where each term's column starts in `rows`/`weights`
    rows: np.ndarray  # (nnz,) row positions (0..n_rows-1)
    weights: np.ndarray  # (nnz,) BM25 weight of the term in the row

    @classmethod
    def build(cls, term_blobs: list[bytes], count_blobs: list[bytes], lengths: np.ndarray) -> "BM25Index":
        n = len(term_blobs)
        per_row = np.array([len(b) // 8 for b in term_blobs], dtype=np.int64)
        terms = np.frombuffer(b"".join(term_blobs), dtype=np.uint64)
        counts = np.frombuffer(b"".join(count_blobs), dtype=np.uint16).astype(np.float32)
        rows = np.repeat(np.arange(n, dtype=np.int32), per_row)
        order = np.argsort(terms, kind="stable")  # group by term; one sort builds everything
        terms, counts, rows = terms[order], counts[order], rows[order]
        starts = np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]]) if len(terms) else np.zeros(0, np.int64)
        indptr = np.r_[starts, len(terms)].astype(np.int64)
        df = np.diff(indptr).astype(np.float32)
        idf = inverse_document_frequency(n, df)
        lengths = np.asarray(lengths, dtype=np.float32)
        norm = K1 * (1 - B + B * lengths / max(float(lengths.mean()) if n else 1.0, 1e-9))
        weights = np.repeat(idf, df.astype(np.int64)) * counts * (K1 + 1) / (counts + norm[rows])
        return cls(n, terms[starts], indptr, rows, weights.astype(np.float32))

    def scores(self, query: np.ndarray) -> np.ndarray:
        """(n_rows,) BM25 score of every row for the query's term ids; 0 where nothing matches."""
        at = np.searchsorted(self.terms, query)
        inside = at < len(self.terms)
        at = at[inside][self.terms[at[inside]] == query[inside]]  # the query terms that occur
        if len(at) == 0:
            return np.zeros(self.n_rows, dtype=np.float32)
        parts = [slice(self.indptr[i], self.indptr[i + 1]) for i in at]
        rows = np.concatenate([self.rows[p] for p in parts])
        weights = np.concatenate([self.weights[p] for p in parts])
        return np.bincount(rows, weights=weights, minlength=self.n_rows).astype(np.float32)
