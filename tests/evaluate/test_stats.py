"""Bootstrap intervals and the paired comparison."""

import pytest

from tunewise.evaluate.stats import bootstrap, paired


def test_bootstrap_of_a_constant_is_that_constant():
    e = bootstrap([0.5] * 20)
    assert (e.mean, e.low, e.high, e.n) == (0.5, 0.5, 0.5, 20)


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_data():
    small = bootstrap([1.0, 0.0] * 10)
    large = bootstrap([1.0, 0.0] * 500)
    assert small.low < 0.5 < small.high
    assert large.low < 0.5 < large.high
    assert (large.high - large.low) < (small.high - small.low) / 3  # ~1/sqrt(50)
    # the binomial standard error at n=20 is 0.11, so the 95% interval is about ±0.22
    assert small.high - small.low == pytest.approx(0.44, abs=0.1)


def test_bootstrap_is_reproducible_and_empty_is_nan():
    values = [0.1, 0.9, 0.4, 0.7, 0.3]
    assert bootstrap(values, seed=3) == bootstrap(values, seed=3)
    assert bootstrap([]).n == 0


def test_a_clear_paired_difference_is_significant():
    pairs = [(1.0, 0.0)] * 30 + [(0.0, 0.0)] * 10  # A right on 30 more of 40 questions
    c = paired("em", "a", "b", pairs)
    assert c.difference.mean == pytest.approx(0.75)
    assert c.significant and c.p_value < 0.01


def test_a_difference_of_one_question_is_not():
    pairs = [(1.0, 0.0)] + [(1.0, 1.0)] * 10 + [(0.0, 0.0)] * 9
    c = paired("em", "a", "b", pairs)
    assert c.difference.mean == pytest.approx(0.05)
    assert not c.significant and c.p_value > 0.3


def test_identical_systems_are_not_different():
    c = paired("f1", "a", "b", [(0.5, 0.5)] * 10)
    assert c.difference.mean == 0 and c.p_value == 1.0 and not c.significant


def test_a_few_one_sided_differences_are_not_significant():
    # 5 of 500 questions differ, all the same way: the bootstrap interval excludes 0, yet a
    # sign-flip test gives p ~ 2/2^5 = 0.06
    c = paired("abstained", "a", "b", [(1.0, 0.0)] * 5 + [(0.0, 0.0)] * 495)
    assert c.difference.low > 0
    assert 0.04 < c.p_value < 0.1 and not c.significant
