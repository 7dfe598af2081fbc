"""A cross-encoder reranker: a sentence-transformers `CrossEncoder` read from a folder the user
configures (e.g. a downloaded cross-encoder/ms-marco-MiniLM-L-6-v2), which reads the query and
each passage together — slower than the bi-encoder, and better at telling close passages apart."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from tunewise.config import RetrievalSettings
from tunewise.rerank.base import RerankError


class CrossEncoderReranker:
    def __init__(self, folder: str, batch_size: int = 16):
        self.folder, self.batch_size = folder, batch_size
        self.name = f"cross-encoder:{Path(folder).name}"

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if not self.folder or not Path(self.folder).is_dir():
            raise RerankError(f"rerank_model {self.folder!r} is not a folder: give the folder of a "
                              "sentence-transformers cross-encoder (downloaded once)")
        from sentence_transformers import CrossEncoder

        try:
            return CrossEncoder(self.folder, device="cpu" if not _cuda() else None)
        except (OSError, ValueError) as exc:
            raise RerankError(f"cannot load the cross-encoder in {self.folder}: {exc}") from exc

    def scores(self, query: str, passages: list[str]) -> list[float]:
        if not passages:
            return []
        found = self.model.predict([(query, p) for p in passages], batch_size=self.batch_size,
                                   show_progress_bar=False)
        return [float(s) for s in found]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def make(settings: RetrievalSettings, model_of) -> CrossEncoderReranker:
    return CrossEncoderReranker(settings.rerank_model)
