"""Local generation speed: tokens/s of tunewise's local backend against llama.cpp itself on the
same GGUF file (the bundled SmolLM2-135M-Instruct Q4_1), greedy, in one run; and the time to
first token of `ask` on the sample corpus.

    python bench/local_generation.py [--tokens 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from common import ROOT
from tunewise.config import ModelSettings, Settings
from tunewise.models.local import bundled_gguf
from tunewise.models.local import make as make_local
from tunewise.workspace import Workspace

PROMPT = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]
QUESTIONS = ["What is the one-time home-office allowance for remote employees?",
             "How much is the per diem for business travel?",
             "How long does a firmware release candidate run in the climate chamber?"]


def tokens_per_s(runs: dict, repeat: int) -> dict[str, float]:
    """Median tokens/s of each generate function, run in turns with the order rotating, so that
    the machine's drifting speed hits every side alike."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(repeat):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t = time.perf_counter()
            n = runs[name]()
            rates[name].append(n / (time.perf_counter() - t))
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()

    from llama_cpp import Llama

    # The same settings as tunewise's: all cores (llama-cpp-python's default is half of them).
    raw = Llama(model_path=str(bundled_gguf()), n_ctx=8192, n_threads=os.cpu_count(), seed=0,
                verbose=False)
    ours = make_local("local", ModelSettings())
    hf = make_local("hf", ModelSettings(runtime="transformers"))
    ours.generate(PROMPT, max_tokens=8), hf.generate(PROMPT, max_tokens=8)  # load, warm up

    def run_raw() -> int:
        out = raw.create_chat_completion(PROMPT, max_tokens=args.tokens, temperature=0, top_k=1,
                                         repeat_penalty=ModelSettings().repeat_penalty)
        return out["usage"]["completion_tokens"]

    def run(model):
        return lambda: model.generate(PROMPT, max_tokens=args.tokens).usage.completion_tokens

    rates = tokens_per_s({"llama": run_raw, "ours": run(ours)}, args.repeat)
    llama_rate, ours_rate = rates["llama"], rates["ours"]
    hf_rate = tokens_per_s({"hf": run(hf)}, max(1, args.repeat // 2))["hf"]
    print("| runtime | tokens/s (median) | vs llama.cpp |\n|---|---|---|")
    print(f"| llama-cpp-python, direct | {llama_rate:.1f} | 1.00 |")
    print(f"| tunewise local (auto: llama.cpp) | {ours_rate:.1f} | {ours_rate / llama_rate:.2f} |")
    print(f"| tunewise local (runtime = transformers) | {hf_rate:.1f} | {hf_rate / llama_rate:.2f} |")

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Settings().replace("store", url=f"sqlite:{tmp}/s.db"), models={"local": ours})
        ws.ingest([ROOT / "sample" / "corpus"])
        ws.ask(QUESTIONS[0])  # warm: embedder and index loaded
        firsts, totals = [], []
        for _ in range(args.repeat):
            for q in QUESTIONS:
                a = ws.ask(q, on_token=lambda _t: None)
                firsts.append(a.first_token_s)
                totals.append(a.latency_s)
    print(f"\n`ask` on the sample corpus (warm, streamed, {len(firsts)} answers): time to first "
          f"token median {statistics.median(firsts):.3f} s (max {max(firsts):.3f} s), whole answer "
          f"median {statistics.median(totals):.3f} s")


if __name__ == "__main__":
    main()
