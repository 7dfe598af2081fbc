"""A real HTTP server speaking the OpenAI embeddings API, standing in for a paid endpoint.

Vectors are hashed bags of words (64-d), so texts sharing words are similar. `fail_first` makes
the first N requests answer 429, to exercise the SDK's retries."""

from __future__ import annotations

import base64
import json
import re
import zlib
from http.server import BaseHTTPRequestHandler

import numpy as np

from tests.http_server import LocalServer, send_json

DIM = 64


def bag_of_words(text: str) -> list[float]:
    v = np.zeros(DIM, dtype=np.float32)
    for word in re.findall(r"\w+", text.lower()):
        v[zlib.crc32(word.encode()) % DIM] += 1.0
    v[0] += 0.01  # never the zero vector
    return (v * 3.0).tolist()  # not unit length: the client must normalise


class EmbeddingServer(LocalServer):
    def __init__(self, api_key: str | None = None, fail_first: int = 0):
        self.api_key, self.fail_first = api_key, fail_first
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return send_json(self, 401, {"error": {"message": "bad key", "type": "auth"}})
                if len(server.requests) <= server.fail_first:
                    return send_json(self, 429, {"error": {"message": "slow down", "type": "rate"}},
                                      {"Retry-After": "0"})
                if self.path != "/v1/embeddings":
                    return send_json(self, 404, {"error": {"message": "not found"}})
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = []
                for i, text in enumerate(texts):
                    vector = bag_of_words(text)
                    if body.get("encoding_format") == "base64":
                        vector = base64.b64encode(np.array(vector, np.float32).tobytes()).decode()
                    data.append({"object": "embedding", "index": i, "embedding": vector})
                data.reverse()  # the client must order by index
                tokens = sum(len(t.split()) for t in texts)
                send_json(self, 200, {"object": "list", "data": data, "model": body["model"],
                                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

        self.serve(Handler)
