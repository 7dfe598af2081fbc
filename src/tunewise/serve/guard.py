"""What every request passes before any route reads a byte of its body: the Host and Origin
checks of a server without keys, the API key (and so the caller's scopes), and the body limit —
Content-Length first, then a running count of the bytes as they arrive.

It is plain ASGI around the whole application, outside FastAPI's routing and error handling, so a
stranger's 200 MB upload or malformed JSON is answered 401 before it is parsed or spooled, and a
body that outgrows its limit ends in 413 while it streams."""

from __future__ import annotations

import asyncio
import hmac
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from uvicorn.protocols.http.h11_impl import H11Protocol

from tunewise.objects import DEFAULT_COLLECTION

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
OPEN_PATHS = ("/", "/app.js", "/health")  # the page (and its script) asks for the key itself;
# health says only "ok" and counts
UPLOAD_PATH = "/v1/documents"
MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around an uploaded file


@dataclass(frozen=True)
class Caller:
    """Who sent a request, from its key: the collections it may read and write; an admin manages
    every collection."""

    name: str
    read: tuple[str, ...]
    write: tuple[str, ...]
    admin: bool = False

    @property
    def collection(self) -> str:
        """The collection a request without one uses: the key's first."""
        return next(iter(self.read + self.write), DEFAULT_COLLECTION)

    def may_read(self, collection: str) -> bool:
        return self.admin or collection in self.read or collection in self.write

    def may_write(self, collection: str) -> bool:
        return self.admin or collection in self.write


class Guard:
    """ASGI middleware: `keys` maps each secret to its Caller (empty: no keys, localhost only)."""

    def __init__(self, app, keys: dict[str, Caller], anonymous: Caller, body_limit: int,
                 upload_limit: int, body_seconds: float = 120.0):
        self.app, self.keys, self.anonymous = app, keys, anonymous
        self.body_limit, self.upload_limit = body_limit, upload_limit
        self.body_seconds = body_seconds  # a request's whole body must arrive within this

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"]
        refusal = self._refusal(headers)
        if refusal is not None:
            return await _reply(send, *refusal)
        caller = self._caller(headers)
        if caller is None and path not in OPEN_PATHS:
            return await _reply(send, 401, "missing or invalid API key: send 'Authorization: "
                                "Bearer KEY'", "authentication_error")
        scope.setdefault("state", {})["caller"] = caller or self.anonymous
        limit = self.upload_limit if path.rstrip("/") == UPLOAD_PATH else self.body_limit
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await _reply(send, 413, _too_large(path, limit), "too_large")
        await self._within(scope, receive, send, limit, path)

    def _refusal(self, headers: dict) -> tuple[int, str, str] | None:
        """Without keys the server trusts whoever reaches it, so only this machine may: a foreign
        Host header is DNS rebinding, a foreign Origin a web page posting across sites."""
        if self.keys:
            return None
        host = _hostname("//" + headers.get("host", ""))
        if host not in LOCAL_HOSTS:
            return 421, f"host {host!r} is not served: without an API key only localhost is", \
                "invalid_request_error"
        origin = headers.get("origin")
        if origin is not None and _hostname(origin) not in LOCAL_HOSTS:
            return 403, f"cross-site request from {origin!r} refused: without an API key only " \
                "pages of localhost may call this server", "permission_error"
        return None

    def _caller(self, headers: dict) -> Caller | None:
        if not self.keys:
            return self.anonymous
        scheme, _, given = headers.get("authorization", "").partition(" ")
        given_bytes = given.strip().encode()
        found = None
        for key, caller in self.keys.items():  # compare with every key: the time says nothing
            if hmac.compare_digest(given_bytes, key.encode()):
                found = caller
        return found if scheme.lower() == "bearer" else None

    async def _within(self, scope, receive, send, limit: int, path: str) -> None:
        """The app, reading at most `limit` bytes of body, all of it within `body_seconds` (a
        client that trickles its body is cut with a 408, as nginx's client_body_timeout does)."""
        received, state = 0, {"over": False, "slow": False, "started": False, "whole": False}
        due = asyncio.get_running_loop().time() + self.body_seconds

        async def counted_receive():
            nonlocal received
            if state["whole"]:  # after the body: only a disconnect can come, wait for it freely
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, due - asyncio.get_running_loop().time()))
            except asyncio.TimeoutError:
                state["slow"] = True
                return {"type": "http.disconnect"}  # the app stops reading
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                state["whole"] = not message.get("more_body", False)
                if received > limit:
                    state["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if state["over"] or state["slow"]:
                return  # the app's own answer to the cut body is replaced by the 413 / 408
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not (state["over"] or state["slow"]):
                raise
        if state["started"]:
            return
        if state["over"]:
            await _reply(send, 413, _too_large(path, limit), "too_large")
        elif state["slow"]:
            await _reply(send, 408, f"the request body did not arrive within {self.body_seconds:g} s "
                         "([serve] body_timeout_s)", "timeout")


def _hostname(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _too_large(path: str, limit: int) -> str:
    if path.rstrip("/") == UPLOAD_PATH:
        return (f"larger than the {(limit - MULTIPART_SLACK) / 2**20:g} MB upload limit "
                "([serve] max_upload_mb)")
    return f"request body larger than the {limit / 1024:g} KB limit ([serve] max_body_kb)"


async def _reply(send, status: int, message: str, kind: str) -> None:
    body = json.dumps({"error": {"message": message, "type": kind}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class HeaderDeadline(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's headers: a client that
    sends them a byte at a time (slowloris) has its connection closed after `header_seconds`,
    as nginx's client_header_timeout does. uvicorn has no such limit of its own; this relies on
    its `cycle` (the request in progress) and `transport` attributes."""

    header_seconds = 10.0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._await_headers()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_headers()

    def _await_headers(self) -> None:
        self.loop.call_later(self.header_seconds, self._headers_due, self.cycle)

    def _headers_due(self, answered) -> None:
        if self.cycle is answered and not self.transport.is_closing():  # no new request began
            self.transport.close()


def header_deadline(seconds: float) -> type[HeaderDeadline]:
    """The protocol class for uvicorn's `http=` with this header deadline."""
    return type("HeaderDeadline", (HeaderDeadline,), {"header_seconds": seconds})
