"""What the decision report says, worked out from an evaluation run and the price table: each
system's quality and cost, the recommended level, why, and what would change it."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from tunewise.config import Settings
from tunewise.cost.prices import Prices, load_prices
from tunewise.cost.systems import SystemCost, at_size, break_even_with, price_run, reference_rows
from tunewise.cost.table import money
from tunewise.cost.training import model_size
from tunewise.evaluate.metrics import PRIMARY
from tunewise.evaluate.runner import RECORDS, EvalError, load_records
from tunewise.evaluate.stats import Comparison, Estimate
from tunewise.evaluate.summary import Summary, record_scores
from tunewise.report.tasks import TaskFindings, distillation, largest_size, task_findings
from tunewise.systems import BASELINE, parse_system
from tunewise.tasks.scoring import metrics_of, run_summary

# The level of application each kind of system is, as the report names it.
LEVELS = {"open model": "Level 0: an open model alone", "API": "Level 0: an API model alone",
          "open model + RAG": "Level 1: RAG with a self-hosted open model",
          "API + RAG": "Level 1: RAG with an API model",
          "fine-tuned": "Level 2: a fine-tuned model", "fine-tuned + RAG":
          "Level 2: a fine-tuned model with RAG", "pretrained": "Level 3: a model trained from "
          "scratch", "pretrained + RAG": "Level 3: a model trained from scratch, with RAG",
          "open model, fitted retriever + RAG": "Level 1+: RAG with a fine-tuned retriever and a "
          "self-hosted open model", "API, fitted retriever + RAG": "Level 1+: RAG with a "
          "fine-tuned retriever and an API model", "fine-tuned, fitted retriever + RAG":
          "Level 2: a fine-tuned model with a fine-tuned retriever"}
VOLUMES = [10 ** (x / 20) for x in range(20, 141)]  # 10 … 10^7 queries per day


@dataclass
class Candidate:
    """A measured system: its quality on the primary metric and its cheapest way to serve."""

    system: str
    quality: Estimate
    cheapest: SystemCost | None
    versus_best: Comparison | None = None  # this − best, paired
    versus_baseline: Comparison | None = None  # this − the best trivial baseline, paired
    qualifies: bool = True  # beats the best baseline significantly and clears the floor
    why_not: str = ""  # when it does not qualify


@dataclass
class Report:
    run: str
    created: str
    summary: Summary
    metric: str
    queries_per_day: float
    rows: list[SystemCost]
    candidates: list[Candidate]
    recommended: Candidate
    reasons: list[str]
    changes: list[str]
    provenance: list[str] = field(default_factory=list)
    prices: Prices | None = None
    baselines: list[Candidate] = field(default_factory=list)  # measured, never recommended
    floor: float | None = None  # [report] min_score
    qualified: bool = True  # False: none is good enough; `recommended` is then the closest
    failures: list[str] = field(default_factory=list)  # where the wrong answers of RAG went wrong
    target_size: str | None = None  # [cost] target_size
    at_target: list[str] = field(default_factory=list)  # the recommended recipe at that size
    task: TaskFindings | None = None  # a task run's learning curve and confusion matrices
    # the training loss of each trained system (from its finetune.json / pretrain.json): (step, loss)
    training_curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


def training_curves(rows: list[SystemCost]) -> dict[str, list[tuple[int, float]]]:
    """{trained system: its logged training losses as (step, loss)}, read from the record each
    was priced from; a record that cannot be read is left out (the cost table names it)."""
    curves = {}
    for row in rows:
        if not row.training_record or row.quality_of in curves:
            continue
        try:
            data = json.loads(Path(row.training_record).read_text())
            losses, every = data["result"]["losses"], data["config"].get("logging_steps", 1)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        points = [(int(p[0]), float(p[1])) if isinstance(p, list) else ((i + 1) * every, float(p))
                  for i, p in enumerate(losses)]
        if points:
            curves[row.quality_of] = points
    return curves


def training_recipes(rows: list[SystemCost]) -> list[str]:
    """One line a trained system whose record keeps its plan: the recipe it was trained with
    (method, base, learning rate, batch) and what the schedule planned — the report's provenance."""
    lines, seen = [], set()
    for row in rows:
        if not row.training_record or row.quality_of in seen:
            continue
        seen.add(row.quality_of)
        try:
            data = json.loads(Path(row.training_record).read_text())
            config, plan = data["config"], data["result"]["plan"]["description"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        lines.append(f"{row.quality_of} trained by the recipe: {config.get('method')} on "
                     f"{config.get('base')}, lr {config.get('learning_rate')}, batch "
                     f"{config.get('batch_size')}, {data['result'].get('steps')} steps run of "
                     f"the plan: {plan} ({row.training_record})")
    return lines


def build_report(run: str | Path, settings: Settings, queries_per_day: float | None = None,
                 metric: str | None = None, min_score: float | None = None) -> Report:
    run = Path(run)
    summary = run_summary(run)
    prices = load_prices(settings.cost.prices)
    qpd = queries_per_day or settings.cost.queries_per_day
    metric = _primary(summary, metric)
    floor = settings.report.min_score if min_score is None else min_score
    rows = price_run(summary, settings, prices)
    candidates, baselines = _candidates(run, summary, rows, metric, qpd)
    measured = {c.system for c in candidates}  # learning-curve points are not served
    rows = [r for r in rows if r.kind == "reference" or r.quality_of in measured]
    _qualify(candidates, baselines, floor)
    qualified = [c for c in candidates if c.qualifies]
    recommended = _recommend(qualified, qpd) if qualified else max(
        candidates, key=lambda c: c.quality.mean)
    if recommended.cheapest:  # the reference APIs answer the recommended system's queries
        rec = recommended.cheapest
        rows = [r for r in rows if r.kind != "reference"] + reference_rows(
            settings.cost.reference, rec.workload, prices, rec.rag)
    report = Report(str(run), time.strftime("%Y-%m-%d %H:%M"), summary, metric, qpd, rows,
                    candidates, recommended, [], [], prices=prices, baselines=baselines,
                    floor=floor, qualified=bool(qualified))
    report.failures = failure_split(run, metric)
    report.training_curves = training_curves(rows)
    report.task = task_findings(run, summary, metric) if summary.task != "qa" else None
    if report.task is not None:
        report.task.distillation = distillation(run, summary, metric, rows, qpd)
    report.reasons = _verdict(report) + _reasons(report)
    report.changes = _changes(report) if report.qualified else _next_steps(report)
    if report.task is not None:  # how the choice depends on the labels one has
        report.changes += report.task.notes
    report.provenance = _provenance(run, summary, prices, settings) + training_recipes(rows)
    if summary.task != "qa":
        report.provenance += [f"{m.name}: {m.description}" for m in metrics_of(summary.manifest)
                              if m.name in summary.metric_names() and "[" not in m.name]
        report.provenance.append("task metrics are computed over the whole test part; their "
                                 "differences are tested by approximate randomization (each "
                                 "item's two outputs swapped at random)")
    if settings.cost.target_size and recommended.cheapest:
        size = model_size(settings.cost.target_size)
        report.target_size = size.name
        report.at_target = at_size(recommended.cheapest, size, settings.cost, prices, qpd)
    return report


def _primary(summary: Summary, wanted: str | None) -> str:
    present = [m for m in summary.metric_names()
               if all(m in s.metrics and s.metrics[m].n for s in summary.systems)]
    if summary.task != "qa" and not wanted:  # each task names the metric it is ranked by
        wanted = next(m.name for m in metrics_of(summary.manifest) if m.primary)
    if wanted:
        if wanted not in present:
            raise EvalError(f"metric {wanted!r} is not measured for every system; "
                            f"measured: {', '.join(present)}")
        return wanted
    for m in PRIMARY:
        if m in present:
            return m
    raise EvalError(f"{summary.run} has no quality measure common to every system")


def _candidates(run: Path, summary: Summary, rows: list[SystemCost], metric: str,
                qpd: float) -> tuple[list[Candidate], list[Candidate]]:
    """The measured systems and the baselines, each system compared with the best system and
    with the best baseline (paired, in one pass over the records)."""
    systems, baselines = [], []
    for s in summary.systems:
        if not largest_size(s.system, summary):
            continue  # a learning-curve point: the report's curve shows it
        options = [r for r in rows if r.quality_of == s.system and r.monthly(qpd) is not None]
        cheapest = min(options, key=lambda r: r.monthly(qpd)) if options else None
        (baselines if s.system.startswith(BASELINE) else systems).append(
            Candidate(s.system, s.metrics[metric], cheapest))
    if not systems:
        raise EvalError(f"{run} holds only baselines: run a model as a system too")
    best = max(systems, key=lambda c: c.quality.mean)
    base = max(baselines, key=lambda c: c.quality.mean) if baselines else None
    pairs = [(c.system, best.system) for c in systems if c is not best]
    pairs += [(c.system, base.system) for c in systems] if base else []
    if pairs:
        paired = {(x.a, x.b): x for x in run_summary(run, compare=pairs).comparisons
                  if x.metric == metric}
        for c in systems:
            c.versus_best = paired.get((c.system, best.system)) if c is not best else None
            c.versus_baseline = paired.get((c.system, base.system)) if base else None
    return systems, baselines


def _equivalent(c: Candidate) -> bool:
    """Not significantly worse than the best (the best itself included)."""
    return c.versus_best is None or not c.versus_best.significant


def _recommend(candidates: list[Candidate], qpd: float) -> Candidate:
    """The cheapest system whose quality is not significantly below the best's; among equal
    costs, the better quality."""
    pool = [c for c in candidates if _equivalent(c) and c.cheapest]
    if not pool:
        return max(candidates, key=lambda c: c.quality.mean)
    ranked = [(c.cheapest.monthly(qpd), -c.quality.mean, i) for i, c in enumerate(pool)]
    return pool[min(ranked)[2]]


def _qualify(candidates: list[Candidate], baselines: list[Candidate],
             floor: float | None) -> None:
    """Mark who may be recommended: a system must beat the best trivial baseline significantly
    (paired, per question) and reach the floor."""
    base = max(baselines, key=lambda c: c.quality.mean) if baselines else None
    for c in candidates:
        d = c.versus_baseline
        if base is not None and (d is None or not (d.significant and d.difference.mean > 0)):
            c.qualifies = False
            c.why_not = (f"{c.system} ({c.quality.mean:.3f}) does not significantly beat "
                         f"{base.system} ({base.quality.mean:.3f}), which calls no model"
                         + (f" (difference {d.difference.mean:+.3f}, p={d.p_value:.2g})"
                            if d else ""))
        elif floor is not None and c.quality.mean < floor:
            c.qualifies = False
            c.why_not = f"{c.system} scores {c.quality.mean:.3f}, below the floor {floor:g}"


def _verdict(r: Report) -> list[str]:
    """What the recommendation rests on: the baselines and the floor."""
    best = max(r.baselines, key=lambda c: c.quality.mean) if r.baselines else None
    if not r.qualified:
        out = [f"none of the measured systems is good enough on {r.metric}; the closest is "
               f"{r.recommended.system} ({_ci(r.recommended.quality)})"]
        return out + [c.why_not for c in r.candidates]
    out = []
    rec = r.recommended
    if best is not None and rec.versus_baseline is not None:
        d = rec.versus_baseline
        out.append(f"{rec.system} beats the best trivial baseline, {best.system} "
                   f"({best.quality.mean:.3f}), by {d.difference.mean:+.3f} (95% CI "
                   f"{d.difference.low:+.3f} to {d.difference.high:+.3f}, p={d.p_value:.2g})")
    if r.floor is not None:
        out.append(f"it clears the quality floor, {r.metric} ≥ {r.floor:g}")
    out += [c.why_not for c in r.candidates if not c.qualifies]
    return out


def failure_split(run: Path, metric: str, correct: float = 0.5) -> list[str]:
    """For each system with retrieval, on questions whose gold documents are known: of its wrong
    answers (`metric` below `correct`), how many had the gold document missing from what was
    retrieved (a retrieval failure) and how many had it in the prompt (the model's)."""
    out = []
    for system, (n, missed, wrong) in sorted(failure_counts(run, metric, correct).items()):
        if missed + wrong == 0:
            continue
        lean = ("retrieval: better search finds more of them" if missed > wrong else
                "the model: a stronger or fine-tuned one answers more of them")
        out.append(f"{system}: {missed + wrong} of {n} answers wrong ({metric} < {correct:g}) — "
                   f"{missed} with the gold document not retrieved, {wrong} with it in the "
                   f"prompt; most gain is in {lean}")
    return out


def failure_counts(run: Path, metric: str, correct: float = 0.5) -> dict[str, list[int]]:
    """{system: [answers, wrong with the gold document not retrieved, wrong with it in the
    prompt]} over the systems with retrieval, questions with known gold documents."""
    split: dict[str, list[int]] = {}
    for r in load_records(run).values():
        scores = record_scores(r)
        if not r["rag"] or not r["doc_ids"] or metric not in scores:
            continue
        counts = split.setdefault(r["system"], [0, 0, 0])  # answers, missed, wrong with gold
        counts[0] += 1
        if scores[metric] < correct:  # recall: a gold document among those retrieved
            counts[1 if scores[f"recall@{r['k']}"] == 0 else 2] += 1
    return split


def _next_steps(r: Report) -> list[str]:
    """What to try when nothing qualifies, from what was measured."""
    if r.summary.task != "qa":
        return ["more labelled examples: see where the learning curve is still rising "
                "(tunewise eval run --train-sizes 25,50,100,200,all)",
                "a trained system beside the prompted ones: --systems encoder (classify), "
                "finetune:lora",
                "a stronger prompted model, with examples: --systems NAME:shots=8 (an API model "
                "in a [models.NAME] table)"]
    if not any(parse_system(c.system).rag for c in r.candidates):
        retrieval = "retrieval: run the model with the documents (--systems MODEL+rag)"
    else:
        retrieval = ("better retrieval: fit it to your questions (tunewise eval retrieval --tune), "
                     "fit the embedder and a reranker (tunewise finetune-retriever), then "
                     "measure MODEL+rag:retriever=DIR")
    model = ["a stronger model: an API model or a larger open one as a system "
             "(a [models.NAME] table, then --systems NAME+rag)",
             "a fine-tune on instruction data from your documents (tunewise data synth, "
             "tunewise finetune), then measure it as a system"]
    counts = failure_counts(Path(r.run), r.metric).values()
    missed, wrong = sum(c[1] for c in counts), sum(c[2] for c in counts)
    # the failure split says where the wrong answers come from: that remedy first
    out = model + [retrieval] if wrong > missed else [retrieval] + model
    if r.floor is not None:
        out.append(f"or, if {r.floor:g} asks too much for this use, a lower [report] min_score")
    return out


def _ci(e: Estimate) -> str:
    return f"{e.mean:.3f} (95% CI {e.low:.3f}–{e.high:.3f}, n={e.n})"


def _reasons(r: Report) -> list[str]:
    rec, qpd = r.recommended, r.queries_per_day
    out = [f"{rec.system} scores {r.metric} {_ci(rec.quality)}"
           + ("" if rec.versus_best is None else
              f", not significantly below the best measured system ({rec.versus_best.b}: "
              f"difference {rec.versus_best.difference.mean:+.3f}, p={rec.versus_best.p_value:.2f})")]
    if rec.cheapest:
        out.append(f"served as {rec.cheapest.name} it costs {money(rec.cheapest.per_query() * 1000)}"
                   f" per 1,000 queries and {money(rec.cheapest.monthly(qpd))} a month at "
                   f"{qpd:,.0f} queries/day")
    for c in r.candidates:
        if c is rec:
            continue
        d = c.versus_best
        if d is not None and d.significant:
            out.append(f"{c.system} scores {c.quality.mean:.3f}, significantly below the best "
                       f"({d.difference.mean:+.3f}, 95% CI {d.difference.low:+.3f} to "
                       f"{d.difference.high:+.3f}, p={d.p_value:.3g})")
        elif c.cheapest and rec.cheapest:
            theirs, ours = c.cheapest.monthly(qpd), rec.cheapest.monthly(qpd)
            out.append(f"{c.system} is as good statistically ({c.quality.mean:.3f}) but " + (
                f"scores lower at the same cost ({money(theirs)} a month)"
                if math.isclose(theirs, ours) else f"costs {money(theirs)} a month"))
    return out


def crossing(a: SystemCost, b: SystemCost) -> float | None:
    """The volume (queries/day) above which `a` costs less than `b` for good, found on a log grid
    and refined by bisection; None if `a` is not cheaper at 10^7, 10 if it always is."""
    def cheaper(q: float) -> bool:
        return a.monthly(q) < b.monthly(q)

    if not cheaper(VOLUMES[-1]):
        return None
    i = len(VOLUMES) - 1
    while i > 0 and cheaper(VOLUMES[i - 1]):
        i -= 1
    if i == 0:
        return VOLUMES[0]
    low, high = VOLUMES[i - 1], VOLUMES[i]
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (low, mid) if cheaper(mid) else (mid, high)
    return high


def _changes(r: Report) -> list[str]:
    rec, qpd = r.recommended, r.queries_per_day
    out = []
    if rec.cheapest is None:
        return ["no serving cost could be worked out for the recommended system; see the notes"]
    for row in r.rows:
        other = next((c for c in r.candidates if c.system == row.quality_of), None)
        if row is rec.cheapest or row.monthly(qpd) is None or (other and other is not rec
                                                               and row is not other.cheapest):
            continue
        if row.quality_of == rec.system:
            quality = "with the same answers"
        elif row.kind == "reference":
            quality = "if its quality (not measured here) is at least as good"
        elif other and other.versus_best and other.versus_best.significant:
            gap = rec.quality.mean - other.quality.mean
            quality = f"if its {r.metric} rose by {gap:.3f} to match"
        else:
            quality = (f"if it kept scoring within the noise of {rec.quality.mean:.3f} (it "
                       f"scored {other.quality.mean:.3f})" if other else "at equal quality")
        if rec.cheapest.hosting and row.kind in ("api", "reference"):
            even = break_even_with(rec.cheapest, row)
            if even is None:
                out.append(f"{row.name} stays cheaper than {rec.cheapest.name} at any volume "
                           f"({money(row.per_query() * 1000)} per 1,000 queries): it wins "
                           f"{quality}")
            elif even > qpd:
                out.append(f"below {even:,.0f} queries/day {row.name} costs less than "
                           f"{rec.cheapest.name} (now {money(row.monthly(qpd))} vs "
                           f"{money(rec.cheapest.monthly(qpd))} a month): it wins {quality}")
            else:
                out.append(f"self-hosting pays off above {even:,.0f} queries/day: {row.name} "
                           f"would cost {money(row.monthly(qpd))} a month here, "
                           f"{money(rec.cheapest.monthly(qpd))} for {rec.cheapest.name}; "
                           f"below that volume the API wins {quality}")
            continue
        now, ours = row.monthly(qpd), rec.cheapest.monthly(qpd)
        if now < ours:
            out.append(f"{row.name} is cheaper now ({money(now)} vs {money(ours)} a month) and "
                       f"would win {quality}")
        elif math.isclose(now, ours):
            out.append(f"{row.name} costs the same at this volume ({money(now)} a month) and "
                       f"would win {quality}")
        else:
            up = crossing(row, rec.cheapest)
            if up is not None:
                out.append(f"above {up:,.0f} queries/day {row.name} becomes the cheaper option, "
                           f"{quality}")
    for row in r.rows:
        if row.training and row.quality_of == rec.system:
            out.append(f"training {row.system} cost {money(row.training.usd)} once "
                       f"({row.training.gpu_hours:.3g} GPU-hours)")
            break
    return out


def _provenance(run: Path, summary: Summary, prices: Prices, settings: Settings) -> list[str]:
    records = run / RECORDS
    digest = hashlib.sha256(records.read_bytes()).hexdigest()[:12]
    n = sum(s.questions for s in summary.systems)
    c = settings.cost
    return [f"quality, latency and tokens: {records} ({n} answers, sha256 {digest}…), "
            f"questions {summary.manifest.get('questions')} "
            f"(digest {summary.manifest.get('questions_digest')}), run updated "
            f"{summary.manifest.get('updated')}",
            f"prices: {', '.join(prices.files)} (each entry's source and date in the cost table)",
            f"assumptions ([cost] in tunewise.toml): {c.queries_per_day:,} queries/day unless "
            f"given, self-hosting on {c.gpu} at {c.utilisation:.0%} utilisation, batch "
            f"{c.batch}, {c.serve_mfu:.0%} of peak FLOP/s; training on {c.train_gpu} at "
            f"{c.train_mfu:.0%} MFU (pretraining), {c.finetune_mfu:.0%} (fine-tuning); a month = "
            "730 hours",
            "intervals: 95% percentile bootstrap; differences: paired per question, sign-flip "
            "permutation p (significant below 0.05)"]


def level_of(row: SystemCost | None) -> str:
    return LEVELS.get(row.level, row.level) if row else "unknown"

