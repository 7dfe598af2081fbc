"""The loaders by file suffix: a file in, Documents out, or a LoadError that says why not. A
format is one module (documents/text.py, html.py, pdf.py, word.py, jsonl.py) plus one line in
LOADERS."""

from __future__ import annotations

from pathlib import Path

from tunewise.config import IngestSettings
from tunewise.documents import html, jsonl, pdf, text, word
from tunewise.documents.base import Deadline, Loaded, Loader, LoadError, file_properties
from tunewise.objects import Document

LOADERS: dict[str, Loader] = {
    ".txt": text.load_text,
    ".md": text.load_markdown,
    ".markdown": text.load_markdown,
    ".html": html.load,
    ".htm": html.load,
    ".pdf": pdf.load,
    ".docx": word.load,
    ".jsonl": jsonl.load,
}


def load_file(path: Path, settings: IngestSettings | None = None) -> Loaded:
    """The documents of one file, within the limits of `settings` (default: [ingest]'s)."""
    settings = settings or IngestSettings()
    suffix = path.suffix.lower()
    if suffix not in LOADERS:
        raise LoadError(f"unsupported format {path.suffix or '(no extension)'}; "
                        f"supported: {', '.join(sorted(LOADERS))}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from exc
    if size == 0:
        raise LoadError("empty file")
    loaded = LOADERS[suffix](path, settings, Deadline(settings.max_seconds))
    if isinstance(loaded, Document):
        loaded = Loaded([loaded])
    if not loaded.documents:
        raise LoadError("no text found")
    text = sum(len(d.text) for d in loaded.documents)
    if text > settings.max_text_mb * 2**20:
        raise LoadError(f"holds {text / 2**20:,.0f} MB of text, more than the {settings.max_text_mb:g} MB "
                        "limit ([ingest] max_text_mb)")
    return loaded


__all__ = ["LOADERS", "Deadline", "Loaded", "LoadError", "file_properties", "load_file"]
