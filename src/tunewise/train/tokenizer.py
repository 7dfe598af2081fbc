"""A byte-level BPE tokenizer trained on the corpus (Hugging Face `tokenizers`), with ChatML special
tokens and chat template, saved in the Hugging Face layout so that transformers (and then
`finetune`, `ask` and the server) load it like any other."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from tunewise.train.common import TrainingError

BOS, EOS, PAD = "<|endoftext|>", "<|im_end|>", "<|pad|>"
SPECIAL = [BOS, "<|im_start|>", EOS, PAD]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def train_tokenizer(texts: Iterable[str], out: str | Path, vocab_size: int = 8192,
                    min_frequency: int = 2):
    """Train on `texts`, save to OUT (tokenizer.json + tokenizer_config.json), return the
    transformers tokenizer. Byte-level: every string encodes, nothing is unknown."""
    # lazy: transformers takes 0.7 s to import
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if vocab_size < 256 + len(SPECIAL):
        raise TrainingError(f"vocab_size must be at least {256 + len(SPECIAL)} (the 256 bytes and "
                            "the special tokens)")
    texts = _nonempty(texts)
    first = next(texts, None)
    if first is None:
        raise TrainingError("the corpus holds no text to train a tokenizer on (see the skipped "
                            "files above)")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(itertools.chain([first], texts), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=BOS, eos_token=EOS,
                                        pad_token=PAD, unk_token=None)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(out))
    return AutoTokenizer.from_pretrained(str(out))  # as every later step will load it


def _nonempty(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        if text and text.strip():
            yield text
