"""Duplicates, splits and length statistics."""

import json

import pytest

from tunewise.data.clean import (
    drop_exact_duplicates,
    drop_near_duplicates,
    jaccard,
    length_stats,
    shingles,
    split,
)
from tunewise.data.formats import DataError, Example, load_examples
from tunewise.data.prepare import import_data


def ex(q, a):
    return Example((("user", q), ("assistant", a)))


BASE = ("How many days per week may employees of the company work remotely from home "
        "under the current policy?")


def test_exact_duplicates_ignore_case_and_punctuation():
    kept, dropped = drop_exact_duplicates([ex("What is X?", "X is Y."), ex("what is x", "x is y"),
                                           ex("What is X?", "Something else.")])
    assert dropped == 1 and [e.answer for e in kept] == ["X is Y.", "Something else."]


def test_near_duplicates_by_shingle_overlap():
    # one word changed in a 20-word text: 3 of its 18 3-grams change -> 15 shared of 21 in all
    near = BASE.replace("current", "present")
    a, b = shingles(f"{BASE} Three days."), shingles(f"{near} Three days.")
    assert (len(a), len(a & b), len(a | b)) == (18, 15, 21)
    assert jaccard(a, b) == pytest.approx(15 / 21)
    examples = [ex(BASE, "Three days."), ex(near, "Three days."),
                ex("What is the per diem for travel in Germany?", "EUR 52.")]
    kept, dropped = drop_near_duplicates(examples, threshold=0.6)
    assert dropped == 1 and kept == [examples[0], examples[2]]
    kept, dropped = drop_near_duplicates(examples, threshold=0.95)
    assert dropped == 0  # below the threshold both stay: candidates are confirmed exactly


def test_near_duplicate_search_scales_past_pairwise(monkeypatch):
    """2,050 examples would be 2.1 million pairs compared one by one; LSH confirms only its
    candidates, and still finds every planted duplicate and drops nothing else."""
    import tunewise.data.clean as clean

    compared = 0
    exact = clean.jaccard

    def counting(a, b):
        nonlocal compared
        compared += 1
        return exact(a, b)

    monkeypatch.setattr(clean, "jaccard", counting)
    examples = [ex(f"Question number {i} about topic {i * 7} in section {i % 13}?", f"Answer {i}.")
                for i in range(2000)]
    kept, dropped = drop_near_duplicates(examples + examples[:50])
    n = len(examples) + 50
    assert compared < n * 5, f"{compared} comparisons: no better than pairwise ({n * (n - 1) // 2})"
    assert (kept, dropped) == (examples, 50)


def test_split_is_seeded_and_disjoint():
    examples = [ex(f"q{i}", f"a{i}") for i in range(50)]
    train, val = split(examples, 0.1, seed=1)
    assert len(train) == 45 and len(val) == 5 and not set(train) & set(val)
    assert split(examples, 0.1, seed=1) == (train, val)
    assert split(examples, 0.1, seed=2)[1] != val
    assert split(examples[:3], 0.01, 0)[1]  # at least one validation example when asked for
    assert split(examples, 0.0, 0)[1] == []
    with pytest.raises(DataError, match="val_fraction must be in"):
        split(examples, 1.0, 0)


def test_length_stats_against_the_context():
    examples = [ex("a " * n, "b") for n in (10, 20, 30, 40, 100)]
    stats = length_stats(examples, lambda m: sum(len(x["content"].split()) for x in m), 50)
    assert (stats.examples, stats.min, stats.median, stats.max) == (5, 11, 31, 101)
    assert stats.over_context == 1 and stats.total_tokens == 11 + 21 + 31 + 41 + 101


def test_import_reports_and_writes_a_split(tmp_path):
    good = [{"instruction": f"Task {i}: summarise report {i * 31}", "output": f"Summary {i}"}
            for i in range(20)]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in good + good[:3]) + "oops\n")
    (tmp_path / "b.json").write_text("{broken")
    report = import_data([tmp_path / "a.jsonl", tmp_path / "b.json"], tmp_path / "out",
                         val_fraction=0.2, seed=0)
    assert report.read == 24 and report.exact_duplicates == 3
    assert (report.train, report.validation) == (16, 4)
    assert ("%s" % (tmp_path / "a.jsonl"), "line 24: invalid JSON (Expecting value)") in report.problems
    assert any(p[0].endswith("b.json") and "invalid JSON" in p[1] for p in report.problems)
    train = load_examples(tmp_path / "out" / "train.jsonl").examples
    assert len(train) == 16 and train[0].messages[0][0] == "user"
