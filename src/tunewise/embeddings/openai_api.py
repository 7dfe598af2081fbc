"""Embeddings from any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server)
through the official SDK, batched, with the SDK's retries and backoff on 429 and 5xx."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from tunewise.config import EmbedderSettings
from tunewise.embeddings.base import ApproximateTokenizer, EmbedderError, normalise
from tunewise.openai_client import openai_client


class OpenAIEmbedder:
    def __init__(self, settings: EmbedderSettings):
        self.settings = settings
        self.name = f"openai:{settings.model}"
        self.tokenizer = ApproximateTokenizer(settings.max_tokens)
        self._dimension: int | None = None

    @cached_property
    def client(self):
        return openai_client(self.settings, "the openai embedder", EmbedderError)

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.embed(["dimension probe"])
        return self._dimension  # type: ignore[return-value]

    def embed(self, texts: list[str]) -> np.ndarray:
        # lazy: openai takes 0.4 s to import
        import openai

        rows: list[list[float]] = []
        for i in range(0, len(texts), self.settings.batch_size):
            batch = texts[i : i + self.settings.batch_size]
            try:
                response = self.client.embeddings.create(model=self.settings.model, input=batch)
            except openai.OpenAIError as exc:
                raise EmbedderError(f"embedding request to {self.client.base_url} failed: {exc}") from exc
            rows.extend(d.embedding for d in sorted(response.data, key=lambda d: d.index))
        if not rows:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        vectors = normalise(np.array(rows, dtype=np.float32))
        self._dimension = vectors.shape[1]
        return vectors


def make(settings: EmbedderSettings) -> OpenAIEmbedder:
    return OpenAIEmbedder(settings)
