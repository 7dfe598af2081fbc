"""A streaming client that goes away stops the generation: the local model's queue is not held
by an answer nobody reads."""

import time

import requests

from tests.serve.conftest import start
from tunewise.config import ModelSettings, Settings
from tunewise.models.base import Capabilities, Generation, Usage


class SlowTokens:
    """A local model that streams 200 words, one every 20 ms."""

    name = "slow"
    settings = ModelSettings()
    capabilities = Capabilities(concurrent=False, priced_per_token=False)  # queued like local

    def __init__(self):
        self.emitted, self.stopped_by = 0, None

    def generate(self, messages, max_tokens=None, on_token=None):
        try:
            for _ in range(200):
                time.sleep(0.02)
                on_token("word ")
                self.emitted += 1
        except Exception as exc:  # what the server raised to stop it
            self.stopped_by = type(exc).__name__
            raise
        return Generation("word " * 200, Usage(5, 200), 4.0)


def test_disconnect_stops_generation(tmp_path):
    from tunewise.serve.app import create_app
    from tunewise.workspace import Workspace

    settings = Settings().replace("store", url=f"sqlite:{tmp_path / 's.db'}")
    ws = Workspace(settings.__class__(**{**vars(settings), "models": {
        "local": ModelSettings(), "slow": ModelSettings()}}), models={"slow": (slow := SlowTokens())})
    server, thread, url = start(create_app(ws))
    try:
        with requests.post(url + "/v1/chat/completions", stream=True, timeout=30, json={
                "model": "slow", "stream": True,
                "messages": [{"role": "user", "content": "talk"}]}) as response:
            lines = response.iter_lines()
            got = [next(lines) for _ in range(6)]  # the role chunk and a few words
            assert any(b"word" in line for line in got)
        deadline = time.time() + 5
        while slow.stopped_by is None and time.time() < deadline:
            time.sleep(0.05)
        assert slow.stopped_by == "Cancelled"
        assert slow.emitted < 100  # stopped well before its 200 words (4 s)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
