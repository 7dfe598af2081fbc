"""Task sets: import labelled examples (CSV/TSV/JSONL with named columns, or a Kleister-style
folder of documents + expected `key=value` lines) and split them, seeded, into train.jsonl and
test.jsonl; load a prepared set back. Inputs that are files are read by the same loaders as
ingestion (PDF layout, OCR), once, at prepare time."""

from __future__ import annotations

import csv
import json
import lzma
import random
import sys
from pathlib import Path
from typing import Callable

from tunewise.documents.loaders import load_file
from tunewise.errors import TunewiseError
from tunewise.jsonl import read_objects
from tunewise.tasks import TASKS, task_named
from tunewise.tasks.base import Item, TaskError

TRAIN, TEST = "train.jsonl", "test.jsonl"


def read_table(path: Path) -> list[dict]:
    """Rows of a CSV, TSV or JSONL file as dicts."""
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"{path}: no such file")
    if path.suffix == ".jsonl":
        return read_objects(path, TaskError)
    if path.suffix not in (".csv", ".tsv"):
        raise TaskError(f"{path}: give a .csv, .tsv or .jsonl file, or a Kleister-style folder")
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ","))


def _text_of(file: Path) -> str:
    """A file's text through the ingestion loaders (all its documents joined)."""
    return "\n\n".join(d.text for d in load_file(file).documents)


def import_items(path: str | Path, task: str, text: str = "text", label: str = "label",
                 file: str | None = None, on_item: Callable[[], None] | None = None,
                 problems: list[str] | None = None) -> list[Item]:
    """Items from a table (`text` or `file` column for the input, `label` for the gold: a label,
    a summary, or extraction gold) or from a Kleister-style folder (in.tsv[.xz], expected.tsv,
    documents/). A file that cannot be read is reported in `problems` by name and skipped."""
    kind = task_named(task)
    path = Path(path)
    if not path.exists():
        raise TaskError(f"{path}: no such file or folder")
    problems = [] if problems is None else problems
    if path.is_dir():
        rows, file, label, base = _kleister_rows(path), "filename", "expected", path / "documents"
    else:
        rows, base = read_table(path), path.parent
    if not rows:
        raise TaskError(f"{path}: no rows")
    wanted = [c for c in (file or text, label)]
    missing = [c for c in wanted if c not in rows[0]]
    if missing:
        raise TaskError(f"{path}: no column {missing[0]!r}; columns: {', '.join(rows[0])}")
    items = []
    for number, row in enumerate(rows, start=1):
        item_id = str(row.get("id") or row.get("_id") or number)
        try:
            source = base / row[file] if file else None
            body = _text_of(source) if source else str(row[text] or "")
            gold = kind.gold_of(row[label])
        except (TunewiseError, json.JSONDecodeError) as exc:
            problems.append(f"{row.get(file) if file else f'row {number}'}: {exc}")
            continue
        finally:
            if on_item:
                on_item()
        if body.strip() and (gold or kind.gold_may_be_empty):
            items.append(Item(item_id, body, gold, str(source) if source else None))
        else:
            problems.append(f"row {number}: empty {'input' if not body.strip() else 'gold'}")
    return items


def _kleister_rows(folder: Path) -> list[dict]:
    """Kleister's in.tsv(.xz) (filename first) zipped with expected.tsv, line by line."""
    inputs = folder / "in.tsv.xz" if (folder / "in.tsv.xz").exists() else folder / "in.tsv"
    expected = folder / "expected.tsv"
    if not inputs.exists() or not expected.exists():
        raise TaskError(f"{folder}: a Kleister-style folder holds in.tsv[.xz], expected.tsv and "
                        "documents/")
    opener = lzma.open if inputs.suffix == ".xz" else open
    with opener(inputs, "rt", encoding="utf-8") as f:
        names = [line.split("\t", 1)[0] for line in f]
    gold = expected.read_text(encoding="utf-8").splitlines()
    if len(names) != len(gold):
        raise TaskError(f"{folder}: {len(names)} inputs but {len(gold)} expected lines")
    return [{"id": Path(n).stem, "filename": n, "expected": g} for n, g in zip(names, gold)]


def split(items: list[Item], test_fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """(train, test): a seeded shuffle; the same seed gives the same split."""
    if not 0.0 < test_fraction < 1.0:
        raise TaskError(f"test fraction {test_fraction}: must be between 0 and 1")
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    cut = round(len(shuffled) * (1 - test_fraction))
    return shuffled[:cut], shuffled[cut:]


def prepare_task(path: str | Path, out: str | Path, task: str, text: str = "text",
                 label: str = "label", file: str | None = None, test_fraction: float = 0.2,
                 seed: int = 0, on_item: Callable[[], None] | None = None,
                 test: str | Path | None = None) -> dict:
    """Write OUT/train.jsonl and OUT/test.jsonl; return counts and the problems met. With
    `test` (the user's fixed test set, same columns), `path` is all training part and nothing
    is split; an item in both (same text) is dropped from the training part."""
    problems: list[str] = []
    items = import_items(path, task, text, label, file, on_item, problems)
    if test is not None:
        test_items = import_items(test, task, text, label, file, on_item, problems)
        if not items or not test_items:
            raise TaskError(f"{path if not items else test}: no usable items")
        held = {i.text.strip() for i in test_items}
        train = [i for i in items if i.text.strip() not in held]
        if len(train) < len(items):
            problems.append(f"{len(items) - len(train)} training items also in {test}: "
                            "left out of training")
        # ids must not clash between the parts (both may number rows 1, 2, …)
        train = [Item(f"train-{i.id}", i.text, i.gold, i.file) for i in train]
        test_items = [Item(f"test-{i.id}", i.text, i.gold, i.file) for i in test_items]
        return _write_parts(out, task, train, test_items, problems)
    if len(items) < 2:
        raise TaskError(f"{path}: {len(items)} usable items; a split needs at least two")
    train, test_part = split(items, test_fraction, seed)
    return _write_parts(out, task, train, test_part, problems)


def write_items(path: str | Path, task: str, items: list[Item]) -> None:
    """A task set file (one item a line), written whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(i.to_record(task), ensure_ascii=False) + "\n"
                           for i in items), encoding="utf-8")
    tmp.replace(path)


def _write_parts(out: str | Path, task: str, train: list[Item], test: list[Item],
                 problems: list[str]) -> dict:
    for name, part in ((TRAIN, train), (TEST, test)):
        write_items(Path(out) / name, task, part)
    return {"train": len(train), "test": len(test), "problems": problems}


def task_of(path: str | Path) -> str:
    """The task a question or item file declares ("qa" when its lines name none)."""
    path = Path(path)
    if path.suffix != ".jsonl" or not path.is_file():
        return "qa"
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    return "qa"  # the question loader reports the line
                task = first.get("task", "qa") if isinstance(first, dict) else "qa"
                return task if task in TASKS else "qa"
    return "qa"


def load_items(path: str | Path) -> tuple[str, list[Item]]:
    """(task, items) of a prepared file; every line must declare the same task."""
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"{path}: no such file")
    task, items, seen = None, [], set()
    for number, row in enumerate(read_table(path), start=1):
        where = f"{path} item {number}"
        if row.get("task") not in TASKS or (task and row["task"] != task):
            raise TaskError(f"{where}: task {row.get('task')!r}; expected "
                            f"{task or ' or '.join(TASKS)}")
        task = row["task"]
        if not isinstance(row.get("text"), str) or "gold" not in row:
            raise TaskError(f"{where}: needs 'text' and 'gold'")
        item_id = str(row.get("id", number))
        if item_id in seen:
            raise TaskError(f"{where}: duplicate id {item_id!r}")
        seen.add(item_id)
        gold = task_named(task).gold_of(row["gold"])
        items.append(Item(item_id, row["text"], gold, row.get("file")))
    if not items:
        raise TaskError(f"{path}: no items")
    return task, items

