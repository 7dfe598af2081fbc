"""The extract task: Kleister's normalisation, pooled F1, and the rule baseline on a contract."""

import numpy as np
import pytest

from tests.tasks.conftest import contract
from tunewise.tasks import extract
from tunewise.tasks.base import Item, ParseError, TaskSpec

SPEC = TaskSpec("extract", keys=("effective_date", "jurisdiction", "party", "term"))


@pytest.mark.parametrize("text, iso", [
    ("April 18, 2001", "2001-04-18"), ("the 18th day of April, 2001", "2001-04-18"),
    ("4/18/2001", "2001-04-18"), ("2001-04-18", "2001-04-18"), ("Sept. 3 2020", None)])
def test_dates_are_compared_as_iso(text, iso):
    assert extract.iso_date(text) == iso


def test_values_compare_as_kleister_compares_them():
    assert extract.normalise("party", "Nike_Inc.") == extract.normalise("party", "NIKE  Inc")
    assert extract.normalise("term", "two (2) years") == extract.normalise("term", "2_years")
    assert extract.normalise("effective_date", "April 18, 2001") == "2001-04-18"


def test_pooled_f1_counts_every_key_value_pair():
    gold = {"party": ["Acme Corp", "John Smith"], "jurisdiction": ["Delaware"]}
    predicted = {"party": ["ACME CORP", "Jane Doe"], "jurisdiction": ["Delaware"], "term": ["2 years"]}
    c = extract.counts(SPEC, Item("1", "", gold), predicted)
    assert (c["tp[party]"], c["fp[party]"], c["fn[party]"]) == (1, 1, 1)
    assert (c["tp[jurisdiction]"], c["fp[term]"]) == (1, 1)
    sums = {k: np.array([v]) for k, v in c.items()}
    f1 = next(m for m in extract.metrics if m.name == "f1").compute(sums)[0]
    assert f1 == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))  # tp 2, fp 2, fn 1


def test_parse_takes_a_string_as_one_value_and_refuses_other_shapes():
    assert extract.parse(SPEC, '{"party": "Acme", "term": []}')["party"] == ["Acme"]
    with pytest.raises(ParseError):
        extract.parse(SPEC, '{"party": [1, 2]}')
    with pytest.raises(ParseError):
        extract.parse(SPEC, "the parties are Acme and Bob")


def test_rule_baseline_reads_date_law_parties_and_term_of_a_contract():
    text = contract("Acme Corp", "John Smith", "March 5, 2019", 3, "New York")
    rules = next(b for b in extract.baselines if b.name == "rules")
    found = rules.predict(None, Item("1", text, {}))
    assert found["effective_date"] == ["2019-03-05"]
    assert found["jurisdiction"] == ["New York"]
    assert found["party"] == ["Acme Corp", "John Smith"]
    assert extract.normalise("term", found["term"][0]) == extract.normalise("term", "3_years")
