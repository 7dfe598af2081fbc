"""The cost table as text, shared by the decision report and `tunewise cost`."""

from __future__ import annotations

from tunewise.cost.prices import money
from tunewise.cost.systems import SystemCost, break_even_with


def _money(x: float | None, digits: int = 2) -> str:
    return money(x, digits, missing="–")


def cost_rows(rows_in: list[SystemCost], qpd: float) -> tuple[list[str], list[list[str]]]:
    """The cost table, shared by the report and `tunewise cost`: one row per serving option; the
    break-even is against the first reference API."""
    reference = next((row for row in rows_in if row.kind == "reference"), None)
    header = ["serving option", "level", "prompt + answer tokens", "$ / 1,000 queries",
              f"$ / month at {qpd:,.0f}/day", "devices",
              f"break-even vs {reference.name}" if reference else "break-even",
              "training (once)", "how it was priced"]
    rows = []
    for row in rows_in:
        per = row.per_query()
        even = break_even_with(row, reference) if reference and row.hosting else None
        rows.append([
            row.name, row.level,
            f"{row.workload.prompt_tokens:,.0f} + {row.workload.completion_tokens:,.0f}",
            _money(None if per is None else per * 1000, 3), _money(row.monthly(qpd)),
            str(row.hosting.devices(qpd)) if row.hosting else "–",
            (f"{even:,.0f}/day" if even else "never") if row.hosting and reference else "–",
            f"{_money(row.training.usd)} ({row.training.gpu_hours:.3g} GPU-h)" if row.training
            else "–",
            "; ".join([row.basis] + ([row.training_basis] if row.training_basis else [])
                      + row.notes)])
    return header, rows


