"""An LLM fine-tuned as a classifier (train/head.py): its loss falls, its folder loads in plain
transformers with its label names, and data that cannot fit the recipe is refused first."""

import pytest

from tests.tasks.conftest import sentiment_items
from tunewise.train.common import TrainingError
from tunewise.train.finetune import FinetuneRecipe
from tunewise.train.head import HeadClassifier, train_head

LABELS = ["negative", "neutral", "positive"]


def tiny_classifier(tokenizer, labels=LABELS):
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
                         num_labels=len(labels), id2label=dict(enumerate(labels)),
                         label2id={x: i for i, x in enumerate(labels)})
    return LlamaForSequenceClassification(config)


def recipe(**kw) -> FinetuneRecipe:
    return FinetuneRecipe(**{"method": "full", "learning_rate": 3e-3, "epochs": 3, "batch_size": 8,
                             "report_to": "none", "logging_steps": 2, **kw})


def test_head_loss_falls_and_its_folder_loads_in_plain_transformers(smol_tokenizer, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    items = sentiment_items(48, seed=1)
    said = []
    result = train_head([(i.text, i.gold) for i in items], LABELS, tmp_path / "head",
                        recipe(min_steps=24, val_fraction=0.2, early_stopping=3),
                        model=tiny_classifier(smol_tokenizer), tokenizer=smol_tokenizer,
                        say=said.append)
    assert result.losses[-1] < result.losses[0]
    assert result.plan.validation == 10 and result.plan.steps == 24 and result.val_losses
    assert said and said[0].startswith("plan: 38 examples")
    texts = [i.text for i in sentiment_items(6, seed=5)]
    ours = HeadClassifier.load(tmp_path / "head")
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "head" / "merged")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "head" / "merged")
    logits = plain(**tokenizer(texts[:1], return_tensors="pt")).logits
    assert plain.config.id2label[int(logits.argmax())] == ours.predict(texts[:1])[0]
    probabilities = ours.probabilities(texts)
    assert all(set(p) == set(LABELS) and abs(sum(p.values()) - 1) < 1e-4 for p in probabilities)


def test_a_head_lora_trains_the_adapters_and_the_new_head(smol_tokenizer, tmp_path):
    items = sentiment_items(24, seed=1)
    result = train_head([(i.text, i.gold) for i in items], LABELS, tmp_path / "head",
                        recipe(method="lora", min_steps=12), model=tiny_classifier(smol_tokenizer),
                        tokenizer=smol_tokenizer)
    assert result.losses[-1] < result.losses[0]
    assert HeadClassifier.saved(tmp_path / "head")


def test_a_label_outside_the_head_and_fewer_examples_than_a_batch_are_refused(smol_tokenizer,
                                                                               tmp_path):
    items = [(i.text, i.gold) for i in sentiment_items(12, seed=1)]
    with pytest.raises(TrainingError, match=r"labels \['surprised'\] are not among"):
        train_head(items + [("what a day", "surprised")], LABELS, tmp_path / "a", recipe())
    with pytest.raises(TrainingError, match="12 examples are fewer than a batch of 16"):
        train_head(items, LABELS, tmp_path / "b", recipe(batch_size=16),
                   model=tiny_classifier(smol_tokenizer), tokenizer=smol_tokenizer)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b" / "merged").exists()


def test_an_interrupted_head_fine_tune_resumes_from_its_last_checkpoint(smol_tokenizer, tmp_path):
    items = [(i.text, i.gold) for i in sentiment_items(32, seed=1)]
    first = train_head(items, LABELS, tmp_path / "head", recipe(max_steps=4, save_steps=2),
                       model=tiny_classifier(smol_tokenizer), tokenizer=smol_tokenizer)
    assert (tmp_path / "head" / "checkpoints" / "checkpoint-4").is_dir()
    again = train_head(items, LABELS, tmp_path / "head", recipe(max_steps=8, save_steps=2),
                       model=tiny_classifier(smol_tokenizer), tokenizer=smol_tokenizer)
    assert again.steps == 8
    assert again.tokens < first.tokens * 1.5  # steps 5-8 only: it went on, it did not restart
