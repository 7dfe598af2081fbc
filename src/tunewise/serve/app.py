"""The FastAPI application: thin routers over `Services`, bearer-key auth, errors as OpenAI-style
JSON with a 4xx status for anything the client can fix, the web page at `/`, `GET /health`."""

from __future__ import annotations

import html
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Mapping

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from tunewise.config import ServeSettings
from tunewise.errors import TunewiseError
from tunewise.serve import documents_router, openai_router, tasks_router
from tunewise.serve.guard import LOCAL_HOSTS, MULTIPART_SLACK, Caller, Guard, header_deadline
from tunewise.serve.services import Services
from tunewise.workspace import Workspace

PAGE = Path(__file__).with_name("static") / "index.html"
SCRIPT = PAGE.with_name("app.js")
# the page runs only its own script file: an injected inline script or a foreign one does not run
PAGE_HEADERS = {"Content-Security-Policy": "script-src 'self'; base-uri 'none'; "
                "frame-ancestors 'none'", "X-Content-Type-Options": "nosniff"}


class ServeError(TunewiseError):
    """The server cannot start as asked (e.g. a public address without an API key)."""


def callers(serve: ServeSettings, env: Mapping[str, str] | None = None) -> dict[str, Caller]:
    """Each API key and who it is: a key of `api_keys` is an admin; `[serve.keys.NAME]` tables
    give a team's key (read from the environment) its collections."""
    env = os.environ if env is None else env
    found = {key: Caller("admin", (), (), admin=True) for key in serve.api_keys}
    for name, key in serve.keys.items():
        secret = env.get(key.key_env, "") if key.key_env else ""
        if not secret:
            raise ServeError(f"[serve.keys.{name}] key_env = {key.key_env!r}: set that environment "
                             "variable to the key")
        found[secret] = Caller(name, key.read, key.write, key.admin)
    return found


def check_exposure(host: str, keys) -> str:
    """Refuse to serve beyond this machine without a key; say what protects the server."""
    if keys:
        return f"API keys required ({len(keys)} configured)"
    if host not in LOCAL_HOSTS:
        raise ServeError(f"refusing to listen on {host} without an API key: set [serve] api_keys "
                         "or TUNEWISE_SERVE_API_KEYS, or serve on 127.0.0.1")
    return "no API key configured: serving on localhost only"


def _error(status: int, message: str, kind: str, headers: dict | None = None,
           code: str | None = None) -> JSONResponse:
    error = {"message": message, "type": kind, **({"code": code} if code else {})}
    return JSONResponse(status_code=status, headers=headers, content={"error": error})


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":
            parts.append(f"malformed JSON: {e.get('ctx', {}).get('error', 'cannot parse')}")
            continue
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
    return "; ".join(parts) or "malformed request"


def create_app(ws: Workspace, env: Mapping[str, str] | None = None):
    """The ASGI application: FastAPI's routes inside the Guard (serve/guard.py), which checks the
    key, the Host and Origin, and the body size before any route reads the request."""
    services = Services(ws)
    keys = callers(ws.settings.serve, env)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        services.close()  # graceful: waiting jobs are dropped, the store is closed cleanly

    app = FastAPI(title="tunewise", version="0.1.0", lifespan=lifespan,
                  description="OpenAI-compatible chat, embeddings and document search over your "
                              "documents.")
    app.state.services, app.state.keys = services, keys
    app.state.started = time.time()
    app.include_router(openai_router.router)
    app.include_router(documents_router.router)
    app.include_router(tasks_router.router)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        body = PAGE.read_text(encoding="utf-8").replace(
            "__DEFAULT_SYSTEM__", html.escape(ws.settings.serve.system)).replace(
            "__NEEDS_KEY__", "true" if keys else "false")
        return HTMLResponse(body, headers=PAGE_HEADERS)

    @app.get("/app.js", include_in_schema=False)
    def script() -> Response:
        return Response(SCRIPT.read_text(encoding="utf-8"), media_type="text/javascript",
                        headers={"X-Content-Type-Options": "nosniff"})

    @app.get("/health")
    def health() -> dict:
        return services.health()

    @app.get("/reports/{run}", response_class=HTMLResponse, include_in_schema=False)
    def report(run: str, request: Request) -> HTMLResponse:
        return HTMLResponse(services.report(run, request.state.caller))

    @app.get("/v1/reports")
    def reports(request: Request) -> dict:
        return {"object": "list", "data": services.reports(request.state.caller)}

    handlers = {
        RequestValidationError: lambda e: _error(400, _validation_message(e),
                                                 "invalid_request_error"),
        HTTPException: lambda e: _error(e.status_code, str(e.detail),
                                        "authentication_error" if e.status_code == 401
                                        else "invalid_request_error"),
        # every error the user can fix carries its own status (tunewise.errors)
        TunewiseError: lambda e: _error(e.http_status, str(e), e.kind,
                                        {"Retry-After": "1"} if e.http_status in (429, 503) else None,
                                        e.code),
        UnicodeError: lambda e: _error(400, "the request holds text that is not valid Unicode "
                                       "(a lone surrogate?)", "invalid_request_error"),
    }
    for kind, make in handlers.items():
        app.add_exception_handler(kind, lambda request, exc, make=make: make(exc))
    serve = ws.settings.serve
    anonymous = Caller("local", (), (), admin=True)  # no keys: this machine only, as its owner
    return Guard(app, keys, anonymous, body_limit=int(serve.max_body_kb * 1024),
                 upload_limit=int(serve.max_upload_mb * 1024 * 1024) + MULTIPART_SLACK,
                 body_seconds=serve.body_timeout_s)


def serve(ws: Workspace, host: str, port: int, log_level: str = "info") -> None:
    """Run the server until Ctrl-C / SIGTERM (uvicorn finishes the requests in flight)."""
    app = create_app(ws)
    check_exposure(host, app.keys)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=30,
                http=header_deadline(ws.settings.serve.header_timeout_s))
