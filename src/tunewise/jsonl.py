"""JSONL files: append-only ones that survive a killed process (the jobs that resume — evaluation
runs, data synthesis — append one whole line per finished item and read back every complete
line), and reading a file of JSON objects with errors that name the line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO


def open_append(path: str | Path) -> IO[str]:
    """Open `path` for appending; a last line torn by a killed writer is ended first, or the next
    record would join it and both would be lost."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = False
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    handle = open(path, "a", encoding="utf-8")
    if torn:
        handle.write("\n")
    return handle


def read_objects(path: Path, error: type[Exception]) -> list[dict]:
    """The JSON objects of a JSONL file, blank lines skipped; a line that is not one raises
    `error` naming the file and line."""
    objects = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{path} line {number}: invalid JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise error(f"{path} line {number}: not a JSON object")
        objects.append(value)
    return objects
