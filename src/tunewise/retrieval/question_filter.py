"""Filters read from the question: a metadata value the store holds (a company, a year, a
document type) named in the question narrows the search to the documents that have it, as a user
would with `--where` — "What is the FY2018 capital expenditure of 3M?" searches the documents
with company=3M and year=2018.

Only values the store really holds are matched, so an invented key or value cannot appear (the
failure of LLM self-query retrievers). A value is named when its letters and digits appear as
consecutive words of the question ("Best Buy", "10-K" for 10k, "3M"); a year key (`year`,
`fiscal_year`, `*_year`, `period`) also matches "FY2018", "FY18" and "fiscal 2018"; of several
years the latest is kept (a report of a year also states the years before it). A one-word value
that is also an ordinary word counts only when capitalised ("Earnings" is not "earnings per
share"). Another key named with two of its values (two companies) is not filtered on: the
conditions are ANDed. A value is also named by its aliases (`KEY_aliases` metadata,
"Johnson & Johnson|JOHNSON & JOHNSON|JNJ", the first being the value: documents/metadata.py reads
them from the documents, and `[retrieval] aliases` adds your own, "J&J = Johnson & Johnson").
What a file says of its own making (`created`) and the bookkeeping keys (`metadata_source`,
`*_aliases`) are never filtered on."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tunewise.objects import ALIASES, SOURCE_KEY, Condition

YEAR_KEY = re.compile(r"(^|_)(year|fiscal_year|fy|period|doc_period)$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9]+")
_FY = re.compile(r"^fy(\d{2}|\d{4})(q[1-4])?$")  # FY2018, FY18, FY2023Q1
LONGEST = 4  # words one value may span


NEVER = {"created", SOURCE_KEY}  # keys a question never filters on


@dataclass(frozen=True)
class QuestionFilter:
    conditions: tuple[Condition, ...] = ()
    named: tuple[tuple[str, str], ...] = ()  # (key, the words of the question that named it)

    def __bool__(self) -> bool:
        return bool(self.conditions)

    dropped: tuple[Condition, ...] = ()  # named, but nothing was found with them
    boosted: bool = False  # ranked first (`question_filter = "boost"`), the rest kept after

    @property
    def note(self) -> str:
        """What the user is told: "filtered to company=3M, year=2018" (and what was named but
        matched no document)."""
        what = "ranked first: documents with " if self.boosted else "filtered to "
        shown = []
        for c, (_, written) in zip(self.conditions, self.named):
            alias = isinstance(c.value, str) and _norm(written) != _norm(c.value) \
                and not YEAR_KEY.search(c.key)
            shown.append(f"{c} (named as {written!r})" if alias else str(c))
        parts = [what + ", ".join(shown)] if self else []
        if self.dropped:
            parts.append("nothing found with " + ", ".join(str(c) for c in self.dropped)
                         + (" as well" if self else "") + ", so not filtered on it")
        return "; ".join(parts)

    def without_last(self) -> "QuestionFilter":
        return QuestionFilter(self.conditions[:-1], self.named[:-1],
                              (self.conditions[-1],) + self.dropped, self.boosted)


def _norm(text: str) -> str:
    return "".join(w.lower() for w in _WORD.findall(str(text)))


def _spans(question: str) -> dict[str, str]:
    """{letters and digits of 1-4 consecutive words: those words as written}."""
    words = list(_WORD.finditer(question))
    spans = {}
    for i in range(len(words)):
        for j in range(i + 1, min(i + LONGEST, len(words)) + 1):
            joined = "".join(w.group().lower() for w in words[i:j])
            spans.setdefault(joined, question[words[i].start():words[j - 1].end()])
    return spans


def _years(spans: dict[str, str]) -> dict[int, str]:
    """Years the question names: 2018, FY2018, FY18 (as 20xx), FY2023Q1."""
    out = {}
    for joined, written in spans.items():
        if joined.isdigit() and len(joined) == 4:
            out.setdefault(int(joined), written)
        elif m := _FY.match(joined):
            out.setdefault(int(m.group(1)) + (2000 if len(m.group(1)) == 2 else 0), written)
    return out


def alias_map(values: dict[str, list], extra: dict[str, str] | None = None
              ) -> dict[str, dict[str, str]]:
    """{key: {an alias's letters and digits: the value it names}} from the `KEY_aliases` values
    ("Value|alias|alias") and `extra` ({"J&J": "Johnson & Johnson"}, any key holding it)."""
    out: dict[str, dict[str, str]] = {}
    for key, held in values.items():
        if not key.endswith(ALIASES):
            continue
        for entry in held:
            names = [n.strip() for n in str(entry).split("|") if n.strip()]
            for alias in names[1:]:
                if len(_norm(alias)) >= 2:
                    out.setdefault(key[:-len(ALIASES)], {}).setdefault(_norm(alias), names[0])
    for alias, value in (extra or {}).items():
        for key, held in values.items():
            if value in held and len(_norm(alias)) >= 2:
                out.setdefault(key, {})[_norm(alias)] = value
    return out


def read_filter(question: str, values: dict[str, list], given_keys: set[str] = frozenset(),
                aliases: dict[str, str] | None = None) -> QuestionFilter:
    """The conditions the question names among `values` ({key: the values the store holds}),
    leaving out keys the caller already filters on (`given_keys`); `aliases`: more names of
    values ({"J&J": "Johnson & Johnson"})."""
    spans = _spans(question)
    years = None
    conditions, named = [], []
    known = alias_map(values, aliases)
    for key, held in sorted(values.items()):
        if key in given_keys or key in NEVER or key.endswith(ALIASES):
            continue
        found: dict[object, str] = {}
        if YEAR_KEY.search(key):
            years = years if years is not None else _years(spans)
            for value in held:
                number = _as_year(value)
                if number in years:
                    found[value] = years[number]
        else:
            for value in held:
                if isinstance(value, str) and not value.isdigit() and len(_norm(value)) >= 2:
                    written = spans.get(_norm(value))
                    if written is not None and _named(value, written):
                        found[value] = written
            for alias, value in known.get(key, {}).items():
                written = spans.get(alias)
                if value in held and value not in found and written is not None \
                        and _named(written, written):
                    found[value] = written
        found = _longest(found)
        if len(found) > 1 and YEAR_KEY.search(key):  # "from FY2015 to FY2016": the later
            found = dict([max(found.items(), key=lambda kv: _as_year(kv[0]))])  # report has both
        if len(found) == 1:  # two values of another key: which one is meant is not known
            value, written = next(iter(found.items()))
            conditions.append(Condition(key, "=", value))
            named.append((key, written))
    return QuestionFilter(tuple(conditions), tuple(named))


def _named(value: str, written: str) -> bool:
    """A one-word value that is also an ordinary word ("Earnings") counts only when written as
    a name, with a capital letter ("AMCOR", "Nike"; not "earnings per share")."""
    return not value.isalpha() or written[:1].isupper()


def _as_year(value) -> int | None:
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return None
    return number if 1900 <= number <= 2100 else None


def _longest(found: dict[object, str]) -> dict[object, str]:
    """Values named inside a longer named value dropped ("Pepsi" within "PepsiCo Inc")."""
    return {v: w for v, w in found.items()
            if not any(w != other and w in other for other in found.values())}
