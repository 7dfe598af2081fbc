"""What a *task* is — the work a system is measured on besides question answering: classify a
text, extract named fields from a document, summarize. A task owns its item format, its prompt
and output schema, its strict output parser, its metrics and its no-model baselines; the runner,
the summary and the report only ask the task.

Metrics are computed from additive *counts* per item (a correct label, true positives of a key,
a ROUGE score), so a corpus-level metric such as macro-F1 or pooled F1 gets a bootstrap interval
and a paired test by resampling items (evaluate/stats.py `bootstrap_counts`, `paired_counts`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from tunewise.errors import TunewiseError

Gold = Any  # a label (classify), {key: [values]} (extract), a summary (summarize)
Sums = dict[str, np.ndarray]  # a count's total, one row per bootstrap resample


class TaskError(TunewiseError):
    """A task set that cannot be read or a task that cannot run; the message says why."""


class ParseError(ValueError):
    """A model's output that is not a valid answer for the task: a counted failure, never a
    silently wrong label."""


@dataclass(frozen=True)
class Item:
    """One example of a task: `text` is the input (read from `file` through the document loaders
    when the set names files), `gold` the expected output."""

    id: str
    text: str
    gold: Gold
    file: str | None = None

    def to_record(self, task: str) -> dict:
        d = {"id": self.id, "task": task, "text": self.text, "gold": self.gold}
        return {**d, "file": self.file} if self.file else d


@dataclass(frozen=True)
class TaskSpec:
    """What one task set fixes for every item: its labels (classify) or keys (extract)."""

    task: str
    labels: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    instruction: str = ""  # added to the task's own instruction (house rules, label meanings)

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items() if v}


@dataclass(frozen=True)
class Metric:
    """One quality measure: what `eval summary`, the report and `--help` say about it."""

    name: str
    description: str
    compute: Callable[[Sums], np.ndarray]  # from summed counts (rows: resamples) to values
    primary: bool = False  # the one the report ranks by for its task


@dataclass
class Baseline:
    """A system that calls no model: `fit` sees the training items once, `predict` one input."""

    name: str
    description: str
    fit: Callable[[list[Item], TaskSpec], Any]  # returns the fitted state
    predict: Callable[[Any, Item], Gold]
    learns: bool = False  # fitted to the examples (a learning-curve point), not just counted


class Task(Protocol):
    name: str
    description: str
    metrics: tuple[Metric, ...]  # fixed ones, listed by `--help`; `metrics_for` adds per label/key
    baselines: tuple[Baseline, ...]
    answer_tokens: int  # the answer budget of a prompted model
    trainable: tuple[str, ...]  # the systems `decide --task` trains (encoder, finetune:lora …)
    decide_shots: int  # examples in the few-shot prompts `decide --task` measures

    def metrics_for(self, spec: TaskSpec) -> tuple[Metric, ...]:
        """`metrics` plus those of this set's labels or keys (per-class F1, per-key F1)."""

    def spec(self, items: list[Item], instruction: str = "") -> TaskSpec:
        """The labels or keys a set of (training) items uses."""

    def named_spec(self, labels: tuple[str, ...], keys: tuple[str, ...], schema: dict,
                   instruction: str = "") -> TaskSpec:
        """The spec a person names without examples: labels or keys given, else read from a JSON
        schema's properties; TaskError saying what to give when this task lacks them."""

    def messages(self, spec: TaskSpec, text: str, shots: list[Item]) -> list[dict[str, str]]:
        """The chat prompt: the task's instruction, `shots` worked examples, then the input."""

    def schema(self, spec: TaskSpec) -> dict | None:
        """The JSON schema the answer must follow (constrained decoding where a backend can)."""

    def answer_text(self, spec: TaskSpec, gold: Gold) -> str:
        """The answer a perfect model writes: the target of a worked example and of fine-tuning."""

    def parse(self, spec: TaskSpec, text: str) -> Gold:
        """The model's answer, or ParseError."""

    def counts(self, spec: TaskSpec, item: Item, predicted: Gold | None) -> dict[str, float]:
        """The additive counts one item contributes (`predicted` None: unparseable output)."""

    gold_may_be_empty: bool  # an item without gold is still an example (a contract with no keys)

    def gold_of(self, value: object) -> Gold:
        """The gold a table cell or JSON value holds (a label, a summary, keys and values)."""

    def queries(self, spec: TaskSpec) -> list[str]:
        """What to look for in an input too long to read whole: one search query a key
        (extract); none to read its beginning."""

    def confusion(self, spec: TaskSpec, pairs: list[tuple[Gold, Gold | None]]
                  ) -> list[list[int]] | None:
        """gold × predicted counts, where the task has classes to confuse; else None."""


def text_gold(value: object) -> str:
    """The gold of a task whose answer is text (a label, a summary): the cell's text, stripped."""
    return str(value or "").strip()


def parse_json_object(text: str) -> dict:
    """The one JSON object an answer holds (code fences and text around it allowed)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ParseError("no JSON object in the answer")
    try:
        value = json.loads(text[start:end + 1])
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ParseError("the answer is not a JSON object")
    return value


def f1_of(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 from counts, 0 where there is nothing to count (elementwise over resamples)."""
    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.divide(a, b, out=np.full_like(b, np.nan), where=b > 0)


def brief_messages(spec: TaskSpec, text: str) -> list[dict[str, str]]:
    """The prompt of a model fine-tuned on the task: the task and its labels or keys in one line,
    then the input. Its examples taught it the answer's form; the zero-shot instruction (the
    JSON to write, the rules) would cost every training example and every query its tokens."""
    names = spec.labels or spec.keys
    return [{"role": "system", "content": spec.task + (f": {', '.join(names)}" if names else "")},
            {"role": "user", "content": text}]
