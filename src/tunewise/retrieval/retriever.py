"""Dense, keyword and hybrid retrieval over a Store, with a minimum similarity, a source
filter, metadata conditions and those the question names. `Retriever.search` is what `tunewise
search` and the RAG level call."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from tunewise.config import RetrievalSettings
from tunewise.embeddings import Embedder
from tunewise.errors import TunewiseError
from tunewise.objects import Hit
from tunewise.rerank import Reranker
from tunewise.retrieval.fusion import FUSIONS, convex, rrf
from tunewise.retrieval.question_filter import QuestionFilter, read_filter
from tunewise.store import SearchStore, ensure_built_with
from tunewise.store.base import Where

MODES = ("dense", "keyword", "hybrid")
VALUES_TTL_S = 5.0  # how long the store's metadata values are reused for question filters
PAGE_SPARE = 4  # one_per_page: candidates fetched per hit kept


class RetrievalError(TunewiseError):
    pass


class Retriever:
    def __init__(self, store: SearchStore, embedder: Embedder | None, settings: RetrievalSettings,
                 reranker: Reranker | None = None):
        self.store, self.embedder, self.settings = store, embedder, settings
        self.reranker = reranker  # reorders the best `rerank_depth` candidates when given
        self._values: tuple[float, dict[str, list]] | None = None  # (read at, metadata values)

    @property
    def description(self) -> str:
        """What retrieves, as records and reports show it: embedder, mode, reranker."""
        s = self.settings
        mode = (f"hybrid {'convex α=' + str(s.alpha) if s.fusion == 'convex' else s.fusion}"
                if s.mode == "hybrid" else s.mode)
        name = self.embedder.name if self.embedder is not None else "no embedder"
        return f"{name}, {mode}" + (f", reranked by {self.reranker.name}" if self.reranker else "")

    def question_filter(self, query: str, where: Where = ()) -> QuestionFilter:
        """The metadata conditions `query` names among the values the store holds (none when
        `[retrieval] question_filter` is off or `where` already sets their keys)."""
        if self.settings.question_filter == "off":
            return QuestionFilter()
        aliases = dict(map(str.strip, a.split("=", 1)) for a in self.settings.aliases)
        found = read_filter(query, self._metadata_values(), {c.key for c in where}, aliases)
        return replace(found, boosted=self.settings.question_filter == "boost")

    def _metadata_values(self) -> dict[str, list]:
        """The store's metadata values, read again at most every few seconds (a server sees an
        uploaded company's documents without a restart)."""
        now = time.monotonic()
        if self._values is None or now - self._values[0] > VALUES_TTL_S:
            self._values = (now, self.store.metadata_values())
        return self._values[1]

    def search(self, query: str, k: int | None = None, mode: str | None = None,
               min_similarity: float | None = None, source: str | None = None,
               vector: np.ndarray | None = None, where: Where = (),
               question_filter: bool = True) -> list[Hit]:
        """The hits of `search_explained`."""
        return self.search_explained(query, k, mode, min_similarity, source, vector, where,
                                     question_filter)[0]

    def search_explained(self, query: str, k: int | None = None, mode: str | None = None,
                         min_similarity: float | None = None, source: str | None = None,
                         vector: np.ndarray | None = None, where: Where = (),
                         question_filter: bool = True) -> tuple[list[Hit], QuestionFilter]:
        """The k best chunks for `query`, and the filter the question named. `min_similarity`
        is the least cosine a dense or hybrid hit may have (default [retrieval] min_similarity;
        keyword mode has [retrieval] min_bm25 instead); when nothing passes it the answer is
        an empty list. `source` (a glob) and `where` (metadata conditions)
        narrow the documents searched, and so do the metadata values the query names
        (`question_filter()`): when nothing is found with all of them, the last is dropped, and
        the filter returned says so. `vector` is the query's embedding when the caller has it."""
        found = self.question_filter(query, where) if question_filter else QuestionFilter()
        while True:
            hits = self._search(query, k, mode, min_similarity, source, vector,
                                tuple(where) + found.conditions)
            if hits or not found:
                break
            found = found.without_last()
        if found.boosted:  # the documents the question names first, then everything else
            rest = self._search(query, k, mode, min_similarity, source, vector, tuple(where))
            seen = {h.chunk.id for h in hits}
            hits = (hits + [h for h in rest if h.chunk.id not in seen])[:k or self.settings.k]
        return hits, found

    def _search(self, query: str, k: int | None, mode: str | None, min_similarity: float | None,
                source: str | None, vector: np.ndarray | None, where: Where) -> list[Hit]:
        s = replace(self.settings, **{n: v for n, v in {
            "k": k, "mode": mode, "min_similarity": min_similarity}.items() if v is not None})
        if s.mode not in MODES:
            raise RetrievalError(f"unknown retrieval mode {s.mode!r}; valid: {', '.join(MODES)}")
        if s.fusion not in FUSIONS:
            raise RetrievalError(f"unknown fusion {s.fusion!r}; valid: {', '.join(FUSIONS)}")
        if not query.strip():
            return []
        # with a reranker, the first stage hands on more candidates than are finally kept
        wanted = max(s.k, s.rerank_depth) if self.reranker else s.k
        # one_per_page: room for the repeats it drops (a long page can fill dozens of places)
        fetch = max(wanted * PAGE_SPARE, s.depth) if s.one_per_page else wanted
        if s.mode == "keyword":
            scored = [(row, score, None) for row, score in
                      self.store.keyword(query, fetch, source, where)]
            if s.min_bm25 is not None:
                scored = [h for h in scored if h[1] >= s.min_bm25]
        else:
            vector = self._embed(query) if vector is None else vector
            if s.mode == "dense":
                scored = [(row, cos, cos) for row, cos in
                          self.store.dense(vector, fetch, source, where)]
            else:
                scored = self._hybrid(query, replace(s, k=fetch), vector, source, where)
            if s.min_similarity is not None:
                scored = [h for h in scored if h[2] >= s.min_similarity]
        if s.one_per_page and s.page_evidence > 0:
            hits = self._pages(scored[:fetch], wanted, s.mode, s.page_evidence)
        elif s.one_per_page:
            hits = self._one_per_page(scored[:fetch], wanted, s.mode)
        else:
            hits = self._hits(scored[:wanted], s.mode)
        return self._rerank(query, hits)[: s.k] if self.reranker else hits

    def _rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        """The candidates in the reranker's order; a hit's score becomes the reranker's, its
        similarity stays the cosine (what min_similarity and abstention use)."""
        scores = self.reranker.scores(query, [h.chunk.indexed_text for h in hits])
        order = sorted(range(len(hits)), key=lambda i: -scores[i])  # stable on ties
        return [replace(hits[i], score=scores[i], retriever=f"{hits[i].retriever}+rerank")
                for i in order]

    def _embed(self, query: str) -> np.ndarray:
        if self.embedder is None:
            raise RetrievalError("dense and hybrid search need an embedder")
        ensure_built_with(self.store, self.embedder.name)
        return self.embedder.embed([query])[0]

    def _hybrid(self, query: str, s: RetrievalSettings, vector: np.ndarray, source: str | None,
                where: Where) -> list[tuple[int, float, float]]:
        depth = max(s.depth, s.k)
        dense = dict(self.store.dense(vector, depth, source, where))
        keyword = dict(self.store.keyword(query, depth, source, where))
        only_keyword = [row for row in keyword if row not in dense]
        # The cosine of keyword-only hits is exact and cheap: every vector is at hand.
        dense.update(zip(only_keyword, self.store.similarities(vector, only_keyword)))
        if s.fusion == "rrf":
            by_dense = sorted(dense, key=dense.get, reverse=True)[:depth]
            fused = rrf([by_dense, list(keyword)])
        else:
            fused = convex(dense, keyword, s.alpha)
        ranked = sorted(fused, key=fused.get, reverse=True)
        return [(row, fused[row], dense[row]) for row in ranked]

    def _one_per_page(self, scored: list[tuple[int, float, float | None]], wanted: int,
                      retriever: str) -> list[Hit]:
        """The best hit of each page of each document, `wanted` of them; hits without a page all
        stay. Chunks are read from the store in growing batches, so that documents without pages
        (or hits on distinct pages) cost what a plain search does: one read of `wanted` chunks."""
        seen, kept, start, size = set(), [], 0, wanted
        while len(kept) < wanted and start < len(scored):
            for h in self._hits(scored[start : start + size], retriever):
                page = (h.chunk.document_id, h.chunk.page)
                if h.chunk.page is None or page not in seen:
                    seen.add(page)
                    kept.append(h)
            start, size = start + size, size * 2
        return kept[:wanted]

    def _pages(self, scored: list[tuple[int, float, float | None]], wanted: int, retriever: str,
               weight: float) -> list[Hit]:
        """Pages ranked by their evidence: a page's best chunk score plus `weight` × the scores
        of its next two (a statement's table rows and the sentence that names them add up),
        each page shown by its best chunk; hits without a page rank by their own score."""
        groups: dict[tuple, list[Hit]] = {}
        for h in self._hits(scored, retriever):  # best first
            key = (h.chunk.document_id, h.chunk.page) if h.chunk.page is not None else (h.chunk.id,)
            groups.setdefault(key, []).append(h)
        ranked = sorted(groups.values(),
                        key=lambda g: -(g[0].score + weight * sum(x.score for x in g[1:3])))
        return [g[0] for g in ranked[:wanted]]

    def _hits(self, scored: list[tuple[int, float, float | None]], retriever: str) -> list[Hit]:
        chunks = self.store.chunks([row for row, _, _ in scored])
        return [Hit(chunk=chunks[row], score=score, retriever=retriever, similarity=sim)
                for row, score, sim in scored if row in chunks]


__all__ = ["Retriever", "RetrievalError", "MODES"]
