"""The FastAPI application: thin routers over `Services`, bearer-key auth, errors as OpenAI-style
JSON with a 4xx status for anything the client can fix, the web page at `/`, `GET /health`."""

from __future__ import annotations

import hmac
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from tunewise.errors import TunewiseError
from tunewise.serve import documents_router, openai_router
from tunewise.serve.services import Services
from tunewise.workspace import Workspace

PAGE = Path(__file__).with_name("static") / "index.html"
LOCALHOST = ("127.0.0.1", "localhost", "::1")


class ServeError(TunewiseError):
    """The server cannot start as asked (e.g. a public address without an API key)."""


def check_exposure(host: str, keys: tuple[str, ...]) -> str:
    """Refuse to serve beyond this machine without a key; say what protects the server."""
    if keys:
        return f"API keys required ({len(keys)} configured)"
    if host not in LOCALHOST:
        raise ServeError(f"refusing to listen on {host} without an API key: set [serve] api_keys "
                         "or TUNEWISE_SERVE_API_KEYS, or serve on 127.0.0.1")
    return "no API key configured: serving on localhost only"


def _authorise(request: Request) -> None:
    keys: tuple[str, ...] = request.app.state.keys
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    given_bytes = given.strip().encode()
    # compare with every key, whatever matches first: the time taken says nothing about the key
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given_bytes, key.encode())
    if scheme.lower() != "bearer" or not ok:
        raise HTTPException(401, "missing or invalid API key: send 'Authorization: Bearer KEY'")


def _error(status: int, message: str, kind: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, headers=headers,
                        content={"error": {"message": message, "type": kind}})


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":
            parts.append(f"malformed JSON: {e.get('ctx', {}).get('error', 'cannot parse')}")
            continue
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
    return "; ".join(parts) or "malformed request"


def create_app(ws: Workspace) -> FastAPI:
    services = Services(ws)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        services.close()  # graceful: waiting jobs are dropped, the store is closed cleanly

    app = FastAPI(title="tunewise", version="0.1.0", lifespan=lifespan,
                  description="OpenAI-compatible chat, embeddings and document search over your "
                              "documents.")
    app.state.services, app.state.keys = services, tuple(ws.settings.serve.api_keys)
    app.state.started = time.time()
    auth = [Depends(_authorise)]
    app.include_router(openai_router.router, dependencies=auth)
    app.include_router(documents_router.router, dependencies=auth)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return PAGE.read_text(encoding="utf-8").replace(
            "__DEFAULT_SYSTEM__", ws.settings.serve.system).replace(
            "__NEEDS_KEY__", "true" if app.state.keys else "false")

    @app.get("/health")
    def health() -> dict:
        return services.health()

    handlers = {
        RequestValidationError: lambda e: _error(400, _validation_message(e),
                                                 "invalid_request_error"),
        HTTPException: lambda e: _error(e.status_code, str(e.detail),
                                        "authentication_error" if e.status_code == 401
                                        else "invalid_request_error"),
        # every error the user can fix carries its own status (tunewise.errors)
        TunewiseError: lambda e: _error(e.http_status, str(e), e.kind,
                                        {"Retry-After": "1"} if e.http_status == 503 else None),
    }
    for kind, make in handlers.items():
        app.add_exception_handler(kind, lambda request, exc, make=make: make(exc))
    return app


def serve(ws: Workspace, host: str, port: int, log_level: str = "info") -> None:
    """Run the server until Ctrl-C / SIGTERM (uvicorn finishes the requests in flight)."""
    import uvicorn

    check_exposure(host, ws.settings.serve.api_keys)
    uvicorn.run(create_app(ws), host=host, port=port, log_level=log_level,
                timeout_graceful_shutdown=30)
