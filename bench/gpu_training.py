"""Levels 2 and 3 at the speed of the GPU: tunewise's own training against a plain PyTorch loop
on the same model and data, in one process on one device.

    python bench/gpu_training.py [--tiny] [--phases pretrain,pretrain-eager,plain,full,lora,task-head]
                                 [--steps 120] [--json FILE]

Phases (each prints a JSON line; a phase that fails prints its error and the rest go on):
- pretrain: `tunewise.train.pretrain` of the 125m preset (vocabulary 16,384: 110M parameters) on
  the SciFact abstracts, sequences of 1,024 tokens, 32 a step, with the recipe's defaults (on a
  GPU: bf16 autocast, fused AdamW, torch.compile);
- pretrain-eager: the same with compile = false;
- plain: a hand-written loop on the same LlamaConfig and token blocks: bf16 autocast, fused
  AdamW, gradient clipping, eager — the baseline of the issue;
- full / lora: `tunewise.train.finetune` of the model the pretrain phase wrote, on PubMedQA's
  1,000 questions as chat examples (alternately with their abstract), packed into rows of 1,024,
  16 rows a step; full-flex: the full fine-tune with flex attention (a block-sparse mask of the
  packed examples instead of SDPA's dense one);
- task-head: issue 35's task fine-tune — SmolLM2 (`--task-base`) with a classification head,
  LoRA, on Financial PhraseBank's sentences, the batch chosen from their length.
Tokens/s is the steady rate after the first steps (which include compiling); MFU is 6·N FLOPs a
token (4·N for LoRA) against the matmul peak measured on the device. `--tiny` runs a tiny model
for a few steps on any machine (the CPU smoke test in tests/ does).

The GPU machine this was measured on has torch and transformers but no package index, so the
script imports only tunewise.train (torch, transformers, peft, tokenizers, numpy) and finds
`src/` itself; the datasets come from TUNEWISE_DATA (default ../shared/data)."""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # a checkout without `pip install` (the GPU machine)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(os.environ.get("TUNEWISE_DATA", ROOT.parent / "shared" / "data"))

FULL = dict(size="125m", vocab=16384, seq_len=1024, batch=32, ft_batch=16, docs=None, rows=None)
TINY = dict(size="tiny", vocab=600, seq_len=64, batch=8, ft_batch=4, docs=400, rows=60)
PHASES = ("pretrain", "pretrain-eager", "plain", "full", "lora", "full-flex", "task-head")


def scifact_texts(limit: int | None) -> list[str]:
    texts = []
    with open(DATA / "scifact" / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            texts.append(f"{doc.get('title', '')}\n{doc['text']}".strip())
            if limit and len(texts) >= limit:
                break
    return texts


def pubmedqa_chat(path: Path, limit: int | None) -> Path:
    """PubMedQA's labelled questions as chat examples, alternately with their abstract (~400
    tokens) and without (~60): instruction data mixes long and short examples like this."""
    from tunewise.data.formats import Example, write_examples

    raw = json.loads((DATA / "pubmedqa" / "ori_pqal.json").read_text())
    examples = []
    for i, (_, q) in enumerate(sorted(raw.items())[:limit]):
        context = "Context:\n" + "\n".join(q["CONTEXTS"]) + "\n\n" if i % 2 == 0 else ""
        examples.append(Example((
            ("user", f"{context}Question: {q['QUESTION']}\nAnswer yes, no or maybe."),
            ("assistant", f"{q['final_decision']}. {q['LONG_ANSWER']}"))))
    write_examples(path, examples)
    return path


def _device_free() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    try:
        torch._dynamo.reset()  # each phase compiles its own model
    except AttributeError:
        pass


def _peak_mb() -> float:
    from tunewise.train.hardware import peak_memory_mb

    return round(peak_memory_mb(), 1)


def run_pretrain(out: Path, shape: dict, steps: int, compile_: bool | None) -> dict:
    from tunewise.train.pretrain import PretrainRecipe, pretrain

    config = PretrainRecipe(size=shape["size"], vocab_size=shape["vocab"], seq_len=shape["seq_len"],
                            batch_size=shape["batch"], max_steps=steps, learning_rate=6e-4,
                            warmup_ratio=0.05, eval_steps=10**6, save_steps=10**6,
                            logging_steps=20, val_fraction=0.01, compile=compile_,
                            name=out.name)
    texts = scifact_texts(shape["docs"]) if not (out / "tokens" / "meta.json").exists() else []
    r = pretrain(texts, out, config)
    return {"parameters": r.parameters, "steps": r.steps, "tokens_per_s": r.tokens_per_s,
            "steady_tokens_per_s": r.steady_tokens_per_s, "mfu": r.mfu,
            "peak_tflops": r.peak_flops / 1e12, "peak_memory_mb": _peak_mb(),
            "loss_first_last": [r.losses[0][1], r.losses[-1][1]] if r.losses else None}


def run_plain(tokens_dir: Path, shape: dict, steps: int) -> dict:
    """The baseline: the same model and blocks in the loop anyone would write first."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    from tunewise.cost.training import flops_per_token, mfu
    from tunewise.train.corpus import TokenFile
    from tunewise.train.hardware import measured_peak_flops
    from tunewise.train.pretrain import Blocks, llama_config

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(str(tokens_dir.parent / "tokenizer"))
    blocks = Blocks(TokenFile.open(tokens_dir).tokens("train"), shape["seq_len"])
    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_config(shape["size"], len(tokenizer), shape["seq_len"]))
    model.set_attn_implementation("sdpa")
    model.config.use_cache = False
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, weight_decay=0.1, fused=cuda)
    warm = min(10, max(1, steps // 5))
    started = 0.0
    batch = shape["batch"]
    for step in range(steps):
        rows = [blocks[(step * batch + i) % len(blocks)] for i in range(batch)]
        ids = torch.from_numpy(np.stack(rows)).to(device, non_blocking=True)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=cuda):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step + 1 == warm:
            if cuda:
                torch.cuda.synchronize()
            started = time.perf_counter()
    if cuda:
        torch.cuda.synchronize()
    rate = (steps - warm) * batch * shape["seq_len"] / (time.perf_counter() - started)
    n = sum(p.numel() for p in model.parameters())
    peak = measured_peak_flops()
    return {"parameters": n, "steps": steps, "steady_tokens_per_s": rate,
            "mfu": mfu(flops_per_token(n), rate, peak), "peak_tflops": peak / 1e12,
            "peak_memory_mb": _peak_mb(), "loss_last": float(loss)}


def run_finetune(base: Path, data: Path, out: Path, shape: dict, steps: int, method: str,
                 compile_: bool | None = None, attention: str = "auto") -> dict:
    from tunewise.train.finetune import FinetuneRecipe, finetune

    config = FinetuneRecipe(base=str(base), method=method, max_steps=steps,
                            batch_size=shape["ft_batch"], max_length=shape["seq_len"],
                            packing=True, shuffle=False, save_steps=10**6, logging_steps=20,
                            merge=False, gguf="none", warmup_ratio=0.05, compile=compile_,
                            attention=attention, name=out.name)
    r = finetune(data, out, config)
    return {"parameters": r.parameters, "steps": r.steps, "rows": r.rows,
            "tokens_per_s": r.tokens_per_s, "steady_tokens_per_s": r.steady_tokens_per_s,
            "mfu": r.mfu, "peak_tflops": r.peak_flops / 1e12, "peak_memory_mb": _peak_mb(),
            "loss_first_last": [r.losses[0], r.losses[-1]] if r.losses else None}


def phrasebank(limit: int | None) -> list[tuple[str, str]]:
    """Financial PhraseBank's sentences and labels (the first `limit`; all 2,762 by default)."""
    import csv

    with open(DATA / "financial-phrasebank" / "train.csv", newline="", encoding="utf-8") as f:
        rows = [(r["sentence"], r["label"]) for r in csv.DictReader(f)]
    return rows[:limit]


def run_task_head(base: str, out: Path, shape: dict, steps: int) -> dict:
    """Issue 35's task fine-tune: the LLM with a classification head (LoRA) on PhraseBank, the
    task recipe's batch chosen from the data and a validation part carved from it."""
    from tunewise.train.finetune import FinetuneRecipe
    from tunewise.train.head import train_head

    examples = phrasebank(shape["rows"] and shape["rows"] * 4)
    recipe = FinetuneRecipe(base=base, method="lora", batch_size=0, packing=False, max_steps=steps,
                            val_fraction=0.1, save_steps=10**6, logging_steps=20,
                            report_to="none")
    r = train_head(examples, ["negative", "neutral", "positive"], out, recipe, say=print)
    return {"parameters": r.parameters, "steps": r.steps, "tokens_per_s": r.tokens_per_s,
            "steady_tokens_per_s": r.steady_tokens_per_s, "mfu": r.mfu,
            "peak_tflops": r.peak_flops / 1e12, "peak_memory_mb": _peak_mb(),
            "loss_first_last": [r.losses[0], r.losses[-1]] if r.losses else None,
            "val_losses": r.val_losses}


def ratios(results: dict) -> dict:
    def rate(name):
        r = results.get(name) or {}
        return r.get("steady_tokens_per_s")

    pairs = {"pretrain / plain eager loop (goal >= 1.5)": ("pretrain", "plain"),
             "pretrain compiled / eager": ("pretrain", "pretrain-eager"),
             "full fine-tune / pretrain (goal >= 0.8)": ("full", "pretrain"),
             "LoRA / full fine-tune (goal >= 1.0)": ("lora", "full"),
             "full fine-tune flex / sdpa attention": ("full-flex", "full")}
    return {label: round(rate(a) / rate(b), 3) for label, (a, b) in pairs.items()
            if rate(a) and rate(b)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tiny", action="store_true", help="a tiny model for a few steps (CPU smoke)")
    p.add_argument("--phases", default=",".join(PHASES))
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per phase")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "gpu-training")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--task-base", default=None, help="task-head: the LLM (default smollm2; "
                   "with --tiny the pretrain phase's model); a .gguf file or model folder")
    args = p.parse_args()
    shape = TINY if args.tiny else FULL
    steps = args.steps or (6 if args.tiny else 120)
    phases = [x.strip() for x in args.phases.split(",") if x.strip()]
    os.environ.setdefault("TUNEWISE_REGISTRY", str(args.out / "models.toml"))
    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(json.dumps({"device": device, "torch": torch.__version__, "shape": shape,
                      "steps": steps}), flush=True)
    results: dict[str, dict] = {}
    pt = args.out / "pt"
    for phase in phases:
        _device_free()
        started = time.perf_counter()
        try:
            if phase == "pretrain":
                r = run_pretrain(pt, shape, steps, None)
            elif phase == "pretrain-eager":
                eager = args.out / "pt-eager"
                for part in ("tokens", "tokenizer"):  # the same corpus, tokenized once
                    if (pt / part).exists() and not (eager / part).exists():
                        shutil.copytree(pt / part, eager / part)
                r = run_pretrain(eager, shape, max(steps // 3, 4), False)
            elif phase == "plain":
                tokens = pt / "tokens" if (pt / "tokens").exists() else args.out / "pt-eager" / "tokens"
                r = run_plain(tokens, shape, max(steps // 3, 4))
            elif phase in ("full", "lora", "full-flex"):
                data = pubmedqa_chat(args.out / "pubmedqa.jsonl", shape["rows"])
                method, attention = phase.split("-")[0], "flex_attention" if "flex" in phase else "auto"
                r = run_finetune(pt / "model", data, args.out / f"ft-{phase}", shape,
                                 steps if "flex" not in phase else max(steps // 2, 4), method,
                                 attention=attention)
            elif phase == "task-head":
                base = args.task_base or str(pt / "model" if args.tiny else "smollm2")
                r = run_task_head(base, args.out / "task-head", shape, steps)
            else:
                raise ValueError(f"unknown phase {phase!r}; valid: {', '.join(PHASES)}")
        except Exception as exc:  # a benchmark: report and go on with the other phases
            traceback.print_exc()
            r = {"error": f"{type(exc).__name__}: {exc}"}
        r["seconds"] = round(time.perf_counter() - started, 1)
        results[phase] = r
        print(json.dumps({"phase": phase, **r}), flush=True)
    summary = {"device": device, "shape": shape, "steps": steps, "results": results,
               "ratios": ratios(results), "date": time.strftime("%Y-%m-%d")}
    print("\n| phase | tokens/s (steady) | MFU | peak memory MiB |\n|---|---|---|---|")
    for phase, r in results.items():
        if "error" in r:
            print(f"| {phase} | error: {r['error'][:80]} | | |")
        else:
            print(f"| {phase} | {r['steady_tokens_per_s'] or 0:,.0f} | {r['mfu']:.1%} | "
                  f"{r['peak_memory_mb']:,.0f} |")
    for label, value in summary["ratios"].items():
        print(f"{label}: {value:.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
