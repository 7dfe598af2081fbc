"""Loaders per format (txt, md, html, pdf, docx, jsonl): a file in, Documents out, or a LoadError
that says why not."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, replace
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
    return loaded


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from exc


def _decode(path: Path) -> str:
    data = _read_bytes(path)
    if b"\x00" in data[:8192]:
        raise LoadError("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                        "convert it to UTF-8 first") from exc


def _nonempty(path: Path, text: str, title: str, **kw) -> Document:
    text = text.strip()
    if not text:
        raise LoadError("no text found")
    return Document(path=str(path), text=text, title=title or path.stem, **kw)


def _load_text(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
    return _nonempty(path, _decode(path), path.stem)


def _load_markdown(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
    text = _decode(path).strip()
    heading = re.search(r"^#\s+(.+)$", text, flags=re.MULTILINE)
    doc = _nonempty(path, text, heading.group(1).strip() if heading else "")
    return replace(doc, sections=_markdown_sections(doc.text))


def _markdown_sections(text: str) -> tuple[tuple[int, str], ...]:
    """The heading path in force from each ATX heading on: "# A", "## B" → "A › B"."""
    stack: list[tuple[int, str]] = []
    sections = []
    for m in re.finditer(r"^(#{1,6})\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE):
        level = len(m.group(1))
        stack = [(lv, h) for lv, h in stack if lv < level] + [(level, m.group(2).strip())]
        sections.append((m.start(), " › ".join(h for _, h in stack)))
    return tuple(sections)


_INVISIBLE = ["script", "style", "noscript", "template", "head", "svg", "iframe"]
_BLOCKS = ["p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "li",
           "ul", "ol", "table", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "br", "pre",
           "blockquote", "dd", "dt", "figcaption"]


def _load_html(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
    from bs4 import BeautifulSoup, Comment

    soup = BeautifulSoup(_decode(path), "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else ""
    for tag in soup(_INVISIBLE):
        tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for tag in soup.find_all(_BLOCKS):
        tag.insert_after("\n\n")  # keep paragraph boundaries for the chunker
    text = soup.get_text()
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return _nonempty(path, text, title)


def _load_pdf(path: Path, settings: IngestSettings, deadline: Deadline) -> Loaded:
    """A PDF's pages with their layout (documents/pdf.py); scanned pages are OCR'd, and those that
    cannot be (no tesseract) are reported, never silently empty."""
    from tunewise.documents.pdf import read_pdf

    pdf = read_pdf(path, settings.max_pages, deadline)
    problems = []
    if pdf.unread_pages:
        one = len(pdf.unread_pages) == 1
        problems.append(f"{_pages(pdf.unread_pages)} {'has' if one else 'have'} no text layer and "
                        f"{'was' if one else 'were'} not read: install tesseract-ocr to OCR "
                        f"{'it' if one else 'them'}")
    if not pdf.text.strip():
        reason = problems[0] if problems else "no text found"
        raise LoadError(f"PDF has no text: {reason}")
    doc = _nonempty(path, pdf.text, pdf.title, pages=pdf.pages)
    doc = replace(doc, metadata=pdf.properties, sections=pdf.sections)
    return Loaded([doc], problems, ocr_pages=pdf.ocr_pages)


def _pages(numbers: list[int]) -> str:
    """"page 3", "pages 1, 2 and 5"."""
    if len(numbers) == 1:
        return f"page {numbers[0]}"
    return "pages " + ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def _load_docx(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        with zipfile.ZipFile(path) as archive:  # a zip bomb is refused before it is unpacked
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise LoadError(f"corrupt or unreadable .docx: {exc}") from exc
    if unpacked > settings.max_unpacked_mb * 1024 * 1024:
        raise LoadError(f"unpacks to {unpacked / 2**20:.0f} MB, more than the "
                        f"{settings.max_unpacked_mb:g} MB limit ([ingest] max_unpacked_mb)")
    try:
        d = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(f"corrupt or unreadable .docx: {exc}") from exc
    paragraphs = d.paragraphs
    if len(paragraphs) > settings.max_paragraphs:
        raise LoadError(f"{len(paragraphs):,} paragraphs, more than the {settings.max_paragraphs:,} "
                        "limit ([ingest] max_paragraphs)")
    deadline.check()
    filled = [p for p in paragraphs if p.text.strip()]
    blocks = [p.text for p in filled]
    for table in d.tables:
        deadline.check()
        for row in table.rows:
            blocks.append(" | ".join(cell.text.strip() for cell in row.cells))
    # a paragraph's style is looked up (about 1 ms each), so only the first few are asked
    heading = next((p.text for p in filled[:50]
                    if p.style is not None and p.style.name.startswith(("Heading", "Title"))), "")
    doc = _nonempty(path, "\n\n".join(blocks), d.core_properties.title or heading)
    props = d.core_properties
    return replace(doc, metadata=file_properties(props.author, props.subject, props.created))


def file_properties(author, subject, created) -> dict:
    """A document's own properties (PDF info, DOCX core properties) as metadata to filter by."""
    found = {"author": str(author).strip() if author else "",
             "subject": str(subject).strip() if subject else ""}
    if created is not None and hasattr(created, "year"):
        found["created"], found["year"] = created.strftime("%Y-%m-%d"), created.year
    return {k: v for k, v in found.items() if v != ""}


def _load_jsonl(path: Path, settings: IngestSettings, deadline: Deadline) -> Loaded:
    """One document per line: `text_field` holds the text; `_id`/`id` the key (else the line
    number); `title` is prepended to the text so that both retrievers see it."""
    docs, problems, seen, text_field = [], [], set(), settings.jsonl_text_field
    for number, line in enumerate(_decode(path).splitlines(), start=1):
        if number % 1000 == 0:
            deadline.check()
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: invalid JSON ({exc.msg})")
            continue
        text = record.get(text_field) if isinstance(record, dict) else None
        if not isinstance(text, str) or not text.strip():
            problems.append(f"line {number}: no '{text_field}' text")
            continue
        key = str(record.get("_id", record.get("id", number)))
        if key in seen:
            problems.append(f"line {number}: duplicate id {key!r} (kept the first)")
            continue
        seen.add(key)
        title = str(record.get("title") or "").strip()
        body = f"{title}\n\n{text.strip()}" if title else text.strip()
        meta = {k: v for k, v in record.items() if k not in (text_field, "title", "_id", "id")}
        docs.append(Document(path=str(path), text=body, title=title or key, key=key,
                             metadata=meta))
    if not docs and problems:
        raise LoadError(f"no valid records ({problems[0]})")
    return Loaded(docs, problems)


# a loader: (path, [ingest] settings, deadline) -> one Document, or Loaded (many, with problems)
LOADERS: dict[str, Callable[[Path, IngestSettings, Deadline], Document | Loaded]] = {
    ".txt": _load_text,
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".docx": _load_docx,
    ".jsonl": _load_jsonl,
}
