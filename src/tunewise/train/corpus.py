"""The pretraining corpus on disk, tokenized once: OUT/train.bin and OUT/val.bin hold the token ids
of every document, each followed by the end-of-text id, as a flat little-endian array (uint16
when the vocabulary fits, else uint32); OUT/meta.json says which, with the counts. Training
memory-maps the files and only reads them. Documents go to validation by a hash of their text,
so the split does not depend on the order of the files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from tunewise.documents.discover import discover
from tunewise.documents.loaders import LoadError, load_file
from tunewise.train.common import TrainingError

FORMAT = "tunewise-tokens-1"


def document_texts(sources: Iterable[str | Path]) -> tuple[Iterator[str], list[tuple[str, str]]]:
    """The text of every document under `sources` (files or folders, any ingestible format),
    and the files that could not be read (path, reason); the rest is still read."""
    files, problems = discover(sources)

    def texts() -> Iterator[str]:
        for path in files:
            try:
                loaded = load_file(path)
            except LoadError as exc:
                problems.append((str(path), str(exc)))
                continue
            for doc in loaded.documents:
                yield doc.text

    return texts(), problems


def store_texts(store) -> Iterator[str]:
    """Documents rebuilt from a store's chunks: overlapping chunks are joined at their character
    offsets, so the overlap is not counted twice; chunks with a gap between them (the whitespace
    between two pages, which no chunk crosses) are joined by a blank line or a space."""
    current, text, end, page = None, "", 0, None
    for chunk in store.iter_chunks():
        if chunk.document_id != current:
            if text:
                yield text
            current, text, end = chunk.document_id, chunk.text, chunk.end
        elif chunk.end > end:
            gap = "" if chunk.start <= end else "\n\n" if chunk.page != page else " "
            text += gap + chunk.text[max(0, end - chunk.start):]
            end = chunk.end
        page = chunk.page
    if text:
        yield text


def in_validation(text: str, val_fraction: float) -> bool:
    h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return h / 2**64 < val_fraction


@dataclass(frozen=True)
class TokenFile:
    folder: Path
    meta: dict

    @classmethod
    def open(cls, folder: str | Path) -> "TokenFile":
        folder = Path(folder)
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TrainingError(f"{folder}: not a prepared corpus ({exc})") from None
        if meta.get("format") != FORMAT:
            raise TrainingError(f"{folder}: unknown corpus format {meta.get('format')!r}")
        return cls(folder, meta)

    def tokens(self, split: str) -> np.ndarray:
        """The split's token ids, memory-mapped (read-only)."""
        count = self.meta[f"{split}_tokens"]
        if count == 0:
            return np.zeros(0, dtype=self.meta["dtype"])
        return np.memmap(self.folder / f"{split}.bin", dtype=self.meta["dtype"], mode="r",
                         shape=(count,))


def prepare_corpus(texts: Iterable[str], tokenizer, out: str | Path, val_fraction: float = 0.05,
                   batch: int = 256) -> TokenFile:
    """Tokenize `texts` into OUT (see the module docstring); written to temporary files and
    renamed at the end, so an interrupted run leaves no half corpus that looks complete."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype("<u2" if len(tokenizer) <= 2**16 else "<u4")  # little-endian on any machine
    eos = tokenizer.eos_token_id
    counts = {"train": 0, "val": 0}
    documents = {"train": 0, "val": 0}
    files = {s: open(out / f"{s}.bin.tmp", "wb") for s in counts}
    try:
        pending: list[str] = []
        for text in texts:
            pending.append(text)
            if len(pending) >= batch:
                _write(pending, tokenizer, eos, dtype, val_fraction, files, counts, documents)
                pending = []
        _write(pending, tokenizer, eos, dtype, val_fraction, files, counts, documents)
    finally:
        for f in files.values():
            f.close()
    for split in counts:
        (out / f"{split}.bin.tmp").replace(out / f"{split}.bin")
    meta = {"format": FORMAT, "dtype": dtype.str, "vocab_size": len(tokenizer),
            "eos_id": eos, "train_tokens": counts["train"], "val_tokens": counts["val"],
            "train_documents": documents["train"], "val_documents": documents["val"],
            "val_fraction": val_fraction, "tokenizer": getattr(tokenizer, "name_or_path", "")}
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return TokenFile(out, meta)


def _write(texts, tokenizer, eos, dtype, val_fraction, files, counts, documents) -> None:
    if not texts:
        return
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    for text, tokens in zip(texts, ids):
        split = "val" if in_validation(text, val_fraction) else "train"
        array = np.asarray(tokens + [eos], dtype=dtype)
        array.tofile(files[split])
        counts[split] += int(array.size)
        documents[split] += 1
