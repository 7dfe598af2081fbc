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


# --- corpus-level metrics (macro-F1, pooled F1): resample items, recompute from their counts ---

def _resample_weights(n: int, rng, resamples: int) -> np.ndarray:
    """(resamples, n): how often each item is drawn in each bootstrap resample."""
    weights = np.zeros((resamples, n))
    rows = np.repeat(np.arange(resamples), n)
    np.add.at(weights, (rows, rng.integers(0, n, size=resamples * n)), 1.0)
    return weights


def _sums(weights: np.ndarray, counts: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    summed = weights @ counts  # (resamples, counts)
    return {name: summed[:, j] for j, name in enumerate(names)}


def bootstrap_counts(counts: np.ndarray, names: list[str], metric, seed: int = 0,
                     resamples: int = RESAMPLES) -> Estimate:
    """A metric computed from summed per-item counts (`counts`: items × len(names)), with a 95%
    percentile-bootstrap interval over items. `metric` maps {name: array of sums} to values."""
    n = counts.shape[0]
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    value = float(metric(_sums(np.ones((1, n)), counts, names))[0])
    samples = metric(_sums(_resample_weights(n, np.random.default_rng(seed), resamples), counts,
                           names))
    low, high = np.nanpercentile(samples, [2.5, 97.5]) if np.isfinite(samples).any() else (
        float("nan"), float("nan"))
    return Estimate(value, float(low), float(high), n)


def paired_counts(metric_name: str, a: str, b: str, counts_a: np.ndarray, counts_b: np.ndarray,
                  names: list[str], metric, seed: int = 0, resamples: int = RESAMPLES) -> Comparison:
    """Compare two systems on a corpus-level metric over the same items (rows aligned): the
    difference with a paired bootstrap interval, and the p-value of an approximate
    randomization test (each item's two outputs swapped at random), the usual test for F1."""
    n = counts_a.shape[0]
    if n == 0:
        return Comparison(metric_name, a, b, Estimate(float("nan"), float("nan"), float("nan"), 0),
                          1.0)
    ones = np.ones((1, n))
    observed = float(metric(_sums(ones, counts_a, names))[0] - metric(_sums(ones, counts_b, names))[0])
    rng = np.random.default_rng(seed)
    weights = _resample_weights(n, rng, resamples)
    diffs = metric(_sums(weights, counts_a, names)) - metric(_sums(weights, counts_b, names))
    low, high = np.nanpercentile(diffs, [2.5, 97.5])
    swap = np.random.default_rng(seed + 1).integers(0, 2, size=(resamples, n)).astype(float)
    keep = 1.0 - swap
    null = (metric(_swapped(keep, swap, counts_a, counts_b, names, 0))
            - metric(_swapped(keep, swap, counts_a, counts_b, names, 1)))
    p = (1 + np.sum(np.abs(null) >= abs(observed) - 1e-12)) / (resamples + 1)
    if not np.any(counts_a != counts_b):
        p = 1.0
    return Comparison(metric_name, a, b, Estimate(observed, float(low), float(high), n), float(p))


def _swapped(keep, swap, counts_a, counts_b, names, side: int) -> dict[str, np.ndarray]:
    """Sums of side A (0) or B (1) after swapping the items marked in `swap`."""
    summed = keep @ counts_a + swap @ counts_b if side == 0 else swap @ counts_a + keep @ counts_b
    return {name: summed[:, j] for j, name in enumerate(names)}
