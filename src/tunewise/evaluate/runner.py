"""Evaluation runs: every system answers every question; each answer is appended to
RUN/records.jsonl as soon as it exists, so an interrupted run resumes where it stopped.

A system is a named model with retrieval on or off: `local`, `local+rag`, `gpt-4o-mini+rag:k=3`,
`local+rag:k=8:min_passage_similarity=0.2`. Remote models answer several questions at once
(bounded by `concurrency`, paced by `rpm`; the SDK backs off on 429); local models answer one at a time.

A record is one JSON object per line, kept as a plain dict (it is the file format):
  system, question_id, question, answers, choices, doc_ids, unanswerable, rag, k — what was asked;
  prediction, abstained, retrieved (document sources of the hits, best first), sources (the
  passages in the prompt: source, score, text), latency_s, first_token_s, retrieval_s,
  prompt_tokens, completion_tokens — what the system did; or `error` when the answer failed;
  judge — the verdict (see judge.Verdict), when a judge ran.
Metrics are computed from records by `summary.py`, so a new metric needs no new run."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tunewise.errors import TunewiseError
from tunewise.evaluate.baselines import Baselines
from tunewise.evaluate.datasets import Question
from tunewise.evaluate.judge import judge
from tunewise.jsonl import open_append
from tunewise.models.base import ModelError
from tunewise.parts import Parts
from tunewise.rag import PromptError, answer
from tunewise.systems import BASELINE, BASELINES, System, current_system_name

RECORDS = "records.jsonl"
MANIFEST = "run.json"
STOP_AFTER_FAILURES = 5  # consecutive failed answers of one system end the run (API down, bad key)


class EvalError(TunewiseError):
    """A run that cannot start or go on; the message says why."""


def questions_digest(questions: list[Question]) -> str:
    h = hashlib.sha256()
    for q in questions:
        h.update(q.to_json().encode())
    return h.hexdigest()[:16]


def load_records(run: str | Path) -> dict[tuple[str, str], dict]:
    """The latest record of each (system, question id); a torn last line (the process died while
    writing it) is skipped, and its question is answered again on resume."""
    path = Path(run) / RECORDS
    records: dict[tuple[str, str], dict] = {}
    if not path.exists():
        return records
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            r["system"] = current_system_name(r["system"])  # a run written before a rename
            records[(r["system"], r["question_id"])] = r
    return records


def load_manifest(run: str | Path) -> dict:
    path = Path(run) / MANIFEST
    if not path.exists():
        raise EvalError(f"{run}: not an evaluation run (no {MANIFEST}); start one with "
                        "`tunewise eval run`")
    return json.loads(path.read_text())


class RecordWriter:
    """Appends whole JSON lines, flushed and synced, from any thread."""

    def __init__(self, path: Path):
        self._file = open_append(path)
        self._lock = threading.Lock()

    def write(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


class FailureStreak:
    """Ends a run after STOP_AFTER_FAILURES failed answers of one system in a row: an endpoint
    that is down or a key that is refused fails every question alike."""

    def __init__(self, system: str):
        self.system, self.count = system, 0

    def add(self, record: dict) -> None:
        self.count = self.count + 1 if record.get("error") else 0
        if self.count >= STOP_AFTER_FAILURES:
            raise EvalError(f"{self.system}: {self.count} answers in a row failed, stopping "
                            f"(last: {record['error']}); fix it and run the same command again "
                            "to resume")


class _Pace:
    """At most `rpm` calls started per minute across threads (None: no limit)."""

    def __init__(self, rpm: float | None):
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        time.sleep(max(0.0, start - now))


@dataclass(frozen=True)
class RunReport:
    answered: int  # this call
    judged: int  # this call, including verdicts added to earlier answers
    skipped: int  # done in an earlier call
    failed: int  # answers that raised (kept as error records; retried on the next run)


OnRecord = Callable[[dict], None]


def run_eval(ws: Parts, systems: list[System], questions: list[Question], out: str | Path,
             max_tokens: int | None = None, concurrency: int = 4, rpm: float | None = None,
             judge_model: str | None = None, instruction: str | None = None,
             limit: int | None = None, on_record: OnRecord | None = None,
             where: tuple = ()) -> RunReport:
    """Answer every question (the first `limit`) with every system into OUT, resuming what OUT
    already holds. `ws` is the Workspace whose store, retriever and models the systems use.
    A run belongs to the whole question set, so a larger `limit` later extends it."""
    out = Path(out)
    _check_systems(systems)
    for system in systems:  # a fitted retriever that cannot be opened stops the run at once
        if system.rag and system.retriever:
            ws.retriever_for(system.retriever)
    _check_manifest(out, questions, ws, max_tokens, judge_model, instruction, where)
    questions = questions[:limit]
    done = load_records(out)
    judge_with = ws.model(judge_model) if judge_model else None
    judge_lock = (threading.Lock() if judge_with and not judge_with.capabilities.concurrent
                  else None)
    writer, pace = RecordWriter(out / RECORDS), _Pace(rpm)
    baselines = Baselines(ws, questions, where)
    counts = {"answered": 0, "judged": 0, "skipped": 0, "failed": 0}
    counts_lock = threading.Lock()

    def count(what: str) -> None:
        with counts_lock:
            counts[what] += 1

    def task(system: System, q: Question, previous: dict | None) -> dict:
        if previous is None or previous.get("error"):
            pace.wait()
            record = _answer(ws, system, q, max_tokens, instruction, where, baselines)
            count("failed" if record.get("error") else "answered")
        else:
            record = dict(previous)
        if judge_with is not None and not record.get("error") and "judge" not in record:
            context = "\n\n".join(s["text"] for s in record["sources"]) if system.rag else None
            if judge_lock:
                with judge_lock:
                    verdict = judge(judge_with, q.question, list(q.answers), record["prediction"], context)
            else:
                pace.wait()
                verdict = judge(judge_with, q.question, list(q.answers), record["prediction"], context)
            record["judge"] = verdict.to_dict()
            count("judged")
        writer.write(record)  # a task always adds something: an answer, a retry or a verdict
        return record

    try:
        for system in systems:
            concurrent = not system.baseline and ws.model(system.model).capabilities.concurrent
            workers = max(1, concurrency) if concurrent else 1
            todo = []
            for q in questions:
                previous = done.get((system.name, q.id))
                needs_judge = judge_with is not None and previous and "judge" not in previous
                if previous and not previous.get("error") and not needs_judge:
                    counts["skipped"] += 1
                    if on_record:
                        on_record(previous)
                else:
                    todo.append((q, previous))
            _run_tasks(system, todo, task, workers, on_record)
    finally:
        writer.close()
    return RunReport(**counts)


def _check_systems(systems: list[System]) -> None:
    """Systems that answer questions: a model (with or without retrieval) or a question baseline."""
    for s in systems:
        if s.baseline and s.baseline not in BASELINES:
            raise EvalError(f"system {s.name!r}: question runs measure "
                            f"{', '.join(BASELINE + b for b in BASELINES)}")
        if s.trained or s.shots is not None:
            raise EvalError(f"system {s.name!r}: trained and few-shot systems are for task sets "
                            "(tunewise eval prepare --task …)")


def _run_tasks(system: System, todo: list, task, workers: int, on_record: OnRecord | None) -> None:
    streak = FailureStreak(system.name)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending, queue = set(), iter(todo)
        try:
            while True:
                while len(pending) < workers and (item := next(queue, None)) is not None:
                    pending.add(pool.submit(task, system, *item))
                if not pending:
                    return
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    record = future.result()
                    if on_record:
                        on_record(record)
                    streak.add(record)
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _answer(ws: Parts, system: System, q: Question, max_tokens: int | None,
            instruction: str | None, where: tuple = (), baselines: Baselines | None = None) -> dict:
    record = {"system": system.name, "question_id": q.id, "question": q.question,
              "answers": list(q.answers), "choices": list(q.choices), "doc_ids": list(q.doc_ids),
              "unanswerable": q.unanswerable,
              "rag": system.rag, "k": system.k or ws.settings.retrieval.k}
    if system.baseline:
        return {**record, **(baselines or Baselines(ws, [q], where)).answer(system, q)}
    try:
        retriever = ws.retriever_for(system.retriever) if system.rag else None
        if retriever is not None:
            record["retriever"] = retriever.description
        a = answer(q.question, ws.model(system.model), ws.settings.rag,
                   retriever, k=system.k, min_passage_similarity=system.min_passage_similarity,
                   on_token=lambda _: None, max_tokens=max_tokens,
                   instruction=instruction or q.instruction, where=where)
    except (ModelError, PromptError) as exc:
        return {**record, "error": str(exc)}
    return {**record, "prediction": a.text, "abstained": a.abstained,
            "support": None if a.support is None else round(a.support, 4), "withheld": a.withheld,
            "retrieved": a.retrieved,
            "sources": [{"source": s.source, "score": round(s.score, 4), "text": s.text}
                        for s in a.passages],
            "latency_s": round(a.latency_s, 4),
            "first_token_s": None if a.first_token_s is None else round(a.first_token_s, 4),
            "retrieval_s": round(a.retrieval_s, 4), "filtered": a.filtered,
            "relevance": None if a.relevance is None else round(a.relevance, 4),
            "prompt_tokens": a.usage.prompt_tokens,
            "completion_tokens": a.usage.completion_tokens}


def _check_manifest(out: Path, questions: list[Question], ws: Parts, max_tokens, judge_model,
                    instruction, where: tuple = ()) -> None:
    """A run directory belongs to one question set and one generation setup: resuming with other
    questions or settings would mix incomparable records, so it is refused."""
    wanted = {"questions": len(questions), "questions_digest": questions_digest(questions),
              "max_tokens": max_tokens, "instruction": instruction,
              # only when given, so runs made before metadata conditions existed still resume
              **({"where": [str(c) for c in where]} if where else {})}
    write_manifest(out, wanted, {
        "judge": judge_model, "store": ws.settings.store.url,
        "models": {n: {k: v for k, v in vars(m).items() if k != "api_key_env"}
                   for n, m in ws.settings.models.items()},
        "retrieval": vars(ws.settings.retrieval),
        "rag_min_passage_similarity": ws.settings.rag.min_passage_similarity})


def write_manifest(out: Path, wanted: dict, recorded: dict) -> None:
    """Refuse a run folder made with other `wanted` values (resuming it would mix incomparable
    records); else write RUN/run.json with them, what else is `recorded`, and the time."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    if path.exists():
        have = json.loads(path.read_text())
        changed = [k for k in wanted if have.get(k) != wanted[k]]
        if changed:
            raise EvalError(f"{out} was run with other {', '.join(changed)} "
                            f"({', '.join(f'{k}={have.get(k)!r}' for k in changed)}); "
                            "use another --out to start a new run")
    manifest = {**wanted, **recorded, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str))
    tmp.replace(path)  # a crash never leaves a half-written manifest
