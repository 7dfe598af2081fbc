"""What the layers below the command line use of a workspace, named: evaluation, tasks and
training take `Parts`, never the Workspace itself, so the layer test can see what they reach
(tests/test_layers.py) and a caller can hand in parts it built otherwise (a test, a benchmark).
`tunewise.workspace.Workspace` satisfies it; this module imports nothing above retrieval."""

from __future__ import annotations

from typing import Protocol

from tunewise.config import Settings
from tunewise.embeddings import Embedder
from tunewise.models import ChatModel
from tunewise.rerank import Reranker
from tunewise.retrieval import Retriever
from tunewise.store import Store


class Parts(Protocol):
    """The settings, the store with its embedder and reranker, retrievers and chat models."""

    settings: Settings

    @property
    def store(self) -> Store: ...

    @property
    def embedder(self) -> Embedder: ...

    @property
    def reranker(self) -> Reranker | None: ...

    @property
    def retriever(self) -> Retriever: ...

    def retriever_for(self, folder: str = "") -> Retriever:
        """The retriever a `finetune-retriever` folder fitted, or the configured one ("")."""

    def model(self, name: str | None = None) -> ChatModel:
        """A configured chat model by name (default: [rag] model), loaded once."""
