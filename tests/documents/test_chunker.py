import pytest

from tests.conftest import SAMPLE
from tunewise.documents import chunk_document, chunk_spans, load_file
from tunewise.objects import Document

PARAGRAPH = ("Heat pumps move heat from the outdoor air into the house. " * 3).strip()


@pytest.fixture(scope="module")
def tok(embedder):
    return embedder.tokenizer


def n_tokens(tok, text):
    return len(tok.offsets(text))


def long_document():
    sentences = [f"Sentence number {i} talks about compressor model X{i} and its refrigerant."
                 for i in range(300)]
    paragraphs = [" ".join(sentences[i : i + 7]) for i in range(0, 300, 7)]
    return Document(path="/x/long.txt", text="\n\n".join(paragraphs), title="long")


def test_chunks_fit_the_embedder_and_keep_offsets(tok):
    doc = long_document()
    chunks = chunk_document(doc, tok, size=256, overlap=32)
    assert len(chunks) > 5
    for c in chunks:
        assert c.text == doc.text[c.start : c.end]
        assert n_tokens(tok, c.text) <= min(256, tok.max_tokens)
        assert c.text[0].isalnum() and c.text.rstrip()[-1] == "."  # sentence boundaries
    assert chunks[0].start == 0 and chunks[-1].end == len(doc.text)


def test_size_is_capped_at_the_embedder_limit(tok):
    assert tok.max_tokens == 254  # all-MiniLM-L6-v2: 256 positions minus [CLS] and [SEP]
    chunks = chunk_document(long_document(), tok, size=10_000, overlap=0)
    assert max(n_tokens(tok, c.text) for c in chunks) <= 254


def test_overlap_repeats_the_end_of_the_previous_chunk(tok):
    chunks = chunk_document(long_document(), tok, size=100, overlap=32)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end, "consecutive chunks overlap"
        assert n_tokens(tok, a.text[b.start - a.start :]) <= 32
    no_overlap = chunk_document(long_document(), tok, size=100, overlap=0)
    assert all(b.start > a.end - 1 for a, b in zip(no_overlap, no_overlap[1:]))


def test_long_sentences_split_at_word_boundaries(tok):
    text = " ".join(f"word{i}" for i in range(2000))  # one "sentence", far over the limit
    spans = chunk_spans(text, tok, 64, 0)
    assert len(spans) > 10
    for start, end in spans:
        assert start == 0 or text[start - 1] == " "
        assert end == len(text) or text[end] == " " or text[end - 1] == " "
        assert n_tokens(tok, text[start:end].strip()) <= 64


def test_text_without_spaces_is_still_cut_within_the_limit(tok):
    text = "a1b2c3d4" * 600
    spans = chunk_spans(text, tok, 50, 10)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(b[0] <= a[1] for a, b in zip(spans, spans[1:])), "no text is lost between chunks"
    assert all(n_tokens(tok, text[s:e]) <= 50 for s, e in spans)


def test_paragraphs_are_not_merged_past_the_size(tok):
    text = "\n\n".join([PARAGRAPH] * 4)
    spans = chunk_spans(text, tok, n_tokens(tok, PARAGRAPH) + 2, 0)
    assert [text[s:e] for s, e in spans] == [PARAGRAPH] * 4


def test_chunks_keep_pdf_page_numbers(tok):
    doc = load_file(SAMPLE / "products/hx-series-datasheet.pdf").documents[0]
    chunks = chunk_document(doc, tok, size=40, overlap=0)
    pages = {c.page for c in chunks}
    assert pages == {1, 2, 3}
    dims = next(c for c in chunks if "1,100 x 950" in c.text)
    assert dims.page == 3 and dims.source.endswith("hx-series-datasheet.pdf")


def test_ids_derive_from_content(tok):
    doc = long_document()
    a = chunk_document(doc, tok, 128, 16)
    b = chunk_document(doc, tok, 128, 16)
    assert [c.id for c in a] == [c.id for c in b]
    changed = Document(path=doc.path, text=doc.text.replace("number 5 ", "number five "))
    c = chunk_document(changed, tok, 128, 16)
    assert c[0].document_id == a[0].document_id  # same document...
    assert not set(x.id for x in c) & set(x.id for x in a)  # ...new content, new chunk ids


def test_a_chunk_never_crosses_a_page(tok):
    """A short page ending and the table that starts the next page are two chunks, each cited
    (and indexed) with its own page, although together they would fit one chunk."""
    end_of_audit = "We have served as the Company's auditor since 1965.\nMinneapolis, Minnesota"
    sheet = "Consolidated Balance Sheets\n| Merchandise inventories | 5,409 | 5,209 |"
    text = f"{end_of_audit}\n\n{sheet}"
    doc = Document(path="/x/10k.pdf", text=text, pages=((0, 51), (len(end_of_audit) + 2, 52)))
    chunks = chunk_document(doc, tok, size=256, overlap=32)
    assert [(c.page, c.text) for c in chunks] == [(51, end_of_audit), (52, sheet)]
    assert chunk_spans(text, tok, 256, 32) == [(0, len(text))]  # one chunk without the pages
