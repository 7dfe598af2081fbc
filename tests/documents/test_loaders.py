from pathlib import Path

import pytest

from tests.conftest import SAMPLE
from tunewise.documents import LoadError, load_file


def one(path: Path):
    loaded = load_file(path)
    assert len(loaded.documents) == 1
    return loaded.documents[0]


def test_markdown_keeps_text_and_takes_title_from_heading():
    doc = one(SAMPLE / "policies/remote-work-policy.md")
    assert doc.title == "Remote Work Policy"
    assert "three days per week" in doc.text


def test_text_file():
    doc = one(SAMPLE / "policies/parental-leave.txt")
    assert "12 weeks" in doc.text and doc.title == "parental-leave"


def test_html_keeps_only_visible_text():
    doc = one(SAMPLE / "products/thermolink-app.html")
    assert doc.title == "ThermoLink App"
    assert "spot-price optimisation" in doc.text.lower()
    assert "TRACKING_ID" not in doc.text and "font-family" not in doc.text
    guide = one(SAMPLE / "support/installation-guide.html")
    assert "KB-17" not in guide.text  # an HTML comment is not visible text
    assert "\n\nPlacement" in guide.text  # block elements stay separate paragraphs


def test_pdf_keeps_page_numbers():
    doc = one(SAMPLE / "products/hx-series-datasheet.pdf")
    assert doc.title == "HX Series Datasheet 2025"
    dims = doc.text.index("1,100 x 950 x 480 mm")
    assert doc.page_at(dims) == 3
    assert doc.page_at(0) == 1
    assert doc.page_at(doc.text.index("energy class A+++")) == 2


def test_aes_encrypted_pdf_with_an_empty_password_is_read(tmp_path):
    """SEC filings often come AES-encrypted with an empty user password (one of FinanceBench's
    27); without the crypto extra pypdf refused it and the whole file failed."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(SAMPLE / "products/hx-series-datasheet.pdf"))
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    path = tmp_path / "encrypted.pdf"
    with open(path, "wb") as f:
        writer.write(f)
    doc = one(path)
    assert doc.page_at(doc.text.index("1,100 x 950 x 480 mm")) == 3
    # the PDF's creation date is kept as `created`, never as the document's year
    assert doc.metadata.get("created", "").startswith("2025") and "year" not in doc.metadata


def test_docx_text_and_title():
    doc = one(SAMPLE / "finance/q3-2025-finance-memo.docx")
    assert doc.title == "Finance memo: Q3 2025 results"
    assert "EUR 38.6 million" in doc.text


def test_jsonl_one_document_per_record_and_bad_lines_reported(tmp_path):
    path = tmp_path / "kb.jsonl"
    path.write_text('{"id": "a", "title": "T", "text": "alpha"}\n'
                    "not json\n"
                    '{"id": "b", "body": "no text field"}\n'
                    '{"text": "gamma"}\n', encoding="utf-8")
    loaded = load_file(path)
    assert [d.key for d in loaded.documents] == ["a", "4"]
    assert loaded.documents[0].text == "T\n\nalpha" and loaded.documents[0].source.endswith("kb.jsonl#a")
    assert loaded.problems == ["line 2: invalid JSON (Expecting value)", "line 3: no 'text' text"]


@pytest.mark.parametrize("name, content, reason", [
    ("empty.txt", b"", "empty file"),
    ("blank.md", b"  \n\n ", "no text found"),
    ("binary.txt", b"\x7fELF\x00\x01\x02" * 50, "binary file"),
    ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), "not valid UTF-8"),
    ("broken.pdf", b"%PDF-1.4\n garbage that is not a pdf", "PDF"),
    ("broken.docx", b"PK\x03\x04 not really a zip", "corrupt or unreadable .docx"),
    ("data.xyz", b"hello", "unsupported format .xyz"),
    ("bad.jsonl", b"{oops\n[1, 2]\n", "no valid records"),
])
def test_bad_files_raise_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load_file(path)


def test_unreadable_path_is_a_load_error(tmp_path):
    folder = tmp_path / "folder.txt"  # a directory with a text extension cannot be read
    folder.mkdir()
    with pytest.raises(LoadError, match="cannot read"):
        load_file(folder)
