"""The task recipe's parts: a validation part carved from the training part, a floor of steps,
the batch chosen from the data, the loss on answer tokens only, and a run that keeps its best
checkpoint and stops early."""

import pytest
import torch

from tests.train.conftest import tiny_llama
from tunewise.data.formats import Example, write_examples
from tunewise.train.finetune import FinetuneRecipe, answer_loss, finetune
from tunewise.train.schedule import Plan, batch_for, carve, steps_for
from tunewise.train.sequences import IGNORE, PaddedCollator, encode


@pytest.fixture(autouse=True)
def registry(tmp_path, monkeypatch):  # fine-tunes register their model: not in the repository's
    monkeypatch.setenv("TUNEWISE_REGISTRY", str(tmp_path / "registry" / "models.toml"))


def test_carve_holds_out_a_seeded_disjoint_share_and_nothing_from_a_tiny_set():
    items = list(range(200))
    train, val = carve(items, 0.1, seed=3)
    assert len(val) == 20 and not set(train) & set(val) and sorted(train + val) == items
    assert carve(items, 0.1, seed=3) == (train, val)
    assert carve(items, 0.1, seed=4)[1] != val
    assert carve(list(range(40)), 0.1, seed=0) == (list(range(40)), [])  # 4 would be noise
    assert len(carve(list(range(10_000)), 0.1, seed=0)[1]) == 300  # capped


def test_steps_are_epochs_or_the_floor_whichever_is_more():
    assert steps_for(rows=100, batch=16, epochs=2, min_steps=100) == 100  # 13 steps of epochs
    assert steps_for(rows=2210, batch=16, epochs=2, min_steps=100) == 277
    plan = Plan(examples=100, validation=10, tokens=3200, batch=16, rows=100, steps=100,
                eval_every=10, patience=3, seconds=200)
    assert plan.epochs == 16.0 and "100 steps of 16 = 16.0 epochs" in plan.describe()


def test_the_batch_is_chosen_from_the_examples_length_unless_the_recipe_names_one():
    auto = FinetuneRecipe(batch_size=0)
    assert batch_for(auto, tokens=40 * 1000, examples=1000).batch_size == 16  # short sentences
    assert batch_for(auto, tokens=1100 * 50, examples=50).batch_size == 1  # long contracts
    assert batch_for(FinetuneRecipe(batch_size=4), tokens=40, examples=1).batch_size == 4


def test_the_loss_is_the_models_masked_loss_computed_on_answer_positions_only(smol_tokenizer):
    model = tiny_llama(smol_tokenizer)
    rows = [encode(smol_tokenizer, [{"role": "user", "content": q},
                                    {"role": "assistant", "content": a}], 256)
            for q, a in (("What is the per diem?", "60 euros a day."), ("Who approves?", "HR."))]
    batch = PaddedCollator(smol_tokenizer.pad_token_id)(rows)
    answers = sum(r.trained_tokens for r in rows)
    full = model(**batch).loss  # transformers' own loss, labels IGNORE outside the answers
    loss, outputs = answer_loss(model, dict(batch))
    assert torch.allclose(loss, full, atol=1e-5)
    assert outputs.logits.shape == (answers, len(smol_tokenizer))  # not (2, T, vocabulary)
    # what carries the loss is the answer (and its end-of-turn mark), not the question
    kept = smol_tokenizer.decode([t for t in rows[0].labels if t != IGNORE])
    assert kept.startswith("60 euros a day.") and "per diem" not in kept


def test_a_carved_validation_part_keeps_the_best_checkpoint_and_stops_early(smol_tokenizer,
                                                                             tmp_path):
    # the answers are noise: the validation loss stops improving quickly, so training stops
    # before its 200 steps and the best checkpoint (not the last) is what OUT holds
    import random

    rng = random.Random(0)
    examples = [Example((("user", f"question {i}"), ("assistant", " ".join(
        rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(6))))) for i in range(120)]
    write_examples(tmp_path / "noise.jsonl", examples)
    recipe = FinetuneRecipe(method="full", learning_rate=5e-3, batch_size=8, packing=False,
                            min_steps=200, epochs=1, val_fraction=0.2, eval_steps=5,
                            early_stopping=2, merge=False, report_to="none", warmup_ratio=0.0)
    result = finetune(tmp_path / "noise.jsonl", tmp_path / "ft", recipe,
                      model=tiny_llama(smol_tokenizer, init=0.3), tokenizer=smol_tokenizer)
    assert result.plan.validation == 24 and result.plan.steps == 200
    assert result.steps < 200  # stopped early
    assert len(result.val_losses) >= 3 and min(result.val_losses) < result.val_losses[-1]


def test_tune_picks_the_rate_whose_trial_has_the_lowest_validation_loss(smol_tokenizer, tmp_path):
    import json

    from tests.conftest import QUESTIONS

    said = []
    recipe = FinetuneRecipe(method="full", tune="1e-7,5e-3", batch_size=4, packing=False,
                            min_steps=40, val_fraction=0.25, merge=False, report_to="none",
                            warmup_ratio=0.0)
    finetune(QUESTIONS, tmp_path / "ft", recipe, model=tiny_llama(smol_tokenizer, init=0.3),
             tokenizer=smol_tokenizer, say=said.append)
    trials = json.loads((tmp_path / "ft" / "tune.json").read_text())
    assert set(trials) == {"1e-07", "0.005"} and trials["0.005"] < trials["1e-07"]
    saved = json.loads((tmp_path / "ft" / "finetune.json").read_text())
    assert saved["config"]["learning_rate"] == 5e-3
    assert "tune: training with lr 0.005" in said
    assert not (tmp_path / "ft" / "tune").exists()  # the trials' checkpoints are gone
