"""Task routes: GET /v1/tasks (the served task systems) and POST /v1/tasks/{name}
(`{"inputs": [...]}` → one output a text: a label with per-label probabilities where the system
has them, fields, or a summary, each with the system that produced it). A served task is also
the chat model `task:NAME` (openai_router), whose reply is the same JSON answer."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from tunewise.serve.openai_router import Text, services

router = APIRouter(prefix="/v1")


class TaskRequest(BaseModel):
    inputs: list[Text] = Field(min_length=1)  # at most [serve] max_task_inputs (413 beyond)


@router.get("/tasks")
def list_tasks(request: Request) -> dict:
    return {"object": "list", "data": services(request).tasks()}


@router.post("/tasks/{name}")
async def predict(name: str, body: TaskRequest, request: Request) -> dict:
    svc = services(request)
    found = svc.task(name)
    predictions = await asyncio.wrap_future(svc.predict(name, body.inputs))
    answers = [p.to_dict() for p in predictions]
    svc.log(request.state.caller, "task", name, body.inputs, answers)
    return {"object": "list", "task": found.kind, "model": name,
            "data": [{"index": i, **a} for i, a in enumerate(answers)]}


@router.get("/logs")
def logs(request: Request, collection: str | None = None, limit: int = 100) -> dict:
    """The last logged requests of a collection the key may read ([serve] log_requests)."""
    limit = max(1, min(limit, 1000))
    return {"object": "list",
            "data": services(request).logged(request.state.caller, collection, limit)}
