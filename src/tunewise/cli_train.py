"""`tunewise finetune`: a thin wrapper over `tunewise.train.finetune`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tunewise.cli_common import console, out


def finetune_cmd(
    data: Annotated[Path, typer.Option(help="Training examples (Alpaca, ShareGPT, OpenAI "
                                       "messages or question/answer JSONL).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder; one with checkpoints "
                                          "resumes.")],
    val: Annotated[Optional[Path], typer.Option(help="Validation examples (loss each epoch).")] = None,
    base: Annotated[Optional[str], typer.Option(
        help="smollm2 (bundled), a .gguf file or a Hugging Face model folder.")] = None,
    method: Annotated[Optional[str], typer.Option(help="lora (default) or full.")] = None,
    recipe: Annotated[Optional[Path], typer.Option(
        "--config", help="Recipe TOML with a [finetune] table (examples/finetune-lora.toml).")] = None,
    epochs: Annotated[Optional[float], typer.Option(help="Passes over the data (default 3).")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after N optimizer steps.")] = None,
    lr: Annotated[Optional[float], typer.Option(
        "--lr", help="Learning rate (default 2e-4 LoRA, 2e-5 full).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Rows per step (default 8).")] = None,
    max_length: Annotated[Optional[int], typer.Option(help="Tokens per row (default 512).")] = None,
    packing: Annotated[Optional[bool], typer.Option(
        "--packing/--no-packing", help="Pack short examples into full rows (default on).")] = None,
    name: Annotated[Optional[str], typer.Option(
        help="Register the result as this model name (default ft-<OUT folder>).")] = None,
) -> None:
    """Fine-tune an open model on instruction data (LoRA or full), then write the adapter, a merged
    model and a GGUF file, and register it as a model for `ask`, `eval` and serving.

    The chat template is the model's own, as at inference; only answer tokens carry loss. Run the
    same command again to resume from the last checkpoint.

    Example: `tunewise finetune --data data/train.jsonl --val data/val.jsonl --out runs/ft-kestrel`
    """
    from tunewise.train.finetune import finetune, load_recipe

    config = load_recipe(recipe, base=base, method=method, epochs=epochs, max_steps=max_steps,
                         learning_rate=lr, batch_size=batch_size, max_length=max_length,
                         packing=packing, name=name)
    try:
        result = finetune(data, out_dir, config, val)
    except KeyboardInterrupt:
        console.print(f"interrupted: run the same command to resume from the last checkpoint in "
                      f"{out_dir}/checkpoints")
        raise typer.Exit(130) from None
    losses = f"{result.losses[0]:.3f} → {result.losses[-1]:.3f}" if result.losses else "–"
    val_losses = ", ".join(f"{v:.3f}" for v in result.val_losses) or "–"
    out.print(f"{result.examples} examples ({result.truncated} cut to {config.max_length} tokens) "
              f"in {result.rows} rows | {result.steps} steps, loss {losses}, validation {val_losses}")
    out.print(f"{result.tokens_per_s:.0f} tokens/s, peak memory {result.peak_memory_mb:.0f} MiB, "
              f"{result.seconds:.0f} s")
    for label, path in (("adapter", result.adapter), ("merged", result.merged), ("gguf", result.gguf)):
        if path:
            out.print(f"{label}: {path}")
    if result.name:
        out.print(f"registered as model {result.name!r}: tunewise ask \"…\" --model {result.name}")
