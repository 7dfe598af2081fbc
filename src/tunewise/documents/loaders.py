"""The loaders by file suffix: a file in, Documents out, or a LoadError that says why not. A
format is one module (documents/text.py, html.py, pdf.py, word.py, jsonl.py, sheets.py,
slides.py, mail.py) plus one line in LOADERS. Files inside a file (an e-mail's attachments) are
read here, with the same loaders, as documents of their own."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from tunewise.config import IngestSettings
from tunewise.documents import html, jsonl, mail, pdf, sheets, slides, text, word
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
    ".xlsx": sheets.load_xlsx,
    ".csv": sheets.load_delimited,
    ".tsv": sheets.load_delimited,
    ".pptx": slides.load,
    ".eml": mail.load,
}
FREE_TEXT = 2**20  # characters of text any file may hold, whatever its size ([ingest] max_text_ratio)
NESTING = 2  # an attachment of an attachment is read; one level deeper is reported, not read


def load_file(path: Path, settings: IngestSettings | None = None, depth: int = 0) -> Loaded:
    """The documents of one file, within the limits of `settings` (default: [ingest]'s); any
    failure to read it is a LoadError that says why (MemoryError excepted)."""
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
    try:
        loaded = LOADERS[suffix](path, settings, Deadline(settings.max_seconds))
    except (LoadError, MemoryError):
        raise  # MemoryError: the caller's to handle (a reader process ends on it)
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from exc
    except RecursionError:
        raise LoadError("nested too deeply to read") from None
    except Exception as exc:  # a parser library's own failure is this file's, reported by name
        raise LoadError(f"unreadable ({type(exc).__name__}: {str(exc)[:200]})") from exc
    if isinstance(loaded, Document):
        loaded = Loaded([loaded])
    if loaded.attachments:
        _read_attachments(path, loaded, settings, depth)
    if not loaded.documents:
        raise LoadError("no text found")
    text = sum(len(d.text) for d in loaded.documents)
    if text > settings.max_text_mb * 2**20:
        raise LoadError(f"holds {text / 2**20:,.0f} MB of text, more than the {settings.max_text_mb:g} MB "
                        "limit ([ingest] max_text_mb)")
    if text > FREE_TEXT and text > settings.max_text_ratio * size:
        raise LoadError(f"unpacks {size:,} bytes into {text:,} characters of text ({text / size:,.0f} "
                        f"a byte), more than {settings.max_text_ratio:g} ([ingest] max_text_ratio)")
    return loaded


def _read_attachments(path: Path, loaded: Loaded, settings: IngestSettings, depth: int) -> None:
    """Each attachment of a known format becomes documents of `path` keyed by its name (cited
    as `mail.eml#report.pdf`); one that cannot be read is a problem of the file, not a failure."""
    keys = {d.key for d in loaded.documents}
    with tempfile.TemporaryDirectory(prefix="tunewise-attachment-") as folder:
        for number, (name, data) in enumerate(loaded.attachments):
            if number == settings.max_attachments:
                loaded.problems.append(f"{len(loaded.attachments) - number:,} attachments past the "
                                       f"first {number:,} not read ([ingest] max_attachments)")
                break
            suffix = Path(name).suffix.lower()
            if suffix not in LOADERS:
                loaded.problems.append(f"attachment {name}: not a format tunewise reads")
                continue
            if depth >= NESTING:
                loaded.problems.append(f"attachment {name}: nested too deeply to read")
                continue
            file = Path(folder) / f"{number}{suffix}"  # never the sender's name as a path
            file.write_bytes(data)
            try:
                inner = load_file(file, settings, depth + 1)
            except LoadError as exc:
                loaded.problems.append(f"attachment {name}: {exc}")
                continue
            loaded.problems += [f"attachment {name}: {p}" for p in inner.problems]
            for doc in inner.documents:
                key = f"{name}#{doc.key}" if doc.key else name
                while key in keys:
                    key += "'"
                keys.add(key)
                loaded.documents.append(replace(doc, path=str(path), key=key,
                                                title=name if doc.title == file.stem else doc.title))
    loaded.attachments = []


__all__ = ["LOADERS", "Deadline", "Loaded", "LoadError", "file_properties", "load_file"]
