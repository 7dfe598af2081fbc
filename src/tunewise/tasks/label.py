"""Labels from a teacher (distillation, as Alpaca and OpenPipe did): a configured model — an API
model or a local one — labels unlabelled inputs under the task's JSON schema, with the same
prompt (and nearest worked examples, given some) a task run asks prompted systems with. Each
answer is parsed strictly: an unparseable one is counted and dropped, never guessed. What was
spent is counted from the API's reported usage and the price table, and `budget` stops the
labelling at a spend. The output is a task set (train.jsonl lines) any trainable system learns
from (`eval run --train`, `decide --task`); it resumes: inputs already labelled or rejected
are not asked again."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tunewise.cost.prices import load_prices
from tunewise.cost.systems import api_price_of
from tunewise.data.formats import Example, write_examples
from tunewise.jsonl import read_objects
from tunewise.parts import Parts
from tunewise.systems import System
from tunewise.tasks import task_named
from tunewise.tasks.base import Item, TaskError, TaskSpec
from tunewise.tasks.datasets import write_items

REJECTED = ".rejected.jsonl"  # beside OUT: the inputs whose answer could not be parsed


@dataclass
class LabelReport:
    labelled: int = 0  # new labels written
    rejected: int = 0  # answers that could not be parsed (dropped)
    failed: int = 0  # calls that failed (not written: asked again on the next run)
    skipped: int = 0  # inputs labelled or rejected by an earlier run
    prompt_tokens: int = 0
    completion_tokens: int = 0
    spent: float | None = 0.0  # US$ this run (None: the teacher has no price: a local model)
    spent_before: float = 0.0  # US$ of earlier runs (from OUT's records)
    stopped: str = ""  # why it stopped early (the budget)
    seconds: float = 0.0
    labels: dict[str, int] = field(default_factory=dict)  # classify: how many of each
    errors: list[str] = field(default_factory=list)  # why calls failed (the first few)
    teacher: str = ""  # the teacher as the system a task run measures (`MODEL:shots=4:…`)

    @property
    def per_item(self) -> float | None:
        done = self.labelled + self.rejected
        return self.spent / done if self.spent is not None and done else None


def rejected_path(out: Path) -> Path:
    return out.with_name(out.stem + REJECTED)


def _seen(path: Path) -> tuple[set[str], float]:
    """Ids a file holds and the teacher's cost recorded on its lines."""
    ids, spent = set(), 0.0
    if path.exists():
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                    ids.add(str(row["id"]))
                    spent += float(row.get("teacher_cost") or 0.0)
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by a crash: asked again
    return ids, spent


def label_items(ws: Parts, task_name: str, spec: TaskSpec, inputs: list[Item], teacher: str,
                out: str | Path, shots: list[Item] | None = None, shots_per_prompt: int = 4,
                budget: float | None = None, max_input_tokens: int = 1536,
                on_item: Callable[[], None] | None = None, shots_file: str = "") -> LabelReport:
    """Label `inputs` with `teacher` into OUT (task items whose gold is the teacher's answer).
    Each line names the teacher as the system a task run measures it as
    (`MODEL:shots=4:examples=FILE` when prompted with the examples of task set `shots_file`),
    so the report can set its students against it."""
    # lazy: the runner imports the trainers
    from tunewise.tasks.runner import Predictors, TaskOptions

    task = task_named(task_name)
    if teacher not in ws.settings.models:
        raise TaskError(f"unknown teacher {teacher!r}; configured: {', '.join(ws.settings.models)}")
    out = Path(out)
    rejected = rejected_path(out)
    labelled_ids, spent_before = _seen(out)
    rejected_ids, rejected_spent = _seen(rejected)
    report = LabelReport(spent_before=spent_before + rejected_spent)
    price = api_price_of(ws.settings.models[teacher], load_prices(ws.settings.cost.prices))
    if price is None:
        report.spent = None
    report.teacher = (f"{teacher}:shots={shots_per_prompt}:examples={shots_file}"
                      if shots and shots_file else
                      f"{teacher}:shots={shots_per_prompt}" if shots else teacher)
    seen = labelled_ids | rejected_ids
    todo = [i for i in inputs if i.id not in seen]
    report.skipped = len(inputs) - len(todo)
    if budget is not None and price is not None and report.spent_before >= budget:
        report.stopped = f"the budget (${budget:.2f}) was spent by earlier runs"
        return report
    options = TaskOptions(max_input_tokens=max_input_tokens)
    runner = Predictors(ws, task, spec, list(shots or []), out.parent, options, lambda _: None)
    # prompted as a task run prompts MODEL:shots=N: the N nearest of `shots` in each prompt
    system = System(teacher, teacher, shots=shots_per_prompt if shots else 0)
    predict = runner.predictor(system, teacher, list(shots or []))
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(out, "a", encoding="utf-8") as good, open(rejected, "a", encoding="utf-8") as bad:
        for item in todo:
            record = next(iter(predict([item])))
            if on_item:
                on_item()
            if "parsed" not in record:  # the call failed: asked again on the next run
                report.failed += 1
                if len(report.errors) < 5:
                    report.errors.append(f"{item.id}: {record.get('error')}")
                continue
            tokens = (record.get("prompt_tokens", 0), record.get("completion_tokens", 0))
            cost = price.per_query(*tokens) if price is not None else None
            report.prompt_tokens += tokens[0]
            report.completion_tokens += tokens[1]
            if cost is not None:
                report.spent += cost
            line = {"id": item.id, "task": task_name, "text": item.text,
                    "teacher": report.teacher, "teacher_tokens": list(tokens),
                    **({"teacher_cost": round(cost, 8)} if cost is not None else {})}
            if record["parsed"] is None:
                report.rejected += 1
                bad.write(json.dumps({**line, "answer": record.get("prediction"),
                                      "error": record.get("parse_error")}, ensure_ascii=False) + "\n")
                bad.flush()
            else:
                report.labelled += 1
                if spec.labels:
                    label = str(record["parsed"])
                    report.labels[label] = report.labels.get(label, 0) + 1
                good.write(json.dumps({**line, "gold": record["parsed"]}, ensure_ascii=False) + "\n")
                good.flush()
            if budget is not None and cost is not None and \
                    report.spent_before + report.spent >= budget:
                report.stopped = f"the budget (${budget:.2f}) is spent"
                break
    report.seconds = time.perf_counter() - started
    return report


def from_log(log: str | Path, out: str | Path, model: str | None = None,
             task: str | None = None) -> dict:
    """Training data from a served system's request log ([serve] log_requests): each logged
    answer of `model` (a chat model, or `task:NAME`/NAME for a served task) becomes a chat
    example (the conversation and the answer) or, with `task`, a task item (the input and the
    answer as its gold) — the served model as teacher, with no extra calls. A task answer that
    failed to parse is left out. Returns {"read", "written", "skipped"}."""
    if not Path(log).is_file():
        raise TaskError(f"{log}: no such file (a request log is [serve] logs/COLLECTION/"
                        "requests.jsonl)")
    rows = read_objects(Path(log), TaskError)
    if task is not None:
        task_named(task)
    wanted = None if model is None else {model, model.removeprefix("task:"), "task:" + model}
    examples, items, skipped = [], [], 0
    for number, row in enumerate(rows, start=1):
        if wanted is not None and row.get("model") not in wanted:
            continue
        inputs, outputs = row.get("inputs") or [], row.get("outputs") or []
        if row.get("kind") == "chat" and task is None and outputs:
            turns = tuple((m["role"], m["content"]) for m in inputs) + (("assistant", outputs[0]),)
            examples.append(Example(turns, meta={"log_line": number}))
        elif row.get("kind") == "task" and task is not None:
            for i, (text, answer) in enumerate(zip(inputs, outputs)):
                if not isinstance(answer, dict) or answer.get("output") is None:
                    skipped += 1
                    continue
                items.append(Item(f"log{number}-{i}", text, answer["output"]))
        elif row.get("kind") == "chat" and task is not None and outputs:
            try:  # a task served as chat model task:NAME answers with its JSON
                answer = json.loads(outputs[0])
                text = next(m["content"] for m in reversed(inputs) if m["role"] == "user")
                items.append(Item(f"log{number}", text, answer["output"]))
            except (ValueError, KeyError, TypeError, StopIteration):
                skipped += 1
        else:
            skipped += 1
    if task is None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_examples(out, examples)
        return {"read": len(rows), "written": len(examples), "skipped": skipped}
    kept = [i for i in items if i.gold not in (None, "")]
    write_items(out, task, kept)
    return {"read": len(rows), "written": len(kept), "skipped": skipped + len(items) - len(kept)}


def teacher_of(path: str | Path) -> tuple[str, float | None]:
    """(teacher, what its labels cost in US$) of a set `tunewise data label` wrote: the model
    every line names as `teacher` ("" when the labels are not one teacher's), and the summed
    `teacher_cost` of its lines and of the answers it rejected (None: the teacher has no price)."""
    path = Path(path)
    if path.suffix != ".jsonl" or not path.is_file():
        return "", None
    teachers, cost, priced = set(), 0.0, False
    for part in (path, rejected_path(path)):
        if not part.is_file():
            continue
        for row in read_objects(part, TaskError):
            teachers.add(row.get("teacher") or "")
            if row.get("teacher_cost") is not None:
                cost += float(row["teacher_cost"])
                priced = True
    teacher = next(iter(teachers)) if len(teachers) == 1 else ""
    return teacher, (cost if priced else None) if teacher else None
