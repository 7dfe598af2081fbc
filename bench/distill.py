"""Distillation on Financial PhraseBank (issue 36): a teacher labels the training part — its gold
labels hidden from the student — and a small encoder trained on the teacher's labels is scored
beside the teacher on the gold test part, with its learning curve in teacher labels, their
agreement and the payback line of the report.

The teacher is the strongest prompted model reachable here, called as an API: the bundled
SmolLM2 served by llama.cpp's OpenAI-compatible server (llama-cpp-python), shown the 4 nearest of
32 gold examples (a seeded sample of the training part: what a team hands an API model as worked
examples). It stands in for an API teacher and is priced as one, at gpt-4o-mini's list price
($0.15 / $0.60 per 1M tokens), so the payback line has a price to work with; the payback is
printed at several volumes.

    python bench/distill.py [--inputs 1000]

Split: task_eval.py's (seed 0, 552 test sentences). Nothing is tuned on the test part. Outputs
under bench/out/distill/; the report in bench/out/distill/run/report.md."""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from common import DATA, OUT, free_port, wait_until_up

os.environ.setdefault("TUNEWISE_REGISTRY", str(OUT / "models.toml"))

from tunewise.config import ModelSettings, load_settings  # noqa: E402
from tunewise.evaluate.summary import to_markdown  # noqa: E402
from tunewise.models.local import bundled_gguf  # noqa: E402
from tunewise.report.build import build_report  # noqa: E402
from tunewise.report.render import write_report  # noqa: E402
from tunewise.systems import parse_systems  # noqa: E402
from tunewise.tasks import classify  # noqa: E402
from tunewise.tasks.base import Item  # noqa: E402
from tunewise.tasks.datasets import TEST, TRAIN, load_items, prepare_task, write_items  # noqa: E402
from tunewise.tasks.label import label_items, teacher_of  # noqa: E402
from tunewise.tasks.runner import ALL, TaskOptions, run_task  # noqa: E402
from tunewise.tasks.scoring import run_summary  # noqa: E402
from tunewise.workspace import Workspace  # noqa: E402

WORK = OUT / "distill"
SEED_EXAMPLES = 32
VOLUMES = (1_000, 10_000, 100_000)  # queries a day the payback is worked out at


def llama_server() -> tuple[subprocess.Popen, str]:
    """llama-cpp-python's OpenAI-compatible server with the bundled GGUF, on a free port."""
    port = free_port()
    log = open(WORK / "llama-server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model",
                               str(bundled_gguf()), "--port", str(port), "--n_ctx", "4096"],
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    if wait_until_up(url + "/models", server, pause=0.2):
        return server, url
    server.kill()
    raise SystemExit("llama.cpp server did not start: see " + str(WORK / "llama-server.log"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--inputs", type=int, default=1000, help="training sentences the teacher labels")
    p.add_argument("--limit", type=int, default=None,
                   help="a smoke run: only the first N test sentences (under bench/out/distill-smoke)")
    args = p.parse_args()
    global WORK
    if args.limit:
        WORK = OUT / "distill-smoke"
    data = WORK / "data"
    if not (data / TEST).exists():
        prepare_task(DATA / "financial-phrasebank" / "train.csv", data, "classify",
                     text="sentence", label="label", seed=0)
    _, train = load_items(data / TRAIN)
    _, test = load_items(data / TEST)
    test = test[:args.limit]
    order = list(train)
    random.Random(0).shuffle(order)
    seed, unlabelled = order[:SEED_EXAMPLES], order[SEED_EXAMPLES:SEED_EXAMPLES + args.inputs]
    seed_file = WORK / "seed.jsonl"
    write_items(seed_file, "classify", seed)
    seed_file = Path(os.path.relpath(seed_file))  # a shorter system name (run from the root)
    teacher = f"teacher:shots=4:examples={seed_file}"
    server, url = llama_server()
    settings = load_settings(env={**os.environ, "TUNEWISE_STORE_URL": f"sqlite:{WORK / 'x.db'}"})
    # SmolLM2 behind an OpenAI-compatible server stands in for an API teacher, priced at
    # gpt-4o-mini's list price ($ per 1M tokens)
    api = ModelSettings(backend="openai", model="smollm2", base_url=url, max_concurrency=1,
                        api_key_env="TUNEWISE_BENCH_NO_KEY", schema_format="json_object",
                        input_price=0.15, output_price=0.60, max_retries=2)
    settings = dataclasses.replace(settings, models={**settings.models, "teacher": api})
    spec = classify.spec(train)
    labelled = WORK / "teacher.jsonl"
    try:
        _measure(settings, spec, seed, seed_file, unlabelled, labelled, teacher, test, args)
    finally:
        server.terminate()
        server.wait(timeout=60)


def _measure(settings, spec, seed, seed_file, unlabelled, labelled, teacher, test, args) -> None:
    with Workspace(settings) as ws:
        started = time.perf_counter()
        done = label_items(ws, "classify", spec, [Item(i.id, i.text, None) for i in unlabelled],
                           "teacher", labelled, shots=seed, shots_file=str(seed_file),
                           max_input_tokens=1024,
                           on_item=lambda: None)
        print(f"teacher labelled {done.labelled}, unparseable {done.rejected}, failed "
              f"{done.failed}, before {done.skipped} in {time.perf_counter() - started:.0f} s; "
              f"{done.prompt_tokens} + {done.completion_tokens} tokens, ${done.spent or 0:.4f} "
              f"(${done.spent_before:.4f} before); labels {done.labels}; {done.errors[:2]}",
              flush=True)
        _, taught = load_items(labelled)
        gold = {i.id: i.gold for i in unlabelled}
        right = sum(gold[i.id] == i.gold for i in taught)
        print(f"teacher labels right on the training inputs: {right}/{len(taught)} "
              f"({right / max(1, len(taught)):.3f})", flush=True)
        name, cost = teacher_of(labelled)
        options = TaskOptions(max_input_tokens=1024, train_sizes=(100, 400, ALL) if not args.limit
                              else (ALL,), teacher=name,
                              labelling_cost=cost, train_file=str(labelled))
        run = WORK / "run"
        started = time.perf_counter()
        report = run_task(ws, "classify", parse_systems([teacher, "encoder", "baseline:majority",
                                                         "baseline:tfidf"]),
                          taught, test, run, options,
                          on_status=lambda text: print(f"  {text}", flush=True))
        print(f"run: {report.answered} predicted, {report.skipped} before, {report.failed} "
              f"failed in {time.perf_counter() - started:.0f} s", flush=True)
        print(to_markdown(run_summary(run)))
        built = build_report(run, ws.settings)
        write_report(built, run)
        for line in built.task.distillation + built.task.notes:
            print(f"- {line}")
        for qpd in VOLUMES:
            at = build_report(run, ws.settings, queries_per_day=qpd)
            print(f"- at {qpd:,} queries a day: {at.task.distillation[1::2]}")
    print(f"report: {run}/report.md")


if __name__ == "__main__":
    main()
