"""E-mail (.eml, the standard library's `email`): subject, sender, recipients and date as
metadata (`--where from=…`, `year>=2024`), the subject as title, the plain-text body (else the
HTML one, read as HTML files are); attachments are handed back to `load_file`, which reads each
one of a known format as a document of its own (cited as `mail.eml#report.pdf`)."""

from __future__ import annotations

import email
import email.policy
from email.utils import parsedate_to_datetime
from pathlib import Path

from tunewise.config import IngestSettings
from tunewise.documents.base import Deadline, Loaded, LoadError, read_bytes
from tunewise.documents.html import html_text
from tunewise.objects import Document


def _body(message, deadline: Deadline) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError) as exc:  # an unknown charset, a broken encoding
        raise LoadError(f"unreadable e-mail body: {exc}") from exc
    if part.get_content_type() == "text/html":
        return html_text(content, deadline)[0]
    return content


def load(path: Path, settings: IngestSettings, deadline: Deadline) -> Loaded:
    message = email.message_from_bytes(read_bytes(path), policy=email.policy.default)
    if not message.keys():
        raise LoadError("not an e-mail (no headers)")
    subject = str(message.get("subject", "") or "").strip()
    metadata = {k: str(message.get(k, "") or "").strip() for k in ("from", "to", "cc")}
    try:
        sent = parsedate_to_datetime(str(message["date"])) if message["date"] else None
    except (TypeError, ValueError):
        sent = None
    if sent is not None:
        metadata |= {"date": sent.date().isoformat(), "year": sent.year}
    body = _body(message, deadline).strip()
    head = "\n".join(f"{label}: {metadata[key]}" for label, key in (("From", "from"), ("To", "to"))
                     if metadata.get(key))
    text = "\n\n".join(part for part in (subject, head, body) if part)
    attachments = []
    for part in message.iter_attachments():
        name = Path(part.get_filename() or "").name
        payload = part.get_payload(decode=True)
        if name and payload:
            attachments.append((name, payload))
    deadline.check()
    if not body and not attachments:
        raise LoadError("no text found (an e-mail without a body or attachments)")
    docs = [Document(path=str(path), text=text, title=subject or path.stem,
                     metadata={k: v for k, v in metadata.items() if v != ""})] if body else []
    return Loaded(docs, attachments=attachments)
