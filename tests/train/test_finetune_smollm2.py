"""The real base: LoRA on the bundled SmolLM2-135M for a few steps, then the merged model
(transformers) and the GGUF export (llama.cpp) must load and give the same greedy answer."""

import pytest

from tests.conftest import QUESTIONS
from tunewise.config import ModelSettings, load_settings
from tunewise.train.finetune import FinetuneRecipe, finetune

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


@pytest.mark.slow
def test_lora_on_smollm2_exports_merged_and_gguf(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEWISE_REGISTRY", str(tmp_path / "registry.toml"))
    config = FinetuneRecipe(max_steps=3, batch_size=2, max_length=128, logging_steps=1,
                            save_steps=100, name="ft-smol")
    result = finetune(QUESTIONS, tmp_path / "ft", config)
    assert result.steps == 3 and all(loss == loss for loss in result.losses)
    assert result.gguf and result.merged and result.adapter
    settings = load_settings(env={"TUNEWISE_REGISTRY": str(tmp_path / "registry.toml")})
    assert settings.models["ft-smol"].model.endswith("model.gguf")  # served by llama.cpp

    from tunewise.models.local import LlamaCppModel, TransformersModel

    plain = ModelSettings(repeat_penalty=1.0, max_tokens=16)
    from_gguf = LlamaCppModel("gguf", tmp_path / "ft" / "model.gguf", plain).generate(QUESTION)
    merged = TransformersModel("hf", tmp_path / "ft" / "merged", plain).generate(QUESTION)
    assert from_gguf.text == merged.text and "Paris" in merged.text
    assert from_gguf.usage.prompt_tokens == merged.usage.prompt_tokens  # same chat template
