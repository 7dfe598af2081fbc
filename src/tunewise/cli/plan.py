"""`tunewise plan pretrain|finetune`: what a training run would need at a real size (GPUs, memory,
hours, dollars) before anyone rents a GPU. Thin wrappers over `tunewise.cost.plan`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tunewise.cli.common import ConfigOpt, RecipeOpt, out
from tunewise.config import load_settings
from tunewise.cost.prices import load_prices

app = typer.Typer(help="What a training run would need at a real size: GPUs, memory per GPU, "
                  "hours and $, before you rent anything. pretrain, finetune.",
                  no_args_is_help=True, rich_markup_mode="markdown")

SizeHelp = "a preset (1b, 7b, 13b, 34b, 70b …), a parameter count (3e9, 2.7b) or a config.json"


@app.command("pretrain")
def plan_pretrain_cmd(
    size: Annotated[Optional[str], typer.Option(help=f"The model: {SizeHelp} (default: the "
                                                "recipe's, else tiny).")] = None,
    tokens: Annotated[Optional[float], typer.Option(
        min=1, help="Training tokens (default 20 per parameter, Chinchilla).")] = None,
    gpus: Annotated[int, typer.Option(min=1, help="GPUs training together (wall-clock days and "
                                      "memory per GPU).")] = 8,
    recipe_file: RecipeOpt = None,
    settings_file: ConfigOpt = None,
) -> None:
    """Pretraining from scratch: parameters, tokens, FLOPs (6·N·D), and on each GPU of the price
    table (and this machine, measured) the device-hours, dollars and days.

    Example: `tunewise plan pretrain --size 7b --tokens 1e12`

    Example: `tunewise plan pretrain --size 70b --tokens 2e12 --gpus 2048`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.cost.plan import pretrain_plan
    from tunewise.train.hardware import measured_peak_flops
    from tunewise.train.pretrain import PretrainRecipe
    from tunewise.train.recipe import read_recipe

    size = read_recipe(PretrainRecipe, "pretrain", recipe_file, size=size).size
    prices = load_prices(load_settings(settings_file).cost.prices)
    p = pretrain_plan(size, int(tokens) if tokens else None, here_flops=measured_peak_flops(),
                      prices=prices, count=gpus)
    note = f" ({p.size.note})" if p.size.note else ""
    out.print(f"{p.size.name}: {p.parameters / 1e6:,.1f}M parameters{note}, "
              f"{p.tokens / 1e9:,.2f}B tokens, {p.flops:.3g} FLOPs (6·N·D)")
    out.print(f"training state (16 bytes a parameter) sharded over {gpus} GPUs: "
              f"{p.memory_per_gpu / 1e9:,.1f} GB per GPU, before activations")
    for d in p.devices:
        fits = (f"; does not fit in {d['memory_gb']:g} GB" if d["memory_gb"] and
                p.memory_per_gpu > d["memory_gb"] * 1e9 else "")
        out.print(f"  {d['device']}: {d['device_hours']:,.0f} device-hours at MFU "
                  f"{d['mfu']:.0%} of {d['peak_tflops']:.3g} TFLOP/s, ${d['cost_usd']:,.0f}; "
                  f"{d['days']:,.1f} days on {gpus}{fits}")


@app.command("finetune")
def plan_finetune_cmd(
    size: Annotated[str, typer.Option(help=f"The model to fine-tune: {SizeHelp}.")] = "7b",
    data: Annotated[Optional[Path], typer.Option(
        help="Training examples whose tokens are counted (with --base's tokenizer and chat "
        "template).")] = None,
    examples: Annotated[Optional[int], typer.Option(
        min=1, help="Number of examples (default: those in --data).")] = None,
    tokens_per_example: Annotated[Optional[float], typer.Option(
        min=1, help="Mean tokens an example (default: counted in --data).")] = None,
    base: Annotated[Optional[str], typer.Option(
        help="The tokenizer that counts --data: smollm2 (bundled), a .gguf or a model folder.")] = None,
    method: Annotated[Optional[str], typer.Option(help="lora (default), qlora or full.")] = None,
    epochs: Annotated[Optional[float], typer.Option(min=0.01, help="Passes over the data "
                                                    "(default 3).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Micro-batch rows per GPU "
                                                      "(default 8).")] = None,
    max_length: Annotated[Optional[int], typer.Option(min=1, help="Tokens per row (default 512).")
                          ] = None,
    recipe_file: RecipeOpt = None,
    gpu: Annotated[Optional[str], typer.Option(
        help="A GPU of the price table (default [cost] train_gpu).")] = None,
    gpus: Annotated[Optional[int], typer.Option(
        min=1, help="GPUs to shard over (default: the fewest that hold it).")] = None,
    checkpointing: Annotated[Optional[bool], typer.Option(
        "--checkpointing/--no-checkpointing",
        help="Gradient checkpointing (default: only if needed to fit).")] = None,
    mfu: Annotated[Optional[float], typer.Option(
        min=0.001, max=1.0, help="Share of peak FLOP/s reached (default [cost] finetune_mfu).")
    ] = None,
    settings_file: ConfigOpt = None,
) -> None:
    """A fine-tune at a real size: memory per GPU (weights, gradients, optimizer, activations with
    and without checkpointing), the fewest GPUs that hold it, hours and dollars. The recipe is the
    same one `tunewise finetune` trains with.

    Example: `tunewise plan finetune --data data/train.jsonl --size 13b --method full --gpu h100`

    Example: `tunewise plan finetune --size 7b --method full --examples 52000
    --tokens-per-example 150 --gpu a100-80gb` (Stanford Alpaca's run)
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.cost.plan import finetune_plan
    from tunewise.cost.training import model_size
    from tunewise.train.finetune import count_tokens, load_recipe

    recipe = load_recipe(recipe_file, base=base, method=method, epochs=epochs, batch_size=batch_size,
                          max_length=max_length)
    settings = load_settings(settings_file)
    if tokens_per_example is None or examples is None:
        if data is None:
            raise typer.BadParameter("give --data, or --examples and --tokens-per-example")
        counted, mean = count_tokens(data, recipe.base, recipe.max_length)
        examples = examples or counted
        tokens_per_example = tokens_per_example or mean
        out.print(f"{data}: {counted:,} examples, {mean:,.0f} tokens each on average "
                  f"({recipe.base}'s tokenizer and chat template, cut at {recipe.max_length})")
    m = model_size(size)
    device = load_prices(settings.cost.prices).gpu(gpu or settings.cost.train_gpu)
    tokens = examples * tokens_per_example * recipe.epochs
    p = finetune_plan(m, tokens, device, recipe.method, gpus, recipe.max_length,
                      recipe.batch_size, checkpointing, recipe.lora_r,
                      mfu or settings.cost.finetune_mfu)
    gb = 1e9
    mem = p.memory
    out.print(f"{m.name}: {m.parameters / 1e9:,.2f}B parameters{f' ({m.note})' if m.note else ''}; "
              f"{recipe.method}, {examples:,} examples × {tokens_per_example:,.0f} tokens × "
              f"{recipe.epochs:g} epochs = {tokens / 1e6:,.1f}M tokens")
    out.print(f"memory per GPU on {p.gpus} × {device.name} ({device.memory_gb:g} GB), micro-batch "
              f"{recipe.batch_size} × {recipe.max_length} tokens:")
    out.print(f"  weights {mem.weights / gb:,.1f} GB, gradients {mem.gradients / gb:,.1f} GB, "
              f"optimizer {mem.optimizer / gb:,.1f} GB (sharded over {p.gpus})")
    out.print(f"  activations {mem.activations_without / gb:,.1f} GB without checkpointing, "
              f"{mem.activations_with / gb:,.1f} GB with")
    out.print(f"  total {mem.total / gb:,.1f} GB "
              f"({'with' if p.checkpointing else 'without'} checkpointing)")
    if not p.fits:
        out.print(f"[red]does not fit[/red] in {device.memory_gb:g} GB × {p.gpus}: use more GPUs, "
                  "a smaller micro-batch, checkpointing or --method qlora")
    out.print(f"{p.flops:.3g} FLOPs at {p.mfu:.0%} MFU: {p.hours:,.1f} hours on {p.gpus} GPU"
              f"{'s' if p.gpus > 1 else ''}, {p.hours * p.gpus:,.1f} GPU-hours, ${p.usd:,.0f} at "
              f"${device.price_per_hour}/h ({device.source}, {device.date})")
