"""A real `tunewise serve` process stopped with SIGTERM while answering: the request in flight
still gets its answer, then the process exits and the port closes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import requests

from tests.evaluate.scripted import ScriptedModel
from tests.models.chat_server import ChatServer


def test_sigterm_finishes_the_request_in_flight(tmp_path):
    slow = ScriptedModel(lambda messages: "Finished despite the shutdown.", delay=2.0)
    with ChatServer(slow) as upstream, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        (tmp_path / "tunewise.toml").write_text(
            f'[models.api]\nbackend = "openai"\nmodel = "scripted"\nbase_url = '
            f'"{upstream.base_url}"\napi_key_env = "TUNEWISE_TEST_NO_KEY"\n')
        env = dict(os.environ, HF_HUB_OFFLINE="1", TUNEWISE_REGISTRY=str(tmp_path / "none.toml"))
        proc = subprocess.Popen([sys.executable, "-m", "tunewise", "serve", "--port", str(port)],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(url + "/health", timeout=1).ok:
                        break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read()
                    time.sleep(0.1)
            result = {}

            def ask() -> None:
                result["response"] = requests.post(url + "/v1/chat/completions", timeout=60, json={
                    "model": "api", "messages": [{"role": "user", "content": "Still there?"}]})

            asking = threading.Thread(target=ask)
            asking.start()
            while slow.calls == 0:  # the request reached the model
                time.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            asking.join(timeout=30)
            response = result["response"]
            assert response.status_code == 200
            assert response.json()["choices"][0]["message"]["content"] == \
                "Finished despite the shutdown."
            proc.wait(timeout=30)
            output = proc.stdout.read()
            assert "localhost only" in output and "Shutting down" in output
            try:
                requests.get(url + "/health", timeout=2)
                raise AssertionError("the server still answers after shutdown")
            except requests.ConnectionError:
                pass
        finally:
            if proc.poll() is None:
                proc.kill()
