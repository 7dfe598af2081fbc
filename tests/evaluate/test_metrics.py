"""Answer metrics against values computed by hand."""

import pytest

from tunewise.evaluate.metrics import (
    answer_scores,
    choose,
    contains,
    exact_match,
    normalize,
    rouge_l,
    strip_citations,
    token_f1,
)


def test_normalisation_follows_squad():
    assert normalize("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize("An apple, a pear and THE plum.") == "apple pear and plum"
    assert normalize("") == ""


def test_exact_match_takes_the_best_gold_answer():
    assert exact_match("the Denver Broncos", ["Broncos", "Denver Broncos"]) == 1.0
    assert exact_match("Denver", ["Broncos", "Denver Broncos"]) == 0.0
    assert exact_match("anything", []) == 0.0


def test_token_f1_by_hand():
    # prediction tokens: cat sat on mat; gold: cat sat -> overlap 2, P 2/4, R 2/2, F1 2/3
    assert token_f1("The cat sat on the mat", ["a cat sat"]) == pytest.approx(2 / 3)
    # best of two golds: "mat" alone gives P 1/4, R 1 -> 0.4 < 2/3
    assert token_f1("The cat sat on the mat", ["mat", "a cat sat"]) == pytest.approx(2 / 3)
    # repeated tokens count once per occurrence on both sides: pred cat cat, gold cat -> P 1/2, R 1
    assert token_f1("cat cat", ["cat"]) == pytest.approx(2 / 3)
    assert token_f1("dog", ["cat"]) == 0.0


def test_empty_prediction_scores_zero_against_an_answer():
    assert token_f1("", ["Paris"]) == 0.0
    assert exact_match("", ["Paris"]) == 0.0
    assert rouge_l("", ["Paris"]) == 0.0
    assert contains("", ["Paris"]) == 0.0


def test_rouge_l_by_hand():
    # pred: police killed gunman ; ref: gunman police killed -> LCS "police killed" = 2,
    # P 2/3, R 2/3, F 2/3
    assert rouge_l("police killed the gunman", ["the gunman police killed"]) == pytest.approx(2 / 3)
    # LCS needs order, not adjacency: w b c d vs w x c y -> LCS w c = 2, P 2/4, R 2/4
    assert rouge_l("w b c d", ["w x c y"]) == pytest.approx(0.5)
    # articles are normalised away first: a b c d vs a x c y -> b c d vs x c y, LCS 1 of 3
    assert rouge_l("a b c d", ["a x c y"]) == pytest.approx(1 / 3)


def test_containment_is_on_whole_words():
    assert contains("The capital is Paris.", ["paris"]) == 1.0
    assert contains("A Parisian café", ["Paris"]) == 0.0
    assert contains("It costs EUR 400 per year", ["EUR 400", "400 euros"]) == 1.0


def test_citation_markers_do_not_count_against_an_answer():
    assert strip_citations("EUR 400 [1].") == "EUR 400."
    assert strip_citations("EUR 400 [1, 3]") == "EUR 400"
    assert answer_scores("EUR 400 [2]", ["EUR 400"])["em"] == 1.0


@pytest.mark.parametrize("text, picked", [
    ("Yes, because the trial showed it.", "yes"), ("no", "no"), ("MAYBE.", "maybe"),
    ("The answer is no; yes would overstate it.", "no"), ("It is unclear.", None), ("", None)])
def test_choice_is_the_first_choice_word(text, picked):
    assert choose(text, ["yes", "no", "maybe"]) == picked


def test_answer_scores_per_question_kind():
    assert answer_scores("Yes.", ["yes"], ["yes", "no", "maybe"]) == {"accuracy": 1.0}
    assert answer_scores("No", ["yes"], ["yes", "no", "maybe"]) == {"accuracy": 0.0}
    assert answer_scores("Yes", ["yes"], ["yes", "no", "maybe"], abstained=True) == {"accuracy": 0.0}
    # unanswerable (SQuAD 2.0): abstaining is right
    assert answer_scores("x", [], abstained=True, unanswerable=True) == {"em": 1.0, "f1": 1.0}
    assert answer_scores("Paris", [], unanswerable=True) == {"em": 0.0, "f1": 0.0}
    # a retrieval-only question has no answer metrics
    assert answer_scores("whatever", []) == {}
    # an abstention on an answerable question is an empty prediction
    scores = answer_scores("The documents do not contain it.", ["Paris"], abstained=True)
    assert scores == {"em": 0.0, "f1": 0.0, "rouge_l": 0.0, "contains": 0.0}
