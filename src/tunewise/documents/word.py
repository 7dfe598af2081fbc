"""Word .docx: paragraphs, then tables as " | "-joined rows; the title from the core properties
or the first heading; author, subject and creation date as metadata. A zip bomb is refused
before it is unpacked ([ingest] max_unpacked_mb), and so is a file of too many paragraphs."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import docx
from docx.opc.exceptions import PackageNotFoundError

from tunewise.config import IngestSettings
from tunewise.documents.base import Deadline, LoadError, file_properties, nonempty
from tunewise.objects import Document


def load(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
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
    doc = nonempty(path, "\n\n".join(blocks), d.core_properties.title or heading)
    props = d.core_properties
    return replace(doc, metadata=file_properties(props.author, props.subject, props.created))
