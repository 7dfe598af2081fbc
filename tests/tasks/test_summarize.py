"""The summarize task: ROUGE, source support and the lead baseline."""

import pytest

from tunewise.tasks import summarize
from tunewise.tasks.base import Item, TaskSpec


def test_rouge_counts_shared_words_and_word_pairs():
    s = summarize.scores("cat sat on mat", "cat lay on mat", "")
    assert s["rouge_1"] == pytest.approx(3 / 4)  # cat, on, mat
    assert s["rouge_2"] == pytest.approx(1 / 3)  # "on mat"
    assert s["rouge_l"] == pytest.approx(3 / 4)


def test_source_support_is_the_share_of_summary_words_the_source_has():
    source = "Aspirin lowered the risk of stroke in older patients."
    assert summarize.scores("Aspirin lowered stroke risk.", "x", source)["source_support"] == 1.0
    assert summarize.scores("Aspirin cured cancer.", "x", source)["source_support"] == pytest.approx(1 / 3)


def test_lead_baseline_takes_as_many_first_sentences_as_the_gold_summaries_are_long():
    items = [Item(str(i), "One two three. Four five six. Seven eight nine.", "a b c d e f")
             for i in range(3)]
    lead = summarize.baselines[0]
    n = lead.fit(items, TaskSpec("summarize"))
    assert n == 2
    assert lead.predict(n, items[0]) == "One two three. Four five six."
