"""Training cost from first principles: model shapes, FLOPs per token, GPU-hours at a stated MFU,
dollars and memory per GPU (the plans built on them are `cost.plan`); and the data-labelling
cost of synthesis (teacher tokens × price)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from tunewise.cost.prices import ApiPrice, CostError, Gpu

METHODS = ("full", "lora", "qlora", "pretrain")


def flops_per_token(parameters: int, layers: int = 0, hidden: int = 0, seq_len: int = 0,
                    method: str = "full") -> float:
    """Training FLOPs per token. Weights: forward 2N + backward 4N = 6N (Kaplan et al. 2020);
    attention scores add 12·L·d·T (PaLM, appendix B; nanoGPT's estimate_mfu) when the shape is
    given. LoRA (and QLoRA) freezes the base, so its weight gradients (2N of the 4N backward) are
    skipped: 4N. The adapters' own FLOPs are a fraction of a percent and left out."""
    if method not in METHODS:
        raise CostError(f"unknown training method {method!r}; valid: {', '.join(METHODS)}")
    weights = (4 if method in ("lora", "qlora") else 6) * parameters
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


# --- model shapes -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Shape:
    """A LLaMA-style decoder's shape: what parameters, activations and the KV cache depend on."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    mlp: int  # the gated MLP's width
    vocab: int
    tied: bool = False  # output layer shares the embedding matrix

    @property
    def kv_width(self) -> int:
        return self.kv_heads * (self.hidden // self.heads)

    @property
    def parameters(self) -> int:
        """Embeddings, output layer, per layer attention (q, k, v, o), gated MLP (3 matrices) and
        two norms, the final norm."""
        d, kv = self.hidden, self.kv_width
        per_layer = 2 * d * d + 2 * d * kv + 3 * d * self.mlp + 2 * d
        return self.vocab * d * (1 if self.tied else 2) + self.layers * per_layer + d

    def linears(self) -> list[tuple[int, int]]:
        """(in, out) of one layer's linear layers: q, k, v, o, gate, up, down."""
        d, kv, m = self.hidden, self.kv_width, self.mlp
        return [(d, d), (d, kv), (d, kv), (d, d), (d, m), (d, m), (m, d)]


# Presets shared by `pretrain` (model configs) and the plans. The large ones are the published
# shapes: LLaMA-7B, LLaMA-2-13B, CodeLlama-34B, LLaMA-2-70B (grouped-query attention from 34B).
SIZES = {
    "tiny": Shape(64, 2, 4, 4, 256, 8192),
    "3m": Shape(128, 4, 4, 4, 512, 8192),
    "10m": Shape(256, 6, 8, 8, 768, 16384),
    "30m": Shape(384, 8, 6, 6, 1536, 16384),
    "125m": Shape(768, 12, 12, 12, 2048, 32000),
    "350m": Shape(1024, 24, 16, 16, 2816, 32000),
    "1b": Shape(2048, 22, 32, 4, 5632, 32000),  # TinyLlama-1.1B
    "7b": Shape(4096, 32, 32, 32, 11008, 32000),
    "13b": Shape(5120, 40, 40, 40, 13824, 32000),
    "34b": Shape(8192, 48, 64, 8, 22016, 32000),
    "70b": Shape(8192, 80, 64, 8, 28672, 32000),
}


@dataclass(frozen=True)
class ModelSize:
    """What a plan is for: a parameter count and the shape its activations are sized by."""

    name: str
    parameters: int
    shape: Shape
    note: str = ""


def model_size(spec: str) -> ModelSize:
    """A preset (`7b`), a Hugging Face config.json or a folder holding one, or a parameter count
    (`3e9`, `2.7b`, `500m`): a count takes the layer shape of the preset nearest in size."""
    key = spec.strip().lower()
    if key in SIZES:
        return ModelSize(key, SIZES[key].parameters, SIZES[key])
    path = Path(spec)
    if path.is_dir():
        path = path / "config.json"
    if path.is_file():
        c = json.loads(path.read_text())
        try:
            heads = c["num_attention_heads"]
            shape = Shape(c["hidden_size"], c["num_hidden_layers"], heads,
                          c.get("num_key_value_heads") or heads, c["intermediate_size"],
                          c["vocab_size"], bool(c.get("tie_word_embeddings", False)))
        except KeyError as exc:
            raise CostError(f"{path} has no {exc.args[0]}: give a LLaMA-style config.json") from None
        return ModelSize(c.get("_name_or_path") or str(spec), shape.parameters, shape)
    scale = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
    try:
        count = (float(key[:-1]) * scale[key[-1]]) if key[-1:] in scale else float(key)
    except ValueError:
        raise CostError(f"unknown model size {spec!r}: a preset ({', '.join(SIZES)}), a config.json "
                        "or a parameter count such as 3e9 or 2.7b") from None
    if count < 1e5:
        raise CostError(f"{spec!r} is {count:,.0f} parameters: too few for a plan")
    name, shape = min(SIZES.items(), key=lambda kv: abs(math.log(kv[1].parameters / count)))
    return ModelSize(f"{count / 1e9:.3g}B" if count >= 1e9 else f"{count / 1e6:.3g}M", int(count),
                     shape, f"activations sized by the {name} preset's layer shape")


# --- training memory --------------------------------------------------------------------------

# Bytes a trained parameter costs with bf16 mixed precision and AdamW: 16-bit weights and gradients
# plus fp32 master weights, momentum and variance (2 + 2 + 12: ZeRO, Rajbhandari et al. 2020).
TRAINED_BYTES = 16
FROZEN_BYTES = {"lora": 2.0, "qlora": 0.5 + 0.127 / 8}  # a frozen base: bf16, or NF4 + constants
HEADROOM = 0.9  # share of a GPU's memory a plan may fill (allocator fragmentation, CUDA context)


def lora_parameters(shape: Shape, rank: int) -> int:
    """LoRA on every linear layer of every block (PEFT's all-linear): r·(in + out) each."""
    return shape.layers * sum(rank * (i + o) for i, o in shape.linears())


def activation_bytes(shape: Shape, tokens: int, seq_len: int, checkpointing: bool,
                     flash: bool = True) -> float:
    """16-bit tensors a LLaMA block keeps for its backward pass, per the count of Korthikanti et
    al. 2022 (§4.1) done for a gated MLP and no dropout: attention saves its norm's input, the
    q/k/v input, Q, K, V and the o-projection input (12·h + 4·kv bytes a token, with the second
    norm); the MLP its input, gate, up, activation and product (2·h + 8·m); eager attention also
    keeps the softmax (2·heads·seq_len bytes a token), which FlashAttention recomputes. With
    checkpointing each block keeps only its input (2·h) and one block is recomputed at a time.
    The output layer's fp32 logits and their log-softmax add 8·vocab bytes a token."""
    per_token = 12 * shape.hidden + 4 * shape.kv_width + 8 * shape.mlp
    if not flash:
        per_token += 2 * shape.heads * seq_len
    layers = (2 * shape.hidden * shape.layers + per_token) if checkpointing else per_token * shape.layers
    return tokens * (layers + 8 * shape.vocab)


@dataclass(frozen=True)
class Memory:
    """Bytes per GPU: the training state sharded over the GPUs (FSDP / ZeRO-3), activations of one
    micro-batch on each."""

    weights: float
    gradients: float
    optimizer: float
    activations: float  # with the chosen checkpointing
    activations_without: float  # no checkpointing
    activations_with: float  # full checkpointing

    @property
    def state(self) -> float:
        return self.weights + self.gradients + self.optimizer

    @property
    def total(self) -> float:
        return self.state + self.activations


def training_memory(size: ModelSize, method: str, seq_len: int, micro_batch: int, gpus: int = 1,
                    checkpointing: bool = True, lora_r: int = 16, flash: bool = True) -> Memory:
    """Memory per GPU of a fine-tune (full, lora, qlora) or pretraining (pretrain = full)."""
    n = size.parameters
    if method in ("full", "pretrain"):
        weights, gradients, optimizer = 2.0 * n, 2.0 * n, 12.0 * n
    elif method in ("lora", "qlora"):
        a = lora_parameters(size.shape, lora_r)
        if method == "qlora":  # bitsandbytes keeps the embeddings and output layer in 16 bits
            embed = size.shape.vocab * size.shape.hidden * (1 if size.shape.tied else 2)
            weights = FROZEN_BYTES["qlora"] * (n - embed) + 2.0 * embed
        else:
            weights = FROZEN_BYTES["lora"] * n
        # adapters in fp32 (PEFT's default): weights 4, gradients 4, AdamW moments 8
        weights += 4.0 * a
        gradients, optimizer = 4.0 * a, 8.0 * a
    else:
        raise CostError(f"unknown training method {method!r}; valid: full, lora, qlora, pretrain")
    tokens = micro_batch * seq_len
    without = activation_bytes(size.shape, tokens, seq_len, False, flash)
    with_ = activation_bytes(size.shape, tokens, seq_len, True, flash)
    return Memory(weights / gpus, gradients / gpus, optimizer / gpus,
                  with_ if checkpointing else without, without, with_)
