"""Plans: what a training run would need before anyone pays for it. `pretrain_plan` sizes a
model trained from scratch (Chinchilla tokens, 6·N·D FLOPs, device-hours and days on the GPUs of
the price table); `finetune_plan` a fine-tune (memory per GPU, the fewest GPUs that hold it, hours
and dollars). Both are arithmetic over `cost.training`'s shapes and FLOP counts; the command is
`tunewise plan pretrain|finetune`."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tunewise.cost.prices import CostError, Gpu, Prices, load_prices
from tunewise.cost.training import (
    HEADROOM,
    TRAINED_BYTES,
    Memory,
    ModelSize,
    flops_per_token,
    model_size,
    training_cost,
    training_memory,
)

TOKENS_PER_PARAMETER = 20  # Chinchilla (Hoffmann et al. 2022)

# MFU assumed per GPU of the price table (tunewise/cost/prices.toml): LLaMA-7B's 1T tokens in
# 82,432 A100-hours is 3,370 tokens/s/GPU = 44% of peak; H100 runs reach a lower share of a higher peak.
PLAN_MFU = {"a100-80gb": 0.45, "h100": 0.40}
HERE_MFU = 0.3  # what small models reach on a CPU


# --- pretraining ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PretrainPlan:
    size: ModelSize
    tokens: int
    flops: float
    gpus: int
    memory_per_gpu: float  # bytes: the sharded training state (16 per parameter) ÷ gpus
    devices: list[dict]

    @property
    def parameters(self) -> int:
        return self.size.parameters


def pretrain_plan(size: str, tokens: int | None = None, gpus: dict[str, float] | None = None,
                  here_flops: float | None = None, prices: Prices | None = None,
                  count: int = 1) -> PretrainPlan:
    """Chinchilla-optimal tokens (20 per parameter unless given), training FLOPs (6·N·D), and on
    each GPU of `gpus` (price-table name → assumed MFU) the device-hours, the cost and the
    wall-clock days on `count` of them; `here_flops` (this machine's measured matmul FLOP/s,
    `train.hardware.measured_peak_flops`) adds this machine at 30% of it. `size`: a preset, a
    config.json or a parameter count (`cost.training.model_size`)."""
    prices = prices or load_prices()
    m = model_size(size)
    n = m.parameters
    d = tokens or TOKENS_PER_PARAMETER * n
    devices = [(prices.gpu(name), mfu) for name, mfu in (gpus or PLAN_MFU).items()]
    if here_flops:
        devices.append((Gpu("this machine (measured)", 0.0, here_flops / 1e12, 0.0, 0.0,
                            "measured matmul", time.strftime("%Y-%m-%d")), HERE_MFU))
    rows = []
    for gpu, mfu in devices:
        c = training_cost(n, d, gpu, mfu)
        rows.append({"device": gpu.name, "peak_tflops": gpu.peak_tflops, "mfu": mfu,
                     "device_hours": c.gpu_hours, "cost_usd": c.usd,
                     "days": c.gpu_hours / count / 24, "memory_gb": gpu.memory_gb})
    return PretrainPlan(m, int(d), 6.0 * n * d, count, TRAINED_BYTES * n / count, rows)


# --- fine-tuning ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FinetunePlan:
    size: ModelSize
    method: str
    tokens: float  # trained, all epochs
    gpu: Gpu
    gpus: int
    checkpointing: bool
    memory: Memory
    fits: bool
    mfu: float
    flops: float
    hours: float  # wall-clock on `gpus` GPUs
    usd: float


def finetune_plan(size: ModelSize, tokens: float, gpu: Gpu, method: str = "lora",
                  gpus: int | None = None, seq_len: int = 2048, micro_batch: int = 1,
                  checkpointing: bool | None = None, lora_r: int = 16, mfu: float = 0.06,
                  flash: bool = True) -> FinetunePlan:
    """Memory per GPU, the GPUs it needs and the time and money on them. `gpus` None: the fewest
    (1, 2, 4, 8 … 512) whose memory holds the sharded state and one micro-batch's activations;
    `checkpointing` None: off if that fits, else on (it recomputes the forward pass: +2·N FLOPs a
    token)."""
    if gpu.memory_gb <= 0 or gpu.peak_flops <= 0:
        raise CostError(f"{gpu.name} has no memory or peak FLOP/s in the price table to plan on")
    budget = gpu.memory_gb * 1e9 * HEADROOM

    def memory(n: int, ckpt: bool) -> Memory:
        return training_memory(size, method, seq_len, micro_batch, n, ckpt, lora_r, flash)

    options = [False, True] if checkpointing is None else [checkpointing]
    counts = [gpus] if gpus else [2**i for i in range(10)]
    chosen = None
    for n in counts:  # fewest GPUs first, and on each, no checkpointing before checkpointing
        for ckpt in options:
            if memory(n, ckpt).total <= budget:
                chosen = (n, ckpt)
                break
        if chosen:
            break
    fits = chosen is not None
    n, ckpt = chosen or (counts[-1], options[-1])
    per_token = flops_per_token(size.parameters, method=method)
    per_token += 2 * size.parameters if ckpt else 0
    flops = per_token * tokens
    hours = flops / (n * gpu.peak_flops * mfu) / 3600
    return FinetunePlan(size, method, tokens, gpu, n, ckpt, memory(n, ckpt), fits, mfu, flops,
                        hours, hours * n * gpu.price_per_hour)
