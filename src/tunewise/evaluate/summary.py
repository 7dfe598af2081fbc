"""Summaries of a run: per system, every metric's mean with a bootstrap 95% interval, latency
median and p95, tokens per question, the judge's calls and failures, and paired comparisons
between systems; rendered as a terminal table, Markdown or JSON. A task run (classify, extract,
summarize) is scored by its task: `tunewise.tasks.scoring.run_summary` passes that scoring in."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from tunewise.evaluate.metrics import QUALITY, RETRIEVAL, answer_scores
from tunewise.evaluate.retrieval import gold_ranking, mrr, ndcg, recall
from tunewise.evaluate.runner import EvalError, load_manifest, load_records
from tunewise.evaluate.stats import Comparison, Estimate, bootstrap, paired


def record_scores(r: dict, mixed: bool = False) -> dict[str, float]:
    """Every per-question metric of one record ({} for a failed answer). In a set that `mixed`
    answerable and unanswerable questions, abstention is also measured on each kind: on the
    unanswerable it is right (abstained_unanswerable), on the answerable a false abstention
    (abstained_answerable)."""
    if r.get("error") or r.get("task", "qa") != "qa":
        return {}  # task records are scored over the whole set (tasks/scoring.py)
    unanswerable = r.get("unanswerable", False)
    scores = answer_scores(r["prediction"], r["answers"], r["choices"], r["abstained"],
                           unanswerable)
    scores["abstained"] = float(r["abstained"])
    if unanswerable or mixed:
        scores["abstained_unanswerable" if unanswerable else "abstained_answerable"] = \
            float(r["abstained"])
    if r["rag"] and r["doc_ids"]:
        ranked = gold_ranking(r["retrieved"], r["doc_ids"])
        relevant = {g: 1 for g in r["doc_ids"]}
        k = r["k"]
        scores[f"recall@{k}"] = recall(ranked, relevant, k)
        scores[f"mrr@{k}"] = mrr(ranked, relevant, k)
        scores[f"ndcg@{k}"] = ndcg(ranked, relevant, k)
    verdict = r.get("judge")
    if verdict and not verdict["failed"]:
        scores["judge_correct"] = verdict["correct"]
        if verdict["faithful"] is not None:
            scores["judge_faithful"] = verdict["faithful"]
    return scores


@dataclass
class SystemSummary:
    system: str
    questions: int  # records, failed ones included
    failed: int  # answers that raised an error
    metrics: dict[str, Estimate] = field(default_factory=dict)
    latency_median_s: float | None = None
    latency_mean_s: float | None = None  # what serving costs scale with
    latency_p95_s: float | None = None
    first_token_median_s: float | None = None
    prompt_tokens: float | None = None  # mean per answered question
    completion_tokens: float | None = None
    judge_calls: int = 0
    judge_failed: int = 0
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0
    retriever: str = ""  # what retrieved for it (embedder, mode, reranker); "" without retrieval


class TaskScoring(Protocol):
    """How a task run's records are scored (tasks.scoring.TaskScoring)."""

    def metric_names(self) -> list[str]: ...

    def estimates(self, records: list[dict], seed: int) -> dict[str, Estimate]: ...

    def compare(self, a: str, b: str, records_a: list[dict], records_b: list[dict],
                seed: int) -> list[Comparison]: ...


@dataclass
class Summary:
    run: str
    manifest: dict
    systems: list[SystemSummary]
    comparisons: list[Comparison]
    task_metrics: list[str] = field(default_factory=list)  # a task run's metrics, in its order

    @property
    def task(self) -> str:
        """qa, or the task of a task run (classify, extract, summarize)."""
        return self.manifest.get("task", "qa")

    def metric_names(self) -> list[str]:
        present = {m for s in self.systems for m in s.metrics}
        if self.task != "qa":
            return [m for m in self.task_metrics if m in present]
        ordered = [m for m in QUALITY if m in present]
        return ordered + sorted(m for m in present if m.split("@")[0] in RETRIEVAL)

    def to_dict(self) -> dict:
        return {"run": self.run, "manifest": self.manifest,
                "systems": [asdict(s) for s in self.systems],
                "comparisons": [{**asdict(c), "significant": c.significant}
                                for c in self.comparisons]}


def summary_of(run: str | Path, compare: tuple[str, str] | list[tuple[str, str]] | None = None,
              seed: int = 0, scoring: TaskScoring | None = None) -> Summary:
    """Summarise RUN. Comparisons (A − B per question): `compare` — one pair (A, B) or a list of
    pairs — else each later system minus the first. A task run needs its task's `scoring`."""
    manifest = load_manifest(run)
    task = manifest.get("task", "qa")
    if task != "qa" and scoring is None:
        raise EvalError(f"{run} is a {task} run: summarize it with tunewise.tasks.scoring.run_summary")
    by_system: dict[str, list[dict]] = {}
    for (system, _), record in load_records(run).items():
        by_system.setdefault(system, []).append(record)
    systems = [_summarize_system(name, records, seed) for name, records in by_system.items()]
    if scoring is not None:
        for system in systems:
            system.metrics = scoring.estimates(by_system[system.system], seed)
    names = list(by_system)
    if compare:
        pairs = [compare] if isinstance(compare, tuple) else list(compare)
        unknown = [c for pair in pairs for c in pair if c not in by_system]
        if unknown:
            raise EvalError(f"no system {unknown[0]!r} in {run}; it has: {', '.join(names)}")
    else:
        pairs = [(other, names[0]) for other in names[1:]]
    if scoring is not None:
        comparisons = [c for a, b in pairs
                       for c in scoring.compare(a, b, by_system[a], by_system[b], seed)]
    else:
        comparisons = [c for a, b in pairs for c in _compare(a, b, by_system, seed)]
    return Summary(str(run), manifest, systems, comparisons,
                   scoring.metric_names() if scoring is not None else [])


def _summarize_system(name: str, records: list[dict], seed: int) -> SystemSummary:
    ok = [r for r in records if not r.get("error")]
    mixed = _mixed(records)
    per_metric: dict[str, list[float]] = {}
    for r in ok:
        for metric, value in record_scores(r, mixed).items():
            per_metric.setdefault(metric, []).append(value)
    s = SystemSummary(name, len(records), len(records) - len(ok),
                      {m: bootstrap(v, seed) for m, v in per_metric.items()})
    latencies = sorted(r["latency_s"] for r in ok)
    if latencies:
        s.latency_median_s = statistics.median(latencies)
        s.latency_mean_s = statistics.mean(latencies)
        s.latency_p95_s = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
        firsts = [r["first_token_s"] for r in ok if r.get("first_token_s") is not None]
        s.first_token_median_s = statistics.median(firsts) if firsts else None
        s.prompt_tokens = statistics.mean(r["prompt_tokens"] for r in ok)
        s.completion_tokens = statistics.mean(r["completion_tokens"] for r in ok)
    verdicts = [r["judge"] for r in ok if "judge" in r]
    s.judge_calls = len(verdicts)
    s.judge_failed = sum(v["failed"] for v in verdicts)
    s.judge_prompt_tokens = sum(v["prompt_tokens"] for v in verdicts)
    s.judge_completion_tokens = sum(v["completion_tokens"] for v in verdicts)
    s.retriever = next((r["retriever"] for r in ok if r.get("retriever")), "")
    return s


def _compare(a: str, b: str, by_system: dict[str, list[dict]], seed: int) -> list[Comparison]:
    """Paired comparisons on every metric both systems have, over the questions both scored."""
    mixed = _mixed(by_system[a])
    scores_a = {r["question_id"]: record_scores(r, mixed) for r in by_system[a]}
    scores_b = {r["question_id"]: record_scores(r, mixed) for r in by_system[b]}
    metrics = {m for s in scores_a.values() for m in s} & {m for s in scores_b.values() for m in s}
    out = []
    for metric in [m for m in QUALITY if m in metrics] + sorted(metrics - set(QUALITY)):
        pairs = [(scores_a[q][metric], scores_b[q][metric]) for q in scores_a
                 if q in scores_b and metric in scores_a[q] and metric in scores_b[q]]
        out.append(paired(metric, a, b, pairs, seed))
    return out


def _mixed(records: list[dict]) -> bool:
    """Whether a question set has unanswerable questions beside answerable ones."""
    kinds = {bool(r.get("unanswerable")) for r in records}
    return len(kinds) == 2


def _fmt(e: Estimate | None) -> str:
    if e is None or e.n == 0:
        return "–"
    return f"{e.mean:.3f} [{e.low:.3f}, {e.high:.3f}]"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def table_rows(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """The header and rows shared by the terminal and Markdown tables: one column per system,
    one row per measure (systems are few, measures many)."""
    systems = summary.systems
    rows = [["questions"] + [str(s.questions) for s in systems],
            ["failed answers"] + [str(s.failed) for s in systems]]
    rows += [[m] + [_fmt(s.metrics.get(m)) for s in systems] for m in summary.metric_names()]
    rows += [["latency p50 s"] + [_seconds(s.latency_median_s) for s in systems],
             ["latency p95 s"] + [_seconds(s.latency_p95_s) for s in systems],
             ["first token p50 s"] + [_seconds(s.first_token_median_s) for s in systems],
             ["prompt tokens"] + [_count(s.prompt_tokens) for s in systems],
             ["answer tokens"] + [_count(s.completion_tokens) for s in systems]]
    if any(s.retriever for s in systems):
        rows.append(["retriever"] + [s.retriever or "–" for s in systems])
    if any(s.judge_calls for s in systems):
        rows += [["judge calls"] + [str(s.judge_calls) for s in systems],
                 ["judge failed"] + [str(s.judge_failed) for s in systems],
                 ["judge tokens"] + [str(s.judge_prompt_tokens + s.judge_completion_tokens)
                                     for s in systems]]
    return ["measure"] + [s.system for s in systems], rows


def _count(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def comparison_rows(summary: Summary) -> list[tuple[str, list[str], list[list[str]]]]:
    """One (title, header, rows) table per compared pair."""
    header = ["metric", "difference [95% CI]", "p", "n", "significant"]
    tables: dict[str, list[list[str]]] = {}
    for c in summary.comparisons:
        if c.difference.n:
            d = c.difference
            tables.setdefault(f"{c.a} − {c.b}", []).append(
                [c.metric, f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]",
                 f"{c.p_value:.3f}" if c.p_value >= 0.001 else "<0.001",
                 str(d.n), "yes" if c.significant else "no"])
    return [(title, header, rows) for title, rows in tables.items()]


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(r) + " |" for r in rows])


def to_markdown(summary: Summary) -> str:
    parts = [_markdown_table(*table_rows(summary))]
    for title, header, rows in comparison_rows(summary):
        parts.append(f"Paired per question, {title}:\n\n" + _markdown_table(header, rows))
    return "\n\n".join(parts) + "\n"
