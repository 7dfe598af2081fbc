"""The whole decision, as a library call: measure every level on the same held-out examples beside
trivial baselines, price them, write the report — and say how to serve the winner.

- `decide_questions(ws, docs, out)`: questions over documents — ingest, questions (given, or
  written by a teacher), each configured model alone and with retrieval, the report.
- `decide_task(ws, data, out, task)`: a task (classify, extract, summarize) — prepare the data
  (a seeded split, or the user's own test file), every configured model prompted zero- and
  few-shot, the task's trainable systems with a learning curve, the baselines, the report; the
  winner registered as [tasks.NAME], served by `tunewise serve` at POST /v1/tasks/NAME and run
  over files by `tunewise predict NAME FILE`.

Both resume: run again with the same OUT after an interruption, or with more systems. The CLI
(`tunewise decide`) and any other front end are thin wrappers that pass a `Steps` for progress."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Protocol

from tunewise.config import register_task
from tunewise.data.synth import sample_chunks, synthesize
from tunewise.errors import TunewiseError
from tunewise.evaluate.baselines import with_baselines
from tunewise.evaluate.datasets import load_questions
from tunewise.evaluate.runner import run_eval
from tunewise.ingest import IngestReport
from tunewise.ingest import Progress as IngestProgress
from tunewise.parts import Parts
from tunewise.systems import parse_systems
from tunewise.tasks import task_named
from tunewise.tasks.base import TaskError
from tunewise.tasks.datasets import TEST, TRAIN, load_items, prepare_task
from tunewise.tasks.label import teacher_of
from tunewise.tasks.runner import ALL, TaskOptions, learns, run_task, subsets

DEFAULT_CURVE = (100, 400)  # learning-curve points of the trainable systems (and the whole part)
DATA = "data"  # OUT/data: the prepared train.jsonl and test.jsonl of a task decision


class Steps(Protocol):
    """Progress of a long decision: a stage with a known (or unknown) number of steps."""

    def stage(self, name: str, total: int | None) -> None: ...

    def advance(self, steps: int = 1) -> None: ...

    def status(self, text: str) -> None: ...


class Quiet:
    """No progress shown."""

    def stage(self, name: str, total: int | None) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass

    def status(self, text: str) -> None:
        pass


@dataclass
class Decision:
    run: Path
    report: object  # report.build.Report
    html: Path
    markdown: Path
    counts: dict = field(default_factory=dict)  # answered / skipped / failed
    serve: list[str] = field(default_factory=list)  # the commands that serve the winner
    notes: list[str] = field(default_factory=list)  # what the user should know (skipped files …)
    ingested: tuple | None = None  # (the ingest report, the store's stats after it)


def in_a_thread(work: Callable[[], object]):
    """`work()` in a thread of its own that then ends. Embedding in this (the main) thread leaves
    torch's OpenMP team bound to it, and the local model's llama.cpp team, started from the
    evaluation's worker thread, then decodes 1.8× slower on 2 cores (measured: 16 answers 10.3 s
    after an in-thread ingest, 5.7 s after one in a thread that ended, 5.8 s with none)."""
    found: dict = {}

    def run() -> None:
        try:
            found["value"] = work()
        except BaseException as exc:  # handed to the caller's thread
            found["error"] = exc

    thread = threading.Thread(target=run, name="tunewise-work", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)  # short waits: Ctrl-C reaches this thread
    if "error" in found:
        raise found["error"]
    return found["value"]


def _report(out: Path, settings) -> tuple[object, Path, Path]:
    # lazy: the report imports matplotlib
    from tunewise.report.build import build_report
    from tunewise.report.render import write_report

    report = build_report(out, settings, settings.cost.queries_per_day)
    html, md = write_report(report, out)
    return report, html, md


# --- questions over documents -------------------------------------------------------------------

class Ingesting(Parts, Protocol):
    """The parts a decision over documents uses: those of any run, and ingesting the documents."""

    def ingest(self, paths: Iterable[str | Path], progress: IngestProgress | None = None
               ) -> IngestReport: ...


def decide_questions(ws: Ingesting, docs: list[Path], out: str | Path, questions: Path | None = None,
                     systems: str | None = None, teacher: str | None = None, sample: int = 30,
                     max_tokens: int | None = None, steps: Steps | None = None,
                     ingest_progress=None) -> Decision:
    """Ingest `docs`, answer `questions` (default: written by `teacher` from a seeded sample of
    the chunks into OUT/questions.jsonl) with each system beside the baselines, and report."""
    steps = steps or Quiet()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    notes = []
    ingested = in_a_thread(lambda: ws.ingest(docs, progress=ingest_progress))
    stats = ws.store.stats()
    if not stats["chunks"]:
        raise TunewiseError("no document could be ingested")
    if questions is None:
        questions = out / "questions.jsonl"
        chunks = sample_chunks(list(ws.store.iter_chunks()), sample)
        steps.stage("questions", len(chunks))
        model = ws.model(teacher)
        made = synthesize(chunks, model, questions, per_chunk=1, on_chunk=steps.advance)
        if not made.kept and not questions.stat().st_size:
            raise TunewiseError(f"{model.name} wrote no usable question: pass your own "
                                "(--questions), or a stronger teacher")
        notes.append(f"questions: {made.kept} written by {model.name} to {questions} (review "
                     "them; pass --questions to use your own)")
    qs = load_questions(questions)
    chosen = with_baselines(parse_systems(
        systems or ",".join(f"{m},{m}+rag" for m in ws.settings.models), ws.settings.models),
        qs, has_documents=True)
    steps.stage("answers", len(qs) * len(chosen))
    answered = run_eval(ws, chosen, qs, out, max_tokens, on_record=lambda _: steps.advance())
    report, html, md = _report(out, ws.settings)
    winner = report.recommended.system
    serve = [] if not report.qualified else [
        "tunewise serve", f"then ask model {winner!r} at /v1/chat/completions (OpenAI SDK: "
        f"model=\"{winner}\")"]
    decision = Decision(out, report, html, md, {"answered": answered.answered,
                                                  "skipped": answered.skipped,
                                                  "failed": answered.failed}, serve, notes,
                        (ingested, stats))
    return decision


# --- tasks ------------------------------------------------------------------------------------------

def task_systems(task_name: str, models) -> list[str]:
    """The default systems of a task decision: every configured model zero- and few-shot, and
    the task's trainable systems (tasks/*.py `decide_shots`, `trainable`)."""
    task = task_named(task_name)
    return [m for name in models for m in (name, f"{name}:shots={task.decide_shots}")] \
        + list(task.trainable)


def prepare_data(data: Path, out: Path, task: str, test: Path | None = None,
                 text: str = "text", label: str = "label", file: str | None = None,
                 test_fraction: float = 0.2, seed: int = 0) -> dict:
    """OUT/data/train.jsonl and test.jsonl from the user's data (kept once made: a decision
    that resumes measures the same split)."""
    folder = out / DATA
    if (folder / TRAIN).exists() and (folder / TEST).exists():
        return {"train": None, "test": None, "problems": [], "reused": True}
    return prepare_task(data, folder, task, text, label, file, test_fraction, seed, test=test)


def decide_task(ws: Parts, data: str | Path, out: str | Path, task: str, test: Path | None = None,
                text: str = "text", label: str = "label", file: str | None = None,
                test_fraction: float = 0.2, seed: int = 0, systems: str | None = None,
                curve: tuple[int, ...] = DEFAULT_CURVE, options=None, name: str | None = None,
                steps: Steps | None = None, register: bool = True) -> Decision:
    """Decide a task on the user's labelled examples: prepare, measure, report, and register the
    recommended system as [tasks.NAME] (NAME: OUT's folder name) for `serve` and `predict`.
    The baselines come first; systems that learn are trained at each point of the curve (the
    runner gives the others the whole training part once)."""
    steps = steps or Quiet()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prepared = prepare_data(Path(data), out, task, test, text, label, file, test_fraction, seed)
    notes = [f"skipped {p}" for p in prepared["problems"]]
    name_, train = load_items(out / DATA / TRAIN)
    _, test_items = load_items(out / DATA / TEST)
    if name_ != task:
        raise TaskError(f"{out / DATA} holds a {name_} set, not {task}: use another --out")
    module = task_named(task)
    names = ([s.strip() for s in systems.split(",") if s.strip()] if systems
             else task_systems(task, ws.settings.models))
    baselines = [f"baseline:{b.name}" for b in module.baselines]
    chosen = parse_systems(baselines + [n for n in names if n not in baselines])
    sizes = tuple(n for n in curve if n < len(train)) + (ALL,)
    steps.stage("predictions", len(test_items) * sum(
        len(subsets(train, sizes, seed)) if learns(module, s) else 1 for s in chosen))
    teacher, labelling_cost = teacher_of(data)  # labels a teacher wrote (`data label`)
    run_options = replace(options or TaskOptions(), train_sizes=sizes, seed=seed,
                          train_file=str(out / DATA / TRAIN), teacher=teacher,
                          labelling_cost=labelling_cost)
    done = run_task(ws, task, chosen, train, test_items, out, run_options,
                    on_record=lambda _: steps.advance(), on_status=steps.status)
    counts = {"answered": done.answered, "skipped": done.skipped, "failed": done.failed}
    report, html, md = _report(out, ws.settings)
    serve = []
    winner = report.recommended.system
    if report.qualified and register:
        served = name or _task_name(out)
        path = register_task(served, out, winner)
        notes.append(f"registered {winner} as task {served!r} in {path}")
        serve = [f"tunewise serve    # then POST /v1/tasks/{served} "
                 "{\"inputs\": [\"…\"]}",
                 f"tunewise predict {served} FILE.csv --out predictions.jsonl"]
    return Decision(out, report, html, md, counts, serve, notes)


def _task_name(out: Path) -> str:
    """A served task's name from its run folder (`runs/fpb` → `fpb`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", out.resolve().name).strip("-.") or "task"
