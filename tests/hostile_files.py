"""What a hostile or careless client sends, made here for tests/serve/test_hostile.py and
bench/serve_hostile.py: a zip-bomb .docx, a .docx of many paragraphs, a long PDF, and requests
written by hand (headers first, the body as far as the server takes it)."""

from __future__ import annotations

import io
import socket
import time
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


def pdf_of(pages: list[str]) -> bytes:
    """A PDF of one line of text a page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.cell(0, 8, text)
    return bytes(pdf.output())


OSPREY = ["Contents: service terms of the Osprey boiler line.",
          "The Osprey boiler service code for a blocked flue is QZ-417."]  # the answer on page 2


def pdf_bytes(pages: int) -> bytes:
    """A PDF of `pages` pages of one line each."""
    return pdf_of([f"Page {n} of a long document." for n in range(pages)])


def raw(url: str, head: str, body_chunks=(), read_first: bool = False) -> tuple[int, bytes]:
    """Send a request by hand (headers, then as much of the body as the server takes) and return
    its status and body; `read_first` reads the answer before sending any body. A number among
    `body_chunks` is a pause of that many seconds."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        if not read_first:
            for chunk in body_chunks:
                if isinstance(chunk, (int, float)):
                    time.sleep(chunk)
                    continue
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


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF of these numbered objects (1 is the catalog), with a correct cross-reference table."""
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def pdf_flate_bomb(megabytes: int) -> bytes:
    """A one-page PDF whose content stream inflates to `megabytes` MB of text-drawing operators
    (about a thousandth of that on disk)."""
    import zlib

    line = b"BT /F1 12 Tf 72 720 Td (bomb) Tj ET\n"
    compressor, parts = zlib.compressobj(9), []
    block = line * (2**20 // len(line))
    for _ in range(megabytes):
        parts.append(compressor.compress(block))
    stream = b"".join(parts) + compressor.flush()
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                 b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                 b"/Resources << /Font << /F1 5 0 R >> >> >>",
                 b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream
                 + b"\nendstream",
                 b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"])


def pdf_page_tree_loop() -> bytes:
    """A PDF whose page tree contains itself."""
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                 b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"])


def docx_with_body(body: bytes) -> bytes:
    """A .docx whose word/document.xml body is `body` (raw XML), the rest of a real one kept."""
    base = docx_bytes(["x"])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "word/document.xml":
                head, _, _ = data.partition(b"<w:body>")
                data = head + b"<w:body>" + body + b"</w:body></w:document>"
            dst.writestr(item, data)
    return out.getvalue()


def docx_paragraph_bomb(paragraphs: int) -> bytes:
    """A .docx whose body is `paragraphs` empty paragraphs: tiny zipped, huge as a tree."""
    return docx_with_body(b"<w:p/>" * paragraphs)


def html_siblings(count: int) -> bytes:
    return b"<html><body>" + b"<p>x</p>" * count + b"</body></html>"


def html_nested(depth: int) -> bytes:
    return b"<div>" * depth + b"deep" + b"</div>" * depth
