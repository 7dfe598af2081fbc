"""Uncertainty for small evaluation sets: percentile bootstrap confidence intervals of a mean,
and a paired comparison of two systems on the questions both answered (paired bootstrap
interval of the difference plus a sign-flip permutation p-value)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float  # 95% interval
    high: float
    n: int


def bootstrap(values: list[float], seed: int = 0, resamples: int = RESAMPLES) -> Estimate:
    """The mean with a 95% percentile-bootstrap interval (seeded, so a summary is reproducible)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Estimate(float(x.mean()), float(low), float(high), int(x.size))


@dataclass(frozen=True)
class Comparison:
    metric: str
    a: str
    b: str
    difference: Estimate  # mean of (a - b) per question, with its paired 95% interval
    p_value: float

    @property
    def significant(self) -> bool:
        """At the 5% level, by the permutation test. (The percentile interval alone would call a
        difference of a handful of questions, all in one direction, significant: with every
        per-question difference ≥ 0 no resample can go below zero.)"""
        return self.difference.n > 0 and self.p_value < 0.05


def paired(metric: str, a: str, b: str, pairs: list[tuple[float, float]], seed: int = 0,
           resamples: int = RESAMPLES) -> Comparison:
    """Compare two systems on the same questions. The p-value is a two-sided sign-flip
    permutation test of the mean difference (exact enough at 2,000 resamples)."""
    d = np.asarray([x - y for x, y in pairs], dtype=float)
    estimate = bootstrap(d.tolist(), seed, resamples)
    if d.size == 0 or not np.any(d):
        return Comparison(metric, a, b, estimate, 1.0)
    rng = np.random.default_rng(seed + 1)
    signs = rng.choice([-1.0, 1.0], size=(resamples, d.size))
    null = np.abs((signs * d).mean(axis=1))
    p = (1 + np.sum(null >= abs(d.mean()) - 1e-12)) / (resamples + 1)
    return Comparison(metric, a, b, estimate, float(p))
