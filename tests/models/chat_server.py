"""A real OpenAI-compatible chat server on localhost that answers with the bundled local model,
for testing the openai backend with the official SDK (no mocked client).

`fail_first` answers the first N requests with 429; `status` makes every request fail with it;
`cut_first` ends the first N streams early, and `cut_when_busy` every stream that arrives while
another request is in flight, as llama.cpp's server does: a role chunk, then `[DONE]` — no
content, no finish reason, no usage. `most_in_flight` is the most requests it held at once."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from tests.http_server import LocalServer, send_json


class ChatServer(LocalServer):
    def __init__(self, model, api_key: str | None = None, fail_first: int = 0,
                 status: int | None = None, parallel: bool = False, cut_first: int = 0,
                 cut_when_busy: bool = False):
        self.model, self.api_key, self.fail_first, self.status = model, api_key, fail_first, status
        self.cut_first, self.cut_when_busy = cut_first, cut_when_busy
        self.in_flight = self.most_in_flight = 0
        self.count_lock = threading.Lock()
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
                with server.count_lock:
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                    busy = server.in_flight > 1
                try:
                    self._answer(busy)
                finally:
                    with server.count_lock:
                        server.in_flight -= 1

            def _answer(self, busy: bool):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return send_json(self, 401, {"error": {"message": "Incorrect API key", "type": "auth"}})
                if server.status:
                    return send_json(self, server.status, {"error": {"message": "model overloaded"}})
                if len(server.requests) <= server.fail_first:
                    return send_json(self, 429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"})
                if body.get("stream") and (server.cut_first > 0 or server.cut_when_busy and busy):
                    server.cut_first -= 1
                    return self._cut(body)
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

            def _cut(self, body: dict):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                role = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": body["model"],
                        "choices": [{"index": 0, "delta": {"role": "assistant"},
                                     "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(role)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

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
