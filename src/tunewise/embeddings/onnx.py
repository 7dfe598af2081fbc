"""The bundled embedder (or any BERT-style sentence-transformers folder) on ONNX Runtime, without
torch at query time: the model is exported from its packaged weights on first use and cached
(~/.cache/tunewise/onnx, or TUNEWISE_CACHE), optionally quantized to int8 (dynamic, per channel).

Vectors of the float32 export equal the torch backend's (cosine > 0.99999), so a store built with
either is searched with the other; int8 moves them slightly (mean cosine ~0.99 to float32), so it
is recorded as another embedder ("all-MiniLM-L6-v2 (onnx int8)") and a store refuses to mix them.
Written here rather than taken from optimum: the export is one torch.onnx.export call and the
pooling one line, and optimum pulls its own pinned transformers."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from functools import cached_property
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from tunewise.config import EmbedderSettings
from tunewise.embeddings.base import EmbedderError, normalise
from tunewise.embeddings.local import HFTokenizer, model_name, resolve_model_dir

QUANTIZE = ("none", "int8")


def cache_dir() -> Path:
    return Path(os.environ.get("TUNEWISE_CACHE", "~/.cache/tunewise")).expanduser() / "onnx"


class OnnxEmbedder:
    def __init__(self, model: str = "all-MiniLM-L6-v2", batch_size: int = 32,
                 quantize: str = "none", threads: int | None = None):
        if quantize not in QUANTIZE:
            raise EmbedderError(f"unknown quantize {quantize!r} for the onnx embedder; valid: "
                                f"{', '.join(QUANTIZE)}")
        self.model_dir = resolve_model_dir(model)
        base = model_name(model, self.model_dir)
        self.name = base if quantize == "none" else f"{base} (onnx {quantize})"
        self.batch_size, self.quantize, self.threads = batch_size, quantize, threads
        config = json.loads((self.model_dir / "config.json").read_text())
        self._dimension = int(config["hidden_size"])
        pooling = self.model_dir / "1_Pooling" / "config.json"
        mode = json.loads(pooling.read_text()) if pooling.is_file() else {}
        if mode.get("pooling_mode_cls_token"):
            self.pooling = "cls"
        elif mode.get("pooling_mode_mean_tokens", True):
            self.pooling = "mean"
        else:
            raise EmbedderError(f"{self.model_dir}: only mean or CLS pooling is supported on onnx")

    @property
    def dimension(self) -> int:
        return self._dimension

    @cached_property
    def tokenizer(self) -> HFTokenizer:
        return HFTokenizer(self.model_dir)

    @cached_property
    def _encoder(self):
        tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tok.no_padding()  # the file's own settings (all-MiniLM's: pad and cut at 128) are not
        tok.no_truncation()  # sentence-transformers' (cut at max_seq_length, 256)
        specials = len(tok.encode("", add_special_tokens=True).ids)
        tok.enable_truncation(self.tokenizer.max_tokens + specials)
        tok.enable_padding()
        return tok

    @cached_property
    def session(self):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise EmbedderError("the onnx embedder needs ONNX Runtime: pip install "
                                "'tunewise[onnx]'") from exc
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        return ort.InferenceSession(str(self.exported()), options,
                                    providers=["CPUExecutionProvider"])

    def exported(self) -> Path:
        """The cached .onnx file, exported (and quantized) now if it is not there yet. Its
        folder is named by a hash of the weights, so a changed model is exported again."""
        weights = sorted(self.model_dir.glob("*.safetensors")) or sorted(
            self.model_dir.glob("pytorch_model*.bin"))
        if not weights:
            raise EmbedderError(f"{self.model_dir} has no weights to export")
        digest = hashlib.sha256()
        for w in weights:
            digest.update(f"{w.name}:{w.stat().st_size}:{w.stat().st_mtime_ns}".encode())
        folder = cache_dir() / f"{self.name.split()[0]}-{digest.hexdigest()[:12]}"
        fp32, int8 = folder / "model.onnx", folder / "model.int8.onnx"
        if not fp32.is_file():
            _export(self.model_dir, fp32)
        if self.quantize == "int8" and not int8.is_file():
            # lazy: optional extra [onnx]
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quiet = logging.getLogger().level
            logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process: not needed
            try:
                with _staged(int8) as tmp:
                    quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8,
                                     per_channel=True)
            finally:
                logging.getLogger().setLevel(quiet)
        return int8 if self.quantize == "int8" else fp32

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Batches of similar lengths pad least (sentence-transformers sorts the same way).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(texts), self.batch_size):
            part = order[start : start + self.batch_size]
            encoded = self._encoder.encode_batch([texts[i] for i in part])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})[0]
            if self.pooling == "cls":
                vectors = hidden[:, 0]
            else:
                vectors = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out[part] = vectors
        return normalise(out)


class _staged:
    """A temporary file beside `path`, renamed onto it only when the block succeeds: two
    processes exporting at once, or a crash, never leave a half-written model."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.path.parent, suffix=".onnx.tmp")
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, kind, *rest) -> None:
        if kind is None:
            self.tmp.replace(self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def _export(model_dir: Path, path: Path) -> None:
    """torch.onnx.export of the transformer (last hidden state), batch and length dynamic."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise EmbedderError("exporting to ONNX needs torch, transformers and onnx: pip install "
                            "'tunewise[onnx]'") from exc

    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class Hidden(torch.nn.Module):  # keyword arguments: transformers' forward takes many
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = torch.ones(2, 8, dtype=torch.long)
    with _staged(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes on branches fixed for an encoder
        torch.onnx.export(Hidden(), (example, example, torch.zeros_like(example)), str(tmp),
                          input_names=names, output_names=["hidden"], opset_version=17,
                          dynamic_axes={n: {0: "batch", 1: "length"} for n in names + ["hidden"]},
                          dynamo=False)


def make(settings: EmbedderSettings) -> OnnxEmbedder:
    return OnnxEmbedder(settings.model, settings.batch_size, settings.quantize)
