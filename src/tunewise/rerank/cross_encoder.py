"""A cross-encoder reranker: a sentence-transformers `CrossEncoder` read from a folder the user
configures (one `tunewise finetune-retriever` trained, or a downloaded
cross-encoder/ms-marco-MiniLM-L-6-v2), which reads the query and each passage together — slower
than the bi-encoder, and better at telling close passages apart. Its scores are probabilities,
so `[rag] min_relevance` can abstain on them."""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path

from tunewise.config import RetrievalSettings
from tunewise.embeddings.local import MANIFEST
from tunewise.rerank.base import RerankError


class CrossEncoderReranker:
    calibrated = True  # a one-logit cross-encoder's scores pass through a sigmoid

    def __init__(self, folder: str, batch_size: int = 16):
        self.folder, self.batch_size = folder, batch_size
        self.name = f"cross-encoder:{_trained_name(folder) or Path(folder).name}"

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if not self.folder or not Path(self.folder).is_dir():
            raise RerankError(f"rerank_model {self.folder!r} is not a folder: give the folder of a "
                              "sentence-transformers cross-encoder (downloaded once)")
        # lazy: sentence_transformers takes 5.4 s to import
        from sentence_transformers import CrossEncoder

        try:
            return CrossEncoder(self.folder, device="cpu" if not _cuda() else None)
        except (OSError, ValueError) as exc:
            raise RerankError(f"cannot load the cross-encoder in {self.folder}: {exc}") from exc

    def scores(self, query: str, passages: list[str]) -> list[float]:
        if not passages:
            return []
        # lazy: torch takes 1.5 s to import
        import torch

        # a sigmoid whatever the folder's own activation (some ship raw logits): probabilities
        found = self.model.predict([(query, p) for p in passages], batch_size=self.batch_size,
                                   show_progress_bar=False, activation_fn=torch.nn.Sigmoid())
        return [float(s) for s in found]


def _trained_name(folder: str) -> str | None:
    """The name `tunewise finetune-retriever` gave the model (its folder is just "reranker")."""
    try:
        return str(json.loads((Path(folder) / MANIFEST).read_text())["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _cuda() -> bool:
    # lazy: torch takes 1.5 s to import
    import torch

    return torch.cuda.is_available()


def make(settings: RetrievalSettings, model_of) -> CrossEncoderReranker:
    return CrossEncoderReranker(settings.rerank_model)
