"""The systems a task run trains: the encoder classifier's loss falls as it trains, an LLM
fine-tune learns from the task's short prompt and answers under the task's grammar, and an LLM
with a classification head labels with probabilities."""

import json

import pytest

from tests.tasks.conftest import sentiment_items
from tunewise.config import Settings
from tunewise.evaluate.runner import load_records
from tunewise.systems import parse_systems
from tunewise.tasks import classify
from tunewise.tasks.encoder import EncoderClassifier, EncoderRecipe
from tunewise.tasks.runner import TaskOptions, run_task
from tunewise.workspace import Workspace


def test_encoder_classifier_loss_falls_and_it_reloads_with_the_same_predictions(tmp_path):
    train = sentiment_items(24, seed=1)
    labels = ["negative", "neutral", "positive"]
    classifier = EncoderClassifier.fit(train, labels, EncoderRecipe(epochs=3, batch_size=8))
    assert classifier.losses[-1] < classifier.losses[0]
    texts = [i.text for i in sentiment_items(6, seed=5)]
    classifier.save(tmp_path / "clf")
    assert EncoderClassifier.load(tmp_path / "clf").predict(texts) == classifier.predict(texts)


def test_a_trained_encoder_loads_in_plain_sentence_transformers_with_its_label_names(tmp_path):
    """The saved classifier is a standard layout: sentence-transformers alone (no tunewise code)
    gives the same labels, read from its labels.json."""
    from sentence_transformers import SentenceTransformer

    labels = ["negative", "neutral", "positive"]
    classifier = EncoderClassifier.fit(sentiment_items(24, seed=1), labels,
                                       EncoderRecipe(epochs=2, batch_size=8, frozen=True))
    classifier.save(tmp_path / "clf")
    texts = [i.text for i in sentiment_items(9, seed=5)]
    plain = SentenceTransformer(str(tmp_path / "clf" / "encoder"), device="cpu")
    names = json.loads((tmp_path / "clf" / "encoder" / "labels.json").read_text())["id2label"]
    logits = plain.encode(texts)
    assert logits.shape == (9, 3)
    assert [names[str(i)] for i in logits.argmax(axis=1)] == classifier.predict(texts)


@pytest.mark.slow
def test_finetune_lora_trains_on_the_task_prompt_and_answers_under_the_grammar(
        tmp_path, embedder, monkeypatch):
    monkeypatch.setenv("TUNEWISE_REGISTRY", str(tmp_path / "registry.toml"))
    ws = Workspace(Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}"), embedder=embedder)
    train, test = sentiment_items(8, seed=1), sentiment_items(3, seed=2)
    out = tmp_path / "fpb"
    run_task(ws, "classify", parse_systems("finetune:lora"), train, test, out,
             TaskOptions(finetune_epochs=1, finetune_min_steps=2, max_input_tokens=128))
    folder = out / "trained" / "finetune:lora"
    spec = classify.spec(train + test)
    first = json.loads((folder / "train.jsonl").read_text().splitlines()[0])["messages"]
    # the short prompt of a fine-tuned model, not the zero-shot instruction
    assert first[:-1] == [{"role": "system", "content": "classify: negative, neutral, positive"},
                          {"role": "user", "content": train[0].text}]
    assert first[-1] == {"role": "assistant", "content": json.dumps({"label": train[0].gold})}
    trained = json.loads((folder / "finetune.json").read_text())["result"]
    assert trained["steps"] >= 1 and trained["name"] == "fpb-finetune-lora"
    records = [r for r in load_records(out).values() if r["system"] == "finetune:lora"]
    assert len(records) == 3
    assert all(r["constrained"] and r["parsed"] in spec.labels for r in records)


def test_finetune_head_on_a_base_folder_trains_and_labels_with_probabilities(
        tmp_path, embedder, smol_tokenizer):
    from tests.train.conftest import tiny_llama

    base = tmp_path / "tiny-base"  # a causal LM folder: the head is added on loading it
    tiny_llama(smol_tokenizer, init=0.3).save_pretrained(base)
    smol_tokenizer.save_pretrained(base)
    ws = Workspace(Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}"), embedder=embedder)
    train, test = sentiment_items(48, seed=1), sentiment_items(6, seed=2)
    said = []
    run_task(ws, "classify", parse_systems(f"finetune:head:base={base}"), train, test,
             tmp_path / "run", TaskOptions(finetune_min_steps=20), on_status=said.append)
    folder = tmp_path / "run" / "trained" / f"finetune:head:base={base}"
    record = json.loads((folder / "finetune.json").read_text())
    assert record["config"]["packing"] is False and record["config"]["batch_size"] == 16
    assert record["result"]["plan"]["steps"] == 20 and record["result"]["plan"]["validation"] == 0
    losses = record["result"]["losses"]
    assert losses[-1] < losses[0]
    assert any(s.startswith("plan: 48 examples") for s in said)
    records = list(load_records(tmp_path / "run").values())
    assert len(records) == 6 and all(r["parsed"] in classify.spec(train).labels for r in records)
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-3 for r in records)


def test_a_test_label_no_training_example_shows_is_refused_before_training(tmp_path, embedder):
    from tunewise.evaluate.runner import EvalError
    from tunewise.tasks.base import Item

    ws = Workspace(Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}"), embedder=embedder)
    train = [i for i in sentiment_items(12, seed=1) if i.gold != "neutral"]
    test = sentiment_items(3, seed=2) + [Item("x", "the firm sells paper", "neutral")]
    with pytest.raises(EvalError, match=r"labels no training example shows \(neutral\)"):
        run_task(ws, "classify", parse_systems("finetune:head"), train, test, tmp_path / "run")
    assert not (tmp_path / "run" / "trained").exists()


def test_a_base_that_cannot_be_found_is_one_line_before_anything_trains(tmp_path, embedder):
    from tunewise.evaluate.runner import EvalError

    ws = Workspace(Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}"), embedder=embedder)
    systems = parse_systems(f"baseline:majority,finetune:head:base={tmp_path / 'nowhere.gguf'}")
    with pytest.raises(EvalError, match="nowhere.gguf' not found"):
        run_task(ws, "classify", systems, sentiment_items(12, seed=1), sentiment_items(3, seed=2),
                 tmp_path / "run")
    assert not (tmp_path / "run" / "records.jsonl").exists()
