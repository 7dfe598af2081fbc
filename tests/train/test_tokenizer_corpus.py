"""The corpus tokenizer and the on-disk token files."""

import json

import numpy as np
import pytest

from tests.conftest import SAMPLE
from tunewise.train.corpus import TokenFile, document_texts, in_validation, prepare_corpus, store_texts
from tunewise.train.tokenizer import CHAT_TEMPLATE, EOS, train_tokenizer

TEXT = "Grüße aus München: 東京 costs ¥12,000 🙂 — naïve café\ttabs\n\nand newlines."


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    texts, problems = document_texts([SAMPLE])
    assert problems == []
    return train_tokenizer(texts, tmp_path_factory.mktemp("tok"), vocab_size=1200)


def test_round_trips_any_text_including_non_ascii(tokenizer):
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == TEXT
    assert len(tokenizer) == 1200
    sample = (SAMPLE / "policies" / "remote-work-policy.md").read_text()
    ids = tokenizer(sample, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == sample and len(ids) < len(sample) / 3  # it learned words


def test_special_tokens_and_chat_template_load_in_transformers(tokenizer):
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    assert again.eos_token == EOS and again.pad_token_id is not None
    assert again.chat_template == CHAT_TEMPLATE
    text = again.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                     add_generation_prompt=True)
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    ids = again(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == again.convert_tokens_to_ids("<|im_start|>")  # one id, never split


def test_vocabulary_too_small_is_refused(tmp_path):
    from tunewise.train.common import TrainingError

    with pytest.raises(TrainingError, match="at least 260"):
        train_tokenizer(["text"], tmp_path, vocab_size=100)


def test_corpus_files_hold_every_document_once(tokenizer, tmp_path):
    texts = list(document_texts([SAMPLE])[0])
    corpus = prepare_corpus(texts, tokenizer, tmp_path / "c", val_fraction=0.2)
    meta = json.loads((tmp_path / "c" / "meta.json").read_text())
    assert meta["dtype"] == "<u2" and meta["train_documents"] + meta["val_documents"] == len(texts)
    assert meta["val_documents"] == sum(in_validation(t, 0.2) for t in texts) > 0
    train, val = corpus.tokens("train"), corpus.tokens("val")
    assert train.size == meta["train_tokens"] and val.size == meta["val_tokens"]
    eos = tokenizer.eos_token_id
    assert int((train == eos).sum()) == meta["train_documents"] and train[-1] == eos
    # decoding the files gives the documents back
    pieces = tokenizer.decode(np.concatenate([train, val]).tolist()).split(EOS)[:-1]
    assert sorted(pieces) == sorted(texts)
    again = TokenFile.open(tmp_path / "c")
    assert np.array_equal(again.tokens("train"), train)


def test_a_store_gives_back_its_documents(sample_workspace):
    from tunewise.documents.loaders import load_file
    from tunewise.ingest import discover

    files, _ = discover([SAMPLE])
    originals = {d.text for f in files for d in load_file(f).documents}
    rebuilt = set(store_texts(sample_workspace.store))
    # chunk texts are the document text between offsets; whitespace between chunks may differ
    normal = lambda s: " ".join(s.split())  # noqa: E731
    assert {normal(t) for t in rebuilt} == {normal(t) for t in originals}


@pytest.mark.parametrize("given", ["{path}", "sqlite:{path}", "{path}#default"])
def test_finetune_corpus_reads_a_store_given_in_any_url_form(sample_workspace, given):
    from tunewise.cli.train import _corpus_texts

    path = sample_workspace.settings.store.url.removeprefix("sqlite:")
    texts = list(_corpus_texts([given.format(path=path)]))
    assert set(texts) == set(store_texts(sample_workspace.store))


def test_store_urls_are_told_from_file_paths():
    from tunewise.store import is_store_url

    assert all(map(is_store_url, ["postgres://u@h/db", "postgresql://u@h/db#hr", "sqlite:x",
                                  "x.db", "dir/x.sqlite3#hr"]))
    assert not any(map(is_store_url, ["docs/", "report.pdf", "notes.db.md", "https://x/y.db"]))
