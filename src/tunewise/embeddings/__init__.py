"""Embedders chosen by name: `local` (sentence-transformers, bundled default) or `openai`."""

from __future__ import annotations

from tunewise.config import EmbedderSettings
from tunewise.embeddings.base import Embedder, EmbedderError, normalise

BACKENDS = ("local", "openai")


def make_embedder(settings: EmbedderSettings) -> Embedder:
    if settings.backend == "local":
        from tunewise.embeddings.local import LocalEmbedder

        return LocalEmbedder(settings.model, settings.batch_size, settings.device)
    if settings.backend == "openai":
        from tunewise.embeddings.openai_api import OpenAIEmbedder

        return OpenAIEmbedder(settings)
    raise EmbedderError(f"unknown embedder backend {settings.backend!r}; valid: {', '.join(BACKENDS)}")


__all__ = ["Embedder", "EmbedderError", "make_embedder", "normalise", "BACKENDS"]
