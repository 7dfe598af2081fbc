"""A *system* — anything that answers a question: a chat model, with or without retrieval — and
its one parser. Evaluation, the cost model, the report and the server all take systems.

Written `NAME`, `NAME+rag`, `NAME+rag:k=3`, `NAME+rag:k=8:min_passage_similarity=0.2`,
`NAME+rag:retriever=runs/ret` (retrieving with what `tunewise finetune-retriever` fitted in that
folder: its embedder over the store `store reembed` wrote, and its reranker); `NAME:shots=4` (a
prompted model shown the 4 nearest labelled examples, for tasks; `:view=head` reads the start of
a long document instead of its passages most like each key); the systems a task run trains
(tasks/runner.py): `encoder`, `encoder:frozen`, `finetune:lora`, `finetune:full`,
`finetune:head` (an LLM with a classification head; `finetune:head-full`), any finetune one on
another base with `:base=gemma3` (a bundled name, .gguf file or model folder); and the
trivial baselines every run measures beside them: `baseline:majority`, `baseline:abstain`,
`baseline:extractive` for questions (evaluate/baselines.py), each task's own for tasks
(`baseline:tfidf`, `baseline:rules`, `baseline:lead` …)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from tunewise.config import ConfigError, current_name

RAG = "+rag"
BASELINE = "baseline:"
BASELINES = ("majority", "abstain", "extractive")  # of question runs; tasks name their own
# systems a task run trains on its training part: name as written -> what is trained
TRAINED = {"encoder": "encoder", "encoder:frozen": "encoder-frozen", "finetune:lora": "lora",
           "finetune:full": "full", "finetune:head": "head", "finetune:head-full": "head-full"}
BASE = ":base="  # `finetune:lora:base=gemma3`: an LLM fine-tune of another base than the default
VIEWS = ("passages", "head")  # how a task's long input is cut to a model's window
TRAINED_FOLDER = "trained"  # RUN/trained/SYSTEM: what a task run trained for SYSTEM
SIZE = "@"  # `encoder@100`: a trained system at one point of its learning curve (100 examples)


def base_name(name: str) -> str:
    """A system's name without its learning-curve size (`encoder@100` -> `encoder`)."""
    return name.split(SIZE)[0]


@dataclass(frozen=True)
class System:
    name: str  # as written (`local+rag:k=3`), or a name the server gives it (`docs`)
    model: str  # a [models] name, or an API model of the price table
    rag: bool = False
    k: int | None = None  # passages retrieved; None: [retrieval] k
    min_passage_similarity: float | None = None  # least cosine of a passage; None: [rag]'s
    baseline: str = ""  # a trivial system that calls no model: majority | abstain | extractive …
    shots: int | None = None  # tasks: labelled examples shown in the prompt (nearest first)
    examples: str = ""  # tasks: the file the shots are drawn from ("": the run's training part)
    trained: str = ""  # tasks: encoder | encoder-frozen | lora | full, trained by the run
    view: str = ""  # tasks: how a long input is cut to fit: passages (per key; default) | head
    retriever: str = ""  # a `tunewise finetune-retriever` folder; "": the configured retriever
    base: str = ""  # tasks: the LLM a finetune:… system trains ("": the recipe's, SmolLM2)

    def __str__(self) -> str:
        return self.name


def current_system_name(spec: str) -> str:
    """`spec` with its options spelled as they are now (`local+rag:min_similarity=0.2` →
    `local+rag:min_passage_similarity=0.2`): the name a system has in a run, whichever spelling
    wrote it — so a run recorded before a rename resumes and reports under today's names."""
    head, *options = spec.strip().split(":")
    if not head.endswith(RAG):
        return spec.strip()
    return ":".join([head, *(current_name(key, "rag") + sep + value for key, sep, value
                             in (o.partition("=") for o in options))])


def parse_system(spec: str, models: Iterable[str] | None = None) -> System:
    """`MODEL[+rag[:k=N][:min_passage_similarity=X]]` → System, named with its options' current
    spelling. With `models`, the model must be one of them."""
    spec = current_system_name(spec)
    if spec.startswith(BASELINE):
        kind = spec[len(BASELINE):]
        if not kind.isidentifier():
            raise ConfigError(f"system {spec!r}: baselines are written baseline:NAME, e.g. "
                              f"{', '.join(BASELINE + b for b in BASELINES)}")
        return System(spec, "", rag=kind == "extractive", baseline=kind)
    trained, _, base = spec.partition(BASE)
    if trained in TRAINED:
        if base and not trained.startswith("finetune:"):
            raise ConfigError(f"system {spec!r}: only the finetune:… systems take base=")
        return System(spec, "", trained=TRAINED[trained], base=base)
    head, *options = spec.split(":")
    model, plus, what = head.partition("+")
    if plus and what != "rag":
        raise ConfigError(f"system {spec!r}: only '+rag' may follow the model name")
    if not model:
        raise ConfigError(f"system {spec!r}: no model name, e.g. local or local+rag")
    if models is not None and model not in models:
        raise ConfigError(f"system {spec!r}: unknown model {model!r}; configured: "
                          f"{', '.join(sorted(models))}")
    values: dict[str, float | int] = {}
    for option in options:
        key, _, value = option.partition("=")
        try:
            values[key] = {"k": int, "min_passage_similarity": float, "shots": int, "view": _view,
                           "retriever": _folder, "examples": _folder}[key](value)
        except (KeyError, ValueError):
            raise ConfigError(f"system {spec!r}: bad option {option!r}; valid: k=N, "
                              "min_passage_similarity=X, retriever=FOLDER (after +rag), "
                              "shots=N, examples=FILE, view=passages|head") from None
    if set(values) - {"shots", "view", "examples"} and not plus:
        raise ConfigError(f"system {spec!r}: k, min_passage_similarity and retriever need '+rag'")
    if values.get("shots", 0) < 0:
        raise ConfigError(f"system {spec!r}: shots must be 0 or more")
    return System(spec, model, bool(plus), values.get("k"), values.get("min_passage_similarity"),
                  shots=values.get("shots"), view=values.get("view", ""),
                  examples=values.get("examples", ""),
                  retriever=values.get("retriever", ""))


def _folder(value: str) -> str:
    if not value:
        raise ValueError(value)
    return value


def _view(value: str) -> str:
    if value not in VIEWS:
        raise ValueError(value)
    return value


def parse_systems(specs: str | Iterable[str], models: Iterable[str] | None = None) -> list[System]:
    """A comma-separated list (or a list) of systems, each named once."""
    items = specs.split(",") if isinstance(specs, str) else list(specs)
    systems = [parse_system(s, models) for s in items if s.strip()]
    if not systems:
        raise ConfigError("no systems given, e.g. --systems local,local+rag")
    if len({s.name for s in systems}) < len(systems):
        raise ConfigError(f"a system is named twice in {specs!r}")
    return systems
