"""The typed objects that flow between stages — Document, Chunk, Hit — and the one place a
*source* (the citation name `path`, or `path#key` for a record of a JSONL file) is written and
matched by a glob."""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field

from tunewise.errors import TunewiseError

DEFAULT_COLLECTION = "default"
COLLECTION = re.compile(r"[a-z][a-z0-9_]{0,50}")  # a collection's name (a schema, a file name)
# bookkeeping keys of a document's metadata (documents/metadata.py writes them, the question
# filter reads them): where each value came from, "key: source; …", and the other names of a
# value, KEY_aliases = "Value|alias|alias"
SOURCE_KEY = "metadata_source"
ALIASES = "_aliases"


def source_name(path: str, key: str = "") -> str:
    """The citation name of a document: its path, plus `#key` for a record of a JSONL file."""
    return f"{path}#{key}" if key else path


def source_glob(pattern: str) -> str:
    """A relative glob or plain text matches anywhere: 'policies/*' -> '*policies/*',
    'handbook' -> '*handbook*'; '*.md' and '/abs/*' are used as they are."""
    if not any(c in pattern for c in "*?["):
        return f"*{pattern}*"
    return pattern if pattern.startswith(("/", "*")) else f"*{pattern}"


def source_matches(source: str, pattern: str) -> bool:
    """Whether a source (or a file path) matches a source glob; the stores' SQL does the same."""
    return fnmatch.fnmatchcase(source, source_glob(pattern))


# --- metadata conditions: `--where company=NIKE --where 'year>=2022'` -------------------------

OPERATORS = ("<=", ">=", "!=", "=", "<", ">")  # longest first, for the parser


class WhereError(TunewiseError):
    """A metadata condition that cannot be read."""


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Condition:
    """One condition on a document's metadata. Comparisons with a number (`year>=2022`) hold
    only for metadata values that are numbers; `=` and `!=` compare the value as text
    (`year=2022` matches 2022 and "2022"). A document without the key matches no condition."""

    key: str
    op: str
    value: str | float

    @property
    def text(self) -> str:
        """The value as `=` and `!=` compare it: a number as JSON writes it ("2022")."""
        return _text(self.value)

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.text}"

    def matches(self, metadata: dict) -> bool:
        """The condition in Python; both stores' SQL does the same (the contract tests say so)."""
        found = metadata.get(self.key)
        if found is None or isinstance(found, (dict, list)):  # scalars only
            return False
        if self.op in ("=", "!="):
            return (_text(found) == self.text) == (self.op == "=")
        if isinstance(found, bool) or not isinstance(found, (int, float)):
            return False
        value = float(self.value)
        return {"<": found < value, "<=": found <= value, ">": found > value,
                ">=": found >= value}[self.op]


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def parse_where(items: list[str] | tuple[str, ...] | None) -> tuple[Condition, ...]:
    """`KEY=VALUE`, `KEY!=VALUE`, `KEY>=NUMBER` … → conditions (all must hold)."""
    conditions = []
    for item in items or ():
        op = next((o for o in OPERATORS if o in item), None)
        key, value = item.split(op, 1) if op else (item, "")
        key, value = key.strip(), value.strip()
        if op is None or not _KEY.fullmatch(key) or not value:
            raise WhereError(f"--where {item!r}: write KEY=VALUE, KEY!=VALUE or KEY>=NUMBER "
                             f"(operators {', '.join(OPERATORS)}; keys are letters, digits, _ . -)")
        if op in ("<", "<=", ">", ">="):
            try:
                number: str | float = float(value)
            except ValueError:
                raise WhereError(f"--where {item!r}: {op} compares numbers") from None
            conditions.append(Condition(key, op, number))
        else:
            conditions.append(Condition(key, op, _number_or_text(value)))
    return tuple(conditions)


def as_where(items) -> tuple[Condition, ...]:
    """Conditions from what a caller has: Condition objects, `KEY=VALUE` strings, or nothing."""
    items = tuple(items or ())
    return tuple(c if isinstance(c, Condition) else parse_where([c])[0] for c in items)


def _number_or_text(value: str) -> str | float:
    """'2022' → 2022 (as JSON would have it), '2022.5' → 2022.5, anything else stays text."""
    try:
        number = json.loads(value)
    except ValueError:
        return value
    return number if isinstance(number, (int, float)) and not isinstance(number, bool) else value


def metadata_value(text: str) -> str | float:
    """A metadata value given as text (`--meta year=2022`, a sidecar's string): numbers become
    numbers, so that `--where 'year>=2020'` compares them."""
    return _number_or_text(text.strip())


@dataclass(frozen=True)
class Document:
    """One loaded document: a file, or one record of a JSONL file.

    `path` is the file it came from and `key` tells records of one file apart ("" for a whole
    file). `pages` maps character offsets to page numbers: ((0, 1), (1834, 2)) means page 2 starts
    at character 1834. Empty when the format has no pages. `sections` maps offsets to the heading
    path in force from there (a Markdown heading, a PDF statement title): ((0, "Leave"),
    (950, "Leave › Parental leave")).
    """

    path: str
    text: str
    title: str = ""
    key: str = ""
    pages: tuple[tuple[int, int], ...] = ()
    metadata: dict = field(default_factory=dict, compare=False, hash=False)
    sections: tuple[tuple[int, str], ...] = ()

    @property
    def source(self) -> str:
        """The citation name: the path, plus the record key for JSONL records."""
        return source_name(self.path, self.key)

    def page_at(self, offset: int) -> int | None:
        return _at(self.pages, offset)

    def context_at(self, offset: int) -> str:
        """What a chunk starting at `offset` is indexed with besides its text: the document's
        title and the heading path in force there ("" without headings), so that a table row that
        says only "Purchases of property (1,577)" is found as part of its cash flow statement."""
        section = _at(self.sections, offset)
        if not section:
            return ""
        return section if not self.title or section.startswith(self.title) \
            else f"{self.title} › {section}"


def _at(marks: tuple, offset: int):
    found = None
    for start, value in marks:
        if start > offset:
            break
        found = value
    return found


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough to embed whole.

    `start`/`end` are character offsets into the document's text, so text == doc.text[start:end].
    """

    id: str
    document_id: str
    position: int
    text: str
    start: int
    end: int
    source: str
    title: str = ""
    page: int | None = None
    context: str = ""  # the title and heading path it is embedded with (Document.context_at)

    @property
    def indexed_text(self) -> str:
        """What the embedder and the keyword index read: the context, then the text (citations
        show the text alone)."""
        return f"{self.context}\n\n{self.text}" if self.context else self.text

    @property
    def table_header(self) -> str:
        """The header row and separator line of the Markdown table this chunk starts inside, from
        its context, so that a prompt can show which column is which; "" otherwise."""
        last = self.context.rsplit("\n", 1)[-1]
        if not (last.startswith("| ") and last.endswith(" |") and self.text.startswith("| ")):
            return ""
        return f"{last}\n|" + " --- |" * (len(re.findall(r"(?<!\\)\|", last)) - 1)


def content_words(text: str) -> set[str]:
    """The lower-cased words of three letters or more: what a question and a passage are
    compared by (a snippet's start, the extractive baseline's sentence)."""
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 2}


@dataclass(frozen=True)
class Hit:
    """A scored chunk. `score` is the retriever's own score (higher is better); `similarity` is the
    cosine similarity to the query where it is known; `retriever` is dense, keyword or hybrid."""

    chunk: Chunk
    score: float
    retriever: str
    similarity: float | None = None

    def snippet(self, width: int = 200, query: str = "") -> str:
        """About `width` characters of the chunk, starting at the sentence that shares the most
        words with `query` (the chunk's start when there is no query)."""
        text = " ".join(self.chunk.text.split())
        if len(text) <= width:
            return text
        start = 0
        words = content_words(query)
        if words:
            starts = [0] + [m.end() for m in re.finditer(r"[.!?:]\s+", text)]
            overlap = [len(words & content_words(text[a : a + width])) for a in starts]
            start = starts[overlap.index(max(overlap))]
        piece = text[start : start + width]
        cut = piece if start + width >= len(text) else piece[: width - 1].rsplit(" ", 1)[0] + "…"
        return ("…" if start else "") + cut
