"""Pretraining a LLaMA-style model from scratch on the corpus.

`pretrain()` reads top to bottom: tokenizer (trained on the corpus unless given), the corpus
tokenized once into OUT/tokens, a `LlamaConfig` from a size preset, then the same guarded
Trainer as fine-tuning (checkpoints, resume, non-finite loss stop, torchrun/accelerate for
several processes) on packed fixed-length blocks with warmup and a cosine schedule; validation
loss and perplexity as it goes, tokens/s and MFU at the end. What a size would cost before
training it is `cost.plan.pretrain_plan`."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tunewise.config import register_model
from tunewise.cost.training import SIZES
from tunewise.train.common import TrainingError, check_resumable, last_checkpoint, logged_to
from tunewise.train.corpus import TokenFile, prepare_corpus
from tunewise.train.hardware import speed
from tunewise.train.recipe import TrainingSettings, training_arguments, use_attention
from tunewise.train.tokenizer import train_tokenizer


def llama_config(size: str, vocab_size: int | None = None, seq_len: int = 2048):
    # lazy: transformers takes 0.7 s to import
    from transformers import LlamaConfig

    if size not in SIZES:
        raise TrainingError(f"unknown size {size!r}; valid: {', '.join(SIZES)}")
    s = SIZES[size]
    return LlamaConfig(vocab_size=vocab_size or s.vocab, hidden_size=s.hidden,
                       num_hidden_layers=s.layers, num_attention_heads=s.heads,
                       num_key_value_heads=s.kv_heads, intermediate_size=s.mlp,
                       max_position_embeddings=seq_len, tie_word_embeddings=False,
                       rope_theta=10000.0)


def parameters(config) -> int:
    """Parameters of a LlamaConfig without building it: embeddings, output layer, per layer
    attention (q, k, v, o), gated MLP (3 matrices) and two norms, the final norm."""
    d, v = config.hidden_size, config.vocab_size
    kv = config.num_key_value_heads * (d // config.num_attention_heads)
    per_layer = 2 * d * d + 2 * d * kv + 3 * d * config.intermediate_size + 2 * d
    return v * d * (1 if config.tie_word_embeddings else 2) + config.num_hidden_layers * per_layer + d


# --- training ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PretrainRecipe(TrainingSettings):
    """A recipe: the [pretrain] table of a recipe TOML (examples/pretrain.toml). The settings
    shared with fine-tuning are TrainingSettings'; these defaults suit small models."""

    size: str = "tiny"
    vocab_size: int = 8192  # of the tokenizer trained on the corpus
    seq_len: int = 256
    batch_size: int = 16
    learning_rate: float | None = 3e-3  # small models take large rates (nanoGPT: 1e-3 at 10M)
    max_steps: int = 1000
    max_minutes: float | None = None  # stop (and save) after this much training time
    warmup_ratio: float = 0.05
    weight_decay: float = 0.1
    eval_steps: int = 100
    val_fraction: float = 0.05


@dataclass
class PretrainResult:
    out: str
    name: str | None = None
    parameters: int = 0
    train_tokens: int = 0  # in the corpus
    steps: int = 0
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, training loss)
    val: list[tuple[int, float, float]] = field(default_factory=list)  # (step, loss, perplexity)
    unigram_perplexity: float = 0.0  # of the validation tokens under the training unigram
    tokens: int = 0  # trained on in this process
    seconds: float = 0.0
    tokens_per_s: float = 0.0  # over the whole run, compilation included
    steady_tokens_per_s: float | None = None  # after the first steps
    mfu: float = 0.0  # of the steady (else whole-run) rate, against `peak_flops`
    peak_flops: float = 0.0
    peak_memory_mb: float = 0.0
    logs: str | None = None  # TensorBoard event files: `tensorboard --logdir LOGS`


def pretrain(corpus, out: str | Path, recipe: PretrainRecipe, tokenizer=None) -> PretrainResult:
    """Train a `recipe.size` model on `corpus` (a prepared token folder, or texts) into OUT;
    an OUT with checkpoints resumes."""
    # lazy: torch takes 1.5 s to import; transformers takes 0.7 s to import
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM


    out = Path(out)
    if (out / "tokens" / "meta.json").exists():
        tokens = TokenFile.open(out / "tokens")
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(out / "tokenizer"))
    else:
        texts = list(corpus)  # read once: the tokenizer and the token files both need them
        if tokenizer is None:
            tokenizer = train_tokenizer(texts, out / "tokenizer", recipe.vocab_size)
        else:
            tokenizer.save_pretrained(str(out / "tokenizer"))
        tokens = prepare_corpus(texts, tokenizer, out / "tokens", recipe.val_fraction)
    train, val = Blocks(tokens.tokens("train"), recipe.seq_len), Blocks(tokens.tokens("val"), recipe.seq_len)
    if len(train) == 0:
        raise TrainingError(f"the corpus has {tokens.meta['train_tokens']} training tokens, fewer "
                            f"than one block of {recipe.seq_len}")
    model_config = llama_config(recipe.size, len(tokenizer), recipe.seq_len)
    model_config.bos_token_id = tokenizer.bos_token_id
    model_config.eos_token_id = tokenizer.eos_token_id
    model_config.pad_token_id = tokenizer.pad_token_id
    check_resumable(out, model_config)
    torch.manual_seed(recipe.seed)
    model = LlamaForCausalLM(model_config)
    model.config.use_cache = False
    use_attention(model, recipe)
    result = PretrainResult(str(out), parameters=sum(p.numel() for p in model.parameters()),
                            train_tokens=tokens.meta["train_tokens"])
    result.unigram_perplexity = unigram_perplexity(tokens.tokens("train"), tokens.tokens("val"),
                                                   len(tokenizer))
    args = training_arguments(out, recipe, lr=recipe.learning_rate or 3e-3, epochs=1,
                              scheduler="cosine", eval_strategy="steps" if len(val) else "no",
                              # whole batches only: a short last one would recompile a compiled
                              # model at every epoch's end
                              eval_steps=recipe.eval_steps, drop_last=True)
    # lazy: torch and transformers take 2 s to import (train/trainer.py imports them)
    from tunewise.train.trainer import TimeLimit, guarded_trainer

    trainer = guarded_trainer(model=model, args=args, train_dataset=train,
                              eval_dataset=val if len(val) else None, data_collator=_collate,
                              callbacks=[TimeLimit(recipe.max_minutes)] if recipe.max_minutes else None)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=last_checkpoint(out) is not None)
    result.seconds = time.perf_counter() - started
    _record(result, trainer)
    if trainer.is_world_process_zero():
        _save(trainer.model, tokenizer, out, recipe, result)
    return result


class Blocks:
    """Consecutive, non-overlapping blocks of `seq_len` tokens of a memory-mapped token array
    (documents run into each other, separated by the end-of-text token, as in GPT pretraining)."""

    def __init__(self, tokens, seq_len: int):
        self.tokens, self.seq_len = tokens, seq_len

    def __len__(self) -> int:
        return len(self.tokens) // self.seq_len

    def __getitem__(self, i: int):
        return np.asarray(self.tokens[i * self.seq_len : (i + 1) * self.seq_len], dtype=np.int64)


def _collate(blocks) -> dict:
    # lazy: torch takes 1.5 s to import
    import torch

    ids = torch.from_numpy(np.stack(blocks))
    return {"input_ids": ids, "labels": ids.clone(), "_tokens": int(ids.numel())}


def unigram_perplexity(train, val, vocab_size: int) -> float:
    """Perplexity of the validation tokens under the training tokens' unigram frequencies
    (add-one smoothed): what a model that ignores context achieves."""
    if len(val) == 0:
        return float("nan")
    counts = np.bincount(np.asarray(train, dtype=np.int64), minlength=vocab_size) + 1.0
    logp = np.log(counts / counts.sum())
    return float(math.exp(-logp[np.asarray(val, dtype=np.int64)].mean()))


def _record(result: PretrainResult, trainer) -> None:
    history = trainer.state.log_history
    result.steps = trainer.state.global_step
    result.losses = [(h["step"], h["loss"]) for h in history if "loss" in h]
    result.val = [(h["step"], h["eval_loss"], math.exp(min(h["eval_loss"], 50)))
                  for h in history if "eval_loss" in h]
    vars(result).update(speed(trainer, result.seconds, result.parameters))
    result.logs = logged_to(trainer)


def _save(model, tokenizer, out: Path, recipe: PretrainRecipe, result: PretrainResult) -> None:
    model.config.use_cache = True
    model.save_pretrained(out / "model", safe_serialization=True)
    tokenizer.save_pretrained(out / "model")
    result.name = recipe.name or f"pt-{out.resolve().name}"
    register_model(result.name, out / "model")
    (out / "pretrain.json").write_text(json.dumps(
        {"config": dataclasses.asdict(recipe), "result": dataclasses.asdict(result)}, indent=2))
