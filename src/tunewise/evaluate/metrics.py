"""Answer metrics, each scored against every gold answer and the best kept: SQuAD's exact match
and token F1 (with its normalisation), ROUGE-L, gold containment, and choice accuracy for
yes/no/maybe questions. Bootstrap confidence intervals and the paired test live in `stats.py`."""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass

from tunewise.rag.prompt import strip_citations

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


@dataclass(frozen=True)
class QaMetric:
    """A question-answering measure: what summary, report and `--help` show, defined once."""

    name: str
    description: str
    rank: int | None = None  # the report ranks by the first measured, lowest rank first


# In display order. Task metrics (classify, extract, summarize) are defined by each task module.
QA_METRICS = (
    QaMetric("em", "exact match with a gold answer after normalising case, punctuation and "
             "articles (SQuAD)", 5),
    QaMetric("f1", "token overlap F1 with the best gold answer (SQuAD)", 2),
    QaMetric("rouge_l", "longest-common-subsequence F1 with the best gold answer", 4),
    QaMetric("contains", "a gold answer appears in the answer", 3),
    QaMetric("accuracy", "the choice the answer picks is the gold one (yes/no/maybe sets)", 1),
    QaMetric("abstained", "the system said the documents do not hold the answer"),
    QaMetric("abstained_unanswerable", "abstained, on questions the documents cannot answer"),
    QaMetric("abstained_answerable", "abstained, on questions they can answer (false)"),
    QaMetric("judge_correct", "an LLM judge says the answer is correct (--judge)", 0),
    QaMetric("judge_faithful", "an LLM judge says the answer keeps to its passages (--judge)"),
)
QUALITY = tuple(m.name for m in QA_METRICS)
PRIMARY = tuple(m.name for m in sorted((m for m in QA_METRICS if m.rank is not None),
                                       key=lambda m: m.rank))
RETRIEVAL = ("recall", "mrr", "ndcg")  # of a system's retrieved documents, suffixed @k


def normalize(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: list[str]) -> float:
    return max((float(normalize(prediction) == normalize(g)) for g in gold), default=0.0)


def token_f1(prediction: str, gold: list[str]) -> float:
    return max((_f1(normalize(prediction).split(), normalize(g).split()) for g in gold), default=0.0)


def _f1(pred: list[str], ref: list[str]) -> float:
    if not pred or not ref:
        return float(pred == ref)  # SQuAD: both empty is a match, one empty is not
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, gold: list[str]) -> float:
    """ROUGE-L F1: the longest common subsequence of normalised tokens."""
    pred = normalize(prediction).split()
    return max((_lcs_f1(pred, normalize(g).split()) for g in gold), default=0.0)


def _lcs_f1(pred: list[str], ref: list[str]) -> float:
    if not pred or not ref:
        return float(pred == ref)
    previous = [0] * (len(ref) + 1)
    for p in pred:
        current = [0]
        for j, r in enumerate(ref):
            current.append(previous[j] + 1 if p == r else max(previous[j + 1], current[j]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains(prediction: str, gold: list[str]) -> float:
    """1 when a normalised gold answer appears, as whole words, in the normalised prediction."""
    text = f" {normalize(prediction)} "
    return max((float(f" {normalize(g)} " in text) for g in gold if normalize(g)), default=0.0)


def choose(prediction: str, choices: list[str]) -> str | None:
    """The choice a free-text answer commits to: the first choice word in it ("Yes, because…"
    → yes); None when it names none."""
    words = normalize(prediction).split()
    wanted = {normalize(c): c for c in choices}
    return next((wanted[w] for w in words if w in wanted), None)


def answer_scores(prediction: str, answers: list[str], choices: list[str] = (),
                  abstained: bool = False, unanswerable: bool = False) -> dict[str, float]:
    """Every answer metric of one prediction. On an unanswerable question (SQuAD 2.0)
    abstaining scores 1 on EM and F1, anything else 0; a question with neither gold answers
    nor choices (a retrieval-only set such as BEIR) has no answer metrics."""
    if choices:
        picked = None if abstained else choose(prediction, choices)
        return {"accuracy": float(picked is not None and picked in answers)}
    if unanswerable:
        return {"em": float(abstained), "f1": float(abstained)}
    if not answers:
        return {}
    text = "" if abstained else strip_citations(prediction)
    return {"em": exact_match(text, answers), "f1": token_f1(text, answers),
            "rouge_l": rouge_l(text, answers), "contains": contains(text, answers)}
