"""Fine-tuning tiny randomly initialised LLaMA models for a few steps through the real recipe:
the loss falls, outputs load and generate, checkpoints resume, a non-finite loss stops the run."""

import json

import pytest
import torch

from tests.conftest import QUESTIONS
from tests.train.conftest import tiny_llama
from tunewise.config import ConfigError, load_settings
from tunewise.train.common import TrainingError
from tunewise.train.finetune import FinetuneRecipe, finetune, load_recipe


@pytest.fixture(autouse=True)
def registry(tmp_path, monkeypatch):
    path = tmp_path / "registry" / "models.toml"
    monkeypatch.setenv("TUNEWISE_REGISTRY", str(path))
    return path


def config(**kw):
    base = dict(max_steps=12, batch_size=4, max_length=128, logging_steps=1, save_steps=100,
                learning_rate=1e-2, warmup_ratio=0.0, scheduler="constant", shuffle=False)
    return FinetuneRecipe(**{**base, **kw})


def test_lora_loss_falls_and_outputs_load(smol_tokenizer, tmp_path, registry):
    # LoRA leaves the (tied) embeddings and norms frozen: with the usual 0.02 init the logits of a
    # 32-wide model cannot move far, so this model starts from larger random weights.
    model = tiny_llama(smol_tokenizer, init=0.3)
    result = finetune(QUESTIONS, tmp_path / "ft", config(lora_r=8), val=QUESTIONS,
                      model=model, tokenizer=smol_tokenizer)
    assert result.steps == 12 and result.examples == 32 and result.rows < 32  # packed
    assert sum(result.losses[-3:]) / 3 < sum(result.losses[:3]) / 3 * 0.9
    assert result.val_losses and result.tokens > result.trained_tokens > 0
    assert result.tokens_per_s > 0 and result.peak_memory_mb > 0
    assert (tmp_path / "ft" / "adapter" / "adapter_config.json").exists()
    assert (tmp_path / "ft" / "merged" / "model.safetensors").exists()
    assert result.gguf is None  # the tiny base did not come from a GGUF file
    # registered: the settings now know the model, and it loads and answers
    settings = load_settings(env={"TUNEWISE_REGISTRY": str(registry)})
    assert settings.models["ft-ft"].model == str((tmp_path / "ft" / "merged").resolve())
    from tunewise.models import make_model

    answer = make_model("ft-ft", settings.models).generate(
        [{"role": "user", "content": "How much is the per diem?"}], max_tokens=5)
    assert answer.usage.completion_tokens > 0
    saved = json.loads((tmp_path / "ft" / "finetune.json").read_text())
    assert saved["config"]["lora_r"] == 8 and saved["result"]["steps"] == 12
    # the curves a person watches: TensorBoard event files in OUT/logs, read back
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert result.logs == str(tmp_path / "ft" / "logs")
    events = EventAccumulator(result.logs)
    events.Reload()
    assert {"train/loss", "train/learning_rate", "train/tokens_per_s", "eval/loss"} <= set(
        events.Tags()["scalars"])
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx(result.losses, rel=1e-4)


def test_full_finetune_loss_falls(smol_tokenizer, tmp_path):
    result = finetune(QUESTIONS, tmp_path / "full", config(method="full", learning_rate=3e-3),
                      model=tiny_llama(smol_tokenizer), tokenizer=smol_tokenizer)
    assert result.adapter is None and result.merged
    assert sum(result.losses[-3:]) / 3 < sum(result.losses[:3]) / 3 * 0.9


def test_padding_and_packing_train_the_same_tokens(smol_tokenizer, tmp_path):
    packed = finetune(QUESTIONS, tmp_path / "p", config(max_steps=-1, epochs=1, merge=False),
                      model=tiny_llama(smol_tokenizer), tokenizer=smol_tokenizer)
    padded = finetune(QUESTIONS, tmp_path / "q", config(max_steps=-1, epochs=1, packing=False,
                                                        merge=False),
                      model=tiny_llama(smol_tokenizer), tokenizer=smol_tokenizer)
    assert packed.trained_tokens == padded.trained_tokens and packed.tokens == padded.tokens
    assert packed.steps < padded.steps  # fewer, fuller rows


def test_resume_from_checkpoint(smol_tokenizer, tmp_path):
    first = finetune(QUESTIONS, tmp_path / "r", config(max_steps=4, save_steps=2, merge=False),
                     model=tiny_llama(smol_tokenizer), tokenizer=smol_tokenizer)
    assert first.steps == 4 and (tmp_path / "r" / "checkpoints" / "checkpoint-4").is_dir()
    second = finetune(QUESTIONS, tmp_path / "r", config(max_steps=8, save_steps=2, merge=False),
                      model=tiny_llama(smol_tokenizer), tokenizer=smol_tokenizer)
    assert second.steps == 8 and len(second.losses) == 8
    assert second.losses[:4] == first.losses  # restored from the checkpoint's history
    assert second.tokens < 1.5 * first.tokens  # this process trained steps 5-8 only


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(smol_tokenizer, tmp_path):
    model = tiny_llama(smol_tokenizer)
    calls = {"n": 0}

    def poison(module, inputs, output):  # the 6th training forward pass returns NaN logits
        if module.training:
            calls["n"] += 1
            if calls["n"] == 6:
                return output * float("nan")
        return output

    handle = model.lm_head.register_forward_hook(poison)
    with pytest.raises(TrainingError, match=r"loss became nan at step 6.*checkpoint-4"):
        finetune(QUESTIONS, tmp_path / "n", config(method="full", save_steps=2, merge=False),
                 model=model, tokenizer=smol_tokenizer)
    handle.remove()
    checkpoints = sorted(p.name for p in (tmp_path / "n" / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint-2", "checkpoint-4"]
    state = torch.load(tmp_path / "n" / "checkpoints" / "checkpoint-4" / "rng_state.pth",
                       weights_only=False)
    assert state  # a complete checkpoint
    resumed = finetune(QUESTIONS, tmp_path / "n", config(method="full", save_steps=2, merge=False),
                       model=tiny_llama(smol_tokenizer), tokenizer=smol_tokenizer)
    assert resumed.steps == 12 and all(map(lambda x: x == x, resumed.losses))


def test_recipes_and_errors(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[finetune]\nmethod = "full"\nepochs = 1\n')
    c = load_recipe(recipe, epochs=2.0, name=None)
    assert (c.method, c.epochs, c.lr) == ("full", 2.0, 2e-5)
    assert load_recipe(None).lr == 2e-4
    recipe.write_text('[finetune]\nlora_rank = 4\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['lora_rank'\] in \[finetune\]"):
        load_recipe(recipe)
    recipe.write_text('[finetune]\nepochs = "many"\n')
    with pytest.raises(ConfigError, match="finetune.epochs: cannot use 'many'"):
        load_recipe(recipe)
    with pytest.raises(TrainingError, match="unknown method 'dora'"):
        load_recipe(None, method="dora")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks what a machine without CUDA refuses")
def test_gpu_only_options_are_one_line_errors_here(smol_tokenizer, tmp_path):
    """QLoRA, 8-bit optimizers and fp16 need CUDA (and bitsandbytes): refused before any work."""
    from tunewise.train.common import load_base

    with pytest.raises(TrainingError, match="method qlora needs a CUDA GPU and bitsandbytes"):
        load_base("smollm2", quantized=True)
    for options, message in [({"optimizer": "paged_adamw_8bit"}, "needs a CUDA GPU and bitsandbytes"),
                             ({"precision": "fp16"}, "fp16 needs a CUDA GPU"),
                             ({"precision": "fp8"}, "unknown precision 'fp8'")]:
        with pytest.raises(TrainingError, match=message):
            finetune(QUESTIONS, tmp_path / "x", config(method="full", **options),
                     model=tiny_llama(smol_tokenizer), tokenizer=smol_tokenizer)


def test_compiled_shapes_fill_the_last_batch():
    """Compiled, every batch has the model's one shape: a short last batch gets rows of padding
    that carry no loss (a new shape would recompile the model at each epoch's end)."""
    from tunewise.train.sequences import IGNORE, Encoded, PackedCollator, PaddedCollator

    a, b = Encoded([5, 6, 7], [IGNORE, 6, 7]), Encoded([8, 9], [IGNORE, 9])
    packed = PackedCollator(0, width=8, rows=4)([[a, b]])
    assert packed["input_ids"].shape == (4, 8) and (packed["labels"][1:] == IGNORE).all()
    assert packed["labels"][0].tolist() == [IGNORE, 6, 7, IGNORE, 9] + [IGNORE] * 3
    padded = PaddedCollator(0, width=8, rows=3)([a, b])
    assert padded["input_ids"].shape == (3, 8) and (padded["labels"][2] == IGNORE).all()
    assert padded["attention_mask"][2].all()  # a filler row attends to itself, never to nothing
    assert padded["attention_mask"][1].tolist() == [1, 1] + [0] * 6


def test_continued_pretraining_on_documents_loss_falls(smol_tokenizer, tmp_path):
    from tests.conftest import SAMPLE
    from tunewise.train.corpus import document_texts
    from tunewise.train.finetune import text_blocks

    texts = list(document_texts([SAMPLE])[0])
    train, val, documents = text_blocks(texts, smol_tokenizer, 64)
    assert documents == len(texts) == 24 and val  # 20 or more: some held out by their hash
    ids = [t for row in train + val for e in row for t in e.input_ids]
    expected = sum(len(smol_tokenizer(t, add_special_tokens=False)["input_ids"]) + 1 for t in texts)
    assert len(ids) == expected and all(len(row[0]) == 64 for row in train[:-1])
    assert all(e.labels == e.input_ids for row in train for e in row)  # loss on every token
    assert text_blocks(texts[:5], smol_tokenizer, 64)[1] is None  # too few to hold any out
    result = finetune(None, tmp_path / "cpt", config(method="full", max_length=64, max_steps=20),
                      model=tiny_llama(smol_tokenizer), tokenizer=smol_tokenizer, documents=texts)
    assert result.objective == "documents" and result.examples == len(texts)
    assert result.rows == len(train) and result.trained_tokens == result.tokens
    assert result.val_losses  # the held-out documents' loss, each epoch
    assert sum(result.losses[-3:]) / 3 < sum(result.losses[:3]) / 3 * 0.9
    saved = json.loads((tmp_path / "cpt" / "finetune.json").read_text())
    assert saved["result"]["objective"] == "documents"
    with pytest.raises(TrainingError, match="give one of them"):
        finetune(QUESTIONS, tmp_path / "x", config(), documents=texts)


def test_lora_trains_the_embedding_row_of_the_token_that_ends_an_answer(smol_tokenizer, tmp_path):
    # A base model that never ended a chat turn cannot learn to emit the end-of-turn token when
    # only LoRA's matrices train: that token's (tied) embedding row must train too.
    model = tiny_llama(smol_tokenizer, init=0.3)
    before = model.get_input_embeddings().weight.detach().clone()
    end = smol_tokenizer.convert_tokens_to_ids("<|im_end|>")
    result = finetune(QUESTIONS, tmp_path / "ft", config(lora_r=8), model=model,
                      tokenizer=smol_tokenizer)
    assert end in result.token_rows and all(t in smol_tokenizer.all_special_ids or
                                            smol_tokenizer.added_tokens_decoder[t].special
                                            for t in result.token_rows)
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(result.merged).get_input_embeddings().weight
    moved = (merged.detach() - before).abs().sum(dim=1)
    assert moved[end] > 0  # the row of the token that ends an answer learned
    untouched = [t for t in range(len(before)) if t not in result.token_rows][:1000]
    assert moved[untouched].max() == 0  # and no other row did
    saved = json.loads((tmp_path / "ft" / "finetune.json").read_text())
    assert saved["result"]["token_rows"] == result.token_rows
