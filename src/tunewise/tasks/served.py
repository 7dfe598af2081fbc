"""A task system deployed by name ([tasks.NAME], written by `tunewise decide --task` for its
winner, or by hand): the run it was measured in says the task and its labels or keys, the run's
trained/ folder holds what was trained, and the same predict function that measured it answers
new inputs — so a served system behaves exactly as the report measured it.

`tunewise serve` answers it at POST /v1/tasks/NAME (and as the chat model `task:NAME`),
`tunewise predict NAME FILE` runs a file through it, `tunewise mcp` lists it as a tool."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tunewise.config import TaskSettings
from tunewise.errors import TunewiseError
from tunewise.evaluate.runner import load_manifest
from tunewise.models.base import ModelError
from tunewise.parts import Parts
from tunewise.systems import TRAINED_FOLDER, base_name, parse_system
from tunewise.tasks import task_named
from tunewise.tasks.base import Item, TaskError
from tunewise.tasks.datasets import load_items
from tunewise.tasks.scoring import spec_of


@dataclass(frozen=True)
class Prediction:
    output: object  # a label (classify), {key: [values]} (extract), a summary; None: no valid answer
    system: str
    probabilities: dict[str, float] | None = None  # classify, where the system has them
    error: str | None = None  # the model's answer could not be parsed (never guessed)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict:
        out = {"output": self.output, "system": self.system}
        if self.probabilities is not None:
            out["probabilities"] = self.probabilities
        if self.error:
            out["error"] = self.error
        return out


class UnknownTask(TaskError):
    """No [tasks.NAME] of that name; the message lists those served."""

    http_status = 404
    kind = "not_found"


class ServedTask:
    """Load with `ServedTask(ws, name)` ([tasks.NAME] of `ws.settings`); `predict(texts)`
    answers a batch. Loading is lazy (the first predict loads the model) and thread-safe."""

    def __init__(self, ws: Parts, name: str):
        if name not in ws.settings.tasks:
            served = ", ".join(ws.settings.tasks) or "none"
            raise UnknownTask(f"unknown task {name!r}; served: {served} ([tasks.NAME] in "
                              "tunewise.toml, or `tunewise decide --task`)")
        settings: TaskSettings = ws.settings.tasks[name]
        self.ws, self.name, self.settings = ws, name, settings
        run = Path(settings.run)
        try:
            self.manifest = load_manifest(run)
            self.task = task_named(self.manifest["task"])
        except (TunewiseError, OSError, ValueError, KeyError) as exc:
            raise TaskError(f"[tasks.{name}] run = {settings.run!r}: not a task run folder "
                            f"({exc})") from None
        self.spec = spec_of(self.manifest)
        self.system_name = settings.system
        self.system = parse_system(base_name(settings.system))
        if self.system.trained:
            folder = run / TRAINED_FOLDER / settings.system
            if not folder.is_dir():
                raise TaskError(f"[tasks.{name}]: {settings.system} was not trained in {run} "
                                f"(no {folder})")
        self._predict = None
        self._lock = threading.Lock()

    @property
    def kind(self) -> str:
        return self.task.name

    def describe(self) -> dict:
        """What a client needs to call it: the task, its labels or keys, the system."""
        return {"id": self.name, "object": "task", "task": self.task.name,
                "system": self.system_name, **({"labels": list(self.spec.labels)}
                                               if self.spec.labels else {}),
                **({"keys": list(self.spec.keys)} if self.spec.keys else {})}

    def _training_part(self) -> list[Item]:
        path = self.settings.train or self.manifest.get("train_file", "")
        needs = self.system.baseline or self.system.shots
        if not path:
            if needs:
                raise TaskError(f"[tasks.{self.name}]: {self.system_name} needs its training "
                                "examples: set train = FILE")
            return []
        try:
            return load_items(path)[1]
        except TaskError:
            if needs:
                raise
            return []  # a trained system does not read them again

    def _predictor(self):
        with self._lock:
            if self._predict is None:
                # lazy: the runner imports the trainers
                from tunewise.tasks.runner import Predictors, TaskOptions

                m = self.manifest
                options = TaskOptions(max_tokens=m.get("max_tokens"),
                                      max_input_tokens=m.get("max_input_tokens", 1536),
                                      seed=m.get("seed", 0), instruction=m.get("instruction", ""))
                train = self._training_part()
                runner = Predictors(self.ws, self.task, self.spec, train, Path(self.settings.run),
                                     options, lambda _: None)
                self._predict = runner.predictor(self.system, self.system_name, train)
            return self._predict

    def predict(self, texts: list[str]) -> list[Prediction]:
        """One prediction a text, in order."""
        if not texts:
            return []
        items = [Item(str(i), text, None) for i, text in enumerate(texts)]
        out = []
        for record in self._predictor()(items):
            if record.get("error") and "parsed" not in record:  # the model failed (502)
                raise ModelError(f"{self.name}: {record['error']}")
            out.append(Prediction(record.get("parsed"), self.system_name,
                                  record.get("probabilities"), record.get("parse_error"),
                                  record.get("prompt_tokens", 0),
                                  record.get("completion_tokens", 0)))
        return out


@dataclass
class PredictReport:
    predicted: int = 0
    skipped: int = 0  # rows the output file held already (a resumed run)
    failed: int = 0  # answers that could not be parsed (written with their error)
    problems: list[str] = field(default_factory=list)


def predict_file(served: ServedTask, rows: list[dict], out: str | Path, text: str = "text",
                 batch: int = 16, on_rows=None) -> PredictReport:
    """Run each row's `text` column through `served`, appending one JSON line a row to OUT
    (`id`, the row's other columns, `output`, `system`, `probabilities` …) as each batch is
    done; rows OUT already holds (by id) are skipped, so an interrupted run resumes."""
    out = Path(out)
    if rows and text not in rows[0]:
        raise TaskError(f"no column {text!r}; columns: {', '.join(rows[0])}")
    done = set()
    if out.exists():
        with open(out, encoding="utf-8") as f:
            for line in f:
                try:
                    done.add(str(json.loads(line)["id"]))
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by a crash: its row is predicted again
    report = PredictReport()
    todo = []
    for number, row in enumerate(rows, start=1):
        row_id = str(row.get("id") or number)
        if row_id in done:
            report.skipped += 1
        elif not str(row.get(text) or "").strip():
            report.problems.append(f"row {number}: empty {text!r}")
        else:
            todo.append((row_id, row))
    if on_rows:
        on_rows(report.skipped)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as f:
        for start in range(0, len(todo), batch):
            part = todo[start:start + batch]
            predictions = served.predict([str(r[text]) for _, r in part])
            for (row_id, row), p in zip(part, predictions):
                f.write(json.dumps({**row, "id": row_id, **p.to_dict()}, ensure_ascii=False)
                        + "\n")
                report.predicted += 1
                report.failed += bool(p.error)
            f.flush()  # what is written stays written: a crash loses one batch at most
            if on_rows:
                on_rows(len(part))
    return report
