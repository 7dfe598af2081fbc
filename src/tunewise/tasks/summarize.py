"""The summarize task: a text or document in, a summary out. Metrics: ROUGE-1/2/L against the
gold summary, the length ratio, and the share of the summary's content words found in the source
(a summary that invents is not supported by its source). Baseline: the lead sentences."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tunewise.documents.chunker import SENTENCE_END
from tunewise.evaluate.metrics import _lcs_f1, normalize
from tunewise.objects import content_words
from tunewise.tasks.base import Baseline, Item, Metric, ParseError, TaskSpec, ratio, text_gold

name = "summarize"
description = "a text or document in, a summary out (a conclusion, an abstract in house style)"
answer_tokens = 128
# what `tunewise decide --task summarize` trains and how many examples its few-shot prompts show;
# the base that measured best (bench/RESULTS.md: PubMedQA ROUGE-L 0.205 Gemma 3 270M, 0.194 SmolLM2)
trainable = ("finetune:lora:base=gemma3",)
decide_shots = 1


def _mean(key: str):
    return lambda s: ratio(s[key], s["n"])


metrics = (
    Metric("rouge_l", "ROUGE-L F1: longest common word subsequence with the gold summary",
           _mean("rouge_l"), primary=True),
    Metric("rouge_1", "ROUGE-1 F1: words shared with the gold summary", _mean("rouge_1")),
    Metric("rouge_2", "ROUGE-2 F1: word pairs shared with the gold summary", _mean("rouge_2")),
    Metric("length_ratio", "summary words / gold summary words", _mean("length_ratio")),
    Metric("source_support", "share of the summary's content words found in the source "
           "(1.0: nothing added that the source does not say)", _mean("source_support")),
    Metric("unparseable", "share of empty answers", _mean("failed")),
)


def metrics_for(spec: TaskSpec) -> tuple:
    return metrics


def spec(items: list[Item], instruction: str = "") -> TaskSpec:
    return TaskSpec(name, instruction=instruction)


def named_spec(labels: tuple[str, ...], keys: tuple[str, ...], schema: dict,
               instruction: str = "") -> TaskSpec:
    return TaskSpec(name, instruction=instruction)


def messages(spec: TaskSpec, text: str, shots: list[Item]) -> list[dict[str, str]]:
    system = ("Summarize the text in one to three sentences. Write only the summary."
              + (f" {spec.instruction}" if spec.instruction else ""))
    out = [{"role": "system", "content": system}]
    for shot in shots:
        out += [{"role": "user", "content": shot.text},
                {"role": "assistant", "content": shot.gold}]
    return out + [{"role": "user", "content": text}]


gold_may_be_empty = False  # an example without a summary teaches nothing
gold_of = text_gold


def queries(spec: TaskSpec) -> list[str]:
    return []  # a long text is read from its beginning


def confusion(spec: TaskSpec, pairs) -> None:
    return None  # summaries have no classes to confuse


def schema(spec: TaskSpec) -> None:
    return None  # free text


def answer_text(spec: TaskSpec, gold) -> str:
    return str(gold)


def parse(spec: TaskSpec, text: str) -> str:
    summary = " ".join(text.split())
    if not summary:
        raise ParseError("empty summary")
    return summary


def _ngram_f1(pred: list[str], ref: list[str], n: int) -> float:
    p = Counter(zip(*(pred[i:] for i in range(n))))
    r = Counter(zip(*(ref[i:] for i in range(n))))
    same = sum((p & r).values())
    if not same:
        return 0.0
    precision, recall = same / sum(p.values()), same / sum(r.values())
    return 2 * precision * recall / (precision + recall)


def scores(summary: str, gold: str, source: str) -> dict[str, float]:
    pred, ref = normalize(summary).split(), normalize(gold).split()
    words = content_words(summary)
    return {"rouge_1": _ngram_f1(pred, ref, 1), "rouge_2": _ngram_f1(pred, ref, 2),
            "rouge_l": _lcs_f1(pred, ref), "length_ratio": len(pred) / max(1, len(ref)),
            "source_support": len(words & content_words(source)) / len(words) if words else 0.0}


def counts(spec: TaskSpec, item: Item, predicted) -> dict[str, float]:
    c = {"n": 1.0, "failed": float(predicted is None)}
    values = scores(predicted or "", str(item.gold), item.text)
    if predicted is None:
        values = {k: 0.0 for k in values}
    return {**c, **values}


def lead(text: str, sentences: int = 2) -> str:
    """The first sentences of `text`: the classic summarization baseline."""
    parts = [s.strip() for s in SENTENCE_END.split(text) if s.strip()]
    return " ".join(parts[:sentences])


def _fit_lead(items: list[Item], spec: TaskSpec) -> int:
    """How many lead sentences: the number that best matches the gold summaries' mean length."""
    gold = np.mean([len(str(i.gold).split()) for i in items]) if items else 40
    first = np.mean([len(lead(i.text, 1).split()) or 1 for i in items]) if items else 20
    return max(1, min(5, round(gold / first)))


baselines = (
    Baseline("lead", "the first sentences of the source (as many as the gold summaries are "
             "long on the training part)", _fit_lead, lambda n, item: lead(item.text, n)),
)
