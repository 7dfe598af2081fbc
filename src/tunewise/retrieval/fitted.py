"""A retriever fitted by `tunewise finetune-retriever`, as the rest of tunewise reads it: the folder
holds embedder/ and reranker/ (each a sentence-transformers folder with a tunewise.json naming
it) and retriever.json (what was trained from what, and the store `tunewise store reembed`
wrote with its embedder). Systems written `MODEL+rag:retriever=FOLDER` retrieve with it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tunewise.config import StoreSettings
from tunewise.embeddings.local import MANIFEST, LocalEmbedder
from tunewise.errors import TunewiseError
from tunewise.rerank.cross_encoder import CrossEncoderReranker
from tunewise.retrieval import Retriever
from tunewise.store import open_store

RECORD = "retriever.json"  # FOLDER/retriever.json


class FittedRetrieverError(TunewiseError):
    """A folder that is not (yet) a usable fitted retriever; the message says what to run."""


@dataclass
class Trained:
    """What one stage trained, as retriever.json records it (the cost model reads `seconds`)."""

    what: str  # embedder | reranker
    folder: str
    name: str
    pairs: int
    steps: int
    seconds: float
    tokens: int
    losses: list[float] = field(default_factory=list)  # mean loss of each tenth of the steps

    def to_dict(self) -> dict:
        return asdict(self)


def fitted_retriever(folder: str | Path, base: Retriever,
                     store_settings: StoreSettings | None = None) -> Retriever:
    """The Retriever a `finetune-retriever` folder describes: its embedder over the store
    `tunewise store reembed` wrote with it (opened with `store_settings`), and its reranker; a
    stage not trained keeps `base`'s own (the configured retriever), as do the retrieval
    settings. Opening the store is the caller's to close (`retriever.store.close()`)."""
    folder = Path(folder)
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        raise FittedRetrieverError(f"{folder}: no {RECORD}; give a folder written by "
                                     "`tunewise finetune-retriever`") from None
    store, embedder = base.store, base.embedder
    if trained_stage(folder / "embedder"):
        if not record.get("reembedded"):
            raise FittedRetrieverError(
                f"{folder}: its embedder has no store yet: tunewise store reembed --embedder "
                f"{folder / 'embedder'} --to sqlite:{folder / 'store.db'}")
        store = open_store(record["reembedded"], store_settings)
        embedder = LocalEmbedder(str(folder / "embedder"))
    reranker = (CrossEncoderReranker(str(folder / "reranker"))
                if trained_stage(folder / "reranker") else base.reranker)
    return Retriever(store, embedder, base.settings, reranker)


def record_reembedded(embedder_folder: str | Path, url: str) -> bool:
    """Note in the fitted retriever's record which store holds its embedder's vectors (when the
    embedder came from `finetune-retriever`); True when there was a record to note it in."""
    path = Path(embedder_folder).resolve().parent / RECORD
    if not path.is_file() or trained_stage(embedder_folder) is None:
        return False
    record = {**json.loads(path.read_text()), "reembedded": url}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(path)
    return True


def trained_stage(folder: str | Path) -> Trained | None:
    """The record of a stage written by an earlier run, or None when it is not finished."""
    try:
        return Trained(**json.loads((Path(folder) / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError):
        return None


__all__ = ["RECORD", "FittedRetrieverError", "Trained", "fitted_retriever", "record_reembedded",
           "trained_stage"]
