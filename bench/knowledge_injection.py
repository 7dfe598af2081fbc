"""Knowledge injection (issue 17): which of RAG, continued pretraining, instruction tuning and RAFT
puts documents the model cannot know into its answers? Ovadia et al. 2023 ("Fine-Tuning or
Retrieval?") compared the first two on current events; this runs every level-2 variant tunewise
builds with the bundled SmolLM2-135M on the same questions:

  local, local+rag          the base model, alone and with retrieval
  cpt, cpt+rag              continued pretraining (LoRA) on the documents' raw text
  sft, sft+rag              instruction tuning (LoRA) on question/answer pairs about the documents
  raft, raft+rag            RAFT: the same pairs in the RAG prompt, gold chunk among distractors

    python bench/knowledge_injection.py sample            # the fictional sample corpus, 32 questions
    python bench/knowledge_injection.py xquad --limit 80  # XQuAD-en paragraphs, 80 test questions

Sets: `sample` — documents the base model cannot know (a fictional company); the training pairs
are synthesized from the chunks by the bundled model itself (`data synth`). `xquad` — the 240
XQuAD-en paragraphs; the training pairs are the human questions of the dev split (the evaluation
uses the test split: same documents, other questions). The support check is off (min_support 0):
this measures what the models know, not when they abstain. Everything resumes; outputs under
bench/out/ki-SET/, the decision report in bench/out/runs/ki-SET/report.md."""

from __future__ import annotations

import argparse
import os
import random
import sys

from common import DATA, OUT, ROOT

os.environ.setdefault("TUNEWISE_REGISTRY", str(OUT / "models.toml"))

from tunewise.config import load_settings  # noqa: E402
from tunewise.data.formats import Example, load_examples, write_examples  # noqa: E402
from tunewise.data.synth import raft_examples, synthesize  # noqa: E402
from tunewise.evaluate.baselines import baselines_for  # noqa: E402
from tunewise.evaluate.datasets import load_questions, prepare  # noqa: E402
from tunewise.evaluate.runner import run_eval  # noqa: E402
from tunewise.evaluate.summary import summary_of, to_markdown  # noqa: E402
from tunewise.report.build import build_report  # noqa: E402
from tunewise.report.render import headline, write_report  # noqa: E402
from tunewise.systems import parse_systems  # noqa: E402
from tunewise.train.corpus import store_texts  # noqa: E402
from tunewise.train.finetune import FinetuneRecipe, finetune  # noqa: E402
from tunewise.workspace import Workspace  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("set", choices=("sample", "xquad"))
    p.add_argument("--limit", type=int, default=None, help="only the first N test questions")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--max-pairs", type=int, default=None,
                   help="train on at most N pairs (a seeded sample; RAFT's are long)")
    args = p.parse_args()

    folder = OUT / f"ki-{args.set}"
    folder.mkdir(parents=True, exist_ok=True)
    settings = load_settings(env=os.environ).replace("store", url=f"sqlite:{folder / 'store.db'}")
    settings = settings.replace("rag", min_support=0.0)
    with Workspace(settings) as ws:
        questions, pairs = (sample_set if args.set == "sample" else xquad_set)(ws, folder)
        if args.max_pairs and len(pairs) > args.max_pairs:
            pairs = random.Random(0).sample(pairs, args.max_pairs)
            write_examples(folder / "pairs.jsonl", pairs)
        print(f"{len(questions)} test questions, {len(pairs)} training pairs", file=sys.stderr)
        chunks = {c.id: c for c in ws.store.iter_chunks()}
        raft = folder / "raft.jsonl"
        if not raft.exists():
            write_examples(raft, raft_examples(pairs, chunks, ws.settings.rag, distractors=2,
                                               no_gold=0.2, retriever=ws.retriever))
        common = dict(epochs=args.epochs, batch_size=4, max_length=512, save_steps=50,
                      logging_steps=5)
        recipes = {"cpt": (None, list(store_texts(ws.store))), "sft": (folder / "pairs.jsonl", None),
                   "raft": (raft, None)}
        for name, (data, documents) in recipes.items():
            model = f"ki-{args.set}-{name}"
            if not (folder / name / "finetune.json").exists():
                # a RAFT example holds its passages: 512 tokens would cut most answers off
                length = {"max_length": 1024} if name == "raft" else {}
                r = finetune(data, folder / name, FinetuneRecipe(name=model, **{**common, **length}),
                             documents=documents)
                loss = f"loss {r.losses[0]:.3f} -> {r.losses[-1]:.3f}" if r.losses else "no loss logged"
                print(f"{model}: {r.rows} rows, {r.steps} steps, {loss}, {r.tokens_per_s:.0f} "
                      f"tokens/s, {r.seconds / 60:.1f} min", file=sys.stderr)
    settings = load_settings(env=os.environ).replace("store", url=settings.store.url).replace(
        "rag", min_support=0.0)
    names = ["local"] + [f"ki-{args.set}-{n}" for n in recipes]
    systems = ",".join(f"{n},{n}+rag" for n in names)
    run = OUT / "runs" / f"ki-{args.set}"
    with Workspace(settings) as ws:  # with the trivial baselines, as `eval run` measures them
        chosen = parse_systems(systems, ws.settings.models)
        chosen += baselines_for(questions[: args.limit], True)
        run_eval(ws, chosen, questions, run, max_tokens=args.max_tokens, limit=args.limit,
                 concurrency=1)
    pairs_to_compare = [(s, "local") for s in systems.split(",") if s != "local"]
    print(to_markdown(summary_of(run, compare=pairs_to_compare)))
    report = build_report(run, settings)
    html, md = write_report(report, run)
    print(f"{headline(report)}\nwrote {md}", file=sys.stderr)


def sample_set(ws: Workspace, folder) -> tuple[list, list[Example]]:
    """The sample corpus and its 32 questions; pairs synthesized by the bundled model."""
    if not ws.stats()["documents"]:
        ws.ingest([ROOT / "sample" / "corpus"])
    pairs = folder / "pairs.jsonl"
    report = synthesize(list(ws.store.iter_chunks()), ws.model("local"), pairs, per_chunk=3)
    if report.chunks:
        print(f"synthesized: {report.kept} pairs kept, dropped {dict(report.dropped)}",
              file=sys.stderr)
    return load_questions(ROOT / "sample" / "questions.jsonl"), load_examples(pairs).examples


def xquad_set(ws: Workspace, folder) -> tuple[list, list[Example]]:
    """XQuAD-en: the 240 paragraphs; the dev split's questions (with their paragraph's chunk) as
    training pairs, the test split's for evaluation."""
    counts = prepare(DATA / "xquad-en" / "xquad.en.json", folder / "set", dev_fraction=0.2)
    if not ws.stats()["documents"]:
        ws.ingest([folder / "set" / "documents.jsonl"])
    by_start = {c.text[:80]: c.id for c in ws.store.iter_chunks()}
    pairs = []
    for q in load_questions(folder / "set" / "dev.jsonl"):
        chunk = next((cid for start, cid in by_start.items() if q.context and start in q.context),
                     None)
        if chunk and q.answers:
            pairs.append(Example((("user", q.question), ("assistant", q.answers[0])),
                                 {"chunk_id": chunk}))
    write_examples(folder / "pairs.jsonl", pairs)
    print(f"XQuAD: {counts['documents']} paragraphs; {len(pairs)} dev pairs", file=sys.stderr)
    return load_questions(folder / "set" / "test.jsonl"), pairs


if __name__ == "__main__":
    main()
