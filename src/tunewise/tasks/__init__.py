"""Tasks by name. A task is one module (classify.py is the example to copy) with the attributes
and functions of `base.Task`, plus one line in `TASKS`; question answering ("qa") is the
evaluation's own path (evaluate/), not a module here."""

from __future__ import annotations

import importlib
from types import ModuleType

from tunewise.tasks.base import Item, Metric, ParseError, Task, TaskError, TaskSpec

TASKS = {
    "classify": "tunewise.tasks.classify",
    "extract": "tunewise.tasks.extract",
    "summarize": "tunewise.tasks.summarize",
}
ALL = ("qa", *TASKS)


def task_named(name: str) -> ModuleType:
    """The task module NAME; an unknown name lists the valid ones."""
    if name not in TASKS:
        raise TaskError(f"unknown task {name!r}; valid: {', '.join(ALL)}")
    return importlib.import_module(TASKS[name])


def metric_help() -> str:
    """Every task's metrics, one line each: what `--help` and the report's notes say."""
    lines = []
    for name in TASKS:
        task = task_named(name)
        lines += [f"{name} {m.name}{' (ranked by)' if m.primary else ''}: {m.description}"
                  for m in task.metrics]
    return "\n".join(lines)


__all__ = ["ALL", "Item", "Metric", "ParseError", "TASKS", "Task", "TaskError", "TaskSpec",
           "metric_help", "task_named"]
