"""Hostile and malformed files of every format end in a LoadError that says why, within their
limits: time ([ingest] max_seconds, checked by every loader), memory (max_memory_mb, in a reader
process), paragraphs counted before a tree is built; and no chunk is longer than its budget."""

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from tests.hostile_files import (
    docx_bytes,
    docx_paragraph_bomb,
    docx_with_body,
    html_nested,
    html_siblings,
    pdf_bytes,
    pdf_flate_bomb,
    pdf_page_tree_loop,
)
from tunewise.config import IngestSettings
from tunewise.documents import LoadError, chunk_document, load_file
from tunewise.documents.chunker import MAX_TOKEN_CHARS
from tunewise.documents.isolated import close_readers, read_isolated
from tunewise.objects import Document


@pytest.fixture(autouse=True, scope="module")
def _readers():
    yield
    close_readers()


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# one file per format, large enough that its loader looks at the clock at least once
SLOW_ENOUGH = {
    "page.html": lambda: html_siblings(5000),
    "notes.txt": lambda: b"words " * 1000,
    "notes.md": lambda: b"# Notes\n\n" + b"words " * 1000,
    "records.jsonl": lambda: b"".join(json.dumps({"text": f"record {i}"}).encode() + b"\n"
                                      for i in range(2500)),
    "long.pdf": lambda: pdf_bytes(3),
    "letter.docx": lambda: docx_bytes(["a paragraph"] * 10),
}


@pytest.mark.parametrize("name", sorted(SLOW_ENOUGH))
def test_every_loader_stops_at_its_deadline(tmp_path, name):
    path = write(tmp_path, name, SLOW_ENOUGH[name]())
    assert load_file(path).documents  # readable in time
    with pytest.raises(LoadError, match=r"max_seconds"):
        load_file(path, IngestSettings(max_seconds=1e-9))


def test_html_of_many_siblings_or_deep_nesting_reads_in_one_pass(tmp_path):
    """250,000 sibling <p> once took 11+ CPU-minutes (a break inserted after each, in a tree)."""
    siblings = load_file(write(tmp_path, "s.html", html_siblings(250_000)),
                         IngestSettings(max_seconds=60)).documents[0]
    assert siblings.text.count("x") == 250_000
    nested = load_file(write(tmp_path, "n.html", html_nested(50_000)),
                       IngestSettings(max_seconds=60)).documents[0]
    assert nested.text == "deep"


def test_a_megabyte_of_unfinished_tags_reads_in_linear_time(tmp_path):
    """`<a<a<a…`: the standard library's parser rescanned the run on every tag (100 KB took
    5.5 s, 1 MB minutes, and no deadline fired inside it); libxml2 reads it at once."""
    path = write(tmp_path, "tags.html", b"<p>x</p>" + b"<a" * 500_000)
    assert load_file(path, IngestSettings(max_seconds=10)).documents[0].text.strip() == "x"


def test_a_docx_that_unpacks_into_far_more_text_than_its_bytes_is_refused(tmp_path):
    """Paragraphs of one repeated line compress ~200 to 1: under max_text_mb, yet megabytes of
    text to tokenize and embed from a few kilobytes (issue 38's 204 KB → 42 MB)."""
    line = b"<w:p><w:r><w:t>" + b"amplified " * 100 + b"</w:t></w:r></w:p>"
    path = write(tmp_path, "text-bomb.docx", docx_with_body(line * 5_000))
    with pytest.raises(LoadError, match=r"characters of text .* a byte.*max_text_ratio"):
        load_file(path)
    assert load_file(path, IngestSettings(max_text_ratio=1000)).documents


def test_a_docx_of_millions_of_paragraphs_is_refused_before_its_tree_is_built(tmp_path, monkeypatch):
    import docx

    path = write(tmp_path, "bomb.docx", docx_paragraph_bomb(1_000_000))

    def never(*args, **kwargs):
        raise AssertionError("python-docx was asked to build the tree")

    monkeypatch.setattr(docx, "Document", never)
    assert path.stat().st_size < 100_000
    with pytest.raises(LoadError, match=r"more than 200,000 paragraphs.*max_paragraphs"):
        load_file(path)


def test_paragraphs_are_counted_as_parsed_whatever_their_spacing_or_prefix(tmp_path):
    """`<w:p\t/>` and the same namespace under another prefix are paragraphs: a regex over the
    bytes missed them (issue 38); the parser does not."""
    ns = b'xmlns:x="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    spaced = docx_with_body(b"<w:p\t/>" * 150_000 + (b"<x:p " + ns + b"/>") * 60_000)
    with pytest.raises(LoadError, match=r"more than 200,000 paragraphs"):
        load_file(write(tmp_path, "spaced.docx", spaced))


@pytest.mark.parametrize("name,data,reason", [
    ("loop.pdf", pdf_page_tree_loop, r"corrupt or unreadable PDF"),
    ("truncated.pdf", lambda: pdf_bytes(2)[:300], r"corrupt or unreadable PDF"),
    ("not.docx", lambda: b"PK\x03\x04 not a zip at all", r"corrupt or unreadable \.docx"),
    ("binary.txt", lambda: b"\x00\x01\x02 text", r"binary file"),
    ("latin1.md", lambda: "caf\xe9".encode("latin-1"), r"not valid UTF-8"),
    ("empty.html", lambda: b"<html><script>x()</script></html>", r"no text found"),
])
def test_malformed_files_end_in_a_load_error_that_says_why(tmp_path, name, data, reason):
    with pytest.raises(LoadError, match=reason):
        load_file(write(tmp_path, name, data()))


def test_absurd_jsonl_lines_are_reported_and_the_rest_ingested(tmp_path):
    lines = [b"[" * 100_000, b'{"id": ' + b"9" * 5000 + b', "text": "x"}', b'{"text": "fine"}']
    loaded = load_file(write(tmp_path, "absurd.jsonl", b"\n".join(lines)))
    assert [d.text for d in loaded.documents] == ["fine"]
    assert loaded.problems[0] == "line 1: nested too deeply to read"
    assert loaded.problems[1].startswith("line 2: unreadable value")


def test_a_flate_bomb_costs_a_reader_process_not_the_caller(tmp_path):
    """A 1.2 MB PDF whose page inflates to 400 MB: the reader runs out of its 200 MB, the file
    is refused naming the limit, and the next file gets a fresh reader."""
    bomb = write(tmp_path, "bomb.pdf", pdf_flate_bomb(400))
    bounded = IngestSettings(isolate=True, max_memory_mb=200, max_seconds=60)
    with pytest.raises(LoadError, match=r"max_memory_mb"):
        read_isolated(bomb, bounded)
    fine = write(tmp_path, "fine.pdf", pdf_bytes(1))
    assert read_isolated(fine, bounded).documents[0].text.startswith("Page 0")


def test_a_reader_that_ran_out_of_memory_is_never_handed_another_file(tmp_path):
    """It answers and exits; put back in the pool while exiting, it broke the next uploads with
    "Broken pipe" for seconds (issue 38). Now it is stopped before the pool sees it again."""
    from tunewise.documents.isolated import _pools

    one = IngestSettings(isolate=True, max_memory_mb=150, max_seconds=60, readers=1)
    with pytest.raises(LoadError, match=r"max_memory_mb"):
        read_isolated(write(tmp_path, "bomb.pdf", pdf_flate_bomb(400)), one)
    pool = next(p for key, p in _pools.items() if key[:2] == (1, 150))
    assert list(pool.idle.queue) == [None]  # its place is empty: a fresh reader next time
    for i in range(3):
        assert read_isolated(write(tmp_path, f"n{i}.txt", b"fine"), one).documents[0].text == "fine"


def test_a_reader_past_its_deadline_is_stopped_and_replaced(tmp_path):
    bomb = write(tmp_path, "bomb.pdf", pdf_flate_bomb(300))
    hurried = IngestSettings(isolate=True, max_memory_mb=4096, max_seconds=0.01)
    with pytest.raises(LoadError, match=r"took longer than 0\.01 s.*max_seconds"):
        read_isolated(bomb, hurried)
    fine = write(tmp_path, "fine.txt", b"still reading")
    assert read_isolated(fine, hurried).documents[0].text == "still reading"


@pytest.mark.parametrize("text", [
    "x" * 300_000,  # no whitespace at all: one [UNK] token to WordPiece
    "word " * 20 + " " * 50_000 + "end",  # a run of spaces
    "| " + "cell" * 40_000 + " | 12 |",  # one enormous table cell
])
def test_no_chunk_is_longer_than_its_budget(embedder, text):
    chunks = chunk_document(Document(path="/x.txt", text=text, title="x"), embedder.tokenizer, 64, 8)
    assert chunks and max(len(c.text) for c in chunks) <= 64 * MAX_TOKEN_CHARS
    assert "".join(c.text for c in chunks).replace(" ", "").startswith(text.replace(" ", "")[:1000])


@examples(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                          st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                                       lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                                       max_leaves=20).map(lambda v: json.dumps(v).encode())),
                max_size=8))
def test_any_jsonl_either_loads_or_is_a_load_error(tmp_path, lines):
    path = write(tmp_path, "any.jsonl", b"\n".join(lines))
    try:
        loaded = load_file(path)
    except LoadError:
        return
    assert all(d.text.strip() for d in loaded.documents)


@examples(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000))
def test_any_text_file_either_loads_and_chunks_within_budget_or_is_a_load_error(tmp_path, embedder, data):
    path = write(tmp_path, "any.txt", data)
    try:
        loaded = load_file(path)
    except LoadError:
        return
    for chunk in chunk_document(loaded.documents[0], embedder.tokenizer, 16, 4):
        assert 0 < len(chunk.text) <= 16 * MAX_TOKEN_CHARS


def test_a_file_that_inflates_to_more_text_than_the_limit_is_refused(tmp_path):
    path = write(tmp_path, "big.txt", b"words and more words " * 60_000)  # 1.2 MB of text
    assert load_file(path).documents
    with pytest.raises(LoadError, match=r"more than the 1 MB limit \(\[ingest\] max_text_mb\)"):
        load_file(path, IngestSettings(max_text_mb=1))
