"""What a hostile or careless client sends, made here for tests/serve/test_hostile.py and
bench/serve_hostile.py: a zip-bomb .docx, a .docx of many paragraphs, a long PDF, and requests
written by hand (headers first, the body as far as the server takes it)."""

from __future__ import annotations

import io
import socket
import zipfile


def docx_bytes(paragraphs: list[str], padding: int = 0) -> bytes:
    """A .docx of `paragraphs`; with `padding`, plus a part of that many spaces, which deflate
    to almost nothing (a decompression bomb)."""
    import docx

    d = docx.Document()
    for text in paragraphs:
        d.add_paragraph(text)
    buffer = io.BytesIO()
    d.save(buffer)
    if not padding:
        return buffer.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("word/padding.xml", b" " * padding)
    return out.getvalue()


def pdf_bytes(pages: int) -> bytes:
    """A PDF of `pages` pages of one line each."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for n in range(pages):
        pdf.add_page()
        pdf.cell(0, 8, f"Page {n} of a long document.")
    return bytes(pdf.output())


def raw(url: str, head: str, body_chunks=(), read_first: bool = False) -> tuple[int, bytes]:
    """Send a request by hand (headers, then as much of the body as the server takes) and return
    its status and body; `read_first` reads the answer before sending any body."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        if not read_first:
            for chunk in body_chunks:
                try:
                    s.sendall(chunk)
                except OSError:  # the server answered and closed: read what it said
                    break
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _length(data):
            part = s.recv(65536)
            if not part:
                break
            data += part
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def _length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return 1 << 30
