"""Pretraining from scratch at toy size: the loss falls below the unigram baseline, an
interrupted run resumes on the same trajectory, and the compute plan matches LLaMA-7B."""

import json

import pytest

from tests.conftest import SAMPLE
from tunewise.cost.plan import pretrain_plan
from tunewise.train.corpus import document_texts
from tunewise.train.pretrain import (
    PretrainRecipe,
    llama_config,
    parameters,
    pretrain,
    unigram_perplexity,
)


@pytest.fixture(autouse=True)
def registry(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEWISE_REGISTRY", str(tmp_path / "models.toml"))


def texts():
    return list(document_texts([SAMPLE])[0]) * 3


def config(**kw):
    base = dict(size="tiny", vocab_size=600, seq_len=64, batch_size=8, max_steps=30,
                learning_rate=5e-3, eval_steps=10, save_steps=10, logging_steps=5,
                val_fraction=0.15, warmup_ratio=0.1)
    return PretrainRecipe(**{**base, **kw})


def test_tiny_model_learns_the_corpus(tmp_path):
    result = pretrain(texts(), tmp_path / "pt", config())
    assert result.steps == 30 and result.parameters == parameters(llama_config("tiny", 600, 64))
    (_, first), (_, last) = result.losses[0], result.losses[-1]
    assert last < first - 1.0
    assert result.val and result.val[-1][2] < result.unigram_perplexity  # context helps
    assert result.tokens_per_s > 0 and 0 < result.mfu < 1
    saved = json.loads((tmp_path / "pt" / "pretrain.json").read_text())
    assert saved["result"]["steps"] == 30
    from tunewise.config import load_settings
    from tunewise.models import make_model

    models = load_settings().models
    generation = make_model("pt-pt", models).generate([{"role": "user", "content": "Hi"}], 5)
    assert generation.usage.completion_tokens > 0


def test_an_interrupted_run_follows_the_same_trajectory(tmp_path, monkeypatch):
    import tunewise.train.pretrain as pt

    run = config(max_steps=20, eval_steps=100, save_steps=5)
    whole = pretrain(texts(), tmp_path / "a", run)
    real, calls = pt._collate, {"n": 0}

    def crash_at_batch_13(blocks):
        calls["n"] += 1
        if calls["n"] == 13:
            raise RuntimeError("the machine went away")
        return real(blocks)

    monkeypatch.setattr(pt, "_collate", crash_at_batch_13)
    with pytest.raises(RuntimeError, match="went away"):
        pretrain(texts(), tmp_path / "b", run)
    monkeypatch.setattr(pt, "_collate", real)
    assert (tmp_path / "b" / "checkpoints" / "checkpoint-10").is_dir()
    resumed = pretrain(texts(), tmp_path / "b", run)
    assert resumed.steps == 20 and resumed.tokens < whole.tokens  # only the rest was trained
    a, b = dict(whole.losses), dict(resumed.losses)
    assert a.keys() == b.keys()
    assert all(abs(a[s] - b[s]) < 1e-3 * a[s] for s in a), (a, b)


def test_unigram_baseline_by_hand():
    # train: ids 0,0,1 (+1 smoothing over a vocabulary of 3 -> p = 3/6, 2/6, 1/6); val: 0 and 2
    ppl = unigram_perplexity([0, 0, 1], [0, 2], 3)
    assert ppl == pytest.approx((1 / (0.5 * (1 / 6))) ** 0.5)


def test_plan_for_llama_7b_matches_its_published_compute():
    p = pretrain_plan("7b", tokens=10**12)
    assert p.parameters == pytest.approx(6.74e9, rel=0.01)
    assert p.flops == pytest.approx(6 * p.parameters * 1e12)
    a100 = next(d for d in p.devices if d["device"] == "a100-80gb")
    assert a100["device_hours"] == pytest.approx(82_432, rel=0.25)  # Touvron et al. 2023
    assert pretrain_plan("125m").tokens == 20 * pretrain_plan("125m").parameters  # Chinchilla


def test_unknown_size_is_a_clear_error():
    from tunewise.cost.prices import CostError

    with pytest.raises(CostError, match="unknown model size 'huge': a preset \\(tiny, 3m"):
        pretrain_plan("huge")


def test_cli_tokenizer_pretrain_and_plan_pretrain(tmp_path):
    from typer.testing import CliRunner

    from tunewise.cli import app

    runner = CliRunner()
    tok = runner.invoke(app, ["tokenizer", "train", "--corpus", str(SAMPLE), "--out",
                              str(tmp_path / "tok"), "--vocab-size", "500"])
    assert tok.exit_code == 0 and "500 tokens" in " ".join(tok.output.split())
    trained = runner.invoke(app, ["pretrain", "--corpus", str(SAMPLE), "--out", str(tmp_path / "pt"),
                                  "--tokenizer", str(tmp_path / "tok"), "--max-steps", "4",
                                  "--seq-len", "32", "--batch-size", "4", "--name", "pt-cli"])
    assert trained.exit_code == 0, trained.output
    said = " ".join(trained.output.split())
    assert "4 steps" in said and "registered as model 'pt-cli'" in said
    planned = runner.invoke(app, ["plan", "pretrain", "--size", "1b"])
    assert "a100-80gb" in planned.output and "this machine" in planned.output
    bad = runner.invoke(app, ["pretrain", "--size", "10m"])
    assert bad.exit_code != 0 and "--corpus and --out" in bad.output


def test_a_pretrained_model_can_be_instruction_tuned(tmp_path):
    from tests.conftest import QUESTIONS
    from tunewise.train.finetune import FinetuneRecipe, finetune

    pretrain(texts(), tmp_path / "pt", config(max_steps=10, eval_steps=100))
    tuned = finetune(QUESTIONS, tmp_path / "ft", FinetuneRecipe(
        base=str(tmp_path / "pt" / "model"), method="full", max_steps=8, batch_size=4,
        max_length=128, learning_rate=3e-3, logging_steps=1, save_steps=100, name="ft-pt"))
    assert tuned.losses[-1] < tuned.losses[0] and tuned.gguf is None  # an HF folder base
    from tunewise.config import load_settings

    assert load_settings().models["ft-pt"].model.endswith("merged")


def test_the_recipe_size_is_not_overridden_by_an_option_not_given(tmp_path):
    """`pretrain --recipe r.toml` once trained "tiny" whatever the recipe said: the CLI's --size
    default overrode it."""
    from typer.testing import CliRunner

    from tunewise.cli import app

    recipe = tmp_path / "r.toml"
    recipe.write_text('[pretrain]\nsize = "3m"\n')
    planned = CliRunner().invoke(app, ["plan", "pretrain", "--recipe", str(recipe)])
    assert planned.exit_code == 0 and planned.output.startswith("3m:"), planned.output
    given = CliRunner().invoke(app, ["plan", "pretrain", "--recipe", str(recipe), "--size", "10m"])
    assert given.output.startswith("10m:")


def test_checkpoints_of_another_size_are_refused_in_one_line(tmp_path):
    from tunewise.train.common import TrainingError

    pretrain(texts(), tmp_path / "pt", config(max_steps=2, save_steps=2, eval_steps=100))
    with pytest.raises(TrainingError, match=r"holds checkpoints of another model \(hidden_size 64 "
                       r"there, 128 now.*start fresh with another --out"):
        pretrain(texts(), tmp_path / "pt", config(size="3m", max_steps=4, save_steps=2))


def test_cli_finetune_plan_counts_the_data_files_tokens():
    from typer.testing import CliRunner

    from tests.conftest import QUESTIONS
    from tunewise.cli import app
    from tunewise.train.finetune import count_tokens

    examples, mean = count_tokens(QUESTIONS, "smollm2", 512)
    assert examples >= 5 and 20 < mean < 512  # a question and a short answer in a chat template
    planned = CliRunner().invoke(app, ["plan", "finetune", "--data", str(QUESTIONS), "--size",
                                       "13b", "--method", "full", "--gpu", "h100", "--epochs", "2"])
    said = " ".join(planned.output.split())
    assert planned.exit_code == 0, planned.output
    assert f"{examples:,} examples, {mean:,.0f} tokens each" in said
    # 13B full: 16 bytes × 13.0B = 208 GB of state: four 80 GB H100s at the least
    assert "on 4 × h100" in said and "GPU-hours" in said
