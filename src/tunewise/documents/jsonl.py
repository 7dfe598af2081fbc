"""JSON Lines: one document per line; bad lines are reported and skipped, the rest ingested."""

from __future__ import annotations

import json
from pathlib import Path

from tunewise.config import IngestSettings
from tunewise.documents.base import Deadline, Loaded, LoadError, decode
from tunewise.objects import Document


def load(path: Path, settings: IngestSettings, deadline: Deadline) -> Loaded:
    """One document per line: `text_field` holds the text; `_id`/`id` the key (else the line
    number); `title` is prepended to the text so that both retrievers see it."""
    docs, problems, seen, text_field = [], [], set(), settings.jsonl_text_field
    for number, line in enumerate(decode(path).splitlines(), start=1):
        if number % 1000 == 0:
            deadline.check()
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: invalid JSON ({exc.msg})")
            continue
        except RecursionError:  # [[[[… thousands deep: Python's parser gives up
            problems.append(f"line {number}: nested too deeply to read")
            continue
        except ValueError as exc:  # an integer of more digits than Python converts (4,300)
            problems.append(f"line {number}: unreadable value ({str(exc)[:80]})")
            continue
        text = record.get(text_field) if isinstance(record, dict) else None
        if not isinstance(text, str) or not text.strip():
            problems.append(f"line {number}: no '{text_field}' text")
            continue
        key = str(record.get("_id", record.get("id", number)))
        if key in seen:
            problems.append(f"line {number}: duplicate id {key!r} (kept the first)")
            continue
        seen.add(key)
        title = str(record.get("title") or "").strip()
        body = f"{title}\n\n{text.strip()}" if title else text.strip()
        meta = {k: v for k, v in record.items() if k not in (text_field, "title", "_id", "id")}
        docs.append(Document(path=str(path), text=body, title=title or key, key=key,
                             metadata=meta))
    if not docs and problems:
        raise LoadError(f"no valid records ({problems[0]})")
    return Loaded(docs, problems)
