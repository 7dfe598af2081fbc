"""The ONNX Runtime embedder against the torch one: the same vectors in float32, nearly the same
in int8 (recorded as another embedder, so a store refuses to mix them), exported once and cached."""

import numpy as np
import pytest

from tunewise.config import EmbedderSettings
from tunewise.embeddings import EmbedderError, make_embedder
from tunewise.embeddings.local import LocalEmbedder
from tunewise.embeddings.onnx import OnnxEmbedder

TEXTS = ["The per diem for business travel is EUR 52.",
         "Heat pumps defrost in winter; the outdoor unit may steam for a few minutes, which is "
         "normal and needs no service call. " * 12,  # longer than the model's 256 tokens
         "Kestrel", "Wie lange dauert die Garantie?", ""]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNEWISE_CACHE", str(path))
        yield path


def test_float32_vectors_equal_the_torch_ones(cache):
    want = LocalEmbedder().embed(TEXTS)
    onnx = make_embedder(EmbedderSettings(backend="onnx", batch_size=2))
    got = onnx.embed(TEXTS)
    assert got.shape == want.shape and got.dtype == np.float32
    assert (got * want).sum(1) == pytest.approx(1.0, abs=1e-5)
    assert onnx.name == LocalEmbedder().name  # one store takes either
    assert onnx.tokenizer.max_tokens == LocalEmbedder().tokenizer.max_tokens


def test_int8_is_close_recorded_apart_and_refused_by_a_float32_store(cache, tmp_path):
    from tunewise.store import EmbedderMismatch, open_store

    want = LocalEmbedder().embed(TEXTS)
    int8 = OnnxEmbedder(quantize="int8")
    got = int8.embed(TEXTS)
    assert (got * want).sum(1).min() > 0.97 and np.linalg.norm(got, axis=1) == pytest.approx(1)
    assert int8.name == "all-MiniLM-L6-v2 (onnx int8)"
    store = open_store(f"sqlite:{tmp_path / 's.db'}")
    store.check_embedder(LocalEmbedder().name, 384)
    with pytest.raises(EmbedderMismatch, match="onnx int8"):
        store.check_embedder(int8.name, int8.dimension)


def test_exported_once_and_cached(cache):
    first = OnnxEmbedder().exported()
    stamp = first.stat().st_mtime_ns
    again = OnnxEmbedder().exported()
    assert again == first and again.stat().st_mtime_ns == stamp
    assert first.parent.parent == cache / "onnx"
    assert not list(first.parent.glob("*.tmp"))  # staged files renamed or removed


def test_bad_quantize_is_a_clear_error():
    with pytest.raises(EmbedderError, match="unknown quantize 'int4'"):
        OnnxEmbedder(quantize="int4")
