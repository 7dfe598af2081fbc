"""Data-parallel fine-tuning: two CPU processes (gloo, torch.distributed.run) with half the batch
each reach the same weights as one process with the whole batch."""

import json
import os
import socket
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from tests.conftest import ROOT
from tests.train.conftest import tiny_llama


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], tmp_path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1",
               TUNEWISE_REGISTRY=str(tmp_path / "registry.toml"))
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("fsdp", ["", "full_shard auto_wrap"], ids=["ddp", "fsdp"])
def test_two_processes_match_one(smol_tokenizer, tmp_path, fsdp):
    """DDP replicates the model; FSDP shards weights, gradients and optimizer state across the
    processes (for models that fit no single device). Either way the weights equal one process's."""
    smol_tokenizer.save_pretrained(tmp_path / "tok")
    worker = str(ROOT / "tests" / "train" / "ddp_worker.py")
    run([worker, str(tmp_path / "tok"), str(tmp_path / "one"), "4"], tmp_path)
    run(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(free_port()), worker, str(tmp_path / "tok"), str(tmp_path / "two"),
         "2", fsdp], tmp_path)
    one = load_file(tmp_path / "one" / "merged" / "model.safetensors")
    two = load_file(tmp_path / "two" / "merged" / "model.safetensors")
    assert one.keys() == two.keys()
    apart = max((one[k] - two[k]).abs().max().item() for k in one)
    assert apart < 1e-4, f"largest difference {apart}"
    start = tiny_llama(smol_tokenizer).state_dict()  # the weights both runs started from
    moved = max((one[k] - start[k]).abs().max().item() for k in one)
    assert moved > 100 * max(apart, 1e-6), "training did not move the weights"

    for name in ("one", "two"):
        state = json.loads((tmp_path / name / "finetune.json").read_text())
        assert state["result"]["steps"] == 4
