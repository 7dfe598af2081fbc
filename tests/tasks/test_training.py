"""The systems a task run trains: the encoder classifier's loss falls as it trains, and an LLM
fine-tune learns from the task's own prompt and answers under the same grammar."""

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


@pytest.mark.slow
def test_finetune_lora_trains_on_the_task_prompt_and_answers_under_the_grammar(
        tmp_path, embedder, monkeypatch):
    monkeypatch.setenv("TUNEWISE_REGISTRY", str(tmp_path / "registry.toml"))
    ws = Workspace(Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}"), embedder=embedder)
    train, test = sentiment_items(8, seed=1), sentiment_items(3, seed=2)
    out = tmp_path / "fpb"
    run_task(ws, "classify", parse_systems("finetune:lora"), train, test, out,
             TaskOptions(finetune_epochs=1, max_input_tokens=128))
    folder = out / "trained" / "finetune:lora"
    spec = classify.spec(train + test)
    first = json.loads((folder / "train.jsonl").read_text().splitlines()[0])["messages"]
    assert first[:-1] == classify.messages(spec, train[0].text, [])
    assert first[-1] == {"role": "assistant", "content": json.dumps({"label": train[0].gold})}
    trained = json.loads((folder / "finetune.json").read_text())["result"]
    assert trained["steps"] >= 1 and trained["name"] == "fpb-finetune-lora"
    records = [r for r in load_records(out).values() if r["system"] == "finetune:lora"]
    assert len(records) == 3
    assert all(r["constrained"] and r["parsed"] in spec.labels for r in records)
