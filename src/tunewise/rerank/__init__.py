"""Rerankers chosen by name in `[retrieval] rerank`: `none` (default), `cross-encoder` (a
sentence-transformers CrossEncoder folder in `rerank_model`), `llm` (a [models] name in
`rerank_model`). A backend is one module with `make(settings, model_of)` plus one line here."""

from __future__ import annotations

import importlib
from typing import Callable

from tunewise.config import RetrievalSettings
from tunewise.rerank.base import Reranker, RerankError

BACKENDS = {
    "cross-encoder": "tunewise.rerank.cross_encoder",
    "llm": "tunewise.rerank.llm",
}


def make_reranker(settings: RetrievalSettings, model_of: Callable) -> Reranker | None:
    """The configured reranker, or None when reranking is off; `model_of(name)` gives a chat
    model (the Workspace's)."""
    if settings.rerank in ("", "none"):
        return None
    if settings.rerank not in BACKENDS:
        raise RerankError(f"unknown reranker {settings.rerank!r}; valid: none, "
                          f"{', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[settings.rerank]).make(settings, model_of)


__all__ = ["Reranker", "RerankError", "make_reranker", "BACKENDS"]
