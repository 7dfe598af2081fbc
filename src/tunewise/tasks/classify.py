"""The classify task: a text in, one of N labels out. Metrics: accuracy, macro-F1 and F1 per
label; baselines: the majority label and TF-IDF + logistic regression (scikit-learn)."""

from __future__ import annotations

import json
from collections import Counter

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
    text_gold,
)

name = "classify"
description = "a text in, one of N labels out (e.g. the sentiment of a sentence, a ticket's queue)"
answer_tokens = 16
# what `tunewise decide --task classify` trains and how many examples its few-shot prompts show;
# the LLM on the base that measured best for the task (bench/RESULTS.md: Gemma 3 270M's head
# 0.917 macro-F1 on PhraseBank, SmolLM2's 0.903)
trainable = ("encoder", "finetune:head:base=gemma3")
decide_shots = 4


def _macro_f1(s: Sums) -> np.ndarray:
    labels = [k[3:-1] for k in s if k.startswith("tp[")]
    return np.mean([f1_of(s[f"tp[{x}]"], s[f"fp[{x}]"], s[f"fn[{x}]"]) for x in labels], axis=0)


metrics = (
    Metric("accuracy", "share of items given the gold label", lambda s: ratio(s["correct"], s["n"])),
    Metric("macro_f1", "F1 of each label, averaged with equal weight (rare labels count as much "
           "as common ones)", _macro_f1, primary=True),
    Metric("unparseable", "share of answers that named no valid label (counted as wrong)",
           lambda s: ratio(s["failed"], s["n"])),
)


def metrics_for(spec: TaskSpec) -> tuple[Metric, ...]:
    per_label = tuple(
        Metric(f"f1[{x}]", f"F1 of the label {x!r}",
               lambda s, x=x: f1_of(s[f"tp[{x}]"], s[f"fp[{x}]"], s[f"fn[{x}]"]))
        for x in spec.labels)
    return metrics + per_label


def spec(items: list[Item], instruction: str = "") -> TaskSpec:
    labels = tuple(sorted({str(i.gold) for i in items}))
    if len(labels) < 2:
        raise TaskError(f"a classification set needs at least two labels; found {list(labels)}")
    return TaskSpec(name, labels=labels, instruction=instruction)


def named_spec(labels: tuple[str, ...], keys: tuple[str, ...], schema: dict,
               instruction: str = "") -> TaskSpec:
    labels = labels or tuple(schema.get("label", {}).get("enum", ()))
    if len(labels) < 2:
        raise TaskError("give the labels (--labels a,b,c, --schema or --shots)")
    return TaskSpec(name, labels=labels, instruction=instruction)


def messages(spec: TaskSpec, text: str, shots: list[Item]) -> list[dict[str, str]]:
    system = (f"Classify the text into exactly one of these labels: {', '.join(spec.labels)}. "
              'Answer with JSON only: {"label": "<label>"}.'
              + (f" {spec.instruction}" if spec.instruction else ""))
    out = [{"role": "system", "content": system}]
    for shot in shots:
        out += [{"role": "user", "content": shot.text},
                {"role": "assistant", "content": answer_text(spec, shot.gold)}]
    return out + [{"role": "user", "content": text}]


def schema(spec: TaskSpec) -> dict:
    return {"type": "object", "properties": {"label": {"type": "string", "enum": list(spec.labels)}},
            "required": ["label"], "additionalProperties": False}


def answer_text(spec: TaskSpec, gold) -> str:
    return json.dumps({"label": gold})


def parse(spec: TaskSpec, text: str) -> str:
    """The label of `{"label": ...}`, or of a bare answer that is exactly a label (any case)."""
    wanted = {x.lower(): x for x in spec.labels}
    bare = text.strip().strip(".\"'`").lower()
    if bare in wanted:
        return wanted[bare]
    value = parse_json_object(text).get("label")
    if not isinstance(value, str) or value.strip().lower() not in wanted:
        raise ParseError(f"label {value!r} is not one of {', '.join(spec.labels)}")
    return wanted[value.strip().lower()]


def counts(spec: TaskSpec, item: Item, predicted) -> dict[str, float]:
    gold = item.gold
    c = {"n": 1.0, "correct": float(predicted == gold), "failed": float(predicted is None)}
    for x in spec.labels:
        c[f"tp[{x}]"] = float(predicted == x and gold == x)
        c[f"fp[{x}]"] = float(predicted == x and gold != x)
        c[f"fn[{x}]"] = float(predicted != x and gold == x)
    return c


gold_may_be_empty = False  # an example without a label teaches nothing
gold_of = text_gold


def queries(spec: TaskSpec) -> list[str]:
    return []  # a long text is read from its beginning


def confusion(spec: TaskSpec, pairs: list[tuple[str, str | None]]) -> list[list[int]]:
    """rows: gold label, columns: predicted label, then a last column for unparseable answers."""
    index = {x: i for i, x in enumerate(spec.labels)}
    matrix = [[0] * (len(spec.labels) + 1) for _ in spec.labels]
    for gold, predicted in pairs:
        if gold in index:
            matrix[index[gold]][index.get(predicted, len(spec.labels))] += 1
    return matrix


# --- baselines ----------------------------------------------------------------------------------

def _fit_majority(items: list[Item], spec: TaskSpec) -> str:
    return Counter(str(i.gold) for i in items).most_common(1)[0][0]


def _fit_tfidf(items: list[Item], spec: TaskSpec):
    # lazy: sklearn takes 0.7 s to import
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    # word 1-2 grams with sublinear tf: the classical text-classification baseline
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
                          LogisticRegression(max_iter=2000, C=10.0, class_weight="balanced"))
    return model.fit([i.text for i in items], [str(i.gold) for i in items])


baselines = (
    Baseline("majority", "the most common label of the training part, for every item",
             _fit_majority, lambda state, item: state),
    Baseline("tfidf", "TF-IDF word 1-2 grams + logistic regression, trained on the training part",
             _fit_tfidf, lambda model, item: str(model.predict([item.text])[0]), learns=True),
)
