"""The classify task: strict parsing, and metrics that agree with scikit-learn's."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from tunewise.evaluate.stats import bootstrap_counts
from tunewise.tasks import classify
from tunewise.tasks.base import Item, ParseError, TaskSpec

SPEC = TaskSpec("classify", labels=("negative", "neutral", "positive"))


def test_parse_takes_a_json_label_or_a_bare_label_in_any_case():
    assert classify.parse(SPEC, '{"label": "Positive"}') == "positive"
    assert classify.parse(SPEC, '```json\n{"label": "neutral"}\n```') == "neutral"
    assert classify.parse(SPEC, " Negative.") == "negative"


@pytest.mark.parametrize("text", ['{"label": "bullish"}', "It is positive, I think", "", '{"x": 1}'])
def test_parse_refuses_anything_that_is_not_exactly_one_label(text):
    with pytest.raises(ParseError):
        classify.parse(SPEC, text)


def test_accuracy_and_macro_f1_from_counts_equal_scikit_learns():
    rng = np.random.default_rng(0)
    labels = list(SPEC.labels)
    gold = [labels[i] for i in rng.integers(0, 3, 200)]
    predicted = [g if rng.random() < 0.6 else labels[rng.integers(0, 3)] for g in gold]
    predicted[:10] = [None] * 10  # unparseable answers count as wrong
    rows = [classify.counts(SPEC, Item(str(i), "", g), p)
            for i, (g, p) in enumerate(zip(gold, predicted))]
    names = sorted(rows[0])
    matrix = np.array([[r[n] for n in names] for r in rows])
    metrics = {m.name: m for m in classify.metrics_for(SPEC)}
    as_text = [p or "none" for p in predicted]
    accuracy = bootstrap_counts(matrix, names, metrics["accuracy"].compute)
    macro = bootstrap_counts(matrix, names, metrics["macro_f1"].compute)
    assert accuracy.mean == pytest.approx(accuracy_score(gold, as_text))
    assert macro.mean == pytest.approx(f1_score(gold, as_text, labels=labels, average="macro"))
    assert macro.low < macro.mean < macro.high
    positive = bootstrap_counts(matrix, names, metrics["f1[positive]"].compute)
    assert positive.mean == pytest.approx(f1_score(gold, as_text, labels=["positive"], average="macro"))


def test_confusion_matrix_puts_unparseable_answers_in_the_last_column():
    matrix = classify.confusion(SPEC, [("positive", "positive"), ("positive", None),
                                       ("negative", "neutral")])
    assert matrix == [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]]


def test_tfidf_baseline_learns_the_words_that_decide_the_label(sentiment):
    train, test = sentiment
    spec = classify.spec(train)
    baseline = next(b for b in classify.baselines if b.name == "tfidf")
    model = baseline.fit(train, spec)
    right = sum(baseline.predict(model, i) == i.gold for i in test)
    assert right >= 13, f"{right} of {len(test)}"
