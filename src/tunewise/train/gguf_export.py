"""GGUF export of a fine-tuned model for llama.cpp and Ollama: the LLaMA architecture (SmolLM2)
and Gemma 3 (the bundled Gemma 3 270M).

The base model came from a GGUF file, so that file already holds everything llama.cpp needs
besides the weights (tokenizer, chat template, rope settings): those fields are copied, and the
new weights written under llama.cpp's tensor names with its conventions — the inverse of what
transformers undoes when it reads a GGUF: LLaMA's rotary layout for Q and K (interleaved pairs),
Gemma's RMSNorm weights stored as 1 + w. A model from a Hugging Face folder needs llama.cpp's own
convert_hf_to_gguf.py instead."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from tunewise.models.hf import fallback_template
from tunewise.train.common import TrainingError

QTYPES = ("f16", "q8_0", "f32")
_SKIP = ("general.architecture", "general.file_type", "general.quantization_version")


def _permute(w, n_head: int):
    """HF's rotary halves → llama.cpp's interleaved pairs, per head (as convert_hf_to_gguf.py)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def _llama(name: str, data, cfg):
    if name.endswith("self_attn.q_proj.weight"):
        return _permute(data, cfg.num_attention_heads)
    if name.endswith("self_attn.k_proj.weight"):
        return _permute(data, cfg.num_key_value_heads)
    return data


def _gemma(name: str, data, cfg):
    return data + 1 if name.endswith("norm.weight") else data  # Gemma's RMSNorm scales by 1 + w


# GGUF architecture → (the transformers model types it comes back as, llama.cpp's tensor map,
# the per-tensor conversion)
ARCHITECTURES = {"llama": (("llama",), gguf.MODEL_ARCH.LLAMA, _llama),
                 "gemma3": (("gemma3_text", "gemma3"), gguf.MODEL_ARCH.GEMMA3, _gemma)}


def export_gguf(model, source: str | Path, out: str | Path, qtype: str = "f16") -> Path:
    """Write `model` (a merged transformers causal LM) as OUT, with `source`'s metadata."""
    if qtype not in QTYPES:
        raise TrainingError(f"unknown GGUF type {qtype!r}; valid: {', '.join(QTYPES)}")
    reader = gguf.GGUFReader(str(source))
    arch = reader.fields["general.architecture"].contents()
    if arch not in ARCHITECTURES or model.config.model_type not in ARCHITECTURES[arch][0]:
        raise TrainingError(f"GGUF export supports {', '.join(ARCHITECTURES)}, not {arch!r}: "
                            "convert OUT/merged with llama.cpp's convert_hf_to_gguf.py")
    _, tensor_arch, convert = ARCHITECTURES[arch]
    out = Path(out)
    tmp = out.with_suffix(".gguf.tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    for name, f in reader.fields.items():
        if name.startswith("GGUF.") or name in _SKIP:
            continue
        sub = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, f.contents(), f.types[0], sub)
    if "tokenizer.chat_template" not in reader.fields and fallback_template(arch):
        writer.add_chat_template(fallback_template(arch))  # the one it was fine-tuned with
    writer.add_file_type({"f16": gguf.LlamaFileType.MOSTLY_F16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
                          "f32": gguf.LlamaFileType.ALL_F32}[qtype])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    cfg = model.config
    names = gguf.get_tensor_name_map(tensor_arch, cfg.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue  # llama.cpp reuses token_embd
        data = convert(hf_name, tensor.detach().float().cpu().numpy(), cfg)
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
