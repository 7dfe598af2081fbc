"""PubMedQA, level 2 against level 1: LoRA fine-tune the bundled SmolLM2-135M on the 500 labelled
questions outside the official test split, then measure base, base+RAG, fine-tuned and
fine-tuned+RAG on the 500 test questions with the evaluation harness.

    python bench/pubmedqa_finetune.py [--max-steps 150] [--limit N] [--name ft-pubmedqa]

Training examples use exactly the prompts the systems see at evaluation: the RAG prompt with the
question's abstract as source [1], and the bare question; both end with the instruction "Answer
with one word: yes, no or maybe." and are answered with the label. The run folder is the one of
`bench/qa_eval.sh pubmedqa` (run that first: its store and base answers are reused). Resumable;
a longer training run takes another --name (its model and its answers are kept apart)."""

from __future__ import annotations

import argparse
import os

from common import DATA, OUT

os.environ.setdefault("TUNEWISE_REGISTRY", str(OUT / "models.toml"))

from tunewise.config import Settings  # noqa: E402
from tunewise.data.formats import Example, write_examples  # noqa: E402
from tunewise.evaluate.datasets import load_questions  # noqa: E402
from tunewise.evaluate.runner import run_eval  # noqa: E402
from tunewise.evaluate.summary import summary_of, to_markdown  # noqa: E402
from tunewise.rag.prompt import Source, messages_for  # noqa: E402
from tunewise.systems import parse_systems  # noqa: E402
from tunewise.train.finetune import FinetuneRecipe, finetune  # noqa: E402
from tunewise.workspace import Workspace  # noqa: E402


def training_data(settings: Settings, path) -> None:
    examples = []
    for q in load_questions(DATA / "pubmedqa", split="dev"):
        asked = f"{q.question}\n{q.instruction}"
        source = Source(1, f"abstracts.jsonl#{q.id}", q.id, None, q.context or "", 1.0, None)
        for messages in (messages_for(asked, [source], settings.rag), messages_for(asked, [], settings.rag)):
            turns = tuple((m["role"], m["content"]) for m in messages)
            examples.append(Example(turns + (("assistant", q.answers[0]),)))
    write_examples(path, examples)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-steps", type=int, default=150)
    p.add_argument("--limit", type=int, default=None, help="only the first N test questions")
    p.add_argument("--name", default="ft-pubmedqa", help="the fine-tuned model's name")
    args = p.parse_args()

    settings = Settings().replace("store", url=f"sqlite:{OUT / 'pubmedqa.db'}")
    folder = OUT / "pubmedqa-ft"
    data = folder / "train.jsonl"
    if not data.exists():
        training_data(settings, data)
    if not (folder / args.name / "finetune.json").exists():
        config = FinetuneRecipe(max_steps=args.max_steps, batch_size=4, max_length=512,
                                name=args.name, save_steps=25, logging_steps=5)
        r = finetune(data, folder / args.name, config)
        print(f"fine-tuned: {r.steps} steps, loss {r.losses[0]:.3f} -> {r.losses[-1]:.3f}, "
              f"{r.tokens_per_s:.0f} tokens/s, {r.seconds / 60:.0f} min")
    ws = Workspace(_with_registry(settings))
    questions = load_questions(OUT / "pubmedqa" / "test.jsonl")
    name = args.name
    systems = parse_systems(f"local,local+rag,{name},{name}+rag", ws.settings.models)
    run_eval(ws, systems, questions, OUT / "runs" / "pubmedqa", max_tokens=8, limit=args.limit)
    print(to_markdown(summary_of(OUT / "runs" / "pubmedqa", compare=(f"{name}+rag", "local+rag"))))


def _with_registry(settings: Settings) -> Settings:
    from tunewise.config import load_settings

    return load_settings(env=os.environ).replace("store", url=settings.store.url)


if __name__ == "__main__":
    main()
