"""LoRA fine-tuning throughput of SmolLM2-135M: packing (tunewise's default) against the plain
Trainer recipe with padding, same model, same data, runs alternated, each in its own process so
that peak memory is per run.

    python bench/finetune_throughput.py [--rounds 2] [--steps 4] [--batch 4] [--length 512]
    python bench/finetune_throughput.py --speed --steps 12 --batch 16   # issue 35: before/after

Data: PubMedQA's 500 labelled questions outside the official test split, alternately with their
abstract (~400 tokens) and without it (~60 tokens), answered yes/no/maybe plus the conclusion:
instruction data mixes long and short examples like this. Tokens/s counts real tokens (not
padding) per second of training."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import DATA, OUT
from tunewise.data.formats import Example, write_examples
from tunewise.evaluate.datasets import load_questions


def make_data(path: Path) -> Path:
    raw = json.loads((DATA / "pubmedqa" / "ori_pqal.json").read_text())
    examples = []
    for i, q in enumerate(load_questions(DATA / "pubmedqa", split="dev")):
        context = f"Context:\n{q.context}\n\n" if i % 2 == 0 else ""
        examples.append(Example((("user", f"{context}Question: {q.question}\n{q.instruction}"),
                                 ("assistant", f"{q.answers[0]}. {raw[q.id]['LONG_ANSWER']}"))))
    write_examples(path, examples)
    return path


def one_run(data: str, packing: bool, steps: int, batch: int, length: int) -> None:
    from tunewise.train.finetune import FinetuneRecipe, finetune

    config = FinetuneRecipe(max_steps=steps, batch_size=batch, max_length=length,
                            packing=packing, shuffle=False, save_steps=10**6, logging_steps=1,
                            merge=False, gguf="none")
    with tempfile.TemporaryDirectory() as out:
        r = finetune(data, out, config)
    print(json.dumps({"tokens_per_s": r.tokens_per_s, "tokens": r.tokens, "seconds": r.seconds,
                      "peak_mb": r.peak_memory_mb, "loss": r.losses[-1]}))


# --speed: the task fine-tune's step before and after issue 35, on the same examples
SPEED = {"before: float32, logits at every position": ("fp32", False, False),
         "bf16 autocast": ("bf16", False, False),
         "logits at answer positions only": ("fp32", True, False),
         "after: bf16 + answer-only logits": ("bf16", True, False)}
# torch.compile is left out: on this 2-core CPU it had not finished 12 steps after 8.5 minutes
# (padded batches of varying width recompile; 9.4 GB resident) — bench/RESULTS.md, 2026-12-06.
# Add ("bf16", True, True) here to try it on another machine.


def phrasebank_data(path: Path) -> Path:
    """PhraseBank's first 400 training sentences in the short prompt a task fine-tune uses."""
    import csv

    from tunewise.tasks.base import TaskSpec, brief_messages

    spec = TaskSpec("classify", labels=("negative", "neutral", "positive"))
    with open(DATA / "financial-phrasebank" / "train.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:400]
    write_examples(path, [Example(tuple((m["role"], m["content"]) for m in brief_messages(
        spec, r["sentence"])) + (("assistant", json.dumps({"label": r["label"]})),)) for r in rows])
    return path


def speed_run(data: str, kind: str, steps: int, batch: int) -> None:
    import tunewise.train.finetune as ft

    precision, answers_only, compiled = SPEED[kind]
    if not answers_only:
        ft.answers_only_logits = lambda: False
    config = ft.FinetuneRecipe(max_steps=steps, batch_size=batch, packing=False, shuffle=False,
                               precision=precision, compile=compiled, save_steps=10**6,
                               logging_steps=1, merge=False, gguf="none", report_to="none")
    with tempfile.TemporaryDirectory() as out:
        r = ft.finetune(data, out, config)
    print(json.dumps({"tokens_per_s": r.steady_tokens_per_s or r.tokens_per_s,
                      "step_s": r.seconds / r.steps, "loss": r.losses[-1]}))


def speed(args) -> None:
    data = phrasebank_data(OUT / "phrasebank-brief.jsonl")
    runs: dict[str, list[dict]] = {k: [] for k in SPEED}
    for _ in range(args.rounds):
        for kind in SPEED:
            done = subprocess.run([sys.executable, __file__, "--speed-one", kind, "--data", str(data),
                                   "--steps", str(args.steps), "--batch", str(args.batch)],
                                  capture_output=True, text=True)
            if done.returncode:
                print(kind, "failed:", done.stderr.strip().splitlines()[-1], file=sys.stderr)
                continue
            runs[kind].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(kind, runs[kind][-1], file=sys.stderr)
    print(f"LoRA r=16 on SmolLM2-135M, {args.steps} steps x {args.batch} PhraseBank sentences in the "
          f"short prompt, padded to the batch's longest, {args.rounds} alternated rounds\n")
    print("| step | tokens/s (median) | seconds a step | × before |\n|---|---|---|---|")
    first = None
    for kind, rs in runs.items():
        if not rs:
            print(f"| {kind} | failed | | |")
            continue
        rate = statistics.median(r["tokens_per_s"] for r in rs)
        first = first or rate
        print(f"| {kind} | {rate:.0f} | {statistics.median(r['step_s'] for r in rs):.2f} | "
              f"{rate / first:.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--length", type=int, default=512)
    p.add_argument("--speed", action="store_true",
                   help="the task fine-tune's step before and after issue 35 (bf16, answer-only "
                   "logits) on PhraseBank; use --steps 12 --batch 16")
    p.add_argument("--one", choices=["packing", "padding"], help=argparse.SUPPRESS)
    p.add_argument("--speed-one", choices=list(SPEED), help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        return one_run(args.data, args.one == "packing", args.steps, args.batch, args.length)
    if args.speed_one:
        return speed_run(args.data, args.speed_one, args.steps, args.batch)
    if args.speed:
        return speed(args)

    data = make_data(OUT / "pubmedqa-train.jsonl")
    runs: dict[str, list[dict]] = {"packing": [], "padding": []}
    for _ in range(args.rounds):
        for kind in ("packing", "padding"):
            done = subprocess.run([sys.executable, __file__, "--one", kind, "--data", str(data),
                                   "--steps", str(args.steps), "--batch", str(args.batch),
                                   "--length", str(args.length)],
                                  capture_output=True, text=True, check=True)
            runs[kind].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(kind, runs[kind][-1], file=sys.stderr)
    print(f"LoRA r=16 on SmolLM2-135M, {args.steps} steps x {args.batch} rows x {args.length} "
          f"tokens, {args.rounds} alternated rounds\n")
    print("| recipe | tokens/s (median) | peak memory MiB | final loss |\n|---|---|---|---|")
    for kind, rs in runs.items():
        print(f"| {kind} | {statistics.median(r['tokens_per_s'] for r in rs):.1f} | "
              f"{statistics.median(r['peak_mb'] for r in rs):.0f} | {rs[-1]['loss']:.3f} |")
    ratios = [a["tokens_per_s"] / b["tokens_per_s"] for a, b in zip(runs["packing"], runs["padding"])]
    print(f"\npacking / padding tokens/s: median ratio {statistics.median(ratios):.2f} "
          f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
