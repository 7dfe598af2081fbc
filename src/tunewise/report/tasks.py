"""What the decision report adds for a task run (classify, extract, summarize): the learning
curve of each trained system against the prompted ones — "the fine-tuned X beats prompted Y
from about N labelled examples" — and the confusion matrices of a classification run."""

from __future__ import annotations

from dataclasses import dataclass, field

from tunewise.cost.prices import money
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
    # trained on a teacher's labels (`data label`): each student against its teacher
    distillation: list[str] = field(default_factory=list)


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
    for s in summary.systems:  # tasks with classes to confuse (classify) have a matrix
        if largest_size(s.system, summary):
            matrix = confusion(manifest, [r for r in records if r["system"] == s.system])
            if matrix is not None:
                found.confusions[s.system] = matrix
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


def distillation(run, summary: Summary, metric: str, rows, qpd: float) -> list[str]:
    """When the training part holds a teacher's labels (run.json `teacher`, from `data label`):
    each trained system's agreement with the teacher on the test part, both scored on the gold
    labels, and the payback of replacing the teacher by the student — what labelling and
    training cost, against what the student saves a day at `qpd` queries."""
    manifest = summary.manifest
    teacher_model = manifest.get("teacher")
    if not teacher_model:
        return []
    records = list(load_records(run).values())
    by_system: dict[str, dict[str, object]] = {}
    for r in records:
        if not r.get("error"):
            by_system.setdefault(r["system"], {})[r["question_id"]] = r.get("parsed")
    scores = {s.system: s.metrics[metric] for s in summary.systems if metric in s.metrics}
    model = parse_system(teacher_model).model
    teachers = [s for s in scores if SIZE not in s and parse_system(s).model == model]
    labelling = manifest.get("labelling_cost")
    if not teachers:
        return [f"the training labels were written by {teacher_model}; measure it beside its "
                f"students (add {teacher_model} to the systems) to see their agreement"]
    # the system exactly as it labelled; else the same model prompted otherwise
    teacher = teacher_model if teacher_model in teachers else teachers[0]
    cost = {r.quality_of: r for r in rows if r.quality_of}
    lines = []
    for student in scores:
        system = parse_system(base_name(student))
        if not system.trained or not largest_size(student, summary):
            continue
        mine, theirs = by_system.get(student, {}), by_system.get(teacher, {})
        both = [q for q in mine if q in theirs]
        agree = sum(mine[q] == theirs[q] for q in both) / len(both) if both else 0.0
        s, t = scores[student], scores[teacher]
        lines.append(f"{student} (trained on {teacher_model}'s labels) agrees with {teacher} on "
                     f"{agree:.1%} of {len(both)} test items; on the gold labels {metric} "
                     f"{s.mean:.3f} [{s.low:.3f}, {s.high:.3f}] against the teacher's "
                     f"{t.mean:.3f} [{t.low:.3f}, {t.high:.3f}]")
        lines.append(_payback(teacher, student, cost.get(teacher), cost.get(student),
                              labelling, qpd))
    return lines


def _payback(teacher: str, student: str, t_row, s_row, labelling: float | None,
             qpd: float) -> str:
    """"replacing T by S saves $X a month at Q queries a day; labelling + training cost $Y,
    paid back after N days" — or why it cannot be said."""
    t_per = t_row.per_query() if t_row else None
    s_month = s_row.monthly(qpd) if s_row else None
    t_month = t_row.monthly(qpd) if t_row else None
    if t_per is None or s_month is None or t_month is None:
        return (f"payback of replacing {teacher} by {student}: no price for "
                f"{teacher if t_per is None else student} (see the cost table's notes)")
    def usd(x: float) -> str:  # a labelling bill may be cents: four decimals below $1
        return money(x, 2 if abs(x) >= 1 else 4)

    training = s_row.training.usd if s_row.training else 0.0
    upfront = (labelling or 0.0) + training
    saved = t_month - s_month
    spent = (f"labelling {usd(labelling)}" if labelling is not None else
             "labelling by a model without a price") + f" + training {usd(training)}"
    if saved <= 0:
        return (f"replacing {teacher} by {student} does not pay at {qpd:,.0f} queries a day: "
                f"the student costs ${s_month:,.2f} a month, the teacher ${t_month:,.2f} "
                f"({spent})")
    days = upfront / (saved / 30)
    return (f"replacing {teacher} by {student} saves ${saved:,.2f} a month at {qpd:,.0f} "
            f"queries a day (${t_month:,.2f} → ${s_month:,.2f}); {spent} = {usd(upfront)}, "
            f"paid back after {days:,.1f} days")
