"""The extract task: a document in, the values of named keys out (a key may have several values
or none). Scored as Kleister scores it: precision, recall and F1 over normalised `key=value`
pairs (dates to ISO, case, spacing and underscores folded), pooled over keys and per key.
Baselines: each key's most frequent value, and rules (dates, "governed by the laws of …",
"between X and Y", "a period of N years")."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date

import numpy as np

from tunewise.tasks.base import (
    Baseline,
    Item,
    Metric,
    ParseError,
    Sums,
    TaskError,
    TaskSpec,
    f1_of,
    parse_json_object,
    ratio,
)

name = "extract"
description = "a document in, the values of named keys out (a contract's parties, dates, law)"
answer_tokens = 128
# what `tunewise decide --task extract` trains and how many examples its few-shot prompts show;
# the base that measured best (bench/RESULTS.md: Kleister-NDA F1 0.587 Gemma 3 270M, 0.539 SmolLM2)
trainable = ("finetune:lora:base=gemma3",)
decide_shots = 1

# What the keys of Kleister-NDA (and keys named like them) mean, for the prompt.
KNOWN_KEYS = {
    "effective_date": "the date the agreement takes effect, as YYYY-MM-DD",
    "jurisdiction": "the US state or country whose law governs the agreement",
    "party": "each party to the agreement (a company or person name)",
    "term": "how long the agreement lasts, e.g. 2 years",
}


gold_may_be_empty = True  # a document may hold none of the keys


def gold_of(value) -> dict[str, list[str]]:
    """Extraction gold from a JSON object {key: value or [values]} or Kleister's
    `key=value key=value` text (spaces inside a value written as underscores)."""
    if isinstance(value, str) and value.strip().startswith("{"):
        value = json.loads(value)
    if isinstance(value, dict):
        return {str(k): [v] if isinstance(v, str) else [str(x) for x in v] for k, v in value.items()}
    out: dict[str, list[str]] = {}
    for pair in str(value or "").split():
        key, eq, v = pair.partition("=")
        if not eq:
            raise TaskError(f"{pair!r}: expected key=value")
        out.setdefault(key, []).append(v.replace("_", " "))
    return out


def describe(key: str) -> str:
    """What a key means, in words: the prompt's field list and the search for its passages."""
    return KNOWN_KEYS.get(key, key.replace("_", " "))


def queries(spec: TaskSpec) -> list[str]:
    return [describe(k) for k in spec.keys]


def confusion(spec: TaskSpec, pairs) -> None:
    return None  # keys and values have no classes to confuse


def _pooled(s: Sums, part: str) -> np.ndarray:
    keys = [k[3:-1] for k in s if k.startswith("tp[")]
    tp, fp, fn = (sum(s[f"{c}[{k}]"] for k in keys) for c in ("tp", "fp", "fn"))
    return {"precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn),
            "f1": f1_of(tp, fp, fn)}[part]


metrics = (
    Metric("f1", "F1 over normalised key=value pairs, pooled over keys (Kleister's measure)",
           lambda s: _pooled(s, "f1"), primary=True),
    Metric("precision", "share of extracted key=value pairs that are right",
           lambda s: _pooled(s, "precision")),
    Metric("recall", "share of gold key=value pairs extracted", lambda s: _pooled(s, "recall")),
    Metric("unparseable", "share of answers that were not a JSON object of the keys (counted as "
           "extracting nothing)", lambda s: ratio(s["failed"], s["n"])),
)


def metrics_for(spec: TaskSpec) -> tuple[Metric, ...]:
    return metrics + tuple(
        Metric(f"f1[{k}]", f"F1 of the key {k!r}",
               lambda s, k=k: f1_of(s[f"tp[{k}]"], s[f"fp[{k}]"], s[f"fn[{k}]"]))
        for k in spec.keys)


def spec(items: list[Item], instruction: str = "") -> TaskSpec:
    keys = tuple(sorted({k for i in items for k in i.gold}))
    if not keys:
        raise TaskError("an extraction set needs gold values of at least one key")
    return TaskSpec(name, keys=keys, instruction=instruction)


def named_spec(labels: tuple[str, ...], keys: tuple[str, ...], schema: dict,
               instruction: str = "") -> TaskSpec:
    keys = keys or tuple(schema)
    if not keys:
        raise TaskError("give the keys (--keys a,b, --schema or --shots)")
    return TaskSpec(name, keys=keys, instruction=instruction)


def messages(spec: TaskSpec, text: str, shots: list[Item]) -> list[dict[str, str]]:
    fields = "; ".join(f"{k}: {describe(k)}" for k in spec.keys)
    system = (f"Extract these fields from the document. {fields}. Answer with JSON only, each "
              "field a list of strings copied from the document; an empty list when the "
              "document does not say." + (f" {spec.instruction}" if spec.instruction else ""))
    out = [{"role": "system", "content": system}]
    for shot in shots:
        out += [{"role": "user", "content": shot.text},
                {"role": "assistant", "content": answer_text(spec, shot.gold)}]
    return out + [{"role": "user", "content": text}]


MOST_VALUES = 4  # values one key may have in an answer: a small model loops without a bound


def schema(spec: TaskSpec) -> dict:
    values = {"type": "array", "items": {"type": "string"}, "maxItems": MOST_VALUES}
    return {"type": "object", "properties": {k: values for k in spec.keys},
            "required": list(spec.keys), "additionalProperties": False}


def answer_text(spec: TaskSpec, gold) -> str:
    return json.dumps({k: list(gold.get(k, [])) for k in spec.keys}, ensure_ascii=False)


def parse(spec: TaskSpec, text: str) -> dict[str, list[str]]:
    """`{key: [values]}` for the spec's keys (a single string is one value; other keys ignored)."""
    obj = parse_json_object(text)
    out = {}
    for k in spec.keys:
        value = obj.get(k, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ParseError(f"{k}: expected a list of strings, got {value!r}")
        out[k] = [v for v in value if v.strip()]
    return out


# --- normalisation: what makes two values the same -----------------------------------------------

MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december".split(),
    start=1)}
NUMBERS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?([a-z]+),?\s+(\d{4})")
_MONTH_DAY_YEAR = re.compile(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})")
_NUMERIC = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def iso_date(text: str) -> str | None:
    """The first date in `text` as YYYY-MM-DD ("April 18, 2001", "18th day of April, 2001",
    "4/18/2001" read month first, "2001-04-18"), or None."""
    t = text.lower()
    found = []
    for pattern, order in ((_ISO, "ymd"), (_MONTH_DAY_YEAR, "mdy"), (_DAY_MONTH_YEAR, "dmy"),
                           (_NUMERIC, "mdy")):
        for m in pattern.finditer(t):
            parts = dict(zip(order, m.groups()))
            month = MONTHS.get(parts["m"]) if not parts["m"].isdigit() else int(parts["m"])
            year = int(parts["y"]) + (2000 if len(parts["y"]) == 2 else 0)
            try:
                found.append((m.start(), date(year, month or 0, int(parts["d"])).isoformat()))
            except (TypeError, ValueError):
                continue
    return min(found)[1] if found else None


def normalise(key: str, value: str) -> str:
    """Kleister's comparison: underscores are spaces, case and spacing folded, trailing
    punctuation dropped; dates to ISO; number words to digits."""
    text = " ".join(value.replace("_", " ").split()).strip(" .,;:").lower()
    if key.endswith("date"):
        return iso_date(text) or text
    return " ".join(NUMBERS.get(w, w) for w in re.sub(r"\(\d+\)", "", text).split())


def counts(spec: TaskSpec, item: Item, predicted) -> dict[str, float]:
    gold = item.gold
    c = {"n": 1.0, "failed": float(predicted is None)}
    for k in spec.keys:
        want = {normalise(k, v) for v in gold.get(k, [])}
        got = {normalise(k, v) for v in (predicted or {}).get(k, [])}
        c[f"tp[{k}]"], c[f"fp[{k}]"] = float(len(want & got)), float(len(got - want))
        c[f"fn[{k}]"] = float(len(want - got))
    return c


# --- baselines ----------------------------------------------------------------------------------

def _fit_frequent(items: list[Item], spec: TaskSpec) -> dict[str, list[str]]:
    """Each key's most frequent value, for keys that at least half of the items have."""
    out = {}
    for k in spec.keys:
        values = Counter(normalise(k, v) for i in items for v in i.gold.get(k, []))
        if values and sum(bool(i.gold.get(k)) for i in items) * 2 >= len(items):
            out[k] = [values.most_common(1)[0][0]]
    return out


_LAW = re.compile(r"(?i:laws\s+of\s+(?:the\s+)?(?:state\s+of\s+|commonwealth\s+of\s+)?)"
                  r"([A-Z][a-zA-Z]+(?:\s+[A-Z][a-zA-Z]+)?)")
_TERM = re.compile(r"(?:period|term)\s+of\s+(?:([a-z]+)\s+)?(?:\((\d+)\)\s+)?(\d+\s+)?"
                   r"(years?|months?)", re.IGNORECASE)
_BETWEEN = re.compile(r"\bbetween\s+(.{3,120}?)\s*(?:\(|,)[^.]{0,200}?\band\s+(.{3,120}?)\s*[(,]",
                      re.DOTALL)
_NOT_A_STATE = {"The", "This", "Such", "Any", "United"}


def _rules(_: object, item: Item) -> dict[str, list[str]]:
    """Patterns most contracts follow: the first date, the governing law, the two sides of
    "between X and Y", and "a period of N years". Keys the set does not ask for are dropped by
    the scorer."""
    text = item.text
    out: dict[str, list[str]] = {}
    if day := iso_date(text[:3000]):
        out["effective_date"] = [day]
    if (law := _LAW.search(text)) and law.group(1).split()[0] not in _NOT_A_STATE:
        out["jurisdiction"] = [law.group(1)]
    if between := _BETWEEN.search(text[:4000]):
        out["party"] = [" ".join(p.split()).strip(" ,") for p in between.groups()]
    if term := _TERM.search(text):
        word, digits, number, unit = term.groups()
        n = digits or (number or "").strip() or NUMBERS.get((word or "").lower())
        if n:
            out["term"] = [f"{n} {unit.lower().rstrip('s')}s"]
    return out


baselines = (
    Baseline("frequent", "each key's most frequent value in the training part",
             _fit_frequent, lambda state, item: state),
    Baseline("rules", "regular expressions: first date, 'laws of …', 'between X and Y', "
             "'a period of N years'", lambda items, spec: None, _rules),
)
