"""The training device and what a run achieved on it: a GPU or a CPU with bfloat16, the matmul
peak measured (the MFU denominator), tokens/s and peak memory."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

from tunewise.cost.training import flops_per_token, mfu


def measured_peak_flops(n: int = 1024, repeats: int = 5) -> float:
    """The training device's matmul FLOP/s, best of a few runs (float32 on a CPU, bf16 on a GPU,
    as training runs): the MFU denominator, measured since tunewise cannot know every chip's
    datasheet. On a GPU, MFU against the datasheet peak is what `plan` assumes."""
    # lazy: torch takes 1.5 s to import
    import torch

    cuda = torch.cuda.is_available()
    n = 4096 if cuda else n
    kw = {"device": "cuda", "dtype": torch.bfloat16} if cuda else {}
    a, b = torch.randn(n, n, **kw), torch.randn(n, n, **kw)
    best = float("inf")
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        a @ b
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


def speed(trainer, seconds: float, parameters: int, method: str = "full") -> dict:
    """What a run records of its speed, for finetune.json and pretrain.json alike: tokens, tokens/s
    over the whole run and in the steady state, MFU of the steady (else whole-run) rate against
    the device's measured matmul peak, and peak memory."""
    whole = trainer.tokens / seconds if seconds else 0.0
    peak = measured_peak_flops()
    rate = trainer.steady_tokens_per_s or whole
    return {"tokens": trainer.tokens, "tokens_per_s": whole,
            "steady_tokens_per_s": trainer.steady_tokens_per_s, "peak_flops": peak,
            "mfu": mfu(flops_per_token(parameters, method=method), rate, peak),
            "peak_memory_mb": peak_memory_mb()}


def peak_memory_mb() -> float:
    """Peak resident memory of this process (CPU) or peak allocated GPU memory, in MiB."""
    # lazy: torch takes 1.5 s to import
    import torch

    if torch.cuda.is_available() and torch.cuda.max_memory_allocated():
        return torch.cuda.max_memory_allocated() / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def on_gpu() -> bool:
    # lazy: torch takes 1.5 s to import
    import torch

    return torch.cuda.is_available()


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX): there bf16 autocast
    trains a LoRA step 1.35-1.4x faster than float32 (bench/finetune_throughput.py --speed);
    elsewhere it would be emulated, and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: keep float32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
