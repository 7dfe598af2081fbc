"""What every document loader shares: the error a file that cannot be read raises, what a
loader returns, the time limit it checks, and reading a file's bytes and text. A loader is a
function (path, [ingest] settings, deadline) -> Document | Loaded in one module per format,
registered by suffix in `documents.loaders.LOADERS`."""

from __future__ import annotations

import time
import zipfile
import zlib
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
    # files inside this one (an e-mail's attachments): (name, bytes), read by `load_file` as
    # documents of their own
    attachments: list[tuple[str, bytes]] = field(default_factory=list)


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


def check_unpacked(path: Path, settings: IngestSettings) -> None:
    """Refuse a zip-based file (.docx, .xlsx, .pptx) that unpacks past [ingest] max_unpacked_mb,
    before anything is unpacked (a zip bomb)."""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise LoadError(f"corrupt or unreadable {path.suffix} file: {exc}") from exc
    if unpacked > settings.max_unpacked_mb * 1024 * 1024:
        raise LoadError(f"unpacks to {unpacked / 2**20:.0f} MB, more than the "
                        f"{settings.max_unpacked_mb:g} MB limit ([ingest] max_unpacked_mb)")


def cell_text(value) -> str:
    """A spreadsheet or CSV cell as text: None empty, whole floats without ".0", dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:g}"
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:-9] if text.endswith("T00:00:00") else text
    return str(value)


def file_properties(author, subject, created) -> dict:
    """A document's own properties (PDF info, DOCX core properties) as metadata to filter by.
    The date the file was created is `created`, never `year`: a filing for 2018 re-saved in 2023
    is not a 2023 document (documents/metadata.py reads the period it reports on)."""
    found = {"author": str(author).strip() if author else "",
             "subject": str(subject).strip() if subject else ""}
    if created is not None and hasattr(created, "year"):
        found["created"] = created.strftime("%Y-%m-%d")
    return {k: v for k, v in found.items() if v != ""}



Loader = Callable[[Path, IngestSettings, "Deadline"], "Document | Loaded"]
