"""Fixtures for training tests: the bundled model's tokenizer (its chat template is the one used
at inference) saved once as a folder, and tiny randomly initialised LLaMA models."""

import pytest


@pytest.fixture(scope="session")
def smol_tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    from tunewise.models.local import bundled_gguf

    gguf = bundled_gguf()
    folder = tmp_path_factory.mktemp("tokenizer")
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def tiny_llama(tokenizer, seed: int = 0, layers: int = 2, init: float = 0.02):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256, tie_word_embeddings=True,
                         pad_token_id=tokenizer.pad_token_id, initializer_range=init)
    return LlamaForCausalLM(config)
