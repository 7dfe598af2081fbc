"""A real `tunewise eval run` process killed mid-run (SIGKILL) and run again: every question ends
with exactly one answer, and the ones answered before the kill are not asked again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import QUESTIONS
from tests.evaluate.conftest import oracle
from tests.evaluate.scripted import ScriptedModel
from tests.models.chat_server import ChatServer
from tunewise.evaluate.runner import RECORDS, load_records


def test_killed_eval_run_resumes(tmp_path):
    model = ScriptedModel(oracle, delay=0.1)
    with ChatServer(model) as server:
        (tmp_path / "tunewise.toml").write_text(
            f'[models.api]\nbackend = "openai"\nmodel = "scripted"\nbase_url = "{server.base_url}"\n')
        command = [sys.executable, "-m", "tunewise", "eval", "run", "--systems", "api",
                   "--questions", str(QUESTIONS), "--out", "run", "--concurrency", "2"]
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        records = tmp_path / "run" / RECORDS
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
                not records.exists() or len(records.read_text().splitlines()) < 8):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = load_records(tmp_path / "run")
        assert 8 <= len(before) < 32, "the run was not killed mid-way"
        asked = len(server.requests)
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    after = load_records(tmp_path / "run")
    assert len(after) == 32 and not any(r.get("error") for r in after.values())
    # only the questions without an answer were asked again (at most the two in flight were lost)
    assert len(server.requests) - asked == 32 - len(before)
    valid = []
    for line in records.read_text().splitlines():
        try:
            valid.append(json.loads(line)["question_id"])
        except json.JSONDecodeError:  # a line torn by the kill (rare: lines are written whole)
            pass
    assert len(valid) == len(set(valid)) == 32  # no question was answered twice
