"""Serving cost: $ per query through an API or on a rented GPU, the month at a given volume, and
the volume where self-hosting starts to pay.

Self-hosted throughput is either measured (an evaluation run's answers on a known machine) or a
roofline estimate: prefill is compute-bound (2·N FLOPs per prompt token at `mfu` of the peak);
each decode step reads the weights once for the whole batch plus every sequence's KV cache, and is
bound by memory bandwidth or by 2·N·batch FLOPs, whichever is slower."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tunewise.cost.prices import CostError, Gpu

HOURS_PER_MONTH = 730  # how clouds bill a month (8,760 h / 12)
DAYS_PER_MONTH = HOURS_PER_MONTH / 24


@dataclass(frozen=True)
class Workload:
    """One query's tokens, the mean over an evaluation run's answers."""

    prompt_tokens: float
    completion_tokens: float


@dataclass(frozen=True)
class Footprint:
    """What the roofline needs to know about a model."""

    parameters: int
    weight_bytes: int  # as served (the GGUF file's tensors: quantised weights stay quantised)
    kv_bytes_per_token: int  # K and V of every layer for one token, 16-bit cache


@dataclass(frozen=True)
class Hosting:
    """A model served on rented devices: device-seconds per query at full load, and how much of the
    rented time does useful work (`utilisation`: traffic is not flat, servers idle at night)."""

    gpu: Gpu
    seconds_per_query: float
    utilisation: float
    basis: str  # how seconds_per_query was found, for the report

    def per_query(self) -> float:
        return self.gpu.price_per_hour / 3600 * self.seconds_per_query / self.utilisation

    def capacity_per_day(self) -> float:
        """Queries one device answers per day at the given utilisation."""
        return 86400 * self.utilisation / self.seconds_per_query

    def devices(self, queries_per_day: float) -> int:
        return max(1, math.ceil(queries_per_day / self.capacity_per_day()))

    def monthly(self, queries_per_day: float) -> float:
        """Whole devices rented all month: at least one, however few the queries."""
        return self.devices(queries_per_day) * self.gpu.price_per_hour * HOURS_PER_MONTH


def roofline_seconds(model: Footprint, gpu: Gpu, work: Workload, batch: int = 8,
                     mfu: float = 0.5) -> float:
    """Device-seconds one query occupies when `batch` sequences are decoded together."""
    if gpu.peak_flops <= 0 or gpu.bandwidth <= 0:
        raise CostError(f"{gpu.name} has no peak FLOP/s or bandwidth in the price table: "
                        "a CPU machine is priced from measured throughput only")
    if model.weight_bytes > gpu.memory_gb * 1e9:
        raise CostError(f"the model's {model.weight_bytes / 1e9:.1f} GB of weights do not fit in "
                        f"one {gpu.name} ({gpu.memory_gb:g} GB)")
    compute = gpu.peak_flops * mfu
    prefill = 2 * model.parameters * work.prompt_tokens / compute
    # Mean context while decoding: the prompt plus half the answer.
    context = work.prompt_tokens + work.completion_tokens / 2
    step_bytes = model.weight_bytes + batch * context * model.kv_bytes_per_token
    step = max(step_bytes / gpu.bandwidth, 2 * model.parameters * batch / compute)
    return prefill + work.completion_tokens * step / batch


def api_monthly(per_query: float, queries_per_day: float) -> float:
    return per_query * queries_per_day * DAYS_PER_MONTH


def break_even(api_per_query: float, hosting: Hosting) -> float | None:
    """Queries per day above which self-hosting costs less than the API, or None if it never does.

    The API's month grows in proportion to volume; hosting costs one device-month until that
    device is full, so they cross at device-month ÷ (API $/query × days) — if that volume fits on
    one device. If it does not, a full device costs more than the API would for the same queries,
    and adding devices never catches up."""
    if api_per_query <= 0:
        return None
    crossing = hosting.gpu.price_per_hour * HOURS_PER_MONTH / (api_per_query * DAYS_PER_MONTH)
    return crossing if crossing <= hosting.capacity_per_day() else None
