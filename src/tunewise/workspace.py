"""The Python API that the CLI mirrors: a Workspace holds settings, a store, an embedder and chat
models (each loaded on first use), and exposes ingest, remove, search, ask and stats."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from pathlib import Path
from typing import Iterable, Mapping

from tunewise.config import Settings, load_settings
from tunewise.embeddings import Embedder, make_embedder
from tunewise.ingest import IngestReport, Progress, ingest
from tunewise.models import ChatModel, make_model
from tunewise.models.base import OnToken
from tunewise.objects import Hit, as_where
from tunewise.rag import Answer, answer
from tunewise.rag.chat import Conversation
from tunewise.rerank import Reranker, make_reranker
from tunewise.retrieval import Retriever
from tunewise.retrieval.fitted import fitted_retriever
from tunewise.retrieval.question_filter import QuestionFilter
from tunewise.store import Store, open_store, with_collection


class Workspace:
    """>>> ws = Workspace()                      # ./tunewise.toml + TUNEWISE_* variables
    >>> ws.ingest(["sample/corpus"])
    >>> ws.search("How many days can I work remotely?", k=3)

    Parts may be given instead of built from the settings (a test or a benchmark sharing one
    loaded embedder, a store opened elsewhere, a model made in memory): `store=`, `embedder=`,
    `models={name: ChatModel}`. Parts not given are built on first use."""

    def __init__(self, settings: Settings | None = None, config: str | Path | None = None, *,
                 store: Store | None = None, embedder: Embedder | None = None,
                 models: Mapping[str, ChatModel] | None = None):
        self.settings = settings or load_settings(config)
        self._store, self._embedder = store, embedder
        self._models: dict[str, ChatModel] = dict(models or {})
        self._fitted: dict[str, Retriever] = {}  # finetune-retriever folder -> its retriever

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings.store.url, self.settings.store)
        return self._store

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings.embedder)
        return self._embedder

    @cached_property
    def reranker(self) -> Reranker | None:
        """The configured reranker (None when off), built once: its model loads on first use."""
        return make_reranker(self.settings.retrieval, self.model)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.store, self.embedder, self.settings.retrieval, self.reranker)

    def retriever_for(self, folder: str = "") -> Retriever:
        """The retriever a `tunewise finetune-retriever` folder fitted (built once), or the
        configured one when `folder` is empty."""
        if not folder:
            return self.retriever
        if folder not in self._fitted:
            self._fitted[folder] = fitted_retriever(folder, self.retriever, self.settings.store)
        return self._fitted[folder]

    def ingest(self, paths: Iterable[str | Path], sync: bool = False,
               progress: Progress | None = None, metadata: dict | None = None,
               lock: AbstractContextManager | None = None, ray: str | None = None,
               workers: int | None = None) -> IngestReport:
        """`metadata` is added to every document ingested (a sidecar FILE.meta.json wins);
        `lock` is held around each store call (a server sharing the store between threads).
        `ray`: read and embed on the Ray cluster at this address ("local" starts one here) with
        `workers` actors (default: one per CPU of the cluster); this process only writes."""
        if ray is None:
            doers = nullcontext(self.embedder)
        else:
            # lazy: optional extra [ray]
            from tunewise.ingest.ray import RayWorkers  # ray is an optional extra

            doers = RayWorkers(self.settings, ray, workers)
        ask = None
        if self.settings.ingest.metadata == "model":
            # lazy: only this mode reads documents with a model
            from tunewise.documents.metadata import ModelReader

            ask = ModelReader(self.model(self.settings.ingest.metadata_model or None))
        with doers as embedder_or_pool:
            return ingest(paths, self.store, embedder_or_pool, self.settings, sync=sync,
                          progress=progress, metadata=metadata, lock=lock, ask=ask)

    def collection(self, name: str) -> "Workspace":
        """This workspace over another collection of its store, sharing the loaded embedder and
        models."""
        url = with_collection(self.settings.store.url, name)
        other = Workspace(self.settings.replace("store", url=url), embedder=self.embedder)
        other._models = self._models  # the same dict: a model loaded by either serves both
        return other

    def remove(self, paths: Iterable[str | Path]) -> int:
        """Remove the documents of these files (or of every file under these folders)."""
        return sum(self.store.remove_path(str(Path(p).expanduser().resolve())) for p in paths)

    def search(self, query: str, k: int | None = None, mode: str | None = None,
               min_similarity: float | None = None, source: str | None = None,
               where: Iterable = ()) -> list[Hit]:
        """`where`: metadata conditions, as `KEY=VALUE` / `KEY>=NUMBER` strings or Conditions;
        metadata values the query names narrow it too ([retrieval] question_filter)."""
        return self.search_explained(query, k, mode, min_similarity, source, where)[0]

    def search_explained(self, query: str, k: int | None = None, mode: str | None = None,
                         min_similarity: float | None = None, source: str | None = None,
                         where: Iterable = ()) -> tuple[list[Hit], QuestionFilter]:
        """The hits, and the filter the query named (`.note` says it to the user)."""
        where = as_where(where)
        retriever = self.retriever
        if (mode or self.settings.retrieval.mode) == "keyword":  # no model load for keywords
            retriever = Retriever(self.store, None, self.settings.retrieval, self.reranker)
        return retriever.search_explained(query, k, mode, min_similarity, source, where=where)

    def model(self, name: str | None = None) -> ChatModel:
        """A configured chat model by name (default: [rag] model), loaded once per workspace."""
        name = name or self.settings.rag.model
        if name not in self._models:
            self._models[name] = make_model(name, self.settings.models)
        return self._models[name]

    def ask(self, question: str, model: str | None = None, rag: bool = True,
            k: int | None = None, min_passage_similarity: float | None = None,
            on_token: OnToken | None = None, where: Iterable = ()) -> Answer:
        """Answer a question from the documents (rag=False: from the model alone), with sources;
        `where` narrows the documents as in `search`."""
        retriever = self.retriever if rag else None
        return answer(question, self.model(model), self.settings.rag, retriever, k=k,
                      min_passage_similarity=min_passage_similarity, on_token=on_token,
                      where=as_where(where))

    def conversation(self, model: str | None = None, rag: bool = True,
                     k: int | None = None, where: Iterable = ()) -> Conversation:
        """A chat over the documents; follow-ups are rewritten into standalone questions."""
        return Conversation(self.model(model), self.settings.rag,
                            self.retriever if rag else None, k=k, where=as_where(where))

    def stats(self) -> dict:
        return self.store.stats()

    def close(self) -> None:
        for retriever in self._fitted.values():
            if retriever.store is not self._store:
                retriever.store.close()
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
