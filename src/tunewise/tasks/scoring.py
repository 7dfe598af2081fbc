"""Scores of a task run from its records: each record's counts (the task's `counts`), each
metric with a bootstrap interval over items, paired comparisons by approximate randomization,
and the confusion matrix. `run_summary` summarises any run, QA or task, with the right scoring."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunewise.evaluate.runner import load_manifest
from tunewise.evaluate.stats import Comparison, Estimate, bootstrap_counts, paired_counts
from tunewise.evaluate.summary import Summary, summary_of
from tunewise.tasks import task_named
from tunewise.tasks.base import Item, Metric, TaskSpec


def spec_of(manifest: dict) -> TaskSpec:
    s = manifest.get("spec", {})
    return TaskSpec(manifest["task"], tuple(s.get("labels", ())), tuple(s.get("keys", ())),
                    s.get("instruction", ""))


def metrics_of(manifest: dict) -> tuple[Metric, ...]:
    return task_named(manifest["task"]).metrics_for(spec_of(manifest))


def _counts(task, spec: TaskSpec, records: list[dict]) -> tuple[list[str], np.ndarray]:
    """(count names, items × counts) of the answered records, in record order."""
    rows = [task.counts(spec, Item(r["question_id"], r.get("text", ""), r["gold"]), r["parsed"])
            for r in records]
    names = sorted({k for row in rows for k in row})
    return names, np.array([[row.get(k, 0.0) for k in names] for row in rows]).reshape(
        len(rows), len(names))


def estimates(manifest: dict, records: list[dict], seed: int = 0) -> dict[str, Estimate]:
    """Every metric of one system's answered records."""
    task, spec = task_named(manifest["task"]), spec_of(manifest)
    ok = [r for r in records if not r.get("error")]
    if not ok:
        return {}
    names, matrix = _counts(task, spec, ok)
    return {m.name: bootstrap_counts(matrix, names, m.compute, seed)
            for m in task.metrics_for(spec)}


def compare(manifest: dict, a: str, b: str, records_a: list[dict], records_b: list[dict],
            seed: int = 0) -> list[Comparison]:
    """A − B on every metric, over the items both answered."""
    task, spec = task_named(manifest["task"]), spec_of(manifest)
    by_b = {r["question_id"]: r for r in records_b if not r.get("error")}
    both = [(r, by_b[r["question_id"]]) for r in records_a
            if not r.get("error") and r["question_id"] in by_b]
    if not both:
        return []
    names, counts_a = _counts(task, spec, [x for x, _ in both])
    _, counts_b = _counts(task, spec, [y for _, y in both])  # one task and spec: the same names
    return [paired_counts(m.name, a, b, counts_a, counts_b, names, m.compute, seed)
            for m in task.metrics_for(spec)]


def confusion(manifest: dict, records: list[dict]) -> list[list[int]] | None:
    """Classify runs: gold × predicted label counts (last column: unparseable answers)."""
    return task_named(manifest["task"]).confusion(
        spec_of(manifest), [(r["gold"], r["parsed"]) for r in records if not r.get("error")])


@dataclass(frozen=True)
class TaskScoring:
    """A task run's scoring, as `evaluate.summary.summary_of` takes it."""

    manifest: dict

    def metric_names(self) -> list[str]:
        return [m.name for m in metrics_of(self.manifest)]

    def estimates(self, records: list[dict], seed: int) -> dict[str, Estimate]:
        return estimates(self.manifest, records, seed)

    def compare(self, a: str, b: str, records_a: list[dict], records_b: list[dict],
                seed: int) -> list[Comparison]:
        return compare(self.manifest, a, b, records_a, records_b, seed)


def run_summary(run: str | Path, compare: tuple[str, str] | list[tuple[str, str]] | None = None,
              seed: int = 0) -> Summary:
    """`evaluate.summary.summary_of` for any run: a task run scored by its task."""
    manifest = load_manifest(run)
    scoring = TaskScoring(manifest) if manifest.get("task", "qa") != "qa" else None
    return summary_of(run, compare, seed, scoring)
