"""The Embedder protocol: texts in, unit-length float32 vectors out, plus the tokenizer that
decides how long a chunk may be."""

from __future__ import annotations

import re
from typing import Protocol

import numpy as np

from tunewise.errors import TunewiseError


class EmbedderError(TunewiseError):
    """An embedder that cannot be loaded or called; the message says what to do."""
    http_status = 502
    kind = "model_error"


class Embedder(Protocol):
    name: str  # recorded in the store: vectors of different embedders never mix

    @property
    def dimension(self) -> int: ...

    @property
    def tokenizer(self): ...  # a tunewise.documents.chunker.Tokenizer

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dimension) float32, each row of unit length."""


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class ApproximateTokenizer:
    """For remote embedders whose tokenizer is not available offline: every word is counted as
    one token per 4 characters, which over-counts English BPE tokens, so chunks stay within the
    model's limit."""

    _TOKEN = re.compile(r"\w{1,4}|[^\w\s]")

    def __init__(self, max_tokens: int):
        self.max_tokens = max_tokens

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self._TOKEN.finditer(text)]
