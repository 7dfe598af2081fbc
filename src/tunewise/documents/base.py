"""What every document loader shares: the error a file that cannot be read raises, what a
loader returns, the time limit it checks, and reading a file's bytes and text. A loader is a
function (path, [ingest] settings, deadline) -> Document | Loaded in one module per format,
registered by suffix in `documents.loaders.LOADERS`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tunewise.config import IngestSettings
from tunewise.errors import TunewiseError
from tunewise.objects import Document


class LoadError(TunewiseError):
    """A file that cannot be ingested; the message is the reason, shown next to the file name."""
    http_status = 422


@dataclass
class Loaded:
    documents: list[Document]
    problems: list[str] = field(default_factory=list)  # per-record problems the file survived
    ocr_pages: list[int] = field(default_factory=list)  # pages read by OCR (scanned PDF pages)


class Deadline:
    """The time one file may take to read ([ingest] max_seconds), checked as the loaders go."""

    def __init__(self, seconds: float):
        self.seconds, self.end = seconds, time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise LoadError(f"took longer than {self.seconds:g} s to read (limit: [ingest] "
                            "max_seconds)")


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from exc


def decode(path: Path) -> str:
    data = read_bytes(path)
    if b"\x00" in data[:8192]:
        raise LoadError("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                        "convert it to UTF-8 first") from exc


def nonempty(path: Path, text: str, title: str, **kw) -> Document:
    text = text.strip()
    if not text:
        raise LoadError("no text found")
    return Document(path=str(path), text=text, title=title or path.stem, **kw)


def file_properties(author, subject, created) -> dict:
    """A document's own properties (PDF info, DOCX core properties) as metadata to filter by."""
    found = {"author": str(author).strip() if author else "",
             "subject": str(subject).strip() if subject else ""}
    if created is not None and hasattr(created, "year"):
        found["created"], found["year"] = created.strftime("%Y-%m-%d"), created.year
    return {k: v for k, v in found.items() if v != ""}



Loader = Callable[[Path, IngestSettings, "Deadline"], "Document | Loaded"]
