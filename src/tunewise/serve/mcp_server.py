"""`tunewise mcp`: the documents as Model Context Protocol tools (the official `mcp` SDK, stdio
transport), so an assistant (Claude Desktop, an IDE agent, any MCP client) can search a
collection, ask with citations and list the documents — under the same key and collection rules
as `tunewise serve` (serve/guard.py): with keys configured, the key the server is started with
says which collections it reads; without, it is this machine's owner and reads all."""

from __future__ import annotations

import functools

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tunewise.errors import TunewiseError
from tunewise.serve.guard import Caller
from tunewise.serve.services import DOCS, Services, scoped
from tunewise.systems import System
from tunewise.workspace import Workspace


def _told(tool):
    """A tool whose user-fixable errors (a collection the key may not read, a bad argument)
    reach the client with their message, as the HTTP API's 4xx do; anything else is a crash."""
    @functools.wraps(tool)
    def run(*args, **kwargs):
        try:
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
        hits, _ = svc.search(query, k, None, None, (), name)
        return [{"source": svc.display(h.chunk.source), "title": h.chunk.title,
                 "page": h.chunk.page, "score": round(h.score, 4), "text": h.chunk.text}
                for h in hits]

    @server.tool()
    @_told
    def ask(question: str, collection: str | None = None) -> dict:
        """Answer `question` from the collection's documents with the configured model, citing
        numbered sources; `abstained` is true when the documents do not hold the answer."""
        name = scoped(caller, collection)
        system = System(DOCS, ws.settings.rag.model, True)
        result = svc.complete(system, [{"role": "user", "content": question}], None,
                              collection=name).result()
        return {"answer": result.text, "abstained": result.abstained,
                "sources": [{"number": s.number, "source": svc.display(s.source),
                             "page": s.page, "text": s.text} for s in result.sources]}

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
