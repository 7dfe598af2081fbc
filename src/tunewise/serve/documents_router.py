"""Document routes: POST /v1/documents (upload; indexed by the upload queue), GET /v1/documents
(list), GET /v1/documents/{id} (an upload's state), DELETE /v1/documents/{id}, POST /v1/search —
each within a collection the caller's key covers, each run on the request threads."""

from __future__ import annotations

import asyncio
import mimetypes
from typing import Literal

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import AliasChoices, BaseModel, Field

from tunewise.config import old_names
from tunewise.errors import TunewiseError
from tunewise.objects import parse_where
from tunewise.serve.openai_router import Text, run, services
from tunewise.serve.services import scoped, upload_name

router = APIRouter(prefix="/v1")
# what an uploaded file may be shown as in the browser: types that run no script
INLINE = {"application/pdf", "text/plain", "text/csv", "text/markdown", "image/png", "image/jpeg",
          "image/gif", "image/webp"}


class SearchRequest(BaseModel):
    query: Text = Field(min_length=1)
    k: int | None = Field(default=None, ge=1, le=100)
    mode: Literal["dense", "keyword", "hybrid"] | None = None
    # the least cosine a hit may have (its old names are still read)
    min_similarity: float | None = Field(default=None, validation_alias=AliasChoices(
        "min_similarity", *old_names("min_similarity", "retrieval")))
    # metadata conditions, as on the command line: ["company=NIKE", "year>=2022"]
    where: list[Text] = Field(default_factory=list, max_length=20)
    collection: str | None = None  # default: the key's first


@router.post("/documents", status_code=201)
async def upload(file: UploadFile, request: Request, collection: str | None = Form(None)):
    """Upload one file into a collection (a form field, or ?collection=; default the key's)."""
    svc = services(request)
    collection = scoped(request.state.caller,
                        collection or request.query_params.get("collection"), write=True)
    limit = int(svc.settings.serve.max_upload_mb * 1024 * 1024)
    content = await file.read(limit + 1)
    if len(content) > limit:
        return JSONResponse(status_code=413, content={"error": {
            "message": f"{file.filename}: larger than the {svc.settings.serve.max_upload_mb:g} MB "
                       "upload limit ([serve] max_upload_mb)", "type": "too_large"}})
    if not content:
        raise TunewiseError(f"{file.filename}: the file is empty")
    doc_id, queued = await run(request, svc.upload, file.filename or "", content, collection,
                               request.state.caller.name)
    try:  # shielded: a request that stops waiting leaves the upload queued, not cancelled
        report = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(queued)),
                                        svc.settings.serve.upload_wait_s)
    except asyncio.TimeoutError:
        return JSONResponse(status_code=202, content={
            "id": doc_id, "filename": upload_name(file.filename or ""), "collection": collection,
            "status": "queued", "url": f"/v1/documents/{doc_id}"})
    if report.failed:  # said in this answer: no record of it is kept for GET /v1/documents/{id}
        svc.upload_queue.forget(collection, doc_id)
        reason = report.failed[0][1]
        return JSONResponse(status_code=422, content={"error": {
            "message": f"{upload_name(file.filename or '')}: {reason}",
            "type": "unreadable_document"}})
    unchanged = bool(report.unchanged)
    return JSONResponse(status_code=200 if unchanged else 201, content={
        "id": doc_id, "filename": svc.display((report.unchanged or report.added
                                               or report.updated)[0]),
        "collection": collection, "status": "unchanged" if unchanged else "ingested",
        "documents": report.documents, "chunks": report.chunks,
        "warnings": [w for _, w in report.warnings],
        "ocr_pages": sum(pages for _, pages in report.ocr)})


@router.get("/documents")
async def documents(request: Request, collection: str | None = None) -> dict:
    """The files of a collection with their document and chunk counts; uploads carry their id."""
    collection = scoped(request.state.caller, collection)
    files = await run(request, services(request).documents, collection)
    return {"object": "list", "collection": collection, "data": files}


@router.get("/documents/{doc_id}/file")
async def original(doc_id: str, request: Request, collection: str | None = None) -> FileResponse:
    """The file an upload was made from: shown inline when it cannot run anything (PDF, images,
    plain text: a citation's link opens it, a PDF link carries `#page=N`), else downloaded
    (HTML, SVG, XML … as an attachment), every response with `nosniff` and a sandboxing
    Content-Security-Policy — an uploaded page's script never runs on the server's origin,
    where it could read what the web page keeps."""
    collection = scoped(request.state.caller, collection)
    path = await run(request, services(request).original, doc_id, collection)
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media in INLINE:  # (a sandboxing CSP would also block the browser's PDF viewer)
        return FileResponse(path, filename=path.name, content_disposition_type="inline",
                            media_type=media, headers={"X-Content-Type-Options": "nosniff"})
    return FileResponse(path, filename=path.name, content_disposition_type="attachment",
                        media_type="application/octet-stream",
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Content-Security-Policy": "sandbox; default-src 'none'"})


@router.get("/documents/{doc_id}")
async def state(doc_id: str, request: Request, collection: str | None = None) -> dict:
    """Where an upload is: queued, indexing, indexed (its documents and chunks) or failed (why)."""
    collection = scoped(request.state.caller, collection)
    return await run(request, services(request).upload_state, doc_id, collection)


@router.delete("/documents/{doc_id}")
async def delete(doc_id: str, request: Request, collection: str | None = None) -> dict:
    collection = scoped(request.state.caller, collection, write=True)
    removed = await run(request, services(request).delete, doc_id, collection)
    return {"id": doc_id, "deleted": True, "documents": removed}


@router.post("/search")
async def search(body: SearchRequest, request: Request) -> dict:
    svc = services(request)
    collection = scoped(request.state.caller, body.collection)
    hits, named = await run(request, svc.search, body.query, body.k, body.mode,
                            body.min_similarity, parse_where(body.where), collection)
    return {"object": "list", "filtered": named.note, "data": [
        {"source": svc.display(h.chunk.source), "title": h.chunk.title, "page": h.chunk.page,
         "position": h.chunk.position, "score": round(h.score, 4),
         "similarity": None if h.similarity is None else round(h.similarity, 4),
         "retriever": h.retriever, "text": h.chunk.text,
         "url": svc.file_url(h.chunk.source, h.chunk.page, collection)} for h in hits]}
