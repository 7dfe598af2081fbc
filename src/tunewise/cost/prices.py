"""The price table: API models' $ per token and GPUs' $ per hour, each with its source and date.

The bundled table is `prices.toml` beside this file; a user's file of the same shape (named by
`[cost] prices` in tunewise.toml) replaces entries or adds new ones, key by key."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from tunewise.errors import TunewiseError

BUNDLED = Path(__file__).with_name("prices.toml")


def money(x: float | None, digits: int = 2, missing: str = "unknown") -> str:
    """US$ for people: whole dollars from $1,000, `digits` decimals from a cent, else 2 figures."""
    if x is None:
        return missing
    return f"${x:,.0f}" if abs(x) >= 1000 else f"${x:,.{digits}f}" if abs(x) >= 0.01 \
        else f"${x:.2g}"


class CostError(TunewiseError):
    """A price or cost that cannot be worked out; the message says what is missing."""


@dataclass(frozen=True)
class ApiPrice:
    name: str
    input: float  # US$ per 1M prompt tokens
    output: float  # US$ per 1M completion tokens
    context: int
    source: str
    date: str

    def per_query(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


@dataclass(frozen=True)
class Gpu:
    name: str
    price_per_hour: float
    peak_tflops: float  # dense BF16; 0 for a CPU machine
    bandwidth_gbs: float
    memory_gb: float
    source: str
    date: str

    @property
    def peak_flops(self) -> float:
        return self.peak_tflops * 1e12

    @property
    def bandwidth(self) -> float:  # bytes per second
        return self.bandwidth_gbs * 1e9


@dataclass(frozen=True)
class Prices:
    api: dict[str, ApiPrice]
    gpus: dict[str, Gpu]
    files: tuple[str, ...]  # where they were read from, for the report's provenance

    def gpu(self, name: str) -> Gpu:
        if name not in self.gpus:
            raise CostError(f"no GPU {name!r} in the price table; known: {', '.join(self.gpus)}")
        return self.gpus[name]

    def api_price(self, name: str) -> ApiPrice:
        if name not in self.api:
            raise CostError(f"no API model {name!r} in the price table; known: "
                            f"{', '.join(self.api)}")
        return self.api[name]


_API_KEYS = {"input": float, "output": float, "context": int, "source": str, "date": str}
_GPU_KEYS = {"price_per_hour": float, "peak_tflops": float, "bandwidth_gbs": float,
             "memory_gb": float, "source": str, "date": str}


def load_prices(override: str | Path | None = None) -> Prices:
    """The bundled table, with `override`'s entries laid over it key by key (an override may
    change only a price and keep the bundled rest)."""
    tables = _read(BUNDLED)
    files = [str(BUNDLED)]
    if override:
        path = Path(override)
        if not path.is_file():
            raise CostError(f"price file not found: {path}")
        for kind, entries in _read(path).items():
            if kind not in ("api", "gpu"):
                raise CostError(f"{path}: unknown table [{kind}]; valid: [api.NAME], [gpu.NAME]")
            for name, values in entries.items():
                tables.setdefault(kind, {}).setdefault(name, {}).update(values)
        files.append(str(path))
    api = {n: ApiPrice(n, **_typed(v, _API_KEYS, f"api.{n}")) for n, v in tables["api"].items()}
    gpus = {n: Gpu(n, **_typed(v, _GPU_KEYS, f"gpu.{n}")) for n, v in tables["gpu"].items()}
    return Prices(api, gpus, tuple(files))


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CostError(f"{path}: {exc}") from exc


def _typed(values: dict, keys: dict[str, type], where: str) -> dict:
    missing = [k for k in keys if k not in values]
    unknown = [k for k in values if k not in keys]
    if missing or unknown:
        raise CostError(f"[{where}]: " + "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else [])
            + ([f"unknown {', '.join(unknown)}"] if unknown else [])))
    try:
        return {k: cast(values[k]) for k, cast in keys.items()}
    except (TypeError, ValueError) as exc:
        raise CostError(f"[{where}]: {exc}") from exc
