"""PDF pages to text that keeps their layout: tables become Markdown tables, running headers and
footers are dropped, headings are found, and pages without a text layer are OCR'd.

Text and character boxes come from PDFium (pypdfium2, Apache-2.0/BSD-3). On a 10-K filing it
reads a page in 0.003 s where pypdf takes 0.058 s, and it gives every character's box, from which
tables are rebuilt. pdfplumber finds tables too, but at 0.31 s a page — more than embedding the
page's chunks — so the table finder here is our own, for the tables such documents are made of:
rows of a label and cells aligned in columns, under a header of column titles.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from tunewise.config import IngestSettings
from tunewise.documents.base import Deadline, Loaded, LoadError, file_properties, nonempty
from tunewise.documents.tables import table_sections

OCR_DPI = 300  # tesseract reads 300 dpi renderings best
SCANNED_CHARS = 20  # a page with an image and less text than this (a stamped number) is a scan
RUNNING = 0.3  # a line on this share of the pages (at its top or bottom) is a running header/footer


@dataclass
class PdfText:
    """What a PDF holds: its pages' text (with offsets for citations), headings and table headers
    (the context of the chunks under them), its properties, and the pages read by OCR or lost."""

    text: str
    pages: tuple[tuple[int, int], ...]  # (offset, page number) where each page starts
    sections: tuple[tuple[int, str], ...]  # (offset, heading path and table header in force)
    title: str
    properties: dict
    ocr_pages: list[int] = field(default_factory=list)
    unread_pages: list[int] = field(default_factory=list)  # scanned, and no OCR to read them


def read_pdf(path: Path, max_pages: int = 5000, deadline: Deadline | None = None) -> PdfText:
    """The PDF's text and layout; more than `max_pages` pages, or reading past `deadline`, is
    refused with a LoadError that names the limit."""
    deadline = deadline or Deadline(float("inf"))

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise LoadError("encrypted PDF (needs a password)") from exc
        raise LoadError(f"corrupt or unreadable PDF: {exc}") from exc
    try:
        if len(pdf) > max_pages:
            raise LoadError(f"{len(pdf):,} pages, more than the {max_pages:,} limit ([ingest] "
                            "max_pages)")
        lines, scanned = [], []
        for number in range(1, len(pdf) + 1):
            deadline.check()
            page = pdf[number - 1]
            page_lines = _page_lines(page)
            if _scanned(page, page_lines):
                scanned.append(number)
            lines.append(page_lines)
        read, unread = _ocr(pdf, scanned, lines, deadline) if scanned else ([], [])
        info = pdf.get_metadata_dict()
    except pdfium.PdfiumError as exc:  # a page that cannot be loaded (a page tree that loops …)
        raise LoadError(f"corrupt or unreadable PDF: {exc}") from exc
    finally:
        pdf.close()
    text, pages, sections = _assemble(_without_running_lines(lines))
    title = (info.get("Title") or "").strip()
    if not re.search(r"[^\W\d_]", title):
        title = ""  # "0000012927-19-000010", a filing number, names nothing: the file name does
    properties = file_properties(info.get("Author"), info.get("Subject"),
                             _pdf_date(info.get("CreationDate") or ""))
    return PdfText(text, pages, sections, title, properties, read, unread)


# --- lines with geometry -------------------------------------------------------------------

@dataclass
class _Line:
    """One line of PDFium's text, with the box (left, bottom, right, top) of each character;
    an empty box list when the page gave no usable geometry (the line is then plain text)."""

    text: str
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)

    @cached_property
    def height(self) -> float:
        heights = [t - b for (_, b, _, t), c in zip(self.boxes, self.text) if not c.isspace()]
        return statistics.median(heights) if heights else 0.0

    @cached_property
    def cells(self) -> list["_Cell"]:
        """The line cut into cells (`_cells`), once: unwrapping and table finding both ask."""
        return _cells(self)


def _page_lines(page) -> list[_Line]:
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        count = textpage.count_chars()
        geometry = len(text) == count  # one box per character of the text
        lines, start = [], 0
        for m in re.finditer(r"\r\n|\n|\r", text + "\n"):
            piece = text[start : m.start()]
            boxes = [textpage.get_charbox(i) for i in range(start, m.start())] if geometry else []
            lines.append(_Line(_clean(piece), boxes))
            start = m.end()
        return lines
    finally:
        textpage.close()


def _clean(text: str) -> str:
    """PDFium marks soft hyphens and unknown glyphs with control characters; keep the text's
    length (one box per character) and make them plain."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]", lambda m: "-" if m.group() == "\x02" else " ",
                  text)


# --- tables ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[($€£¥]*\s*[-–—+]?\s*[$€£¥]?\s*\d[\d,]*(\.\d+)?\s*%?\)?%?\*?$"
                     r"|^[-–—]+$|^n/?a$|^nm$", re.IGNORECASE)
_YEAR = re.compile(r"^(FY\s?)?(19|20)\d\d$")
_CURRENCY = re.compile(r"^[$€£¥%)]$")


@dataclass
class _Cell:
    text: str
    left: float
    right: float

    @property
    def numeric(self) -> bool:
        return bool(_NUMBER.match(self.text))


def _cells(line: _Line) -> list[_Cell]:
    """The line cut where the gap between two characters is wider than a word space (more than
    1.2 × the text height); a lone "$" joins the cell after it, ")" and "%" the one before."""
    if not line.boxes:
        return []
    gap = 1.2 * (line.height or 8.0)
    cells: list[_Cell] = []
    for char, (left, _, right, _) in zip(line.text, line.boxes):
        if char.isspace():
            if cells and not cells[-1].text.endswith(" "):
                cells[-1].text += " "
        elif cells and left - cells[-1].right <= gap:
            cells[-1].text += char
            cells[-1].right = right
        else:
            cells.append(_Cell(char, left, right))
    merged: list[_Cell] = []
    for cell in cells:
        cell.text = cell.text.strip()
        if merged and _CURRENCY.match(merged[-1].text) and merged[-1].text not in (")", "%"):
            prev = merged.pop()
            cell = _Cell(f"{prev.text} {cell.text}", prev.left, cell.right)
        elif merged and cell.text in (")", "%"):
            prev = merged.pop()
            cell = _Cell(prev.text + cell.text, prev.left, cell.right)
        merged.append(cell)
    return merged


def _is_row(cells: list[_Cell]) -> bool:
    """A table row: two or more cells, a number among those after the first."""
    return len(cells) >= 2 and any(c.numeric for c in cells[1:])


@dataclass
class _Table:
    first: int  # index of its first line (header lines included)
    last: int  # index of its last line
    markdown: list[str]  # header row, separator, body rows
    contents: bool = False  # a table of contents: navigation, not content (left out of the text)


def _unwrapped(lines: list[_Line]) -> list[_Line]:
    """Table rows whose label wrapped onto two lines, made one line again: a label-only line
    followed by a row whose label goes on in lower case ("Purchases of property and" /
    "equipment (1,577) (1,381)"), a row followed by a label-only line in lower case (numbers on
    the first line), or label lines followed by their numbers alone on a line that stands beside
    them (PDFium gives lines in the order the page draws them). A section label ("Investing
    activities:") ends in a colon and is kept."""
    out: list[_Line] = []
    i = 0
    while i < len(lines):
        block = _label_block(lines, i)
        if block:
            out.append(_concatenated(lines[i:i + block]))
            i += block
            continue
        line, previous = lines[i], out[-1] if out else None
        joined = _join_wrapped(previous, line) if previous is not None and line.boxes \
            and previous.boxes else None
        if joined is not None:
            out[-1] = joined
        else:
            out.append(line)
        i += 1
    return out


def _label_block(lines: list[_Line], i: int) -> int:
    """How many lines from `i` form one row drawn label first: label lines (the later ones in
    lower case, under the first) then the numbers alone, level with one of them; 0 if none."""
    first = lines[i].cells
    if not first or any(c.numeric for c in first) or first[-1].text.endswith(":"):
        return 0
    height = lines[i].height or 8.0
    for j in range(i + 1, min(i + 4, len(lines))):
        cells = lines[j].cells
        if not cells:
            return 0
        if cells[0].numeric:
            labels = lines[i:j]
            level = lines[j].boxes[0][1]
            if j > i + 1 and all(c.numeric for c in cells) and \
                    min(_labels_right(x) for x in labels) < cells[0].left and \
                    min(x.boxes[0][1] for x in labels) - height <= level <= \
                    max(x.boxes[0][1] for x in labels) + height:
                return j - i + 1
            return 0
        if any(c.numeric for c in cells) or not cells[0].text[:1].islower() or \
                not _continues(first[0].left, cells[0].left, height):
            return 0
    return 0


def _labels_right(line: _Line) -> float:
    return max(right for (_, _, right, _), c in zip(line.boxes, line.text) if not c.isspace())


def _concatenated(lines: list[_Line]) -> _Line:
    """The lines as one, joined by a zero-width space box (the labels read as one cell)."""
    text, boxes = "", []
    for line in lines:
        piece = line.text.strip()
        start = len(line.text) - len(line.text.lstrip())
        if text:
            text, boxes = text + " ", boxes + [boxes[-1]]
        text += piece
        boxes += line.boxes[start:start + len(piece)]
    return _Line(text, boxes)


def _join_wrapped(first: _Line, second: _Line) -> _Line | None:
    a, b = first.cells, second.cells
    if not a or not b or not b[0].text[:1].islower() or b[0].numeric:
        return None
    height = max(first.height, second.height) or 8.0
    if not _continues(a[0].left, b[0].left, height) or a[-1].text.endswith(":"):
        return None
    space = [first.boxes[-1]]  # a zero-width gap: the two labels read as one cell
    if not any(c.numeric for c in a) and _is_row(b) and a[-1].right < _first_number(b).left:
        return _Line(f"{first.text.rstrip()} {second.text.lstrip()}",
                     first.boxes[:len(first.text.rstrip())] + space
                     + second.boxes[len(second.text) - len(second.text.lstrip()):])
    if _is_row(a) and not a[0].numeric and not any(c.numeric for c in b) \
            and b[-1].right < _first_number(a).left:
        label = first.text[:_label_end(first)].rstrip()
        rest = second.text.strip()
        start = len(second.text) - len(second.text.lstrip())
        return _Line(f"{label} {rest}{first.text[len(label):]}",
                     first.boxes[:len(label)] + space + second.boxes[start:start + len(rest)]
                     + first.boxes[len(label):])
    return None


def _continues(label_left: float, next_left: float, height: float) -> bool:
    """Whether a line starting at `next_left` can continue a label starting at `label_left`:
    level with it, or indented as a hanging indent (up to about two ems)."""
    return -height <= next_left - label_left <= max(3 * height, 12.0)


def _first_number(cells: list[_Cell]) -> _Cell:
    return next(c for c in cells if c.numeric)


def _label_end(line: _Line) -> int:
    """The character index where the line's first number (or its "$") starts: the cells are cut
    as `_cells` cuts them."""
    gap = 1.2 * (line.height or 8.0)
    starts, previous_right = [], None
    for i, (char, (left, _, right, _)) in enumerate(zip(line.text, line.boxes)):
        if char.isspace():
            continue
        if previous_right is None or left - previous_right > gap:
            starts.append(i)
        previous_right = right
    for start, end in zip(starts[1:], starts[2:] + [len(line.text)]):
        piece = line.text[start:end].strip()
        if _NUMBER.match(piece) or _CURRENCY.match(piece):
            return start
    return len(line.text)


def _tables(lines: list[_Line], pages: int) -> list[_Table]:
    cells = [line.cells for line in lines]
    tables, i = [], 0
    while i < len(lines):
        if not _is_row(cells[i]):
            i += 1
            continue
        rows, j = [i], i + 1
        while j < len(lines):
            if _is_row(cells[j]):
                rows.append(j)
            elif not _label_line(lines[j], cells[j]) or not any(
                    _is_row(cells[k]) for k in range(j + 1, min(j + 3, len(lines)))):
                break
            j += 1
        if len(rows) >= 2:
            tables.append(_table(lines, cells, i, rows[-1], pages))
        i = rows[-1] + 1
    return tables


def _label_line(line: _Line, cells: list[_Cell], longest: int = 80) -> bool:
    """A line inside a table that labels the rows under it ("Operating expenses:")."""
    return len(cells) == 1 and len(line.text.strip()) <= longest


def _table(lines: list[_Line], cells: list[list[_Cell]], first: int, last: int,
           pages: int) -> _Table:
    body = list(range(first, last + 1))
    header_lines = []
    while body and all(_YEAR.match(c.text) for c in cells[body[0]][1:] if c.numeric):
        header_lines.append(body.pop(0))  # "(In millions) 2018 2017 2016": column titles
    columns = _columns([c for k in body for c in cells[k][1:] if c.numeric])
    if not columns or not body:
        columns = _columns([c for k in header_lines for c in cells[k][1:]]) or [(0.0, 0.0)]
    height = statistics.median([lines[k].height for k in range(first, last + 1)] or [8.0]) or 8.0
    start = first
    # A label line or two ("Revenue:") may open the body; the lines above it that sit over the
    # columns ("Years Ended", "December 2,", "2016") are the header; a caption or paragraph
    # reaches further left and ends the search.
    while start > 0 and first - start < 2 and not header_lines and _label_line(
            lines[start - 1], cells[start - 1], 60) and cells[start - 1][0].right < columns[0][0]:
        start -= 1
    body = list(range(start, first)) + body
    top = start
    while top > 0 and start - top < 8 and not header_lines:
        above = cells[top - 1]
        if not above or _is_row(above) or min(c.left for c in above) < columns[0][0] - 2 * height:
            break
        top -= 1
    header = [""] * (len(columns) + 1)
    for k in list(range(top, start)) + header_lines:
        for cell in cells[k]:
            for index in _spanned(cell, columns, height):
                header[index] = f"{header[index]} {cell.text}".strip()
    markdown, rows = [_row(header), "|" + " --- |" * len(header)], []
    for k in body:
        row = [""] * (len(columns) + 1)
        for n, cell in enumerate(cells[k]):
            index = 0 if n == 0 and not cell.numeric else _nearest(cell, columns)
            row[index] = f"{row[index]} {cell.text}".strip()
        markdown.append(_row(row))
        rows.append(row)
    return _Table(top, last, markdown, _is_contents(rows, pages))


def _is_contents(rows: list[list[str]], pages: int) -> bool:
    """A table of contents: six or more titles, each with one page number, the numbers never
    decreasing, spanning ten pages or more, and within the document. It matches every question
    about what it lists ("Consolidated Balance Sheets ... 52") while holding none of it."""
    numbers = []
    for label, *values in rows:
        filled = [v for v in values if v]
        if not filled:
            continue
        if len(filled) != 1 or not filled[0].isdigit() or not label:
            return False
        numbers.append(int(filled[0]))
    return (len(numbers) >= 6 and numbers == sorted(numbers) and numbers[-1] <= pages + 20
            and numbers[-1] - numbers[0] >= 10)  # a contents page spans the document


def _columns(numeric: list[_Cell]) -> list[tuple[float, float]]:
    """Columns as (left, right) spans: numbers are right-aligned, so cells whose right edges lie
    within a few points of each other are one column."""
    columns: list[list[_Cell]] = []
    for cell in sorted(numeric, key=lambda c: c.right):
        if columns and cell.right - columns[-1][-1].right <= 12:
            columns[-1].append(cell)
        else:
            columns.append([cell])
    return [(min(c.left for c in col), max(c.right for c in col)) for col in columns]


def _nearest(cell: _Cell, columns: list[tuple[float, float]]) -> int:
    """The column (1-based: 0 is the label column) whose right edge is nearest the cell's."""
    if cell.right < columns[0][0] - 1:
        return 0
    return 1 + min(range(len(columns)), key=lambda n: abs(columns[n][1] - cell.right))


def _spanned(cell: _Cell, columns: list[tuple[float, float]], height: float) -> list[int]:
    """The columns a header cell stands over: all those it overlaps (a spanning title such as
    "Years Ended" heads each of them), else the nearest; left of them, the label column."""
    if cell.right < columns[0][0] - height:
        return [0]
    over = [1 + n for n, (left, right) in enumerate(columns)
            if cell.left <= right + height / 2 and cell.right >= left - height / 2]
    if over:
        return over
    centre = (cell.left + cell.right) / 2
    return [1 + min(range(len(columns)), key=lambda n: abs(sum(columns[n]) / 2 - centre))]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


# --- pages to one text ----------------------------------------------------------------------

def _assemble(pages: list[list[_Line]]):
    """One text of all pages (joined by blank lines), with page offsets, and sections: the
    headings in force, plus, inside a table's body, the table's header row — so that a chunk that
    starts in the middle of a table is indexed with its column titles."""
    parts, page_marks, headings, tables, offset = [], [], [], [], 0
    for number, lines in enumerate(pages, start=1):
        out: list[str] = []
        blocks = []  # (where the table's text starts in the joined lines, the table)
        length = 0  # of "\n".join(out) so far
        lines = _unwrapped(lines)
        found = {t.first: t for t in _tables(lines, len(pages))}
        k = 0
        while k < len(lines):
            table = found.get(k)
            if table is None:
                piece = lines[k].text.rstrip()
                k += 1
            elif table.contents:
                k = table.last + 1
                continue
            else:
                piece = "\n".join(table.markdown)
                blocks.append((length + bool(out), table))
                k = table.last + 1
            length += len(piece) + bool(out)
            out.append(piece)
        joined = "\n".join(out)
        page_text = joined.strip()
        if not page_text:
            continue
        lead = len(joined) - len(joined.lstrip())  # what strip() took from the front
        for where, table in blocks:
            if not table.markdown[0].replace("|", "").strip():
                continue  # no column titles to carry
            start = offset + where - lead
            head = len(table.markdown[0]) + len(table.markdown[1]) + 2  # header, separator
            tables.append((start + head, start + len("\n".join(table.markdown)),
                           table.markdown[0]))
        headings += [(offset + a, h) for a, h in _headings(page_text)]
        page_marks.append((offset, number))
        parts.append(page_text)
        offset += len(page_text) + 2  # the "\n\n" joining pages
    return "\n\n".join(parts), tuple(page_marks), table_sections(headings, tables)


_ITEM = re.compile(r"^(item|note|part)\s+[0-9ivx]+[a-z]?\b[.:—-]?", re.IGNORECASE)


def _headings(text: str) -> list[tuple[int, str]]:
    """(offset, heading) of the lines of a page that read as headings: an upper-case title of a
    few words ("CONSOLIDATED BALANCE SHEETS"), an "Item 7." / "Note 4" line of a filing, or a
    table's caption (_captions)."""
    lines = text.split("\n")
    captions = dict(_captions(lines))
    found, at = [], 0
    for i, line in enumerate(lines):
        clean = " ".join(line.split())
        if _heading_line(clean):
            found.append((at, clean))
        elif i in captions:
            found.append((at, captions[i]))
        at += len(line) + 1
    return found


def _heading_line(clean: str) -> bool:
    letters = [c for c in clean if c.isalpha()]
    words = clean.split()
    if clean.startswith("|") or not 4 <= len(clean) <= 90 or len(words) > 12 \
            or len(letters) < 0.6 * len(clean):
        return False
    upper = sum(c.isupper() for c in letters) >= 0.9 * len(letters) and len(words) >= 2
    return upper or bool(_ITEM.match(clean))


CAPTION_GAP = 6  # lines a caption may stand above its table ("$ in millions", the years line, …)


def _title_case(line: str) -> bool:
    """A short line of capitalised words without digits: "Consolidated Statements of Cash
    Flows", "PepsiCo, Inc. and Subsidiaries"."""
    words = line.split()
    long = [w for w in words if len(w) > 3]
    return (2 <= len(words) <= 12 and len(line) <= 90 and words[0][0].isupper()
            and not line.endswith((".", ":"))  # the end of a sentence, the lead to a list
            and len(long) >= 2 and not any(c.isdigit() for c in line)
            and sum(w[0].isupper() for w in long) >= 0.75 * len(long))


def _captions(lines: list[str]) -> list[tuple[int, str]]:
    """(line index, caption) of tables whose title is set in title case, not capitals: a run of
    title-case lines, then at least one line that is neither (the unit line, "$ in millions"),
    then the table within CAPTION_GAP lines. Title-case lines right above a table are its column
    titles ("Pension Retiree Medical" / "U.S. International"), not its caption."""
    found, i = [], 0
    while i < len(lines):
        j = i
        while j < len(lines) and _title_case(lines[j].strip()):  # a table row is not: "| …"
            j += 1
        if j == i:
            i += 1
            continue
        below = lines[j : i + CAPTION_GAP + 1]
        if below and not below[0].startswith("|") and any(x.startswith("|") for x in below):
            found.append((i, " ".join(" ".join(lines[i:j]).split())))
        i = j
    return found


def _shape(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split()).lower())


def _without_running_lines(pages: list[list[_Line]]) -> list[list[_Line]]:
    """Pages without their running headers and footers — the company name, "Table of Contents",
    "Page 12 of 90" — which repeat on most pages and would otherwise be indexed as content. A
    line counts when its shape (digits folded) starts or ends many pages."""
    if len(pages) < 5:
        return pages
    edges = Counter()
    for lines in pages:
        kept = [ln for ln in lines if ln.text.strip()]
        edges.update({_shape(ln.text) for ln in kept[:3] + kept[-3:]})
    running = {shape for shape, n in edges.items()
               if n >= RUNNING * len(pages) and len(shape) <= 100}  # headers are short lines
    cleaned = []
    for lines in pages:
        keep = [i for i, ln in enumerate(lines) if ln.text.strip()]
        edge = set(keep[:3] + keep[-3:])
        cleaned.append([ln for i, ln in enumerate(lines)
                        if not (i in edge and _shape(ln.text) in running)])
    return cleaned


# --- scanned pages ----------------------------------------------------------------------------

def _ocr(pdf, numbers: list[int], lines: list[list[_Line]],
         deadline: Deadline) -> tuple[list[int], list[int]]:
    """Read pages without a text layer with tesseract; (pages read, pages left unread). Without
    tesseract (or pytesseract) every such page is left unread, for the caller to report."""
    tesseract = _tesseract()
    if tesseract is None:
        return [], numbers
    for number in numbers:  # an image without words (a photo, a blank scan) stays empty
        deadline.check()
        image = pdf[number - 1].render(scale=OCR_DPI / 72).to_pil()
        lines[number - 1] = [_Line(_clean(t)) for t in tesseract.image_to_string(image).splitlines()]
    return numbers, []


def _scanned(page, lines: list[_Line]) -> bool:
    """A page that is an image with (next to) no text layer: a scan. A blank page is not one."""
    if sum(len(line.text.strip()) for line in lines) >= SCANNED_CHARS:
        return False
    return next(iter(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3)),
                None) is not None


def _tesseract():
    """pytesseract, when it and the tesseract program it runs are installed; else None."""
    try:
        import pytesseract
    except ImportError:
        return None
    try:
        pytesseract.get_tesseract_version()
    except pytesseract.TesseractNotFoundError:
        return None
    return pytesseract


# --- the creation date -------------------------------------------------------------------------

def _pdf_date(value: str) -> datetime | None:
    """A PDF date ("D:20170120111800Z"); None when it is missing or malformed — a bad date is no
    reason to refuse the text."""
    m = re.match(r"^(D:)?(\d{4})(\d{2})?(\d{2})?", value.strip())
    if not m:
        return None
    try:
        return datetime(int(m.group(2)), int(m.group(3) or 1), int(m.group(4) or 1))
    except ValueError:
        return None


def load(path: Path, settings: IngestSettings, deadline: Deadline) -> Loaded:
    """A PDF's pages with their layout (documents/pdf.py); scanned pages are OCR'd, and those that
    cannot be (no tesseract) are reported, never silently empty."""
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
    doc = nonempty(path, pdf.text, pdf.title, pages=pdf.pages)
    doc = replace(doc, metadata=pdf.properties, sections=pdf.sections)
    return Loaded([doc], problems, ocr_pages=pdf.ocr_pages)


def _pages(numbers: list[int]) -> str:
    """"page 3", "pages 1, 2 and 5"."""
    if len(numbers) == 1:
        return f"page {numbers[0]}"
    return "pages " + ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"
