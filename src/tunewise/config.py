"""Typed settings: one frozen dataclass per concern, loaded once from tunewise.toml plus
TUNEWISE_* environment variables, then overridden per command. Never mutated: use `replace`."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tunewise.errors import TunewiseError
from tunewise.objects import COLLECTION

CONFIG_FILE = "tunewise.toml"
ENV_PREFIX = "TUNEWISE_"
# Models that tunewise made (fine-tuned, pretrained) register here; tunewise.toml overrides them.
REGISTRY = ".tunewise/models.toml"
ANN_MODES = ("auto", "hnsw", "exact")  # [store] ann


class ConfigError(TunewiseError):
    """A setting that cannot be used: unknown key, wrong type, missing file."""


@dataclass(frozen=True)
class StoreSettings:
    # "sqlite:PATH" (or a bare path ending in .db), or "postgresql://USER:PW@HOST/DB#COLLECTION"
    url: str = "sqlite:.tunewise/store.db"
    # Dense search: exact (every vector read) or approximate (an HNSW graph, its candidates
    # re-scored exactly). auto: HNSW from ann_min_chunks chunks, where it measured faster.
    ann: str = "auto"  # auto | hnsw | exact
    # HNSW's candidate list: higher finds more true neighbours, slower (300: recall@10 ≥ 0.97 at
    # a million chunks in bench/store_scale.py --tune, under a millisecond)
    ef_search: int = 300
    ann_min_chunks: int = 20_000  # auto: exact below (measured faster up to ~15k; store_scale.py)
    # PostgreSQL: the most memory its HNSW index build may take (pgvector builds much
    # faster when the whole graph fits: about 2 KB a 384-d chunk, 2 GB at a million)
    index_memory_mb: int = 4096

    def __post_init__(self) -> None:
        _check(self.ann in ANN_MODES, "store.ann", self.ann, " | ".join(ANN_MODES))
        _check(1 <= self.ef_search <= 10_000, "store.ef_search", self.ef_search, "1 to 10000")
        _check(self.ann_min_chunks >= 0, "store.ann_min_chunks", self.ann_min_chunks, "0 or more")
        _check(self.index_memory_mb >= 64, "store.index_memory_mb", self.index_memory_mb,
               "64 or more")


@dataclass(frozen=True)
class EmbedderSettings:
    backend: str = "local"  # local (sentence-transformers) | onnx (ONNX Runtime) | openai (an API)
    # local: "all-MiniLM-L6-v2" is the bundled model; any sentence-transformers folder also works.
    model: str = "all-MiniLM-L6-v2"
    base_url: str | None = None  # openai backend: e.g. http://localhost:11434/v1 for Ollama
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key, never the key
    batch_size: int = 32  # 64 measured 10% slower on a 2-core CPU
    max_tokens: int = 8191  # openai backend: the model's input limit in tokens
    timeout: float = 60.0
    max_retries: int = 5
    device: str | None = None  # local backend: "cpu", "cuda", ...; None picks the best available
    quantize: str = "none"  # onnx backend: none | int8 (faster; recorded as another embedder)


@dataclass(frozen=True)
class ChunkingSettings:
    size: int = 256  # tokens of the embedder's tokenizer; capped at the embedder's limit
    overlap: int = 32

    def __post_init__(self) -> None:
        _check(self.size >= 8, "chunking.size", self.size, "at least 8 tokens")
        _check(0 <= self.overlap < self.size, "chunking.overlap", self.overlap,
               f"from 0 to less than chunking.size ({self.size})")


@dataclass(frozen=True)
class IngestSettings:
    include: tuple[str, ...] = ()  # globs matched against file paths; empty = every known format
    exclude: tuple[str, ...] = ()
    batch_chunks: int = 512  # chunks embedded and committed together
    jsonl_text_field: str = "text"
    # What one file may cost to read; past a limit the file is refused by name (a decompression
    # or parser bomb must not take the machine, or a server, down).
    max_unpacked_mb: float = 200.0  # .docx: the sum of its unpacked parts
    max_pages: int = 5000  # .pdf
    max_paragraphs: int = 200_000  # .docx
    max_cells: int = 2_000_000  # .xlsx, .csv, .tsv
    max_seconds: float = 300.0  # reading one file (OCR included), before chunking and embedding
    max_text_mb: float = 100.0  # the text one file may hold (a small file can inflate to much more)
    # text characters per byte of the file, past the first MB of text: a 204 KB .docx of 40,000
    # empty paragraphs unpacks to 42 MB of text (205 per byte); real files hold well under 20
    max_text_ratio: float = 50.0
    max_chunks: int = 100_000  # chunks one file may become (each is embedded and stored)
    max_attachments: int = 100  # attachments of one e-mail that are read
    # Read each file in a separate reader process, killed past max_seconds and refused memory
    # past max_memory_mb (what a parser bomb gets before the file is refused). `tunewise serve`
    # always reads uploads this way; `tunewise ingest` when set.
    isolate: bool = False
    max_memory_mb: float = 1024.0  # what one reader process may add to what it holds at start
    readers: int = 2  # reader processes shared by the files being read at once
    # What each document says of itself, read at ingest: company, year (the period it reports
    # on), quarter, doc_type, from its first pages and file name (documents/metadata.py), with
    # metadata_source saying where each came from: rules | model (rules, then metadata_model for
    # what they did not find, under a JSON schema) | off. A sidecar or --meta wins.
    metadata: str = "rules"
    metadata_model: str = ""  # metadata = "model": a [models] name ("": the [rag] model)

    def __post_init__(self) -> None:
        _check(self.batch_chunks >= 1, "ingest.batch_chunks", self.batch_chunks, "at least 1")
        _check(self.metadata in ("rules", "model", "off"), "ingest.metadata", self.metadata,
               "rules, model or off")
        for key in ("max_unpacked_mb", "max_pages", "max_paragraphs", "max_cells", "max_seconds",
                    "max_text_mb", "max_text_ratio", "max_chunks", "max_attachments",
                    "max_memory_mb", "readers"):
            _check(getattr(self, key) > 0, f"ingest.{key}", getattr(self, key), "positive")


@dataclass(frozen=True)
class RetrievalSettings:
    mode: str = "hybrid"  # dense | keyword | hybrid
    k: int = 5
    # Minimum cosine similarity of a dense or hybrid hit; None returns the k best whatever it is.
    min_similarity: float | None = None
    # Minimum BM25 score of a hit in keyword mode (a keyword hit has no cosine); None: no minimum.
    min_bm25: float | None = None
    fusion: str = "convex"  # convex (weighted normalised scores) | rrf
    alpha: float = 0.6  # convex fusion: weight of the dense score (tuned on SciFact train)
    depth: int = 100  # candidates each retriever contributes to the fusion
    # A second stage over the best rerank_depth candidates: none | cross-encoder (rerank_model:
    # a sentence-transformers CrossEncoder folder) | llm (rerank_model: a [models] name)
    rerank: str = "none"
    rerank_model: str = ""
    rerank_depth: int = 20
    # At most one hit per page of a document, so that k hits show k pages (long PDFs: the best
    # passage of each page, not three pieces of one statement; FinanceBench's evidence page in the
    # top 5: 0.58 without, 0.66 with). Documents without pages are not affected.
    one_per_page: bool = True
    # With one_per_page: rank pages by their evidence — the best chunk's score plus this weight
    # times the next two chunks' of the same page (0: by the best chunk alone)
    page_evidence: float = 0.0
    # Metadata values the store holds that the question names (a company, "FY2018") narrow the
    # search to the documents that have them (filter), rank those documents first and keep the
    # rest after them (boost), or are not read (off) (retrieval/question_filter.py)
    question_filter: str = "filter"
    # More names of metadata values the question may use: "J&J=Johnson & Johnson", "Big Blue=IBM"
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check(self.k >= 1, "retrieval.k", self.k, "at least 1")
        _check(self.question_filter in ("filter", "boost", "off"), "retrieval.question_filter",
               self.question_filter, "filter, boost or off")
        for alias in self.aliases:
            _check("=" in alias, "retrieval.aliases", alias, "ALIAS=VALUE")
        _check(0.0 <= self.alpha <= 1.0, "retrieval.alpha", self.alpha, "from 0 to 1")
        _check(self.depth >= 1, "retrieval.depth", self.depth, "at least 1")
        _check(self.page_evidence >= 0, "retrieval.page_evidence", self.page_evidence, "0 or more")
        _check(self.rerank_depth >= 1, "retrieval.rerank_depth", self.rerank_depth, "at least 1")


@dataclass(frozen=True)
class ModelSettings:
    """One named chat model: `[models.NAME]` in tunewise.toml."""

    backend: str = "local"  # local (in-process GGUF / Hugging Face folder) | openai (compatible API)
    # local: "smollm2" (the bundled SmolLM2-135M-Instruct), a .gguf file or a model folder;
    # openai: the model name the endpoint expects, e.g. gpt-4o-mini
    model: str = "smollm2"
    base_url: str | None = None  # openai backend: e.g. http://localhost:8080/v1 for llama.cpp server
    api_key_env: str = "OPENAI_API_KEY"
    context_window: int | None = None  # None: the model's own (local) or 8192 (openai)
    max_tokens: int = 256  # the answer budget, kept free in the context window
    temperature: float = 0.0  # 0 = greedy: reproducible answers
    repeat_penalty: float = 1.1  # local: >1 discourages the loops small greedy models fall into
    timeout: float = 120.0
    max_retries: int = 3
    # openai: requests in flight at once to this endpoint (0: no bound). llama.cpp's server ends a
    # stream early when another request arrives: give it 1 (or its --n_parallel slots).
    max_concurrency: int = 0
    # openai: how a JSON schema is sent: json_schema (OpenAI, vLLM, llama.cpp's C++ server,
    # Ollama), json_object ({"type": "json_object", "schema": …}: llama-cpp-python's server),
    # none (not sent; the answer is still parsed strictly); auto: json_schema, and json_object
    # from then on if the endpoint refuses it
    schema_format: str = "auto"
    runtime: str = "auto"  # local: auto (llama.cpp if installed) | llama.cpp | transformers
    threads: int | None = None  # local: CPU threads; None = all cores
    # US$ per million tokens, for the costs tunewise reports (0 for a model you host yourself)
    input_price: float = 0.0
    output_price: float = 0.0


DEFAULT_PROMPT = """Answer the question using only the context. Cite the sources you use by their \
number in square brackets, like [1]. If the context does not contain the answer, say that the \
documents do not contain it.

Context:
{context}

Question: {question}"""


@dataclass(frozen=True)
class RagSettings:
    model: str = "local"  # the name of the model in [models] that answers by default
    # Below this cosine similarity a passage is not put in the prompt; with none left,
    # `on_no_context` decides. (Keyword mode has no cosine: there [retrieval] min_bm25 applies.)
    min_passage_similarity: float = 0.3
    on_no_context: str = "abstain"  # abstain (say the documents do not contain it) | answer
    abstain_message: str = "The documents do not contain the answer to this question."
    # After generation: the share of the words an answer adds beyond the question that must appear
    # in its passages (rag/support.py); below it the answer is withheld and the abstain message
    # given. 0 turns the check off. The default is chosen from the trade-off measured on XQuAD
    # (bench/answerability.py, bench/RESULTS.md).
    min_support: float = 0.6
    # Before generation, with a cross-encoder reranker: the reranker's probability that the best
    # passage answers the question must reach this, else the model is not asked and the abstain
    # message given (a second answerability signal; bench/answerability.py --reranker). 0: off.
    min_relevance: float = 0.0
    prompt: str = DEFAULT_PROMPT  # {context} and {question} are filled in
    system: str = "You are a helpful assistant that answers questions about the company's documents."


@dataclass(frozen=True)
class CostSettings:
    """How systems are priced (tunewise cost, tunewise report)."""

    queries_per_day: int = 1000  # the volume monthly costs and the recommendation assume
    prices: str | None = None  # a TOML file of [api.NAME] / [gpu.NAME] laid over the bundled table
    gpu: str = "l4"  # the GPU a self-hosted model is priced on
    utilisation: float = 0.5  # share of rented GPU time that serves queries (traffic is not flat)
    batch: int = 8  # sequences a self-hosted server decodes together
    serve_mfu: float = 0.5  # share of peak FLOP/s reached in prefill and compute-bound decoding
    measured_on: str = "cpu-2vcpu"  # the price-table machine like the one runs were measured on
    train_gpu: str = "a100-80gb"  # the GPU fine-tuning and pretraining are priced on
    train_mfu: float = 0.4  # pretraining: LLaMA-7B's published run reached 0.45 on A100s
    # Fine-tuning reaches far less: the published Stanford Alpaca run (7B, HF Trainer + FSDP,
    # padded batches of short examples) implies about 0.06. A tuned stack (packing, FlashAttention,
    # compile) reaches 0.3 or more: set your own from `tunewise finetune`'s printed MFU on your GPU.
    finetune_mfu: float = 0.06
    # The size the report prices the recommended level at ("at production size"): a preset (7b,
    # 13b, 34b, 70b), a parameter count (3e9) or a config.json. None: no such section.
    target_size: str | None = None
    # API models priced on the measured workload in every cost table and report
    reference: tuple[str, ...] = ("gpt-4o-mini", "gpt-4.1-nano", "gpt-4o")


@dataclass(frozen=True)
class ReportSettings:
    """tunewise report: what a recommended system must reach."""

    # The quality floor on the primary measure: a system below it does not qualify, and with
    # none left the report says that none of the measured systems is good enough. None: no floor
    # (a system must still beat the trivial baselines significantly).
    min_score: float | None = None


@dataclass(frozen=True)
class KeySettings:
    """[serve.keys.NAME]: one team's API key and the collections it may use."""

    key_env: str = ""  # the environment variable that holds the key (never the key itself)
    read: tuple[str, ...] = ("default",)  # collections it may search and chat over
    write: tuple[str, ...] = ()  # collections it may upload to and delete from (and read)
    admin: bool = False  # every collection, read and write

    def __post_init__(self) -> None:
        for name in self.read + self.write:
            _check(bool(COLLECTION.fullmatch(name)), "read/write", name,
                   "collection names of lower-case letters, digits and _")


@dataclass(frozen=True)
class ServeSettings:
    """tunewise serve: the HTTP API and the web page."""

    host: str = "127.0.0.1"
    port: int = 8000
    # Bearer keys clients must send (or TUNEWISE_SERVE_API_KEYS=k1,k2). With none, the server
    # refuses any address but localhost.
    api_keys: tuple[str, ...] = ()
    max_upload_mb: float = 20.0  # POST /v1/documents refuses larger files (413)
    max_body_kb: float = 4096.0  # any other request body (JSON) beyond this is refused (413)
    # A slow client is cut: a request's headers must arrive within header_timeout_s (else the
    # connection is closed) and its whole body within body_timeout_s (else 408).
    header_timeout_s: float = 10.0
    body_timeout_s: float = 120.0
    uploads: str = ".tunewise/uploads"  # where uploaded documents are kept (they stay ingested)
    runs: str = ".tunewise/runs"  # where the page finds decision reports (RUN/report.html)
    queue_size: int = 16  # requests waiting for a local model; beyond that, 503 + Retry-After
    max_task_inputs: int = 256  # texts in one POST /v1/tasks/NAME request (413 beyond)
    max_query_chars: int = 4000  # a search query or a question searched (400 beyond)
    # Uploads are indexed by a worker of their own (serve/uploads.py), never by the threads that
    # answer searches: an upload waits at most upload_wait_s for its outcome (then 202, and
    # GET /v1/documents/ID says queued, indexing, indexed or failed); a key may have
    # uploads_per_key in flight (429 beyond), the queue upload_queue in all (503 beyond).
    upload_wait_s: float = 30.0
    uploads_per_key: int = 4
    upload_queue: int = 64
    ingest_workers: int = 1  # uploads indexed at once (each at a lower CPU priority)
    # Index them in processes of their own (serve/ingest_process.py): an upload's memory and
    # threads are never the server's; false: in the server's own (lower-priority) threads.
    ingest_process: bool = True
    ingest_memory_mb: float = 3000.0  # an ingest process grown past this is replaced after its file
    request_threads: int = 8  # threads answering searches, listings and deletes
    # Opt-in training data from traffic: the collections whose chat and task requests (with
    # their answers) are appended to LOGS/<collection>/requests.jsonl ("*": every collection);
    # `tunewise data from-log` turns them into instruction or task data.
    log_requests: tuple[str, ...] = ()
    logs: str = ".tunewise/logs"
    system: str = "docs"  # the system the web page starts with
    # Keys with scopes, one table per team: [serve.keys.hr] key_env = "HR_KEY", read = ["hr"],
    # write = ["hr"]. A key in api_keys is an admin key (every collection).
    keys: dict[str, KeySettings] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("upload_wait_s", "uploads_per_key", "upload_queue", "ingest_workers",
                    "request_threads", "max_query_chars", "max_task_inputs", "queue_size",
                    "ingest_memory_mb"):
            _check(getattr(self, key) > 0, f"serve.{key}", getattr(self, key), "positive")
        built = {}
        for name, value in self.keys.items():
            if not isinstance(value, (dict, KeySettings)):
                raise ConfigError(f"serve.keys.{name} must be a table ([serve.keys.{name}])")
            built[name] = value if isinstance(value, KeySettings) else build_section(
                KeySettings, f"serve.keys.{name}", value)
        object.__setattr__(self, "keys", built)


def _check(ok: bool, key: str, value: Any, wanted: str) -> None:
    if not ok:
        raise ConfigError(f"{key} = {value!r}: must be {wanted}")


def _default_models() -> dict[str, ModelSettings]:
    return {"local": ModelSettings()}


@dataclass(frozen=True)
class TaskSettings:
    """A task system deployed by name ([tasks.NAME]; `tunewise decide --task` registers its
    winner): the run it was measured in and its system there. `serve` answers it at
    POST /v1/tasks/NAME, `tunewise predict NAME FILE` runs a file through it."""

    run: str = ""  # the run folder (its run.json says the task, labels or keys; trained/ holds it)
    system: str = ""  # a system of that run: encoder, finetune:head, local:shots=4, baseline:…
    train: str = ""  # its training examples (few-shot prompts, baselines); "": the run's own


@dataclass(frozen=True)
class Settings:
    store: StoreSettings = field(default_factory=StoreSettings)
    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    rag: RagSettings = field(default_factory=RagSettings)
    cost: CostSettings = field(default_factory=CostSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    models: dict[str, ModelSettings] = field(default_factory=_default_models)
    tasks: dict[str, TaskSettings] = field(default_factory=dict)

    def replace(self, section: str, **changes: Any) -> "Settings":
        """A copy with some keys of one section changed; None values are ignored, so CLI options
        that were not given leave the loaded settings alone."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        current = getattr(self, section)
        return dataclasses.replace(self, **{section: build_section(type(current), section, changes, current)})


def load_settings(
    config: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Settings from `config` (default: ./tunewise.toml if present), then TUNEWISE_SECTION_KEY
    environment variables of the known sections (e.g. TUNEWISE_STORE_URL, TUNEWISE_RETRIEVAL_K)
    on top."""
    env = os.environ if env is None else env
    data: dict[str, dict[str, Any]] = {}
    path = Path(config) if config else Path(CONFIG_FILE)
    if config and not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    sections = {f.name: f for f in dataclasses.fields(Settings)}
    data = _with_environment(data, env, [s for s in sections if s not in ("models", "tasks")])
    unknown = set(data) - set(sections)
    if unknown:
        raise ConfigError(f"unknown config section(s) {sorted(unknown)}; valid: {sorted(sections)}")
    registered = _registered(env)
    built: dict[str, Any] = {
        "models": _build_tables(ModelSettings, "models", {**registered.get("models", {}),
                                                          **data.pop("models", {})},
                                _default_models()),
        "tasks": _build_tables(TaskSettings, "tasks",
                               {**registered.get("tasks", {}), **data.pop("tasks", {})})}
    for name, f in sections.items():
        if name not in ("models", "tasks"):
            cls = f.default_factory  # type: ignore[misc]
            built[name] = build_section(cls, name, data.get(name, {}), cls())
    return Settings(**built)


def _with_environment(data: dict, env: Mapping[str, str], sections: list[str]) -> dict:
    """TUNEWISE_<SECTION>_<KEY> variables laid over the file. Only the settings sections form
    this namespace: other TUNEWISE_ variables (TUNEWISE_REGISTRY, TUNEWISE_DATA, the tests'
    TUNEWISE_TEST_*) are not settings and are left alone, while an unknown key of a known
    section is still an error."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("_")
        if section in sections and key:
            data.setdefault(section, {})[key] = value
    return data


def _registry(env: Mapping[str, str]) -> Path:
    return Path(env.get("TUNEWISE_REGISTRY", REGISTRY))


def _registered(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The registry's tables: {"models": {...}, "tasks": {...}}."""
    path = _registry(env)
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return {k: v for k, v in data.items() if k in ("models", "tasks") and isinstance(v, dict)}


def _register(section: str, name: str, values: dict[str, str],
              env: Mapping[str, str] | None) -> Path:
    """Write [SECTION.NAME] into the registry (whole-file replace: never half written)."""
    env = os.environ if env is None else env
    path = _registry(env)
    tables = _registered(env)
    tables.setdefault(section, {})[name] = values
    lines = ["# Models and task systems made by tunewise (fine-tuned, pretrained, decided);\n"
             "# [models] and [tasks] in tunewise.toml win.\n"]
    for kind in ("models", "tasks"):
        for n, table in tables.get(kind, {}).items():
            lines.append(f"\n[{kind}.{json.dumps(n)}]\n")
            lines += [f"{k} = {json.dumps(v)}\n" for k, v in table.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(path)
    return path


def register_model(name: str, model: str | Path, env: Mapping[str, str] | None = None) -> Path:
    """Record a model tunewise made as [models.NAME] (backend local) in the registry, so that
    `ask --model NAME`, `eval` and the server find it; returns the registry's path."""
    return _register("models", name, {"backend": "local", "model": str(Path(model).resolve())}, env)


def register_task(name: str, run: str | Path, system: str, train: str | Path | None = None,
                  env: Mapping[str, str] | None = None) -> Path:
    """Record a task system as [tasks.NAME] in the registry, so that `serve` and `predict` find
    it by name; returns the registry's path."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise ConfigError(f"task name {name!r}: letters, digits, '.', '_' and '-' (at most 64)")
    values = {"run": str(Path(run).resolve()), "system": system}
    if train:
        values["train"] = str(Path(train).resolve())
    return _register("tasks", name, values, env)


def _build_tables(cls: type, section: str, tables: Mapping[str, Any],
                  defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """[SECTION.NAME] tables, each built as `cls` on top of its entry in `defaults` (which are
    kept when no table names them)."""
    out = dict(defaults or {})
    for name, values in tables.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{section}.{name} must be a table ([{section}.{name}] in "
                              "tunewise.toml)")
        out[name] = build_section(cls, f"{section}.{name}", values, out.get(name, cls()))
    return out


def write_settings(path: str | Path, updates: Mapping[str, Mapping[str, Any]]) -> Path:
    """Set keys of tunewise.toml sections, keeping the rest of the file (comments included): a
    key's line is replaced, a missing key is added to its section, a missing section at the end.
    The result is loaded before it replaces the file, so a bad value never lands."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for section, values in updates.items():
        header = next((i for i, line in enumerate(lines)
                       if re.match(rf"\s*\[{re.escape(section)}\]\s*(#.*)?$", line)), None)
        if header is None:
            lines += ["", f"[{section}]"]
            header = len(lines) - 1
        end = next((i for i in range(header + 1, len(lines))
                    if lines[i].lstrip().startswith("[")), len(lines))
        for key, value in values.items():
            line = f"{key} = {json.dumps(value)}"
            found = next((i for i in range(header + 1, end)
                          if re.match(rf"\s*{re.escape(key)}\s*=", lines[i])), None)
            if found is None:
                lines.insert(end, line)
                end += 1
            else:
                lines[found] = line
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        load_settings(tmp, env={})
    except ConfigError:
        tmp.unlink()
        raise
    tmp.replace(path)
    return path


# Names changed to say which score they compare: (section, old name) -> name. The old spelling is
# still read — in a settings file, a system's options, a request and a command's flags — and this
# table is the only place that knows it. [retrieval] min_similarity cuts search hits; [rag]
# min_passage_similarity cuts the passages an answer is given (a RAG system's and `ask`'s option).
RENAMED = {("retrieval", "threshold"): "min_similarity",
           ("rag", "threshold"): "min_passage_similarity",
           ("rag", "min_similarity"): "min_passage_similarity"}


def current_name(name: str, section: str) -> str:
    """`name`, or the name it became in `section` (a system option, a request field)."""
    return RENAMED.get((section, name), name)


def old_names(name: str, section: str) -> list[str]:
    """The spellings `name` of `section` had before."""
    return [old for (s, old), new in RENAMED.items() if s == section and new == name]


def flags(name: str, section: str) -> tuple[str, ...]:
    """A command's flags for option `name`: `--min-similarity`, then its old spellings."""
    return tuple(f"--{n.replace('_', '-')}" for n in (name, *old_names(name, section)))


def build_section(cls: type, section: str, values: Mapping[str, Any], base: Any = None) -> Any:
    """`base` (default: cls()) with `values` checked and coerced to the fields' types; an unknown
    key is an error that lists the valid ones. Settings sections and training recipes use it."""
    base = cls() if base is None else base
    values = {RENAMED.get((section, k), k): v for k, v in values.items()}
    hints = typing.get_type_hints(cls)
    unknown = set(values) - set(hints)
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in [{section}]; valid: {sorted(hints)}")
    return dataclasses.replace(
        base, **{k: _coerce(v, hints[k], f"{section}.{k}") for k, v in values.items()}
    )


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Turn a TOML or environment value into the field's type, with an error that names the key."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    target = args[0] if optional else hint
    if optional and (value is None or (isinstance(value, str) and value.lower() in ("", "none"))):
        return None
    try:
        if typing.get_origin(target) is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
        if target is bool and isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        if target in (int, float, str):
            return target(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot use {value!r} ({exc})") from exc
    return value
