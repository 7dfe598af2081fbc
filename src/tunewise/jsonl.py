"""Append-only JSONL files that survive a killed process: the jobs that resume (evaluation runs,
data synthesis) append one whole line per finished item and read back every complete line."""

from __future__ import annotations

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
