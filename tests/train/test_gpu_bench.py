"""bench/gpu_training.py at a tiny size on the CPU: every phase runs and reports, so the script
that measures levels 2 and 3 on a GPU cannot rot between the sessions that have one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DATA = Path(os.environ.get("TUNEWISE_DATA", ROOT.parent / "shared" / "data"))


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "scifact").exists(), reason="../shared/data is not here")
def test_the_gpu_benchmark_runs_tiny_on_a_cpu(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TUNEWISE_DATA=str(DATA), TQDM_DISABLE="1")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_training.py"), "--tiny", "--steps", "4",
         "--phases", "pretrain,plain,full,lora,task-head", "--out", str(tmp_path / "out"),
         "--json", str(tmp_path / "r.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    for phase in ("pretrain", "plain", "full", "lora", "task-head"):
        result = report["results"][phase]
        assert "error" not in result, (phase, result)
        assert result["steady_tokens_per_s"] > 0 and 0 < result["mfu"] < 1, (phase, result)
    assert set(report["ratios"]) >= {"pretrain / plain eager loop (goal >= 1.5)",
                                     "full fine-tune / pretrain (goal >= 0.8)",
                                     "LoRA / full fine-tune (goal >= 1.0)"}
