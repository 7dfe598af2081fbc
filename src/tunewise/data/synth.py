"""Question/answer pairs synthesized from the ingested chunks by a teacher model, in the spirit of
Alpaca's self-instruct: per chunk a few questions with answers taken from the chunk, then filters
for answers the chunk does not support, near-duplicate questions (ROUGE-L > 0.7 against the
kept ones) and length outliers. Resumable: OUT.progress.jsonl records each finished chunk.

`paraphrase` rewrites chunks in other words, for continued pretraining on several phrasings of
the same facts (Ovadia et al. 2023 found paraphrased copies help a model take knowledge in).
`raft_examples` turns such pairs into RAFT training data (Zhang et al. 2024): each question in the
RAG prompt the model will see at inference, with its gold chunk among distractor chunks (or, for a
fraction, the distractors alone), answered with a citation and a quote of the gold chunk."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tunewise.config import RagSettings
from tunewise.cost.prices import load_prices
from tunewise.cost.systems import api_price_of
from tunewise.cost.training import synthesis_cost
from tunewise.data.formats import Example
from tunewise.evaluate.baselines import best_sentence
from tunewise.evaluate.metrics import rouge_l
from tunewise.jsonl import open_append
from tunewise.models import capabilities
from tunewise.models.base import ChatModel, ModelError
from tunewise.rag.prompt import Passage, messages_for
from tunewise.rag.support import support

PROMPT = """Here is a passage from a document.

{passage}

Write {n} different questions that this passage answers. After each question write its answer, \
copied from the passage. Use exactly this format:
Q: <question>
A: <answer>"""

DUPLICATE_ROUGE = 0.7
QUESTION_WORDS = (3, 40)
ANSWER_WORDS = (1, 60)
SUPPORT = 0.8  # share of the answer's claim words that must occur in the chunk (rag.support)

_PAIR = re.compile(r"Q\s*\d*\s*[:.]\s*(.+?)\s*\n\s*A\s*\d*\s*[:.]\s*(.+?)\s*(?=\n\s*Q\s*\d*\s*[:.]|\Z)",
                   re.DOTALL | re.IGNORECASE)


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """(question, answer) pairs from "Q: …\\nA: …" text; answers stop at the next question."""
    return [(" ".join(q.split()), " ".join(a.split())) for q, a in _PAIR.findall(text)]


def verdict(question: str, answer: str, passage: str, kept_questions: list[str]) -> str:
    """"kept", or why the pair is dropped: length, unsupported, duplicate."""
    q_words, a_words = len(question.split()), len(answer.split())
    if not (QUESTION_WORDS[0] <= q_words <= QUESTION_WORDS[1]
            and ANSWER_WORDS[0] <= a_words <= ANSWER_WORDS[1]):
        return "length"
    if (support(answer, [passage]) or 0.0) < SUPPORT:  # nothing claimed is not an answer either
        return "unsupported"
    if any(rouge_l(question, [k]) > DUPLICATE_ROUGE for k in kept_questions):
        return "duplicate"
    return "kept"


@dataclass
class SynthReport:
    chunks: int = 0  # processed in this call
    resumed: int = 0  # finished in an earlier call
    kept: int = 0  # pairs written in this call
    dropped: Counter = field(default_factory=Counter)  # reason -> pairs
    failed: list[str] = field(default_factory=list)  # "chunk id: error"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0


def sample_chunks(chunks: list, n: int | None) -> list:
    """A seeded random sample of `n` chunks spread over all the documents — the same ones on every
    run, so that a synthesis resumes; all of them, in order, when `n` is None or not fewer."""
    return chunks if n is None or n >= len(chunks) else random.Random(0).sample(chunks, n)


def synthesize(chunks, teacher: ChatModel, out: str | Path, per_chunk: int = 3,
               limit: int | None = None, max_tokens: int = 256,
               on_chunk: Callable[[], None] | None = None) -> SynthReport:
    """Write pairs for each chunk (the first `limit`) to OUT as OpenAI messages JSONL."""
    out = Path(out)
    progress = out.with_name(out.name + ".progress.jsonl")
    done = _load_progress(progress)
    kept = _keep_finished(out, done, lambda r: r.get("meta", {}).get("chunk_id"))
    kept_questions = [Example(tuple((m["role"], m["content"]) for m in r["messages"])).prompt
                      for r in kept]
    report = SynthReport(resumed=len(done))
    with open_append(out) as data, open_append(progress) as log:
        for i, chunk in enumerate(chunks):
            if limit is not None and i >= limit:
                break
            if chunk.id in done:
                continue
            messages = [{"role": "user", "content": PROMPT.format(passage=chunk.text, n=per_chunk)}]
            try:
                gen = teacher.generate(messages, max_tokens=max_tokens)
            except ModelError as exc:
                report.failed.append(f"{chunk.id}: {exc}")
                continue  # not marked done: a later run retries it
            reasons = Counter()
            for question, answer in parse_pairs(gen.text):
                why = verdict(question, answer, chunk.text, kept_questions)
                reasons[why] += 1
                if why == "kept":
                    kept_questions.append(question)
                    e = Example((("user", question), ("assistant", answer)),
                                {"chunk_id": chunk.id, "source": chunk.source})
                    data.write(e.to_json() + "\n")
            if not reasons:
                reasons["unparsed"] += 1
            data.flush()
            log.write(json.dumps({"chunk_id": chunk.id, **reasons,
                                  "prompt_tokens": gen.usage.prompt_tokens,
                                  "completion_tokens": gen.usage.completion_tokens}) + "\n")
            log.flush()  # the chunk counts as done only once its pairs are written
            report.chunks += 1
            report.kept += reasons.pop("kept", 0)
            report.dropped.update(reasons)
            report.prompt_tokens += gen.usage.prompt_tokens
            report.completion_tokens += gen.usage.completion_tokens
            if on_chunk:
                on_chunk()
    report.cost = teacher_cost(teacher.settings, report.prompt_tokens, report.completion_tokens)
    return report


def teacher_cost(model, prompt_tokens: int, completion_tokens: int) -> float:
    """The labelling cost: the teacher's tokens × its price ([models] prices, else the price
    table's entry for its model name; a model you host yourself costs 0 here)."""
    price = api_price_of(model, load_prices()) if capabilities(model).priced_per_token else None
    return synthesis_cost(prompt_tokens, completion_tokens, price) if price else 0.0


def _load_progress(path: Path) -> set[str]:
    done = set()
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                done.add(json.loads(line)["chunk_id"])
            except (json.JSONDecodeError, KeyError):
                pass  # a torn last line: that chunk is synthesized again
    return done


def _keep_finished(out: Path, done: set[str], chunk_of) -> list[dict]:
    """The records of OUT whose chunk (`chunk_of(record)`) is finished, OUT rewritten with only
    them: what a chunk cut short by a crash wrote (not yet marked done) is dropped."""
    if not out.exists():
        return []
    kept, lines = [], []
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if chunk_of(record) in done:
            lines.append(line)
            kept.append(record)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    tmp.replace(out)
    return kept


PARAPHRASE = """Rewrite the following passage in different words. Keep every fact, name and number; \
change the wording and the order of the sentences. Reply with the rewritten passage only.

{passage}"""


def paraphrase(chunks, teacher: ChatModel, out: str | Path, copies: int = 2,
               max_tokens: int = 512, on_chunk: Callable[[], None] | None = None) -> int:
    """Write `copies` rewordings of each chunk to OUT as JSONL documents ({"id", "title",
    "text"}: what `tunewise finetune --corpus OUT` and `ingest` read), keeping only those that
    keep most of the chunk's words that matter (names, numbers, terms: the support check).
    Resumable like `synthesize`: OUT.progress.jsonl records each finished chunk. Returns the
    copies written now."""
    out = Path(out)
    progress = out.with_name(out.name + ".progress.jsonl")
    done = _load_progress(progress)
    _keep_finished(out, done, lambda r: r.get("id", "").rsplit("~", 1)[0])
    written = 0
    with open_append(out) as f, open_append(progress) as log:
        for chunk in chunks:
            if chunk.id in done:
                continue
            kept = []
            try:
                for i in range(copies):
                    messages = [{"role": "user", "content": PARAPHRASE.format(passage=chunk.text)}]
                    text = teacher.generate(messages, max_tokens=max_tokens).text.strip()
                    if text and (support(chunk.text, [text]) or 0.0) >= SUPPORT:
                        kept.append({"id": f"{chunk.id}~{i}", "title": chunk.title, "text": text})
            except ModelError:
                continue  # not marked done: a later run retries it
            f.write("".join(json.dumps(k, ensure_ascii=False) + "\n" for k in kept))
            f.flush()
            log.write(json.dumps({"chunk_id": chunk.id, "kept": len(kept)}) + "\n")
            log.flush()  # done only once its copies are written
            written += len(kept)
            if on_chunk:
                on_chunk()
    return written


def raft_examples(pairs: list[Example], chunks: dict, settings: RagSettings, distractors: int = 3,
                  no_gold: float = 0.2, seed: int = 0, retriever=None) -> list[Example]:
    """RAFT examples from synthesized pairs (their meta names the gold chunk; `chunks` maps chunk
    ids to chunks). Distractors are the chunks `retriever` ranks highest for the question, the
    gold one excepted — the near misses RAG will put beside it — else random chunks. With
    probability `no_gold` the gold chunk is left out and the answer kept, as RAFT does, so the
    model also learns the answer itself; otherwise the answer cites the gold chunk's number and
    quotes its sentence nearest to the answer."""
    rng = random.Random(seed)
    ids = list(chunks)
    out = []
    for e in pairs:
        gold = chunks.get(e.meta.get("chunk_id"))
        if gold is None:
            continue
        question, answer = e.prompt, e.messages[-1][1]
        others = []
        if retriever is not None:
            hits = retriever.search(question, k=distractors + 1, min_similarity=0.0)
            others = [h.chunk for h in hits if h.chunk.id != gold.id][:distractors]
        pool = [i for i in ids if i != gold.id and i not in {c.id for c in others}]
        others += [chunks[i] for i in rng.sample(pool, min(len(pool), distractors - len(others)))]
        with_gold = rng.random() >= no_gold
        passages = others + ([gold] if with_gold else [])
        rng.shuffle(passages)
        sources = [Passage(i, c.source, c.title, c.page, c.text, 0.0, None, c.table_header)
                   for i, c in enumerate(passages, start=1)]
        if with_gold:
            quote = best_sentence(answer, gold.text)
            reply = f"{answer} [{passages.index(gold) + 1}]" + (
                f' The source says: "{quote}"' if quote else "")
        else:
            reply = answer
        messages = messages_for(question, sources, settings)
        out.append(Example(tuple((m["role"], m["content"]) for m in messages)
                           + (("assistant", reply),),
                           {"chunk_id": gold.id, "raft": "gold" if with_gold else "no gold",
                            "distractors": len(others)}))
    return out
