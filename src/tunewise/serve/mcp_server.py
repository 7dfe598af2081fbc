"""`tunewise mcp`: the documents as Model Context Protocol tools (the official `mcp` SDK, stdio
transport), so an assistant (Claude Desktop, an IDE agent, any MCP client) can search a
collection, ask with citations and list the documents — under the same key and collection rules
as `tunewise serve` (serve/guard.py): with keys configured, the key the server is started with
says which collections it reads; without, it is this machine's owner and reads all."""

from __future__ import annotations

import functools
import io
import os
import re

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server

from tunewise.errors import TunewiseError
from tunewise.serve.guard import Caller
from tunewise.serve.services import DOCS, Services, scoped
from tunewise.systems import System
from tunewise.workspace import Workspace

# a JSON escape of half a surrogate pair with no other half: valid JSON, not valid text
LONE_SURROGATE = re.compile(r"(?<!\\)\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
                            r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})(?<!\\)"
                            r"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
NOT_TEXT = "\x00"  # what a lone surrogate becomes: a character no argument may hold


class _RepairedStdin:
    """The client's lines with each lone surrogate escape made a NUL: the SDK's parser refuses a
    lone surrogate and drops the whole message without an answer (the request id is lost with
    it), while a NUL parses, reaches the tool, and is refused there with a message."""

    def __init__(self, lines):
        self.lines = lines

    def __aiter__(self):
        return self._repaired()

    async def _repaired(self):
        async for line in self.lines:
            yield LONE_SURROGATE.sub(r"\\u0000", line)


def run_stdio(server: MCPServer) -> None:
    """`server` over this process's stdin and stdout, its input repaired (_RepairedStdin). The
    real stdin is moved to a private descriptor and fd 0 to the null device, as the SDK does,
    so nothing else in the process reads the client's messages."""
    private = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    lines = anyio.wrap_file(io.TextIOWrapper(os.fdopen(private, "rb"), encoding="utf-8",
                                             errors="replace"))

    async def main() -> None:
        async with stdio_server(stdin=_RepairedStdin(lines)) as (read, write):
            low = server._lowlevel_server  # what MCPServer.run_stdio_async runs, on our stdin
            await low.run(read, write, low.create_initialization_options())

    anyio.run(main)


def _refuse_non_text(value, where: str) -> None:
    if isinstance(value, str) and NOT_TEXT in value:
        raise TunewiseError(f"{where}: not valid Unicode text (a lone surrogate or a NUL)")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_non_text(item, f"{where}[{i}]")


def _told(tool):
    """A tool whose user-fixable errors (a collection the key may not read, a bad argument,
    text that is not Unicode) reach the client with their message, as the HTTP API's 4xx do;
    anything else is a crash."""
    @functools.wraps(tool)
    def run(*args, **kwargs):
        try:
            for name, value in kwargs.items():
                _refuse_non_text(value, name)
            return tool(*args, **kwargs)
        except TunewiseError as exc:
            raise ToolError(str(exc)) from exc
    return run


def build(ws: Workspace, caller: Caller) -> MCPServer:
    """The MCP server over `ws`'s collections for `caller`."""
    svc = Services(ws)
    server = MCPServer("tunewise", instructions=(
        "Search and question the documents of a tunewise store. `ask` answers with numbered "
        "citations (or says the documents do not hold the answer); `search` returns passages; "
        "`list_documents` lists the files. `collection` defaults to the key's first."))

    @server.tool()
    @_told
    def search(query: str, k: int = 5, collection: str | None = None) -> list[dict]:
        """The k passages of the collection that best match `query` (hybrid retrieval), with their
        source, page and score."""
        name = scoped(caller, collection)
        if not 1 <= k <= 100:
            raise TunewiseError(f"k = {k}: from 1 to 100")
        hits, _ = svc.search(query, k=k, mode=None, min_similarity=None, collection=name)
        return [{"source": svc.display(h.chunk.source), "title": h.chunk.title,
                 "page": h.chunk.page, "score": round(h.score, 4), "text": h.chunk.text}
                for h in hits]

    @server.tool()
    @_told
    def ask(question: str, collection: str | None = None) -> dict:
        """Answer `question` from the collection's documents with the configured model, citing
        numbered sources; `abstained` is true when the documents do not hold the answer."""
        name = scoped(caller, collection)
        system = System(DOCS, ws.settings.rag.model, rag=True)
        result = svc.complete(system, [{"role": "user", "content": question}], max_tokens=None,
                              collection=name).result()
        return {"answer": result.text, "abstained": result.abstained,
                "sources": [{"number": s.number, "source": svc.display(s.source),
                             "page": s.page, "text": s.text} for s in result.passages]}

    @server.tool()
    @_told
    def list_documents(collection: str | None = None) -> list[dict]:
        """The files of the collection with their document and chunk counts."""
        return svc.documents(scoped(caller, collection))

    for name in ws.settings.tasks:  # each served task system ([tasks.NAME]) is a tool of its own
        _task_tool(server, svc, name)
    return server


def _task_tool(server: MCPServer, svc: Services, name: str) -> None:
    described = svc.task(name).describe()
    what = (f"labels: {', '.join(described['labels'])}" if "labels" in described else
            f"keys: {', '.join(described['keys'])}" if "keys" in described else "a summary")
    tool_name = "task_" + "".join(c if c.isalnum() or c in "_-" else "_" for c in name)

    @_told
    def run_task(inputs: list[str]) -> list[dict]:
        return [p.to_dict() for p in svc.predict(name, inputs).result()]

    server.tool(name=tool_name, description=(
        f"The {described['task']} task {name!r} ({described['system']}; {what}): one output "
        "a text of `inputs`, with the system that produced it and, for classify, per-label "
        "probabilities where the system has them."))(run_task)
