"""`tunewise finetune`, `tunewise tokenizer train` and `tunewise pretrain`: thin wrappers over
`tunewise.train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import Progress

from tunewise.cli.common import ConfigOpt, RecipeOpt, StoreOpt, bar_columns, console, out, settings_for

app = typer.Typer()

PLAN_MOVED = "`tunewise plan %s` (the same options)"


@app.command("finetune")
def finetune_cmd(
    data: Annotated[Optional[Path], typer.Option(
        help="Training examples (Alpaca, ShareGPT, OpenAI messages or question/answer JSONL).")
    ] = None,
    corpus: Annotated[Optional[list[str]], typer.Option(
        "--corpus", help="Instead of --data: continue pretraining on these documents (files, "
        "folders or a store URL such as sqlite:PATH): the loss on every token of the raw text.")
    ] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Output folder; one with "
                                                    "checkpoints resumes.")] = None,
    val: Annotated[Optional[Path], typer.Option(
        help="Validation examples: their loss picks the checkpoint kept.")] = None,
    base: Annotated[Optional[str], typer.Option(
        help="smollm2 (bundled), a .gguf file or a Hugging Face model folder.")] = None,
    method: Annotated[Optional[str], typer.Option(help="lora (default), qlora or full.")] = None,
    recipe_file: RecipeOpt = None,
    epochs: Annotated[Optional[float], typer.Option(
        min=0.01, help="Passes over the data (default 3).")] = None,
    max_steps: Annotated[Optional[int], typer.Option(min=1, help="Stop after N optimizer steps.")] = None,
    lr: Annotated[Optional[float], typer.Option(
        "--lr", help="Learning rate (default 2e-4 LoRA, 2e-5 full).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Rows per step (default 8).")] = None,
    max_length: Annotated[Optional[int], typer.Option(min=1, help="Tokens per row (default 512).")] = None,
    packing: Annotated[Optional[bool], typer.Option(
        "--packing/--no-packing", help="Pack short examples into full rows (default on).")] = None,
    min_steps: Annotated[Optional[int], typer.Option(
        min=1, help="At least N optimizer steps, more epochs if need be (small data sets).")] = None,
    val_fraction: Annotated[Optional[float], typer.Option(
        min=0.0, max=0.5, help="Without --val: hold out this share of --data for validation; "
        "the best checkpoint is kept.")] = None,
    early_stopping: Annotated[Optional[int], typer.Option(
        min=1, help="Stop after N validation passes without improvement.")] = None,
    tune: Annotated[Optional[str], typer.Option(
        help="Pick the learning rate on the validation part first: auto (the default rate "
        "x0.5, x1, x2.5) or a list, e.g. 1e-4,2e-4,5e-4; a short trial each.")] = None,
    name: Annotated[Optional[str], typer.Option(
        help="Register the result as this model name (default ft-<OUT folder>).")] = None,
    plan_only: Annotated[bool, typer.Option("--plan", hidden=True)] = False,
) -> None:
    """Fine-tune an open model on instruction data, or continue its pretraining on the documents
    (LoRA or full), then write the adapter, a merged model and a GGUF file, and register it as a
    model for `ask`, `eval` and serving. What it would need at a real size is `tunewise plan
    finetune`.

    The chat template is the model's own, as at inference; only answer tokens carry loss. Run the
    same command again to resume from the last checkpoint.

    Example: `tunewise finetune --data data/train.jsonl --val data/val.jsonl --out runs/ft-kestrel`

    Example: `tunewise finetune --corpus sqlite:.tunewise/store.db --out runs/cpt --epochs 5`
    (continued pretraining on the ingested documents)
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.train.finetune import finetune, load_recipe

    recipe = load_recipe(recipe_file, base=base, method=method, epochs=epochs, max_steps=max_steps,
                         learning_rate=lr, batch_size=batch_size, max_length=max_length,
                         packing=packing, name=name, min_steps=min_steps,
                         val_fraction=val_fraction, early_stopping=early_stopping, tune=tune)
    if plan_only:
        raise typer.BadParameter(f"planning is its own command now: {PLAN_MOVED % 'finetune'}")
    if (data is None) == (corpus is None) or out_dir is None:
        raise typer.BadParameter("fine-tuning needs --out and one of --data (instructions) or "
                                 "--corpus (documents)")
    try:
        result = finetune(data, out_dir, recipe, val,
                          documents=_corpus_texts(corpus) if corpus else None, say=out.print)
    except KeyboardInterrupt:
        console.print(f"interrupted: run the same command to resume from the last checkpoint in "
                      f"{out_dir}/checkpoints")
        raise typer.Exit(130) from None
    losses = f"{result.losses[0]:.3f} → {result.losses[-1]:.3f}" if result.losses else "–"
    val_losses = ", ".join(f"{v:.3f}" for v in result.val_losses) or "–"
    what = (f"{result.examples} documents" if result.objective == "documents" else
            f"{result.examples} examples ({result.truncated} cut to {recipe.max_length} tokens)")
    out.print(f"{what} in {result.rows} rows | {result.steps} steps, loss {losses}, "
              f"validation {val_losses}")
    out.print(f"{result.tokens_per_s:.0f} tokens/s, peak memory {result.peak_memory_mb:.0f} MiB, "
              f"{result.seconds:.0f} s")
    for label, path in (("adapter", result.adapter), ("merged", result.merged), ("gguf", result.gguf)):
        if path:
            out.print(f"{label}: {path}")
    if result.logs:
        out.print(f"curves: tensorboard --logdir {result.logs}")
    if result.name:
        out.print(f"registered as model {result.name!r}: tunewise ask \"…\" --model {result.name}")


@app.command("finetune-retriever")
def finetune_retriever_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder: embedder/, reranker/, "
                                          "retriever.json; one with a finished stage resumes.")],
    data: Annotated[Optional[Path], typer.Argument(
        help="Training questions: a BEIR folder, a SQuAD file or question JSONL whose questions "
        "name their gold documents (doc_ids); `tunewise data synth` output; or JSONL lines "
        "{\"question\", \"passage\"}. Leave out with --pseudo.")] = None,
    embedder: Annotated[bool, typer.Option("--embedder/--no-embedder",
                                           help="Fine-tune the embedder.")] = True,
    reranker: Annotated[bool, typer.Option(
        "--reranker/--no-reranker", help="Also train a cross-encoder reranker (off by default: "
        "on SciFact it ranked worse than the retrieval it reorders; bench/RESULTS.md).")] = False,
    fmt: Annotated[str, typer.Option("--format", help="auto, jsonl, squad or beir.")] = "auto",
    split: Annotated[Optional[str], typer.Option(
        help="BEIR qrels split to train on (train; never the split you report).")] = None,
    negatives: Annotated[int, typer.Option(min=0, help="Hard negatives mined per question.")] = 4,
    epochs: Annotated[float, typer.Option(min=0.01, help="Passes over the pairs.")] = 2,
    batch_size: Annotated[int, typer.Option(min=2, help="Pairs per step (the embedder's "
                                            "in-batch negatives).")] = 32,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Learning rate.")] = 2e-5,
    pseudo: Annotated[int, typer.Option(
        min=0, help="Without DATA: train on N chunks' pseudo-questions (a sentence of the chunk "
        "finds the rest of it: the Inverse Cloze Task), no labels and no teacher.")] = 0,
    store: StoreOpt = None,
    settings_file: ConfigOpt = None,
) -> None:
    """Fit the retriever to your documents: fine-tune the bundled embedder on (question,
    passage) pairs with in-batch and mined hard negatives, and with --reranker train a
    cross-encoder reranker from the same MiniLM weights. The passages and negatives come from
    the store, so ingest the documents first.

    Then re-embed the store with the new embedder (`tunewise store reembed`) and/or set
    `[retrieval] rerank = "cross-encoder"` with `rerank_model` = OUT/reranker; measure both with
    `tunewise eval retrieval` before switching.

    Example: `tunewise finetune-retriever ../shared/data/scifact --split train --out runs/ret --reranker`

    Example: `tunewise finetune-retriever data/synth.jsonl --out runs/ret --no-reranker`

    Example: `tunewise finetune-retriever --pseudo 2000 --out runs/ret` (no questions at all)
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.train.retriever import finetune_retriever
    from tunewise.workspace import Workspace

    if not (embedder or reranker):
        raise typer.BadParameter("nothing to train: --no-embedder and --no-reranker")
    if (data is None) == (not pseudo):
        raise typer.BadParameter("give the training questions (DATA) or --pseudo N, not both")
    with Workspace(settings_for(settings_file, store)) as ws, \
            Progress(*bar_columns(), console=console, transient=True) as bars:
        def stage(name: str, total: int):
            task = bars.add_task(name, total=total)
            return lambda *_: bars.advance(task)

        try:
            record = finetune_retriever(ws, data, out_dir, embedder, reranker, fmt, split,
                                        negatives, epochs, batch_size, lr, progress=stage,
                                        pseudo=pseudo)
        except KeyboardInterrupt:
            console.print("interrupted: run the same command to resume (a finished stage is kept)")
            raise typer.Exit(130) from None
    out.print(f"{record.get('pairs', '?')} pairs, {record.get('mined', '?')} mined negatives "
              f"(store {record['store']})")
    for what in ("embedder", "reranker"):
        if what in record:
            r = record[what]
            losses = f"{r['losses'][0]:.3f} → {r['losses'][-1]:.3f}" if r["losses"] else "–"
            out.print(f"{what}: {r['folder']} | {r['steps']} steps, loss {losses}, "
                      f"{r['seconds']:.0f} s")
    if "embedder" in record:
        out.print(f"next: tunewise store reembed --embedder {record['embedder']['folder']} "
                  f"--to sqlite:{out_dir}/store.db --use")
    if "reranker" in record:
        out.print(f'next: [retrieval] rerank = "cross-encoder", rerank_model = '
                  f'"{record["reranker"]["folder"]}"')


tokenizer_app = typer.Typer(help="Tokenizers for pretraining: train.", no_args_is_help=True,
                            rich_markup_mode="markdown")
app.add_typer(tokenizer_app, name="tokenizer")

CorpusOpt = Annotated[list[str], typer.Option(
    "--corpus", help="Files or folders (any ingestible format), or a store URL (sqlite:PATH).")]


def _corpus_texts(corpus: list[str]):
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.store import is_store_url, open_store
    from tunewise.train.corpus import document_texts, store_texts

    if len(corpus) == 1 and is_store_url(corpus[0]):
        return store_texts(open_store(corpus[0]))
    texts, problems = document_texts(corpus)

    def reported():
        yield from texts
        for path, reason in problems:
            console.print(f"[yellow]skipped[/yellow] {path}: {reason}")

    return reported()


@tokenizer_app.command("train")
def tokenizer_train_cmd(
    corpus: CorpusOpt,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the tokenizer (HF layout).")],
    vocab_size: Annotated[int, typer.Option(help="Vocabulary size.")] = 8192,
) -> None:
    """Train a byte-level BPE tokenizer on the corpus, with ChatML special tokens and template.

    Example: `tunewise tokenizer train --corpus docs/ --out runs/tok --vocab-size 8192`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.train.tokenizer import train_tokenizer

    tok = train_tokenizer(_corpus_texts(corpus), out_dir, vocab_size)
    out.print(f"wrote {out_dir}: {len(tok)} tokens; load it with "
              f"AutoTokenizer.from_pretrained({str(out_dir)!r})")


@app.command("pretrain")
def pretrain_cmd(
    size: Annotated[Optional[str], typer.Option(
        help="Size preset: tiny (default), 3m, 10m, 30m, 125m, 350m, 1b, 7b.")] = None,
    corpus: Annotated[Optional[list[str]], typer.Option(
        "--corpus", help="Files or folders, or a store URL (sqlite:PATH).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Output folder; one with "
                                                    "checkpoints resumes.")] = None,
    plan_only: Annotated[bool, typer.Option("--plan", hidden=True)] = False,
    recipe_file: RecipeOpt = None,
    tokenizer: Annotated[Optional[Path], typer.Option(help="A tokenizer folder (default: train "
                                                      "one on the corpus).")] = None,
    max_steps: Annotated[Optional[int], typer.Option(min=1, help="Optimizer steps.")] = None,
    max_minutes: Annotated[Optional[float], typer.Option(
        min=0.01, help="Stop after this much training.")] = None,
    seq_len: Annotated[Optional[int], typer.Option(min=1, help="Tokens per sequence.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Sequences per step.")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", min=0.0, help="Peak learning rate.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Register as this model name.")] = None,
) -> None:
    """Train a LLaMA-style model from scratch on the corpus. What a size would cost before
    training it is `tunewise plan pretrain`.

    Example: `tunewise pretrain --corpus docs/ --size 10m --out runs/pt --max-minutes 20`
    """
    # lazy: a command imports what it runs (importing every command's: +0.7 s on each --help)
    from tunewise.train.pretrain import PretrainRecipe, pretrain
    from tunewise.train.recipe import read_recipe

    recipe = read_recipe(PretrainRecipe, "pretrain", recipe_file, size=size, max_steps=max_steps,
                         max_minutes=max_minutes, seq_len=seq_len, batch_size=batch_size,
                         learning_rate=lr, name=name)
    if plan_only:
        raise typer.BadParameter(f"planning is its own command now: {PLAN_MOVED % 'pretrain'}")
    if not corpus or out_dir is None:
        raise typer.BadParameter("training needs --corpus and --out")
    tok = None
    if tokenizer is not None:
        # lazy: transformers takes 0.7 s to import
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(tokenizer))
    r = pretrain(_corpus_texts(corpus), out_dir, recipe, tok)
    loss = f", loss {r.losses[0][1]:.3f} → {r.losses[-1][1]:.3f}" if r.losses else ""
    out.print(f"{r.parameters / 1e6:.2f}M parameters, {r.train_tokens:,} corpus tokens | "
              f"{r.steps} steps{loss}")
    for step, loss, ppl in r.val:
        out.print(f"  step {step}: validation loss {loss:.3f}, perplexity {ppl:.1f}")
    out.print(f"unigram baseline perplexity {r.unigram_perplexity:.1f} | {r.tokens_per_s:,.0f} "
              f"tokens/s, MFU {r.mfu:.1%} of this machine's measured {r.peak_flops / 1e9:.0f} "
              f"GFLOP/s | peak memory {r.peak_memory_mb:.0f} MiB, {r.seconds:.0f} s")
    if r.logs:
        out.print(f"curves: tensorboard --logdir {r.logs}")
    out.print(f"registered as model {r.name!r}; instruction-tune it with "
              f"tunewise finetune --base {out_dir}/model ...")
