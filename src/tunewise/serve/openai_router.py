"""The OpenAI-compatible routes: POST /v1/chat/completions (JSON or server-sent events),
GET /v1/models, POST /v1/embeddings.

Beyond OpenAI's schema, a chat completion carries `sources` (the numbered passages a RAG answer
cites: number, source, title, page, score, text) and `abstained` (no passage was similar
enough, so the model was not asked). When streaming, they come in the first chunk. Usage is
in every response, streamed or not (a final chunk with no choices, as OpenAI sends with
stream_options.include_usage)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, Field

from tunewise.errors import TunewiseError
from tunewise.objects import parse_where
from tunewise.rag import Answer
from tunewise.serve.services import Cancelled, Services, scoped

router = APIRouter(prefix="/v1")


def valid_text(text: str) -> str:
    """Text that can be encoded: JSON may carry a lone surrogate ("\\ud800") that no tokenizer or
    database takes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (a lone surrogate)") from None
    return text


Text = Annotated[str, AfterValidator(valid_text)]


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: Text


class ChatRequest(BaseModel):
    model: str | None = None  # a system name from /v1/models; default "docs"
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=8192)
    temperature: float | None = None  # accepted; the models answer with their configured setting
    stream_options: dict | None = None
    # tunewise: metadata conditions on the documents a `+rag` system searches, and the
    # collection it searches (default: the key's first)
    where: list[Text] = Field(default_factory=list, max_length=20)
    collection: str | None = None


class EmbeddingRequest(BaseModel):
    input: Text | list[Text]
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"  # base64: little-endian float32 (the SDK's default)


def services(request: Request) -> Services:
    return request.app.state.services


async def run(request: Request, work, *args):
    """`work(*args)` on the server's request threads, never the upload queue's (the default
    pool of `asyncio.to_thread`, which uploads once filled, is used by no route)."""
    return await asyncio.get_running_loop().run_in_executor(services(request).requests, work,
                                                            *args)


@router.get("/models")
def list_models(request: Request) -> dict:
    created = int(request.app.state.started)
    return {"object": "list", "data": [
        {"id": s.name, "object": "model", "created": created, "owned_by": "tunewise",
         "model": s.model, "retrieval": s.rag} for s in services(request).systems()]}


@router.post("/chat/completions")
async def chat(body: ChatRequest, request: Request):
    svc = services(request)
    system = svc.system(body.model)
    if not any(m.role == "user" for m in body.messages):
        raise TunewiseError("messages need at least one user message")
    messages = [m.model_dump() for m in body.messages]
    max_tokens = body.max_completion_tokens or body.max_tokens
    collection = scoped(request.state.caller, body.collection) if system.rag else None
    head = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time()),
            "model": system.name}
    if not body.stream:
        where = parse_where(body.where)
        result: Answer = await asyncio.wrap_future(svc.complete(system, messages, max_tokens,
                                                                where=where,
                                                                collection=collection))
        svc.log(request.state.caller, "chat", system.name, messages, [result.text], collection)
        return {**head, "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": result.text}}],
                "usage": _usage(result), **_extras(result, svc, collection)}
    return StreamingResponse(_stream(svc, system, messages, max_tokens, head, request,
                                     parse_where(body.where), collection),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _stream(svc: Services, system, messages, max_tokens, head, request: Request,
                  where: tuple = (), collection: str | None = None):
    loop = asyncio.get_running_loop()
    tokens: asyncio.Queue = asyncio.Queue()
    state = {"gone": False}

    def on_token(text: str) -> None:
        if state["gone"]:
            raise Cancelled()  # stops the generation of a client that left
        loop.call_soon_threadsafe(tokens.put_nowait, text)

    future = svc.complete(system, messages, max_tokens, on_token, where, collection)
    future.add_done_callback(lambda _: loop.call_soon_threadsafe(tokens.put_nowait, None))

    def event(**body) -> str:
        return f"data: {json.dumps({**head, 'object': 'chat.completion.chunk', **body})}\n\n"

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        return event(choices=[{"index": 0, "delta": delta, "finish_reason": finish}], **extra)

    try:
        yield chunk({"role": "assistant", "content": ""})
        while (text := await tokens.get()) is not None:
            yield chunk({"content": text})
        result: Answer = future.result()
        svc.log(request.state.caller, "chat", system.name, messages, [result.text], collection)
        yield chunk({}, "stop", **_extras(result, svc, collection))
        yield event(choices=[], usage=_usage(result))
        yield "data: [DONE]\n\n"
    except Exception as exc:  # after the first byte the status is sent: report in-band
        error = {"error": {"message": str(exc), "type": type(exc).__name__}}
        yield f"data: {json.dumps(error)}\n\n"
    finally:
        state["gone"] = True


def _usage(result: Answer) -> dict:
    return {"prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "total_tokens": result.usage.total_tokens}


def _extras(result: Answer, svc: Services, collection: str | None) -> dict:
    return {"sources": [{"number": s.number, "source": svc.display(s.source), "title": s.title,
                         "page": s.page, "score": round(s.score, 4), "text": s.text,
                         "url": svc.file_url(s.source, s.page, collection)}
                        for s in result.passages],
            "abstained": result.abstained, "support": result.support,
            "supported": result.supported}


@router.post("/embeddings")
async def embeddings(body: EmbeddingRequest, request: Request) -> dict:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or any(not t.strip() for t in texts):
        raise TunewiseError("input must be a non-empty string or a list of non-empty strings")
    if len(texts) > 2048:
        raise TunewiseError("at most 2048 inputs per request")
    svc = services(request)
    vectors, tokens = await run(request, svc.embed, texts)
    if body.encoding_format == "base64":
        vectors = [base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode()
                   for v in vectors]
    return {"object": "list", "model": svc.settings.embedder.model,
            "data": [{"object": "embedding", "index": i, "embedding": v}
                     for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
