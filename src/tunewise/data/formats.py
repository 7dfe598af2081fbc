"""Instruction data formats: Alpaca (instruction/input/output), ShareGPT (conversations), OpenAI
chat (messages) and plain question/answer JSONL, all read into one `Example` (a chat in OpenAI
messages) with every bad line reported by number and reason; written back as OpenAI messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tunewise.errors import TunewiseError

FORMATS = ("auto", "openai", "alpaca", "sharegpt", "qa")
ROLES = ("system", "user", "assistant")
_SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant",
                   "assistant": "assistant", "chatgpt": "assistant", "bing": "assistant"}


class DataError(TunewiseError):
    """A data file that cannot be used at all; the message names the file and why."""


@dataclass(frozen=True)
class Example:
    """One training conversation: optional system turn, then user/assistant turns, ending with
    the assistant (every assistant turn is trained on; everything else is prompt)."""

    messages: tuple[tuple[str, str], ...]  # ((role, content), ...)
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def prompt(self) -> str:
        return "\n".join(c for r, c in self.messages if r == "user")

    @property
    def answer(self) -> str:
        return "\n".join(c for r, c in self.messages if r == "assistant")

    def chat(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]

    def to_json(self) -> str:
        record = {"messages": self.chat()}
        if self.meta:
            record["meta"] = self.meta
        return json.dumps(record, ensure_ascii=False)


@dataclass
class Loaded:
    examples: list[Example]
    problems: list[str]  # "line 7: no 'output'" — the rest of the file was read


def detect_format(record: dict) -> str:
    if "messages" in record:
        return "openai"
    if "conversations" in record:
        return "sharegpt"
    if "instruction" in record:
        return "alpaca"
    if "question" in record:
        return "qa"
    raise ValueError("unknown record: expected 'messages', 'conversations', 'instruction' or "
                     "'question'")


def load_examples(path: str | Path, fmt: str = "auto") -> Loaded:
    """Every valid example of a JSONL file (or a JSON array, as Alpaca ships); bad records are
    listed in `problems` with their line (or index) and skipped."""
    if fmt not in FORMATS:
        raise DataError(f"unknown data format {fmt!r}; valid: {', '.join(FORMATS)}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    rows = _rows(path, text)
    examples, problems = [], []
    for where, row in rows:
        try:
            if isinstance(row, str):
                raise ValueError(row)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            kind = detect_format(row) if fmt == "auto" else fmt
            examples.append(Example(_CONVERTERS[kind](row), _meta(row)))
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{where}: {exc}")
    if not examples and problems:
        raise DataError(f"{path}: no valid examples ({problems[0]})")
    return Loaded(examples, problems)


def _rows(path: Path, text: str) -> list[tuple[str, object]]:
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON array of examples")
        return [(f"item {i}", row) for i, row in enumerate(data, start=1)]
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                rows.append((f"line {number}", f"invalid JSON ({exc.msg})"))
    return rows


def _text(record: dict, key: str, required: bool = True) -> str:
    value = record.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"no '{key}' text")
    return value.strip()


def _from_openai(record: dict) -> tuple[tuple[str, str], ...]:
    messages = record["messages"]
    if not isinstance(messages, list):
        raise ValueError("'messages' is not a list")
    turns = []
    for i, m in enumerate(messages, start=1):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise ValueError(f"message {i}: role must be one of {', '.join(ROLES)}")
        turns.append((m["role"], _text(m, "content")))
    return _validated(turns)


def _from_sharegpt(record: dict) -> tuple[tuple[str, str], ...]:
    turns = []
    for i, m in enumerate(record["conversations"] or [], start=1):
        role = _SHAREGPT_ROLES.get(str(m.get("from", "")).lower()) if isinstance(m, dict) else None
        if role is None:
            raise ValueError(f"turn {i}: unknown speaker {m.get('from') if isinstance(m, dict) else m!r}")
        turns.append((role, _text(m, "value")))
    if record.get("system") and (not turns or turns[0][0] != "system"):
        turns.insert(0, ("system", str(record["system"]).strip()))
    return _validated(turns)


def _from_alpaca(record: dict) -> tuple[tuple[str, str], ...]:
    instruction, extra = _text(record, "instruction"), _text(record, "input", required=False)
    prompt = f"{instruction}\n\n{extra}" if extra else instruction
    turns = [("user", prompt), ("assistant", _text(record, "output"))]
    if record.get("system"):
        turns.insert(0, ("system", str(record["system"]).strip()))
    return _validated(turns)


def _from_qa(record: dict) -> tuple[tuple[str, str], ...]:
    answer = record.get("answer")
    if answer is None and isinstance(record.get("answers"), list) and record["answers"]:
        answer = record["answers"][0]
    if not isinstance(answer, str) or not answer.strip():
        raise ValueError("no 'answer' text")
    question = _text(record, "question")
    context = _text(record, "context", required=False)
    prompt = f"Context:\n{context}\n\nQuestion: {question}" if context else question
    return _validated([("user", prompt), ("assistant", answer.strip())])


def _validated(turns: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    body = turns[1:] if turns and turns[0][0] == "system" else turns
    if not body:
        raise ValueError("no user and assistant turns")
    for i, (role, _) in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if role != expected:
            raise ValueError(f"turn {i + 1} is {role!r}, expected {expected!r} (turns alternate, "
                             "starting with the user)")
    if body[-1][0] != "assistant":
        raise ValueError("the last turn is not the assistant's: nothing to learn")
    return tuple(turns)


def _meta(record: dict) -> dict:
    meta = record.get("meta")
    return dict(meta) if isinstance(meta, dict) else {}


_CONVERTERS = {"openai": _from_openai, "sharegpt": _from_sharegpt, "alpaca": _from_alpaca,
               "qa": _from_qa}


def write_examples(path: str | Path, examples: list[Example]) -> None:
    """OpenAI messages JSONL, written to a temporary file first so a crash leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(e.to_json() + "\n" for e in examples), encoding="utf-8")
    tmp.replace(path)
