"""Training cost from first principles: FLOPs per token, GPU-hours at a stated MFU, dollars; and
the data-labelling cost of synthesis (teacher tokens × price)."""

from __future__ import annotations

from dataclasses import dataclass

from tunewise.cost.prices import ApiPrice, CostError, Gpu

METHODS = ("full", "lora", "pretrain")


def flops_per_token(parameters: int, layers: int = 0, hidden: int = 0, seq_len: int = 0,
                    method: str = "full") -> float:
    """Training FLOPs per token. Weights: forward 2N + backward 4N = 6N (Kaplan et al. 2020);
    attention scores add 12·L·d·T (PaLM, appendix B; nanoGPT's estimate_mfu) when the shape is
    given. LoRA freezes the base, so its weight gradients (2N of the 4N backward) are skipped: 4N.
    The adapters' own FLOPs are a fraction of a percent and left out."""
    if method not in METHODS:
        raise CostError(f"unknown training method {method!r}; valid: {', '.join(METHODS)}")
    weights = (4 if method == "lora" else 6) * parameters
    return weights + 12 * layers * hidden * seq_len


def mfu(flops_per_token: float, tokens_per_second: float, peak_flops: float) -> float:
    """Model FLOPs utilisation: the FLOP/s the model's arithmetic needs at the measured speed, as a
    share of the device's peak."""
    return flops_per_token * tokens_per_second / peak_flops


@dataclass(frozen=True)
class TrainingCost:
    method: str
    parameters: int
    tokens: float
    flops: float
    gpu: str
    mfu: float
    gpu_hours: float
    usd: float


def training_cost(parameters: int, tokens: float, gpu: Gpu, mfu: float, method: str = "full",
                  per_token: float | None = None) -> TrainingCost:
    """FLOPs = per-token FLOPs × tokens (6·N·D for full training), hours on `gpu` at `mfu`."""
    flops = (per_token or flops_per_token(parameters, method=method)) * tokens
    hours = flops / (gpu.peak_flops * mfu) / 3600
    return TrainingCost(method, parameters, tokens, flops, gpu.name, mfu, hours,
                        hours * gpu.price_per_hour)


def synthesis_cost(prompt_tokens: int, completion_tokens: int, teacher: ApiPrice) -> float:
    """What a teacher model charges to write instruction data."""
    return teacher.per_query(prompt_tokens, completion_tokens)
