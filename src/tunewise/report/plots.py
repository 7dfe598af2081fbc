"""The report's three plots as inline SVG (matplotlib, no JavaScript, nothing fetched): quality
against $ per 1,000 queries, latency, and monthly cost against volume with break-even points."""

from __future__ import annotations

import io

from tunewise.cost.systems import break_even_with
from tunewise.report.build import VOLUMES, Report

COLOURS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d"]


def _figure(width: float = 7.2, height: float = 4.0):
    # lazy: matplotlib takes 0.4 s to import
    import matplotlib

    matplotlib.use("Agg")
    # lazy: matplotlib takes 0.4 s to import
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3})
    return plt.subplots(figsize=(width, height))


def _svg(fig) -> str:
    # lazy: matplotlib takes 0.4 s to import
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg", metadata={"Date": None})  # the same run, the same bytes
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog: the SVG goes inside HTML


def quality_vs_cost(r: Report) -> str:
    fig, ax = _figure()
    quality = {c.system: c.quality for c in r.candidates}
    measured = [row for row in r.rows if row.quality_of and row.per_query()]
    for i, row in enumerate(measured):
        q = quality[row.quality_of]
        x = row.per_query() * 1000
        ax.errorbar([x], [q.mean], yerr=[[q.mean - q.low], [q.high - q.mean]], fmt="o",
                    color=COLOURS[i % len(COLOURS)], capsize=3, label=row.name)
    for row in r.rows:
        if row.kind == "reference" and row.per_query():
            x = row.per_query() * 1000
            ax.axvline(x, color="#6b7280", linestyle=":", linewidth=1)
            ax.annotate(f"{row.name}\n(quality not measured)", (x, 1.0), xycoords=("data",
                        "axes fraction"), rotation=90, va="top", ha="right", fontsize=7,
                        color="#4b5563")
    ax.set_xscale("log")
    ax.set_xlabel("US$ per 1,000 queries (log scale)")
    ax.set_ylabel(f"{r.metric} (95% CI)")
    ax.set_title(f"Quality against serving cost: {r.metric} on {r.summary.manifest.get('questions')}"
                 " questions")
    ax.legend(fontsize=7, loc="best")
    return _svg(fig)


def latency(r: Report) -> str:
    systems = [s for s in r.summary.systems if s.latency_median_s is not None]
    fig, ax = _figure(height=0.5 + 0.45 * max(2, len(systems)))
    names = [s.system for s in systems]
    ax.barh(names, [s.latency_p95_s for s in systems], color="#bfdbfe", label="p95")
    ax.barh(names, [s.latency_median_s for s in systems], color="#2563eb", label="median")
    ax.invert_yaxis()
    ax.set_xlabel("seconds per answer, measured in the run")
    ax.set_title("Latency")
    ax.legend(fontsize=7, loc="lower right")
    return _svg(fig)


def monthly_cost(r: Report) -> str:
    fig, ax = _figure(height=4.4)
    rec = r.recommended.cheapest
    for i, row in enumerate(row for row in r.rows if row.monthly(r.queries_per_day) is not None):
        costs = [row.monthly(q) for q in VOLUMES]
        style = ":" if row.kind == "reference" else "-"
        width = 2.4 if row is rec else 1.2
        ax.plot(VOLUMES, costs, style, color=COLOURS[i % len(COLOURS)], linewidth=width,
                label=row.name + (" (recommended)" if row is rec else ""))
    for hosted, api in _break_even_pairs(r):
        even = break_even_with(hosted, api)
        if even:
            ax.plot([even], [hosted.monthly(even)], "kD", markersize=5)
            ax.annotate(f"break-even vs {api.name if hosted is rec else hosted.name}:\n"
                        f"{even:,.0f}/day", (even, hosted.monthly(even)),
                        textcoords="offset points", xytext=(6, -18), fontsize=7)
    ax.axvline(r.queries_per_day, color="#111827", linestyle="--", linewidth=1)
    ax.annotate(f"{r.queries_per_day:,.0f} queries/day", (r.queries_per_day, 0.02),
                xycoords=("data", "axes fraction"), rotation=90, ha="right", fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("queries per day (log scale)")
    ax.set_ylabel("US$ per month (log scale)")
    ax.set_title("Monthly cost against volume (self-hosting rents whole devices)")
    ax.legend(fontsize=7, loc="upper left")
    return _svg(fig)


def _break_even_pairs(r: Report) -> list:
    """(self-hosted, API) pairs that include the recommended option."""
    rec = r.recommended.cheapest
    if rec is None:
        return []
    if rec.hosting:
        return [(rec, row) for row in r.rows if row.kind in ("api", "reference")]
    return [(row, rec) for row in r.rows if row.hosting]


def learning_curve(r: Report) -> str:
    """Quality of each trained system against its labelled examples, prompted systems as lines."""
    fig, ax = _figure()
    found = r.task
    for i, system in enumerate(sorted({p.system for p in found.curve})):
        points = [p for p in found.curve if p.system == system]
        x = [p.examples for p in points]
        ax.plot(x, [p.quality.mean for p in points], "o-", color=COLOURS[i % len(COLOURS)],
                label=system)
        ax.fill_between(x, [p.quality.low for p in points], [p.quality.high for p in points],
                        color=COLOURS[i % len(COLOURS)], alpha=0.15)
    for system, score in sorted(found.prompted.items()):
        ax.axhline(score, linestyle="--", linewidth=1, color="#6b7280")
        ax.annotate(f"{system} (prompted)", (0.01, score), xycoords=("axes fraction", "data"),
                    fontsize=7, color="#374151", va="bottom")
    ax.set_xscale("log")
    ax.set_xlabel("labelled training examples (log scale)")
    ax.set_ylabel(f"{r.metric} (95% CI)")
    ax.set_title("How many labels does training need?")
    if found.curve:
        ax.legend(fontsize=7, loc="lower right")
    return _svg(fig)


def training_curves(r: Report) -> str:
    """The training loss of each trained system against its optimizer steps."""
    fig, ax = _figure(height=3.4)
    for i, (system, points) in enumerate(sorted(r.training_curves.items())):
        ax.plot([s for s, _ in points], [loss for _, loss in points], "-",
                color=COLOURS[i % len(COLOURS)], label=system)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title("Training loss of the trained systems")
    ax.legend(fontsize=7, loc="upper right")
    return _svg(fig)


def confusion_matrix(r: Report, system: str) -> str:
    """Gold label (rows) against predicted label (columns) of one classifier."""
    matrix = r.task.confusions[system]
    labels = list(r.task.labels)
    fig, ax = _figure(4.2, 3.6)
    ax.imshow(matrix, cmap="Blues")
    ax.grid(False)
    columns = labels + ["(unparseable)"]
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    top = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8,
                    color="white" if value > top / 2 else "#111827")
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(system, fontsize=9)
    return _svg(fig)
