"""What the decision report adds for a task run (classify, extract, summarize): the learning
curve of each trained system against the prompted ones — "the fine-tuned X beats prompted Y
from about N labelled examples" — and the confusion matrices of a classification run."""

from __future__ import annotations

from dataclasses import dataclass, field

from tunewise.evaluate.runner import load_records
from tunewise.evaluate.stats import Estimate
from tunewise.evaluate.summary import Summary
from tunewise.systems import SIZE, base_name, parse_system
from tunewise.tasks.scoring import confusion, spec_of


@dataclass(frozen=True)
class CurvePoint:
    system: str  # the trained system, without its size
    examples: int
    quality: Estimate


@dataclass
class TaskFindings:
    task: str
    labels: tuple[str, ...] = ()
    curve: list[CurvePoint] = field(default_factory=list)
    prompted: dict[str, float] = field(default_factory=dict)  # system -> primary metric mean
    notes: list[str] = field(default_factory=list)
    confusions: dict[str, list[list[int]]] = field(default_factory=dict)


def largest_size(name: str, summary: Summary) -> bool:
    """Whether `name` is its system's largest training size (`encoder`, or `finetune:lora@400`
    when no larger one ran): the one the report compares and prices. Every untrained system is."""
    if SIZE not in name and not any(SIZE in s.system and base_name(s.system) == name
                                    for s in summary.systems):
        return True
    size = lambda n: int(n.split(SIZE)[1]) if SIZE in n else 10 ** 12  # noqa: E731
    sizes = [size(s.system) for s in summary.systems if base_name(s.system) == base_name(name)]
    return size(name) == max(sizes)


def curve_points(summary: Summary, metric: str, sizes: dict[str, int]) -> list[CurvePoint]:
    """Every trained or learning-baseline system at each training size it ran with."""
    points = []
    for s in summary.systems:
        base = base_name(s.system)
        curve = any(SIZE in other.system and base_name(other.system) == base
                    for other in summary.systems)
        if curve and metric in s.metrics and s.system in sizes:
            points.append(CurvePoint(base, sizes[s.system], s.metrics[metric]))
    return sorted(points, key=lambda p: (p.system, p.examples))


def task_findings(run, summary: Summary, metric: str) -> TaskFindings:
    manifest = summary.manifest
    records = list(load_records(run).values())
    sizes = {r["system"]: r.get("train_size") for r in records if r.get("train_size")}
    found = TaskFindings(summary.task, spec_of(manifest).labels)
    found.curve = curve_points(summary, metric, sizes)
    for s in summary.systems:
        system = parse_system(base_name(s.system))
        if not (system.baseline or system.trained) and metric in s.metrics:
            found.prompted[s.system] = s.metrics[metric].mean
    found.notes = _crossings(found, metric)
    if summary.task == "classify":
        for s in summary.systems:
            if largest_size(s.system, summary):
                found.confusions[s.system] = confusion(
                    manifest, [r for r in records if r["system"] == s.system])
    return found


def _crossings(found: TaskFindings, metric: str) -> list[str]:
    """For each trained system and the best prompted one: from how many labelled examples on
    (point estimates) the trained one stays above it."""
    if not found.curve:
        return []
    notes = []
    best = max(found.prompted.items(), key=lambda kv: kv[1]) if found.prompted else None
    for system in sorted({p.system for p in found.curve}):
        points = [p for p in found.curve if p.system == system]
        line = ", ".join(f"{p.examples}: {p.quality.mean:.3f}" for p in points)
        if best is None:
            notes.append(f"{system} {metric} by labelled examples — {line}")
            continue
        name, score = best
        above = [p.quality.mean > score for p in points]
        if all(not a for a in above):
            notes.append(f"{system} never beats prompted {name} ({score:.3f}) here, up to "
                         f"{points[-1].examples} labelled examples ({line})")
            continue
        first = next(i for i in range(len(points)) if all(above[i:]))
        notes.append(f"{system} beats prompted {name} ({score:.3f}) from about "
                     f"{points[first].examples} labelled examples ({line})")
    return notes
