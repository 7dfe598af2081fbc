"""`tunewise decide --task classify` on Financial PhraseBank in one command, beside the chained
commands it replaces (`eval prepare`, `eval run`, `report`) — same split, same systems — and the
figures of both side by side (they must agree within their intervals).

    python bench/decide_task.py [--systems encoder] [--skip-chained]

PhraseBank's seeded split is task_eval.py's (seed 0, 20% test: 552 sentences). Each leg writes
under bench/out/decide/ (a fresh folder each time); the decide leg registers its winner in
bench/out/decide/registry.toml, which bench/serve_tasks.py then serves."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import DATA, OUT

BIN = Path(sys.executable).parent
WORK = OUT / "decide"
PHRASEBANK = DATA / "financial-phrasebank" / "train.csv"


def timed(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "tunewise"), *argv], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    print(f"$ tunewise {' '.join(argv)}  ({seconds:.0f} s)")
    print("\n".join(done.stdout.strip().splitlines()[-12:]))
    if done.returncode:
        print(done.stderr[-3000:])
        raise SystemExit(f"tunewise {argv[0]} failed ({done.returncode})")
    return seconds


def scores(run: Path) -> dict:
    done = subprocess.run([str(BIN / "tunewise"), "eval", "summary", str(run), "-o", "json"],
                          capture_output=True, text=True, check=True)
    return {s["system"]: s["metrics"] for s in json.loads(done.stdout)["systems"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--systems", default="encoder")
    p.add_argument("--skip-chained", action="store_true")
    args = p.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TUNEWISE_REGISTRY": str(WORK / "registry.toml"),
           "TUNEWISE_STORE_URL": f"sqlite:{WORK / 'unused.db'}"}
    one = timed(["decide", str(PHRASEBANK), "--task", "classify", "--text", "sentence",
                 "--systems", args.systems, "--out", str(WORK / "fpb")], env)
    legs = {"decide --task (one command)": one}
    if not args.skip_chained:
        chained = WORK / "chained"
        legs["eval prepare"] = timed(["eval", "prepare", str(PHRASEBANK), "--task", "classify",
                                      "--text", "sentence", "--out", str(chained / "data")], env)
        legs["eval run"] = timed(["eval", "run", "--questions", str(chained / "data" / "test.jsonl"),
                                  "--systems", args.systems, "--train-sizes", "100,400,all",
                                  "--out", str(chained / "run")], env)
        legs["report"] = timed(["report", str(chained / "run")], env)
    print("\n| leg | wall time |\n|---|---|")
    for name, seconds in legs.items():
        print(f"| {name} | {seconds:.0f} s |")
    if not args.skip_chained:
        print(f"| chained, in all | {sum(v for k, v in legs.items() if 'decide' not in k):.0f} s |")
    ones = scores(WORK / "fpb")
    other = scores(WORK / "chained" / "run") if not args.skip_chained else {}
    print("\n| system | decide: accuracy | decide: macro-F1 [95% CI] | chained: macro-F1 [95% CI] |")
    print("|---|---|---|---|")
    for system, m in ones.items():
        def ci(x):
            return f"{x['mean']:.3f} [{x['low']:.3f}, {x['high']:.3f}]" if x else "–"
        print(f"| {system} | {m['accuracy']['mean']:.3f} | {ci(m.get('macro_f1'))} | "
              f"{ci(other.get(system, {}).get('macro_f1'))} |")
    registry = WORK / "registry.toml"
    print("\nregistry: " + (registry.read_text() if registry.exists()
                            else "none (no system qualified)"))


if __name__ == "__main__":
    main()
