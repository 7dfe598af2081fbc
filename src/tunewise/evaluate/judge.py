"""An LLM judge: any named chat model grades an answer's correctness against the gold answers and
its faithfulness to the retrieved context. A reply that is not the asked-for JSON, or a failed
call, is a failed verdict, kept and counted, never a silent zero or a dropped row."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from tunewise.models.base import ChatModel, Messages, ModelError

SYSTEM = ("You grade answers to questions. Reply with one JSON object and nothing else.")

PROMPT = """Question: {question}

Gold answer(s): {gold}

{context_block}Answer to grade: {prediction}

Grade the answer.
- "correct": true if it gives the same answer as a gold answer (wording may differ), else false.
- "faithful": {faithful_rule}

Reply exactly as {{"correct": true or false, "faithful": {faithful_shape}}}"""

_FAITHFUL_RULE = ("true if every claim in the answer is supported by the context, else false.")
_NO_CONTEXT_RULE = "null (there is no context to check against)."


@dataclass(frozen=True)
class Verdict:
    correct: float | None = None  # 1.0 / 0.0; None when the judge failed
    faithful: float | None = None  # None without context or when the judge failed
    failed: bool = False
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reply: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def judge_messages(question: str, answers: list[str], prediction: str,
                   context: str | None) -> Messages:
    block = f"Context:\n{context}\n\n" if context else ""
    prompt = PROMPT.format(
        question=question, gold=" | ".join(answers) or "(none: the question is unanswerable)",
        context_block=block, prediction=prediction or "(empty)",
        faithful_rule=_FAITHFUL_RULE if context else _NO_CONTEXT_RULE,
        faithful_shape="true or false" if context else "null")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]


def judge(model: ChatModel, question: str, answers: list[str], prediction: str,
          context: str | None = None, max_tokens: int = 64) -> Verdict:
    """The judge's verdict on one answer; failures are verdicts with `failed` set."""
    try:
        gen = model.generate(judge_messages(question, answers, prediction, context),
                             max_tokens=max_tokens)
    except ModelError as exc:
        return Verdict(failed=True, error=f"judge call failed: {exc}")
    tokens = {"prompt_tokens": gen.usage.prompt_tokens,
              "completion_tokens": gen.usage.completion_tokens, "reply": gen.text}
    try:
        correct, faithful = parse_verdict(gen.text, with_context=bool(context))
    except ValueError as exc:
        return Verdict(failed=True, error=str(exc), **tokens)
    return Verdict(correct, faithful, **tokens)


def parse_verdict(reply: str, with_context: bool) -> tuple[float, float | None]:
    """(correct, faithful) from the judge's reply; ValueError when it is not the JSON asked for."""
    match = re.search(r"\{.*?\}", reply, re.DOTALL)
    if not match:
        raise ValueError(f"judge reply has no JSON object: {reply[:80]!r}")
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError:
        raise ValueError(f"judge reply is not valid JSON: {match.group(0)[:80]!r}") from None
    if not isinstance(data, dict):
        raise ValueError(f"judge reply is not an object: {match.group(0)[:80]!r}")
    correct = _boolean(data.get("correct"), "correct")
    if correct is None:
        raise ValueError(f"judge reply lacks a true/false 'correct': {match.group(0)[:80]!r}")
    faithful = _boolean(data.get("faithful"), "faithful") if with_context else None
    if with_context and faithful is None:
        raise ValueError(f"judge reply lacks a true/false 'faithful': {match.group(0)[:80]!r}")
    return correct, faithful


def _boolean(value, name: str) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no"):
        return float(value.strip().lower() in ("true", "yes"))
    if value in (0, 1):
        return float(value)
    if value is None:
        return None
    raise ValueError(f"judge reply has {name}={value!r}, not true or false")
