"""A real OpenAI-compatible chat server on localhost that answers with the bundled local model,
for testing the openai backend with the official SDK (no mocked client).

`fail_first` answers the first N requests with 429; `status` makes every request fail with it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from tests.http_server import LocalServer, send_json


class ChatServer(LocalServer):
    def __init__(self, model, api_key: str | None = None, fail_first: int = 0,
                 status: int | None = None, parallel: bool = False):
        self.model, self.api_key, self.fail_first, self.status = model, api_key, fail_first, status
        self.requests: list[dict] = []
        # One generation at a time, as a small server would; `parallel` serves requests at once
        # (a model object that is safe to call from threads, like tests/evaluate/scripted.py).
        self.lock = threading.Lock() if not parallel else contextlib.nullcontext()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return send_json(self, 401, {"error": {"message": "Incorrect API key", "type": "auth"}})
                if server.status:
                    return send_json(self, server.status, {"error": {"message": "model overloaded"}})
                if len(server.requests) <= server.fail_first:
                    return send_json(self, 429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"})
                with server.lock:
                    if body.get("stream"):
                        return self._stream(body)
                    gen = server.model.generate(body["messages"], body.get("max_tokens"))
                send_json(self, 200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": gen.text}}],
                    "usage": {"prompt_tokens": gen.usage.prompt_tokens,
                              "completion_tokens": gen.usage.completion_tokens,
                              "total_tokens": gen.usage.total_tokens}})

            def _stream(self, body: dict):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()

                def event(payload: dict):
                    self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                    self.wfile.flush()

                base = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": body["model"]}
                gen = server.model.generate(body["messages"], body.get("max_tokens"),
                                            on_token=lambda t: event(
                    {**base, "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]}))
                event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                event({**base, "choices": [], "usage": {
                    "prompt_tokens": gen.usage.prompt_tokens,
                    "completion_tokens": gen.usage.completion_tokens,
                    "total_tokens": gen.usage.total_tokens}})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.serve(Handler)
