"""Word .docx: paragraphs, then tables as " | "-joined rows; the title from the core properties
or the first heading; author, subject and creation date as metadata. A zip bomb is refused
before it is unpacked ([ingest] max_unpacked_mb), and a file of too many paragraphs before
python-docx builds its tree ([ingest] max_paragraphs): the paragraphs are counted in the
streamed XML first (6,000,000 empty paragraphs fit in an 87 KB file and cost python-docx 1.8 GB)."""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import docx
from docx.opc.exceptions import PackageNotFoundError

from tunewise.config import IngestSettings
from tunewise.documents.base import Deadline, LoadError, check_unpacked, file_properties, nonempty
from tunewise.objects import Document

PARAGRAPH_TAG = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}p"
STREAM_BYTES = 1 << 20  # read the body XML a megabyte at a time while counting


def load(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
    check_unpacked(path, settings)  # a zip bomb is refused before it is unpacked
    try:
        with zipfile.ZipFile(path) as archive:
            _count_paragraphs(archive, settings.max_paragraphs, deadline)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise LoadError(f"corrupt or unreadable .docx: {exc}") from exc
    try:
        d = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, SyntaxError) as exc:
        raise LoadError(f"corrupt or unreadable .docx: {exc}") from exc
    paragraphs = d.paragraphs  # no more than counted above (that count includes table cells')
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
    doc = nonempty(path, "\n\n".join(blocks), d.core_properties.title or heading)
    props = d.core_properties
    return replace(doc, metadata=file_properties(props.author, props.subject, props.created))


def _count_paragraphs(archive: zipfile.ZipFile, most: int, deadline: Deadline) -> None:
    """Refuse a body of more than `most` paragraphs, counted as the XML is parsed while it is
    unpacked (a megabyte at a time, each element dropped once read: memory stays flat). Parsed,
    not matched: `<w:p\t/>` and a namespace under another prefix are paragraphs too."""
    try:
        part = archive.open("word/document.xml")
    except KeyError:
        raise LoadError("corrupt or unreadable .docx: it has no word/document.xml") from None
    parser = ElementTree.XMLPullParser(events=("start", "end"))
    count = 0
    with part:
        while block := part.read(STREAM_BYTES):
            deadline.check()
            try:
                parser.feed(block)
                events = list(parser.read_events())
            except ElementTree.ParseError as exc:
                raise LoadError(f"corrupt or unreadable .docx: {exc}") from None
            for event, element in events:
                if event == "start" and element.tag == PARAGRAPH_TAG:
                    count += 1
                elif event == "end":
                    element.clear()
            if count > most:
                raise LoadError(f"more than {most:,} paragraphs, the limit ([ingest] "
                                "max_paragraphs)")
