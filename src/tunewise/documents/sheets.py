"""Spreadsheets (.xlsx) and delimited text (.csv, .tsv): each sheet's used range as a Markdown
table whose first non-empty row is its header; a chunk never cuts a row and one that starts
inside a table is indexed with the header (as PDF tables are). A workbook's sheets are its
pages (a citation's "page 2" is the second sheet) and its sheet names its headings; the values
are what the cells show last saved (formulas' results, not the formulas). Past [ingest]
max_cells the file is refused by name; the deadline is checked as the rows go by."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import openpyxl

from tunewise.config import IngestSettings
from tunewise.documents.base import (
    Deadline,
    LoadError,
    cell_text,
    check_unpacked,
    decode,
    file_properties,
    nonempty,
)
from tunewise.documents.tables import TextBuilder
from tunewise.objects import Document

CHECK_EVERY = 1000  # rows between two looks at the deadline


def _trimmed(rows: list[list[str]]) -> list[list[str]]:
    """Rows without the empty columns at their right end (a sheet's used range is often wider
    than its data)."""
    width = max((max((i + 1 for i, c in enumerate(r) if c.strip()), default=0) for r in rows),
                default=0)
    return [r[:width] for r in rows if any(c.strip() for c in r[:width])]


class _Cells:
    """The cells one file may hold ([ingest] max_cells), spent row by row over its sheets."""

    def __init__(self, most: int):
        self.most, self.used = most, 0

    def spend(self, count: int) -> None:
        self.used += count
        if self.used > self.most:
            raise LoadError(f"more than {self.most:,} cells, the limit ([ingest] max_cells)")


def _rows(values, deadline: Deadline, cells: _Cells) -> list[list[str]]:
    rows = []
    for number, row in enumerate(values, start=1):
        if number % CHECK_EVERY == 0:
            deadline.check()
        cells.spend(len(row))
        rows.append([cell_text(v) for v in row])
    return _trimmed(rows)


def load_xlsx(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
    check_unpacked(path, settings)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise LoadError(f"corrupt or unreadable .xlsx: {exc}") from exc
    text, cells = TextBuilder(), _Cells(settings.max_cells)
    try:
        for number, sheet in enumerate(book.worksheets, start=1):
            rows = _rows(sheet.iter_rows(values_only=True), deadline, cells)
            if not rows:
                continue
            text.page(number)
            text.heading(sheet.title)
            text.table(rows)
        props = book.properties
    finally:
        book.close()
    doc = nonempty(path, text.text, props.title or "")
    return Document(path=doc.path, text=doc.text, title=doc.title, pages=tuple(text.pages),
                    sections=text.sections(),
                    metadata=file_properties(props.creator, props.subject, props.created))


def load_delimited(path: Path, settings: IngestSettings, deadline: Deadline) -> Document:
    """A .csv (delimiter sniffed: comma, semicolon, tab or pipe) or a .tsv (tab)."""
    content = decode(path)
    if path.suffix.lower() == ".tsv":
        dialect: type[csv.Dialect] | csv.Dialect = csv.excel_tab
    else:
        try:
            dialect = csv.Sniffer().sniff(content[:20_000], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
    try:
        rows = _rows(csv.reader(io.StringIO(content), dialect), deadline, _Cells(settings.max_cells))
    except csv.Error as exc:  # a field longer than csv's limit, a NUL byte …
        raise LoadError(f"unreadable {path.suffix}: {exc}") from exc
    text = TextBuilder()
    text.table(rows)
    doc = nonempty(path, text.text, path.stem)
    return Document(path=doc.path, text=doc.text, title=doc.title, sections=text.sections())
