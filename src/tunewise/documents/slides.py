"""Slide decks (.pptx): each slide is a page (the citation's page is the slide number), its title
a heading, then its text boxes, tables (as Markdown tables, the header carried into a chunk's
context) and speaker notes; title, author, subject and date from the core properties. A zip
bomb is refused before it is unpacked ([ingest] max_unpacked_mb), a deck past max_pages slides
by name, and the deadline is checked slide by slide."""

from __future__ import annotations

import zipfile
from pathlib import Path

from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.exc import PackageNotFoundError

from tunewise.config import IngestSettings
from tunewise.documents.base import Deadline, LoadError, check_unpacked, file_properties, nonempty
from tunewise.documents.tables import TextBuilder
from tunewise.objects import Document


def _shapes(shapes):
    """Every shape, the members of groups included, in the slide's order."""
    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def load(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
    check_unpacked(path, settings)
    try:
        deck = Presentation(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, SyntaxError) as exc:
        raise LoadError(f"corrupt or unreadable .pptx: {exc}") from exc
    slides = list(deck.slides)
    if len(slides) > settings.max_pages:
        raise LoadError(f"{len(slides):,} slides, more than the {settings.max_pages:,} limit "
                        "([ingest] max_pages)")
    text = TextBuilder()
    for number, slide in enumerate(slides, start=1):
        deadline.check()
        text.page(number)
        title = slide.shapes.title
        text.heading(f"Slide {number}: {title.text_frame.text}" if title is not None
                     and title.text_frame.text.strip() else f"Slide {number}")
        for shape in _shapes(slide.shapes):
            if title is not None and shape.shape_id == title.shape_id:
                continue
            if shape.has_text_frame:
                text.paragraph(shape.text_frame.text)
            elif getattr(shape, "has_table", False) and shape.has_table:
                text.table([[cell.text for cell in row.cells] for row in shape.table.rows])
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                text.paragraph(f"Notes: {notes}")
    props = deck.core_properties
    doc = nonempty(path, text.text, props.title or "")
    return Document(path=doc.path, text=doc.text, title=doc.title, pages=tuple(text.pages),
                    sections=text.sections(),
                    metadata=file_properties(props.author, props.subject, props.created))
