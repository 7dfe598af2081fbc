"""`tunewise data import`: read instruction files of any supported format, drop invalid records,
exact and near duplicates, and write a seeded train/validation split as OpenAI messages JSONL."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tunewise.data.clean import drop_exact_duplicates, drop_near_duplicates, split
from tunewise.data.formats import DataError, load_examples, write_examples


@dataclass
class ImportReport:
    read: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file, "line 7: no 'output'")
    exact_duplicates: int = 0
    near_duplicates: int = 0
    train: int = 0
    validation: int = 0


def import_data(paths: list[str | Path], out: str | Path, fmt: str = "auto",
                val_fraction: float = 0.1, seed: int = 0,
                near_duplicate: float | None = 0.8) -> ImportReport:
    """Write OUT/train.jsonl and OUT/val.jsonl from `paths`; a file that cannot be read at all is
    a problem of that file, and the others are still imported."""
    report, examples = ImportReport(), []
    for path in paths:
        try:
            loaded = load_examples(path, fmt)
        except DataError as exc:
            report.problems.append((str(path), str(exc)))
            continue
        examples += loaded.examples
        report.read += len(loaded.examples) + len(loaded.problems)
        report.problems += [(str(path), p) for p in loaded.problems]
    if not examples:
        raise DataError("no valid examples in " + ", ".join(map(str, paths)))
    examples, report.exact_duplicates = drop_exact_duplicates(examples)
    if near_duplicate:
        examples, report.near_duplicates = drop_near_duplicates(examples, near_duplicate, seed)
    train, val = split(examples, val_fraction, seed)
    write_examples(Path(out) / "train.jsonl", train)
    write_examples(Path(out) / "val.jsonl", val)
    report.train, report.validation = len(train), len(val)
    return report
