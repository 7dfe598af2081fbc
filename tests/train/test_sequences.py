"""Chat-template encoding with answer-only labels, packing, and no attention across packed
examples."""

import pytest
import torch

from tests.train.conftest import tiny_llama
from tunewise.train.sequences import IGNORE, Encoded, PackedCollator, PaddedCollator, encode, pack

CHAT = [{"role": "user", "content": "What is the per diem?"},
        {"role": "assistant", "content": "EUR 52."},
        {"role": "user", "content": "And the home-office allowance?"},
        {"role": "assistant", "content": "EUR 400 once."}]


def test_only_the_answers_carry_loss(smol_tokenizer):
    e = encode(smol_tokenizer, CHAT, 1024)
    assert e.input_ids == smol_tokenizer(smol_tokenizer.apply_chat_template(CHAT, tokenize=False),
                                         add_special_tokens=False)["input_ids"]
    trained = smol_tokenizer.decode([t for t, lab in zip(e.input_ids, e.labels) if lab != IGNORE])
    assert trained == "EUR 52.<|im_end|>\nEUR 400 once.<|im_end|>\n"
    prompt = smol_tokenizer.decode([t for t, lab in zip(e.input_ids, e.labels) if lab == IGNORE])
    assert "What is the per diem?" in prompt and "EUR" not in prompt and "<|im_start|>assistant" in prompt
    cut = encode(smol_tokenizer, CHAT, 10)
    assert len(cut.input_ids) == len(cut.labels) == 10


def test_best_fit_packing_keeps_every_example_whole():
    examples = [Encoded([i] * n, [i] * n) for i, n in enumerate([7, 5, 4, 3, 3, 2, 1])]
    rows = pack(examples, 8)
    assert sorted(len(e) for row in rows for e in row) == [1, 2, 3, 3, 4, 5, 7]
    assert all(sum(len(e) for e in row) <= 8 for row in rows)
    assert len(rows) == 4  # 25 tokens need at least 4 rows of 8


@pytest.mark.parametrize("attention", ["sdpa", "eager", "flex_attention"])
def test_packed_examples_do_not_attend_to_each_other(smol_tokenizer, attention):
    """Whatever the attention kernel training uses (TrainingSettings.attention), an example packed
    after another gets the logits it gets alone."""
    model = tiny_llama(smol_tokenizer).eval()
    model.set_attn_implementation(attention)  # what TrainingSettings.attention selects
    model.config.use_cache = False
    a = encode(smol_tokenizer, CHAT[:2], 256)
    b = encode(smol_tokenizer, CHAT[2:], 256)
    batch = PackedCollator(smol_tokenizer.pad_token_id)([[a, b]])
    assert "attention_mask" not in batch
    assert batch["position_ids"][0].tolist() == list(range(len(a))) + list(range(len(b)))
    with torch.no_grad():
        packed = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0]
        alone = model(input_ids=torch.tensor([b.input_ids])).logits[0]
        together = model(input_ids=batch["input_ids"]).logits[0]  # plain causal: leaks
    assert torch.allclose(packed[len(a):], alone, atol=1e-5)
    assert not torch.allclose(together[len(a):], alone, atol=1e-3)


def test_padded_batches_mask_the_padding(smol_tokenizer):
    a, b = encode(smol_tokenizer, CHAT[:2], 256), encode(smol_tokenizer, CHAT[2:], 256)
    batch = PaddedCollator(smol_tokenizer.pad_token_id)([a, b])
    short = min(len(a), len(b))
    width = max(len(a), len(b))
    assert batch["input_ids"].shape == (2, width)
    row = 0 if len(a) == short else 1
    assert batch["attention_mask"][row].sum() == short
    assert (batch["labels"][row, short:] == IGNORE).all()


def test_attention_choices_are_checked(smol_tokenizer):
    from tunewise.train.common import TrainingError
    from tunewise.train.recipe import TrainingSettings, use_attention

    model = tiny_llama(smol_tokenizer)
    use_attention(model, TrainingSettings())  # auto: sdpa without flash-attn
    assert model.config._attn_implementation == "sdpa"
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="flex_attention trains on a GPU only"):
            use_attention(model, TrainingSettings(attention="flex_attention"))
        with pytest.raises(TrainingError, match="flash_attention_2 needs a CUDA GPU"):
            use_attention(model, TrainingSettings(attention="flash_attention_2"))
    with pytest.raises(TrainingError, match="unknown attention 'fast'"):
        use_attention(model, TrainingSettings(attention="fast"))
