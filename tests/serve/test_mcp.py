"""`tunewise mcp` as an MCP client sees it: the official SDK's stdio client starts the server,
lists its tools and calls them — search, ask with citations, list documents — and a team key
reads only its own collections."""

import asyncio
import json
import os
import sys
import threading

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.conftest import SAMPLE
from tunewise.config import load_settings
from tunewise.workspace import Workspace

CONFIG = """
[store]
url = "sqlite:{store}"
[serve]
api_keys = ["admin-key-0123456789"]
[serve.keys.hr]
key_env = "HR_KEY"
read = ["hr"]
"""


def call(root, key: str, calls: list[tuple[str, dict]]) -> tuple[list[str], list]:
    """(tool names, each call's result) from a `tunewise mcp` process started with `key`."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "tunewise", "mcp", "--config", str(root / "t.toml")],
        env={**os.environ, "TUNEWISE_MCP_KEY": key, "HR_KEY": "hr-key-0123456789",
             "HF_HUB_OFFLINE": "1", "TUNEWISE_REGISTRY": str(root / "models.toml")}, cwd=root)

    async def session():
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            tools = [t.name for t in (await s.list_tools()).tools]
            return tools, [await s.call_tool(name, args) for name, args in calls]

    return asyncio.run(session())


def payload(result):
    return json.loads(result.content[0].text) if len(result.content) == 1 else [
        json.loads(c.text) for c in result.content]


def test_an_mcp_client_searches_asks_and_lists_under_the_key(tmp_path, embedder):
    (tmp_path / "t.toml").write_text(CONFIG.format(store=tmp_path / "store.db"))
    with Workspace(load_settings(tmp_path / "t.toml"), embedder=embedder) as ws:
        assert not ws.ingest([SAMPLE / "policies"]).failed
    tools, (found, asked, listed) = call(tmp_path, "admin-key-0123456789", [
        ("search", {"query": "How many days per week can I work remotely?", "k": 2}),
        ("ask", {"question": "How many days per week can I work remotely?"}),
        ("list_documents", {})])
    assert sorted(tools) == ["ask", "list_documents", "search"]
    hits = payload(found)
    hits = hits if isinstance(hits, list) else [hits]
    assert not found.is_error and "remote" in hits[0]["source"].lower()
    answer = payload(asked)
    assert answer["answer"] and answer["sources"][0]["number"] == 1
    files = payload(listed)
    assert len(files if isinstance(files, list) else [files]) >= 3
    _, (own, refused) = call(tmp_path, "hr-key-0123456789", [
        ("search", {"query": "remote work"}), ("search", {"query": "remote work", "collection": "default"})])
    assert not own.is_error and own.structured_content == {"result": []}  # its own, empty, collection
    assert refused.is_error and "may not read collection 'default'" in refused.content[0].text


def test_a_query_with_a_lone_surrogate_gets_a_tool_error_not_silence(tmp_path):
    """Raw JSON-RPC over stdio (the SDK's client cannot even encode such a string): the server
    answered nothing for it (issue 38); now the call's answer is an error that says why."""
    import subprocess

    (tmp_path / "t.toml").write_text(CONFIG.format(store=tmp_path / "store.db"))
    process = subprocess.Popen(
        [sys.executable, "-m", "tunewise", "mcp", "--config", str(tmp_path / "t.toml")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=tmp_path,
        env={**os.environ, "TUNEWISE_MCP_KEY": "admin-key-0123456789", "HR_KEY": "x" * 12,
             "HF_HUB_OFFLINE": "1"})
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "search", "arguments": {"query": "remote \ud800 work"}}}]
    # ensure_ascii: the surrogate travels as the escape \ud800, which is valid JSON
    process.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
    process.stdin.flush()
    # stdin stays open until the call is answered: at end of input the server stops, and a
    # call still running (the embedder loading) would be dropped with it
    lines: list[bytes] = []

    def read_until_answered() -> None:
        for line in process.stdout:
            lines.append(line)
            if json.loads(line).get("id") == 2:
                return

    reader = threading.Thread(target=read_until_answered, daemon=True)
    reader.start()
    reader.join(timeout=120)
    process.stdin.close()
    process.wait(timeout=60)
    out = b"".join(lines)
    answers = {a.get("id"): a for a in map(json.loads, out.decode().splitlines())}
    assert 2 in answers, out
    result = answers[2].get("result", {})
    assert result.get("isError") and "not valid Unicode" in result["content"][0]["text"]
