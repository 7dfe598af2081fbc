"""Pricing the systems of an evaluation run: each measured system on its own terms (an API model
at its token prices, a self-hosted model on the configured GPU and on the machine it was measured
on), plus reference API models priced on the same measured workload, and the one-off training
cost of fine-tuned and pretrained models. Every row says where its figures came from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tunewise.config import CostSettings, ModelSettings, Settings
from tunewise.cost.footprint import footprint
from tunewise.cost.plan import finetune_plan
from tunewise.cost.prices import ApiPrice, CostError, Prices, money
from tunewise.cost.serving import Footprint, Hosting, Workload, api_monthly, break_even, roofline_seconds
from tunewise.cost.training import ModelSize, TrainingCost, training_cost
from tunewise.evaluate.summary import Summary
from tunewise.models import capabilities
from tunewise.models.local import resolve
from tunewise.retrieval.fitted import RECORD
from tunewise.systems import SIZE, TRAINED_FOLDER, parse_system


@dataclass
class SystemCost:
    """One way to serve a system; `quality_of` names the measured system whose quality it has
    (None for a reference API nobody measured)."""

    name: str
    system: str  # the evaluated system, or the reference API's name
    model_level: str  # API | open model | fine-tuned | pretrained
    kind: str  # api | self-hosted | reference
    workload: Workload
    basis: str  # how the $/query was found
    api: ApiPrice | None = None
    hosting: Hosting | None = None
    footprint: Footprint | None = None
    training: TrainingCost | None = None
    training_basis: str = ""
    training_record: str = ""  # the finetune.json / pretrain.json it was priced from
    quality_of: str | None = None
    notes: list[str] = field(default_factory=list)
    rag: bool = False  # retrieves
    fitted_retriever: bool = False  # with an embedder or reranker fitted by finetune-retriever

    @property
    def level(self) -> str:
        """"open model + RAG", "fine-tuned, fitted retriever + RAG" …: the report's rung."""
        return (self.model_level + (", fitted retriever" if self.fitted_retriever else "")
                + (" + RAG" if self.rag else ""))

    def per_query(self) -> float | None:
        if self.api:
            return self.api.per_query(self.workload.prompt_tokens, self.workload.completion_tokens)
        return self.hosting.per_query() if self.hosting else None

    def monthly(self, queries_per_day: float) -> float | None:
        if self.hosting:
            return self.hosting.monthly(queries_per_day)
        per = self.per_query()
        return None if per is None else api_monthly(per, queries_per_day)

    def to_dict(self, queries_per_day: float) -> dict:
        return {"name": self.name, "system": self.system, "level": self.level, "kind": self.kind,
                "prompt_tokens": self.workload.prompt_tokens,
                "completion_tokens": self.workload.completion_tokens,
                "per_query_usd": self.per_query(), "monthly_usd": self.monthly(queries_per_day),
                "devices": self.hosting.devices(queries_per_day) if self.hosting else None,
                "basis": self.basis, "quality_of": self.quality_of,
                "training_usd": self.training.usd if self.training else None,
                "training_gpu_hours": self.training.gpu_hours if self.training else None,
                "training_basis": self.training_basis, "notes": self.notes}


def break_even_with(hosted: SystemCost, api: SystemCost) -> float | None:
    """Queries/day above which `hosted` costs less per month than `api` (None: it never does).
    A reference API is priced on `hosted`'s own workload (the same queries sent to it); a measured
    API system on its own measured tokens."""
    per = (api.api.per_query(hosted.workload.prompt_tokens, hosted.workload.completion_tokens)
           if api.kind == "reference" and api.api else api.per_query())
    if hosted.hosting is None or per is None:
        return None
    return break_even(per, hosted.hosting)


def price_system(system: str, model: ModelSettings, work: Workload, rag: bool, cost: CostSettings,
                 prices: Prices, measured_latency_s: float | None = None) -> list[SystemCost]:
    """The ways to serve one system: one row for an API model; for a self-hosted model, one on
    `cost.gpu` (roofline) and, when a measured latency is given, one on `cost.measured_on`."""
    if capabilities(model).priced_per_token:
        api = api_price_of(model, prices)
        row = SystemCost(system, system, "API", "api", work,
                         f"{work.prompt_tokens:,.0f} prompt + {work.completion_tokens:,.0f} "
                         f"answer tokens × " + (f"{api.name} prices ({api.source}, {api.date})"
                                                if api else "no known price"),
                         api=api, quality_of=system, rag=rag)
        if api is None:
            row.notes.append(f"no price for {model.model!r}: set input_price/output_price in "
                             f"[models.{system.split('+')[0]}] or add [api.{model.model}] to prices")
        return [row]

    path = resolve(model.model)
    size = footprint(path)
    level, training, training_basis, record = _trained(path, size, cost, prices)
    rows = []
    gpu = prices.gpu(cost.gpu)
    try:
        seconds = roofline_seconds(size, gpu, work, cost.batch, cost.serve_mfu)
        rows.append(SystemCost(
            f"{system} @ {gpu.name}", system, level, "self-hosted", work,
            f"roofline on {gpu.name} ({gpu.peak_tflops:g} TFLOP/s at {cost.serve_mfu:.0%}, "
            f"{gpu.bandwidth_gbs:g} GB/s; batch {cost.batch}; {size.parameters / 1e6:,.0f}M "
            f"parameters in {size.weight_bytes / 1e6:,.0f} MB) at {cost.utilisation:.0%} "
            f"utilisation, ${gpu.price_per_hour}/h ({gpu.source}, {gpu.date})",
            hosting=Hosting(gpu, seconds, cost.utilisation, "roofline"), footprint=size,
            training=training, training_basis=training_basis, training_record=record,
            quality_of=system, rag=rag))
    except CostError as exc:
        rows.append(SystemCost(f"{system} @ {gpu.name}", system, level, "self-hosted",
                               work, str(exc), footprint=size, quality_of=system,
                               notes=[str(exc)], rag=rag))
    if measured_latency_s:
        here = prices.gpu(cost.measured_on)
        rows.append(SystemCost(
            f"{system} @ {here.name}", system, level, "self-hosted", work,
            f"measured: mean answer time {measured_latency_s:.2f} s, one query at a time, on a "
            f"machine like {here.name} (${here.price_per_hour}/h, {here.source}, {here.date}) at "
            f"{cost.utilisation:.0%} utilisation",
            hosting=Hosting(here, measured_latency_s, cost.utilisation, "measured"),
            footprint=size, training=training, training_basis=training_basis,
            training_record=record, quality_of=system, rag=rag))
    return rows


def reference_rows(names: tuple[str, ...], work: Workload, prices: Prices, rag: bool,
                   measured: bool = True) -> list[SystemCost]:
    """API models of the price table on a (measured or assumed) workload; their quality was not
    measured."""
    rows = []
    for name in names:
        api = prices.api_price(name)
        rows.append(SystemCost(
            name, name, "API", "reference", work,
            f"{work.prompt_tokens:,.0f} prompt + {work.completion_tokens:,.0f} answer tokens "
            f"({'measured' if measured else 'assumed'}) × {api.name} prices "
            f"(${api.input}/${api.output} per 1M; {api.source}, {api.date})", api=api,
            notes=["quality not measured: evaluate it with a [models] entry and an API key"],
            rag=rag))
    return rows


def api_price_of(model: ModelSettings, prices: Prices) -> ApiPrice | None:
    if model.input_price or model.output_price:
        return ApiPrice(model.model, model.input_price, model.output_price,
                        model.context_window or 0, "input_price/output_price in [models]", "config")
    return prices.api.get(model.model)


def _trained(path: Path, size: Footprint, cost: CostSettings,
             prices: Prices) -> tuple[str, TrainingCost | None, str, str]:
    """The level of a local model and, for one tunewise trained, what its training cost and the
    record it was read from."""
    folder = path if path.is_dir() else path.parent
    for where in (folder, folder.parent):
        for name, level in (("finetune.json", "fine-tuned"), ("pretrain.json", "pretrained")):
            record = where / name
            if record.is_file():
                return (level, *_training_cost(record, level, size, cost, prices), str(record))
    return "open model", None, "", ""


def _training_cost(record: Path, level: str, size: Footprint, cost: CostSettings,
                   prices: Prices) -> tuple[TrainingCost, str]:
    data = json.loads(record.read_text())
    result, config = data["result"], data["config"]
    method = config.get("method", "full") if level == "fine-tuned" else "pretrain"
    parameters = result.get("parameters") or size.parameters
    gpu = prices.gpu(cost.train_gpu)
    share = cost.train_mfu if method == "pretrain" else cost.finetune_mfu
    c = training_cost(parameters, result["tokens"], gpu, share, method)
    basis = (f"{result['tokens']:,} tokens trained ({record}) × {'4' if method in ('lora', 'qlora') else '6'}"
             f"·N FLOPs, N = {parameters / 1e6:,.0f}M, on {gpu.name} at {share:.0%} MFU "
             f"(${gpu.price_per_hour}/h); took {result['seconds'] / 60:,.1f} min on the measuring "
             "machine")
    return c, basis


def price_names(names: list[str], models: dict[str, ModelSettings], work: Workload,
                cost: CostSettings, prices: Prices) -> list[SystemCost]:
    """Rows for systems given by name on an assumed workload: a configured model (`NAME` or
    `NAME+rag`, the workload is the same either way) or an API model of the price table."""
    rows = []
    for name in names:
        system = parse_system(name)
        if system.model in models:
            rows += price_system(name, models[system.model], work, system.rag, cost, prices)
        elif system.model in prices.api:
            rows += reference_rows((system.model,), work, prices, system.rag, measured=False)
        else:
            raise CostError(f"unknown system {name!r}: not a configured model "
                            f"({', '.join(models)}) nor an API model of the price table "
                            f"({', '.join(prices.api)})")
    return rows


def price_run(summary: Summary, settings: Settings, prices: Prices) -> list[SystemCost]:
    """Every measured system's serving options, then the reference APIs on the workload of the
    system that retrieves (RAG prompts are what an API would be sent), else of the first."""
    models = {n: ModelSettings(**m) for n, m in summary.manifest.get("models", {}).items()}
    models = models or settings.models
    rows: list[SystemCost] = []
    workloads: dict[bool, Workload] = {}
    for s in summary.systems:
        if s.prompt_tokens is None:
            continue
        system = parse_system(s.system.split(SIZE)[0], list(models))
        if system.baseline:
            continue  # calls no model: nothing to serve
        work = Workload(s.prompt_tokens, s.completion_tokens)
        workloads.setdefault(system.rag, work)
        model = trained_model(summary.run, s.system) if system.trained else models[system.model]
        priced = price_system(s.system, model, work, system.rag, settings.cost,
                              prices, s.latency_mean_s)
        if system.retriever:
            priced = [with_fitted_retriever(r, system.retriever, settings.cost, prices)
                      for r in priced]
        rows += priced
    rag = True in workloads
    work = workloads.get(True) or workloads.get(False)
    if work:
        rows += reference_rows(settings.cost.reference, work, prices, rag)
    return rows


def with_fitted_retriever(row: SystemCost, folder: str, cost: CostSettings,
                          prices: Prices) -> SystemCost:
    """`row` for a system that retrieves with what `finetune-retriever` fitted in `folder`: its
    level says so, and the embedder's and reranker's training (6·N·D, full fine-tunes of small
    encoders) is added to the one-off training cost."""
    try:
        record = json.loads((Path(folder) / RECORD).read_text())
    except (OSError, ValueError):
        row.notes.append(f"{folder}: no {RECORD}, the retriever's training is not priced")
        return row
    gpu = prices.gpu(cost.train_gpu)
    stages = [record[s] for s in ("embedder", "reranker") if s in record]
    costs = [training_cost(_parameters(st["folder"]), st["tokens"], gpu, cost.finetune_mfu, "full")
             for st in stages]
    if row.training:
        costs.append(row.training)
    if costs:
        row.training = TrainingCost(
            "+".join(c.method for c in costs), sum(c.parameters for c in costs),
            sum(c.tokens for c in costs), sum(c.flops for c in costs), gpu.name,
            cost.finetune_mfu, sum(c.gpu_hours for c in costs), sum(c.usd for c in costs))
    done = ", ".join(f"{st['what']} {st['tokens']:,} tokens in {st['seconds']:,.0f} s" for st in stages)
    row.training_basis = "; ".join(b for b in (row.training_basis, (
        f"retriever ({folder}): {done} on the measuring machine, priced as 6·N FLOPs a token on "
        f"{gpu.name} at {cost.finetune_mfu:.0%} MFU") if stages else "") if b)
    row.fitted_retriever = True
    return row


def _parameters(folder: str) -> int:
    try:
        return footprint(folder).parameters
    except CostError:
        return MINILM_PARAMETERS


MINILM_PARAMETERS = 22_713_216  # all-MiniLM-L6-v2, the base every fitted retriever starts from


def trained_model(run: str | Path, system: str) -> ModelSettings:
    """The weights a task run trained for `system`: RUN/trained/SYSTEM/merged (a fine-tuned LLM)
    or RUN/trained/SYSTEM/encoder (a classifier), priced as a self-hosted model."""
    folder = Path(run) / TRAINED_FOLDER / system
    weights = folder / "merged" if (folder / "merged").is_dir() else folder / "encoder"
    return ModelSettings(backend="local", model=str(weights))


def at_size(row: SystemCost, size: ModelSize, cost: CostSettings, prices: Prices,
            queries_per_day: float) -> list[str]:
    """What `row`'s recipe would cost at `size`: the one-time training (a fine-tune of the same
    tokens and method, or pretraining on 20 tokens a parameter) and the month of serving the same
    workload on `cost.gpu`, the weights kept at the measured model's bytes per parameter."""
    n = size.parameters
    if row.kind != "self-hosted" or row.footprint is None:
        return [f"{row.name} is an API model: its size is not yours to choose, and its cost stays "
                f"{money(row.monthly(queries_per_day))} a month"]
    out = []
    train_gpu = prices.gpu(cost.train_gpu)
    if row.training and row.training.method != "pretrain":
        p = finetune_plan(size, row.training.tokens, train_gpu, row.training.method,
                          mfu=cost.finetune_mfu)
        out.append(f"fine-tuning {size.name} the same way ({row.training.method}, "
                   f"{row.training.tokens:,.0f} tokens): {p.hours * p.gpus:,.1f} GPU-hours on "
                   f"{p.gpus} × {train_gpu.name} at {p.mfu:.0%} MFU, {money(p.usd)} once "
                   f"({p.memory.total / 1e9:,.0f} GB per GPU)")
    elif row.training:
        c = training_cost(n, 20 * n, train_gpu, cost.train_mfu)
        out.append(f"pretraining {size.name} on {20 * n / 1e9:,.0f}B tokens (20 a parameter, "
                   f"Chinchilla): {c.gpu_hours:,.0f} GPU-hours on {train_gpu.name} at "
                   f"{c.mfu:.0%} MFU, {money(c.usd)} once")
    per_weight = row.footprint.weight_bytes / row.footprint.parameters
    shape = size.shape
    scaled = Footprint(n, int(n * per_weight), 2 * shape.layers * shape.kv_width * 2)
    gpu = prices.gpu(cost.gpu)
    try:
        seconds = roofline_seconds(scaled, gpu, row.workload, cost.batch, cost.serve_mfu)
    except CostError as exc:
        return out + [f"serving {size.name}: {exc}; set [cost] gpu to a larger one"]
    hosting = Hosting(gpu, seconds, cost.utilisation, "roofline")
    out.append(f"serving {size.name} ({scaled.weight_bytes / 1e9:,.1f} GB of weights at the "
               f"measured {per_weight:.2g} bytes a parameter) on {gpu.name}: "
               f"{money(hosting.monthly(queries_per_day))} a month at {queries_per_day:,.0f} "
               f"queries/day ({hosting.devices(queries_per_day)} device"
               f"{'s' if hosting.devices(queries_per_day) > 1 else ''}), against "
               f"{money(row.monthly(queries_per_day))} for the measured model")
    return out
