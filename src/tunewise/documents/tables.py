"""Tables as the chunker and the prompt read them, shared by every format that has tables (PDF,
spreadsheets, CSV, slides): a row as one Markdown line, a table as header + separator + rows,
and the section marks that index a chunk starting inside a table with its column titles."""

from __future__ import annotations

from dataclasses import dataclass, field


def markdown_row(cells: list[str]) -> str:
    """One table row on one line: pipes escaped, line breaks inside a cell made spaces."""
    return "| " + " | ".join(" ".join(str(c).split()).replace("|", "\\|") for c in cells) + " |"


def table_sections(headings: list[tuple[int, str]], tables: list[tuple[int, int, str]]):
    """Marks of the context in force: a heading from its line on; inside a table body (start,
    end, header row), the heading plus the table's header row; after the table, the heading
    again."""
    events = sorted([(a, 0, h) for a, h in headings] + [(a, 1, h) for a, _, h in tables]
                    + [(b, 2, "") for _, b, _ in tables])
    marks, heading = [], ""
    for at, kind, value in events:
        if kind == 0:
            heading = value
            marks.append((at, heading))
        elif kind == 1:
            marks.append((at, f"{heading}\n{value}" if heading else value))
        else:
            marks.append((at, heading))
    return tuple((at, value) for at, value in marks)


@dataclass
class TextBuilder:
    """A document's text built piece by piece, with its headings, tables and pages marked at the
    offsets where they start (for formats that are not read as one string)."""

    parts: list[str] = field(default_factory=list)
    length: int = 0
    headings: list[tuple[int, str]] = field(default_factory=list)
    tables: list[tuple[int, int, str]] = field(default_factory=list)
    pages: list[tuple[int, int]] = field(default_factory=list)

    def _add(self, text: str) -> int:
        """Append a block (blocks are joined by a blank line); its start offset."""
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        start = self.length
        self.parts.append(text)
        self.length += len(text)
        return start

    def page(self, number: int) -> None:
        self.pages.append((self.length + (2 if self.parts else 0), number))

    def heading(self, text: str) -> None:
        text = " ".join(text.split())
        if text:
            self.headings.append((self._add(text), text))

    def paragraph(self, text: str) -> None:
        if text.strip():
            self._add(text.strip())

    def table(self, rows: list[list[str]]) -> None:
        """A table whose first row is its header; a chunk inside it carries that header."""
        rows = [r for r in rows if any(str(c).strip() for c in r)]
        if not rows:
            return
        width = max(len(r) for r in rows)
        lines = [markdown_row(r + [""] * (width - len(r))) for r in rows]
        lines.insert(1, "|" + " --- |" * width)
        start = self._add("\n".join(lines))
        head = len(lines[0]) + len(lines[1]) + 2
        if len(lines) > 2 and lines[0].replace("|", "").strip():
            self.tables.append((start + head, start + len("\n".join(lines)), lines[0]))

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def sections(self) -> tuple[tuple[int, str], ...]:
        return table_sections(self.headings, self.tables)
