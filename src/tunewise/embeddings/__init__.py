"""Embedders chosen by name: `local` (sentence-transformers, bundled default), `onnx` (the same
model on ONNX Runtime, optionally int8) or `openai`.

A backend is one module with `make(settings)` plus one line in `BACKENDS`."""

from __future__ import annotations

import importlib

from tunewise.config import EmbedderSettings
from tunewise.embeddings.base import Embedder, EmbedderError, normalise

BACKENDS = {
    "local": "tunewise.embeddings.local",  # sentence-transformers, in process
    "onnx": "tunewise.embeddings.onnx",  # the same model exported to ONNX Runtime; int8 optional
    "openai": "tunewise.embeddings.openai_api",  # any OpenAI-compatible endpoint
}


def make_embedder(settings: EmbedderSettings) -> Embedder:
    if settings.backend not in BACKENDS:
        raise EmbedderError(f"unknown embedder backend {settings.backend!r}; "
                            f"valid: {', '.join(BACKENDS)}")
    return importlib.import_module(BACKENDS[settings.backend]).make(settings)


__all__ = ["Embedder", "EmbedderError", "make_embedder", "normalise", "BACKENDS"]
