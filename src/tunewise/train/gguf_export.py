"""GGUF export of a fine-tuned LLaMA-architecture model for llama.cpp and Ollama.

The base model came from a GGUF file, so that file already holds everything llama.cpp needs
besides the weights (tokenizer, chat template, rope settings): those fields are copied, and the
new weights written under llama.cpp's tensor names with its rotary layout for Q and K (the
inverse of what transformers undoes when it reads a GGUF). A model from a Hugging Face folder
needs llama.cpp's own convert_hf_to_gguf.py instead."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from tunewise.train.common import TrainingError

QTYPES = ("f16", "q8_0", "f32")
_SKIP = ("general.architecture", "general.file_type", "general.quantization_version")


def _permute(w, n_head: int):
    """HF's rotary halves → llama.cpp's interleaved pairs, per head (as convert_hf_to_gguf.py)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def export_gguf(model, source: str | Path, out: str | Path, qtype: str = "f16") -> Path:
    """Write `model` (a merged transformers LlamaForCausalLM) as OUT, with `source`'s metadata."""
    if qtype not in QTYPES:
        raise TrainingError(f"unknown GGUF type {qtype!r}; valid: {', '.join(QTYPES)}")
    reader = gguf.GGUFReader(str(source))
    arch = reader.fields["general.architecture"].contents()
    if arch != "llama" or model.config.model_type != "llama":
        raise TrainingError(f"GGUF export supports the llama architecture, not {arch!r}: "
                            "convert OUT/merged with llama.cpp's convert_hf_to_gguf.py")
    out = Path(out)
    tmp = out.with_suffix(".gguf.tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    for name, f in reader.fields.items():
        if name.startswith("GGUF.") or name in _SKIP:
            continue
        sub = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, f.contents(), f.types[0], sub)
    writer.add_file_type({"f16": gguf.LlamaFileType.MOSTLY_F16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
                          "f32": gguf.LlamaFileType.ALL_F32}[qtype])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    cfg = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue  # llama.cpp reuses token_embd
        data = tensor.detach().float().cpu().numpy()
        if hf_name.endswith("self_attn.q_proj.weight"):
            data = _permute(data, cfg.num_attention_heads)
        elif hf_name.endswith("self_attn.k_proj.weight"):
            data = _permute(data, cfg.num_key_value_heads)
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise TrainingError(f"no GGUF name for tensor {hf_name}")
        if data.ndim == 1 or qtype == "f32":  # norms stay float32, as llama.cpp expects
            writer.add_tensor(name, data.astype(np.float32))
        elif qtype == "f16":
            writer.add_tensor(name, data.astype(np.float16))
        else:
            q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out
