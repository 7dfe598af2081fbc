"""Metadata a document carries, read at ingest by rules (`[ingest] metadata = "rules"`): who it is
from (`company`, with the other names it goes by in `company_aliases`), the period it reports on
(`year`, `quarter`), what kind of document it is (`doc_type`: 10-K, 10-Q, 8-K, earnings release,
annual report …) — from the first pages (a filing's cover: "FORM 10-K", "For the fiscal year ended
December 31, 2018", the line above "(Exact name of registrant as specified in its charter)"; a
press release's "Johnson & Johnson (NYSE: JNJ)") and from the file name (`3M_2018_10K.pdf`).

Each value records where it came from in `metadata_source` ("year: file name; company: first
page"). A PDF's creation date is the file's, not the document's: it is kept as `created` and is
never a `year`. Metadata given by the user (a sidecar FILE.meta.json, `--meta`) always wins; a
rule that finds nothing leaves the field out — it never guesses.

Rules, not a model: they read a 300-page filing's cover in microseconds, and what they cannot
read they leave empty; `company_aliases` lets the question filter match "Johnson & Johnson",
"JOHNSON_JOHNSON" and "JNJ" to one company."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tunewise.objects import ALIASES, SOURCE_KEY

PROPERTIES = ("author", "subject", "created")  # what documents/base.file_properties keeps
COMPANY_ALIASES = "company" + ALIASES
FIRST_PAGES = 6000  # characters of the document's beginning the rules read

_YEAR = r"((?:19|20)\d{2})"
_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|"
          r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?")
_FORMS = [(re.compile(rf"(?mi)^[\s_]*{pattern}"), form) for pattern, form in (
    (r"FORM\s+10-?K\b", "10-K"), (r"FORM\s+10-?Q\b", "10-Q"), (r"FORM\s+8-?K\b", "8-K"),
    (r"FORM\s+20-?F\b", "20-F"), (r"FORM\s+40-?F\b", "40-F"),
    (r"SCHEDULE\s+14A\b", "proxy statement"))]  # a cover names its form on a line of its own
_FILE_FORMS = {"10k": "10-K", "10q": "10-Q", "8k": "8-K", "20f": "20-F", "earnings": "earnings release",
               "annualreport": "annual report", "proxy": "proxy statement", "def14a": "proxy statement"}
# the period a document reports on: the first pattern that matches wins
_FILING_PERIODS = [
    re.compile(rf"fiscal\s+year\s+ended\s*:?\s*{_MONTH}\s+\d{{1,2}}\s*,?\s*{_YEAR}", re.I),
    re.compile(rf"quarterly\s+period\s+ended\s*:?\s*{_MONTH}\s+\d{{1,2}}\s*,?\s*{_YEAR}", re.I),
    re.compile(rf"Date\s+of\s+Report[^:]{{0,60}}:\s*{_MONTH}\s+\d{{1,2}}\s*,?\s*{_YEAR}", re.I),
]
# "fourth-quarter 2022" dates a press release; in other text it is just a phrase
_RELEASE_PERIODS = [
    re.compile(rf"(?:full[- ]year|fiscal(?:\s+year)?|first[- ]quarter|second[- ]quarter|"
               rf"third[- ]quarter|fourth[- ]quarter)\s+(?:of\s+)?{_YEAR}\b", re.I),
    re.compile(rf"\b{_YEAR}\s+(?:full[- ]year|fourth[- ]quarter|third[- ]quarter|"
               rf"second[- ]quarter|first[- ]quarter)", re.I),
]
_REGISTRANT = re.compile(r"\n([^\n]{2,90})\n\s*\(Exact name of registrant", re.I)
_TICKER = re.compile(r"([A-Z][\w&.,' -]{1,60}?)\s*\((?:NYSE|NASDAQ|Nasdaq|NYSE American|LSE|TSX)"
                     r"\s*:\s*([A-Z][A-Z.]{0,5})\)")
_RELEASE = re.compile(r"FOR IMMEDIATE RELEASE|today (?:announced|reported) (?:its )?"
                      r"(?:financial )?results", re.I)
_REPORTS = re.compile(r"^\s*([A-Z][\w&.,' -]{1,40}?)\s+(?:[Rr]eports|[Aa]nnounces)\b[^\n]{0,60}"
                      r"\b(?:[Qq]uarter|[Yy]ear|[Ff]iscal)\b[^\n]{0,40}\b[Rr]esults")
_GENERIC = {"systems", "group", "international", "technologies", "industries", "enterprises",
            "brands", "global", "worldwide", "holdings", "incorporated"}
_SUFFIX = re.compile(r"[\s,]+(?:Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.?|PLC|plc|"
                     r"Ltd\.?|Limited|LLC|L\.P\.|N\.V\.|S\.A\.|AG|SE|Holdings?)$", re.I)


def short_name(legal: str) -> str:
    """"ADOBE SYSTEMS INCORPORATED" → "Adobe Systems", "BEST BUY CO., INC." → "Best Buy",
    "The Boeing Company" → "Boeing": a name as people write it."""
    name = re.sub(r"\s+", " ", legal).strip(" ,.")
    name = re.sub(r"^the\s+", "", name, flags=re.I)
    while (shorter := _SUFFIX.sub("", name).strip(" ,.")) != name and shorter:
        name = shorter
    if name.isupper() and len(name) > 3:  # an all-caps cover line: as a name is written
        name = " ".join(w if any(c.isdigit() for c in w) or len(w) <= 2 else w.capitalize()
                        for w in name.split())
    return name


def from_file_name(path: Path) -> dict[str, tuple[object, str]]:
    """What a name like `JOHNSON_JOHNSON_2022Q4_EARNINGS.pdf` or `3M_2018_10K.pdf` says: the
    words before the year (the company), the year, a quarter, the form — only for a name that
    names a form or a quarter, as filings are named; of other names nothing is read."""
    tokens = [t for t in re.split(r"[^A-Za-z0-9]+", path.stem) if t]
    found: dict[str, tuple[object, str]] = {}
    years = []
    first_year = None
    for i, token in enumerate(tokens):
        m = re.fullmatch(r"((?:19|20)\d{2})(?:q([1-4]))?", token, re.I)
        if m:
            years.append(int(m.group(1)))
            if first_year is None:
                first_year = i
                if m.group(2):
                    found["quarter"] = (f"Q{m.group(2)}", "file name")
        elif token.lower() in _FILE_FORMS and "doc_type" not in found:
            found["doc_type"] = (_FILE_FORMS[token.lower()], "file name")
    if "doc_type" not in found and "quarter" not in found:
        return {}  # not named like a filing (`price-list-2026.pdf`): the name says nothing sure
    if years and len(set(years)) == 1:
        found["year"] = (years[0], "file name")
    if first_year:  # words before the year name the company
        words = [t for t in tokens[:first_year] if not t.isdigit() or len(t) < 4]
        if words and len(words) <= 5:
            found["company"] = (" ".join(words), "file name")
    return found


def from_first_pages(text: str) -> dict[str, tuple[object, str]]:
    """What a document's first pages say of it: its form, its period, who filed it."""
    head = text[:FIRST_PAGES].replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    found: dict[str, tuple[object, str]] = {}
    for pattern, form in _FORMS:  # a filing's cover names its form at the top
        if pattern.search(head[:800]):
            found["doc_type"] = (form, "first page")
            break
    else:
        if _RELEASE.search(head[:3000]) or _REPORTS.search(head[:400]):
            found["doc_type"] = ("earnings release", "first page")
    release = found.get("doc_type", ("", ""))[0] == "earnings release"
    for pattern in _FILING_PERIODS + (_RELEASE_PERIODS if release else []):
        if m := pattern.search(head):
            year = int(m.group(m.lastindex))
            # a 52/53-week year that ends in the first days of January is the year before's
            # ("fiscal year ended January 1, 2023": fiscal 2022)
            if re.search(r"ended\s*:?\s*Jan(?:uary)?\.?\s+[1-7]\s*,", m.group(0), re.I):
                year -= 1
            found["year"] = (year, "first page")
            break
    aliases = []
    if m := _REGISTRANT.search(head):
        legal = m.group(1).strip(" _\t")
        if re.search(r"[A-Za-z]", legal):
            aliases.append(legal)
            found["company"] = (short_name(legal), "first page")
    if m := _TICKER.search(head):
        legal, ticker = m.group(1).strip(" –-—,"), m.group(2)
        legal = re.split(r"\s[–—-]\s", legal)[-1].strip()  # "PURCHASE, N.Y. - April 25 - PepsiCo"
        aliases += [legal, ticker]
        found.setdefault("company", (short_name(legal), "first page"))
    if "company" not in found and (m := _REPORTS.search(head[:400])):
        found["company"] = (short_name(m.group(1)), "first page")
    if "company" in found:  # "Adobe Systems" is also "Adobe"
        words = str(found["company"][0]).split()
        if len(words) == 2 and words[1].lower() in _GENERIC:
            aliases.append(words[0])
    if aliases:
        found[COMPANY_ALIASES] = ("|".join(aliases), "first page")
    return found


def read_metadata(text: str, path: Path) -> tuple[dict, dict[str, str]]:
    """(fields, {field: where it came from}) for one document: the file name's year wins over
    the first page's (people name a filing by its fiscal year; a 10-Q's cover gives the calendar date its
    quarter ended), the first page's company and form over the file name's."""
    pages, name = from_first_pages(text), from_file_name(path)
    chosen: dict[str, tuple[object, str]] = {}
    for key in ("company", "doc_type"):
        if key in pages or key in name:
            chosen[key] = pages.get(key) or name[key]
    for key in ("year", "quarter"):
        if key in name or key in pages:
            chosen[key] = name.get(key) or pages[key]
    if "company" in chosen:  # every name the company goes by, the chosen one first
        named = str(name.get("company", ("", ""))[0])
        names: list[str] = []
        for candidate in [str(chosen["company"][0]),
                          *str(pages.get(COMPANY_ALIASES, ("", ""))[0]).split("|"),
                          named, short_name(named)]:
            if candidate and candidate.lower() not in {n.lower() for n in names}:
                names.append(candidate)
        if len(names) > 1:
            chosen[COMPANY_ALIASES] = ("|".join(names), chosen["company"][1])
    return {k: v for k, (v, _) in chosen.items()}, {k: s for k, (_, s) in chosen.items()}


def describe_sources(sources: dict[str, str]) -> str:
    """The `metadata_source` value: "company: first page; year: file name"."""
    return "; ".join(f"{k}: {s}" for k, s in sorted(sources.items()))


def parse_sources(metadata: dict) -> dict[str, str]:
    """{key: where it came from} read back from a document's `metadata_source`."""
    return dict(part.split(": ", 1) for part in str(metadata.get(SOURCE_KEY, "")).split("; ")
                if ": " in part)


MODEL_SCHEMA = {"type": "object", "additionalProperties": False,
                "required": ["company", "year", "doc_type"],
                "properties": {"company": {"type": ["string", "null"]},
                               "year": {"type": ["integer", "null"]},
                               "doc_type": {"type": ["string", "null"]}}}
MODEL_PROMPT = ("From the beginning of a document, say who it is from (company or organisation), "
                "the year it reports on or was written for, and what kind of document it is "
                "(annual report, 10-K, contract, policy, invoice …). Answer with JSON "
                '{"company": …, "year": …, "doc_type": …}; use null for anything the text does '
                "not say. Do not guess.\n\nFile name: {name}\n\n{text}")


class ModelReader:
    """`[ingest] metadata = "model"`: what the rules did not find, asked of a chat model under a
    JSON schema over the document's first characters. An answer outside the schema leaves the
    fields empty and is counted in `problems`, never guessed."""

    def __init__(self, model, chars: int = 3000):
        self.model, self.chars = model, chars
        self.problems = 0

    def __call__(self, text: str, path: Path) -> tuple[dict, dict[str, str]]:
        prompt = MODEL_PROMPT.replace("{name}", path.name).replace("{text}", text[:self.chars])
        try:
            structured = getattr(self.model.capabilities, "structured", False)
            messages = [{"role": "user", "content": prompt}]
            gen = (self.model.generate(messages, 96, schema=MODEL_SCHEMA) if structured
                   else self.model.generate(messages, 96))
            answer = json.loads(gen.text[gen.text.index("{"):gen.text.rindex("}") + 1])
        except Exception:  # a failing endpoint or an answer that is not JSON: nothing is read
            self.problems += 1
            return {}, {}
        if not isinstance(answer, dict) or set(answer) - set(MODEL_SCHEMA["properties"]):
            self.problems += 1
            return {}, {}
        found = {}
        if isinstance(answer.get("company"), str) and answer["company"].strip():
            found["company"] = answer["company"].strip()[:120]
        if isinstance(answer.get("year"), int) and 1900 <= answer["year"] <= 2100:
            found["year"] = answer["year"]
        if isinstance(answer.get("doc_type"), str) and answer["doc_type"].strip():
            found["doc_type"] = answer["doc_type"].strip()[:60]
        return found, {k: "model" for k in found}
