"""Tasks where fine-tuning can win (issue 26): every system beside the task's baselines on one
held-out split, a learning curve for the systems that train, and the decision report.

    python bench/task_eval.py phrasebank   # Financial PhraseBank: classify 2,762 sentences
    python bench/task_eval.py kleister     # Kleister-NDA: extract 4 keys from 254 NDA PDFs
    python bench/task_eval.py pubmedqa     # PubMedQA: the conclusion from the rest of the abstract

Splits: PhraseBank and Kleister are split here, seeded (80% train, 20% test); PubMedQA keeps
its official 500-question test split (the other 500 train). Nothing is tuned on a test part: the
systems' settings are tunewise's defaults. Each stage resumes; outputs under bench/out/tasks/SET,
the report in bench/out/tasks/SET/run/report.md. `--stage` runs one group of systems (prompted,
trained, finetune) so a long run can be split; `--limit N` scores only the first N test items."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

from common import DATA, OUT

os.environ.setdefault("TUNEWISE_REGISTRY", str(OUT / "models.toml"))

from tunewise.config import ModelSettings, load_settings  # noqa: E402
from tunewise.evaluate.summary import to_markdown  # noqa: E402
from tunewise.report.build import build_report  # noqa: E402
from tunewise.report.render import headline, write_report  # noqa: E402
from tunewise.systems import parse_systems  # noqa: E402
from tunewise.tasks import task_named  # noqa: E402
from tunewise.tasks.base import Item  # noqa: E402
from tunewise.tasks.datasets import TEST, TRAIN, load_items, prepare_task  # noqa: E402
from tunewise.tasks.runner import ALL, TaskOptions, run_task  # noqa: E402
from tunewise.tasks.scoring import run_summary  # noqa: E402
from tunewise.workspace import Workspace  # noqa: E402

# (systems, train sizes) per stage and set; ALL is the whole training part
STAGES = {
    "phrasebank": {"trained": ("encoder", (25, 50, 100, 200, 400, ALL)),
                   "prompted": ("local,local:shots=4", (ALL,)),
                   # the LLM fine-tunes of issue 35: a classification head and the generative
                   # fine-tune on a short prompt, on all 2,210 sentences, then the head's curve
                   "finetune": ("finetune:head,finetune:lora", (ALL,)),
                   "curve": ("finetune:head", (100, 400, ALL)),
                   "head": ("finetune:head", (ALL,)),
                   "gemma": ("finetune:head:base=gemma3", (ALL,)),
                   "gemma-prompted": ("gemma3,gemma3:shots=4", (ALL,)),
                   "gemma-zero": ("gemma3", (ALL,))},
    "kleister": {"prompted": ("local,local:view=head", (ALL,)),
                 "finetune": ("finetune:lora", (50,)),
                 "gemma": ("finetune:lora:base=gemma3", (50,)),
                 "gemma-prompted": ("gemma3", (ALL,))},
    "pubmedqa": {"prompted": ("local,local:shots=1", (ALL,)),
                 "finetune": ("finetune:lora", (100,)),
                 "gemma": ("finetune:lora:base=gemma3", (100,)),
                 "gemma-prompted": ("gemma3", (ALL,))},
}
# the second bundled model, prompted like the first (`[models.gemma3]` in tunewise.toml)
MODELS = {"gemma3": ModelSettings(backend="local", model="gemma3")}
TASK = {"phrasebank": "classify", "kleister": "extract", "pubmedqa": "summarize"}


def prepare(name: str, folder) -> None:
    """train.jsonl and test.jsonl of the set, made once."""
    if (folder / TEST).exists():
        return
    started = time.perf_counter()
    if name == "phrasebank":
        counts = prepare_task(DATA / "financial-phrasebank" / "train.csv", folder, "classify",
                              text="sentence", label="label", seed=0)
    elif name == "kleister":
        counts = prepare_task(DATA / "kleister-nda", folder, "extract", seed=0)
    else:
        data = json.loads((DATA / "pubmedqa" / "ori_pqal.json").read_text())
        test_ids = set(json.loads((DATA / "pubmedqa" / "test_ground_truth.json").read_text()))
        items = {True: [], False: []}
        for pmid, r in data.items():
            # the abstract without its conclusion in, the conclusion (LONG_ANSWER) out
            items[pmid in test_ids].append(Item(pmid, " ".join(r["CONTEXTS"]), r["LONG_ANSWER"]))
        folder.mkdir(parents=True, exist_ok=True)
        for part, file in ((False, TRAIN), (True, TEST)):
            (folder / file).write_text("".join(json.dumps(i.to_record("summarize")) + "\n"
                                               for i in items[part]))
        counts = {"train": len(items[False]), "test": len(items[True]), "problems": []}
    print(f"prepared {name}: {counts['train']} train, {counts['test']} test, "
          f"{len(counts['problems'])} skipped in {time.perf_counter() - started:.0f} s")
    for problem in counts["problems"]:
        print(f"  skipped {problem}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("set", choices=sorted(STAGES))
    p.add_argument("--stage", action="append", help="only these stages (default: all)")
    p.add_argument("--limit", type=int, default=None, help="only the first N test items")
    p.add_argument("--max-input-tokens", type=int, default=1024)
    p.add_argument("--finetune-epochs", type=float, default=2.0)
    p.add_argument("--run", default="run", help="the run folder's name under bench/out/tasks/SET "
                   "(another name measures the same systems afresh, e.g. for a timing alone)")
    args = p.parse_args()
    folder = OUT / "tasks" / args.set
    prepare(args.set, folder)
    task, train = load_items(folder / TRAIN)
    _, test = load_items(folder / TEST)
    test = test[:args.limit]
    run = folder / args.run
    settings = load_settings(env={**os.environ, "TUNEWISE_STORE_URL": f"sqlite:{folder / 'unused.db'}"})
    settings = dataclasses.replace(settings, models={**MODELS, **settings.models})
    baselines = ",".join(f"baseline:{b.name}" for b in task_named(task).baselines)
    # baselines that learn (TF-IDF) get the trained systems' learning curve; the others one run
    curve = STAGES[args.set].get("trained", ("", (ALL,)))[1]
    stages = [("baselines", (baselines, curve))] + [
        (s, v) for s, v in STAGES[args.set].items() if not args.stage or s in args.stage]
    with Workspace(settings) as ws:
        for stage, (systems, sizes) in stages:
            options = TaskOptions(max_input_tokens=args.max_input_tokens,
                                  finetune_epochs=args.finetune_epochs, train_sizes=sizes)
            started = time.perf_counter()
            report = run_task(ws, task, parse_systems(systems), train, test, run, options,
                              on_status=lambda text: print(f"  {text}", flush=True))
            print(f"{stage}: {systems} — {report.answered} predicted, {report.skipped} already "
                  f"done, {report.failed} failed in {time.perf_counter() - started:.0f} s",
                  flush=True)
        summary = run_summary(run)
        print(to_markdown(summary))
        built = build_report(run, ws.settings)
        write_report(built, run)
        print(f"report: {headline(built)} (ranked by {built.metric})")
        for note in (built.task.notes if built.task else []):
            print(f"  {note}")
        print(f"written to {run}/report.md")


if __name__ == "__main__":
    main()
