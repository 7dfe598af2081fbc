"""A model's size as the cost model sees it (parameters, bytes of weights, KV cache per token),
read from file headers without loading the weights: GGUF metadata or safetensors headers."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import gguf

from tunewise.cost.prices import CostError
from tunewise.cost.serving import Footprint

KV_BYTES = 2  # a 16-bit KV cache, what llama.cpp and vLLM keep by default
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
                "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def footprint(path: str | Path) -> Footprint:
    """The footprint of a .gguf file or a Hugging Face folder of safetensors."""
    path = Path(path)
    if path.suffix == ".gguf":
        return _gguf(path)
    if path.is_dir() and list(path.glob("*.safetensors")):
        return _safetensors(path)
    raise CostError(f"cannot size {path}: give a .gguf file or a folder with *.safetensors")


def _kv(layers: int, hidden: int, heads: int, kv_heads: int) -> int:
    return 2 * layers * kv_heads * (hidden // heads) * KV_BYTES


def _gguf(path: Path) -> Footprint:
    reader = gguf.GGUFReader(path)
    arch = reader.fields["general.architecture"].contents()

    def meta(key: str) -> int:
        field = reader.fields.get(f"{arch}.{key}")
        if field is None:
            raise CostError(f"{path}: no {arch}.{key} in its GGUF metadata")
        return int(field.contents())

    heads = meta("attention.head_count")
    kv_field = reader.fields.get(f"{arch}.attention.head_count_kv")
    kv_heads = int(kv_field.contents()) if kv_field else heads
    return Footprint(sum(int(t.n_elements) for t in reader.tensors),
                     sum(int(t.n_bytes) for t in reader.tensors),
                     _kv(meta("block_count"), meta("embedding_length"), heads, kv_heads))


def _safetensors(folder: Path) -> Footprint:
    parameters = weight_bytes = 0
    for file in sorted(folder.glob("*.safetensors")):
        with file.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        for name, tensor in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for dim in tensor["shape"]:
                count *= dim
            parameters += count
            weight_bytes += count * _DTYPE_BYTES.get(tensor["dtype"], 4)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise CostError(f"{folder} has no config.json to read the layer shape from")
    c = json.loads(config_file.read_text())
    heads = c["num_attention_heads"]
    return Footprint(parameters, weight_bytes,
                     _kv(c["num_hidden_layers"], c["hidden_size"], heads,
                         c.get("num_key_value_heads", heads)))
