"""The report as files: report.html (self-contained: inline CSS and SVG, nothing fetched) and
report.md with the plots beside it as SVG files."""

from __future__ import annotations

import html
from pathlib import Path

from tunewise.cost.table import cost_rows
from tunewise.evaluate.summary import comparison_rows, table_rows
from tunewise.report import plots
from tunewise.report.build import Report, level_of

PLOTS = (("quality-vs-cost", "Quality against cost", plots.quality_vs_cost),
         ("monthly-cost", "Monthly cost against volume", plots.monthly_cost),
         ("latency", "Latency", plots.latency))


def headline(r: Report) -> str:
    rec = r.recommended
    if not r.qualified:
        return (f"None of the measured systems is good enough — the closest: {rec.system} "
                f"({r.metric} {rec.quality.mean:.3f})")
    where = f", served on {rec.cheapest.hosting.gpu.name}" if rec.cheapest and rec.cheapest.hosting \
        else ""
    return f"{level_of(rec.cheapest)} — {rec.system}{where}"


def write_report(r: Report, out: str | Path) -> tuple[Path, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    svgs = {}
    for slug, _title, draw in PLOTS:
        svgs[slug] = draw(r)
        (out / f"report-{slug}.svg").write_text(svgs[slug], encoding="utf-8")
    if r.task is not None:
        if r.task.curve:  # no curve was run: no empty axes
            svgs["learning-curve"] = plots.learning_curve(r)
        for i, system in enumerate(r.task.confusions):
            svgs[f"confusion-{i}"] = plots.confusion_matrix(r, system)
        for slug in [k for k in svgs if k == "learning-curve" or k.startswith("confusion-")]:
            (out / f"report-{slug}.svg").write_text(svgs[slug], encoding="utf-8")
    if r.training_curves:
        svgs["training"] = plots.training_curves(r)
        (out / "report-training.svg").write_text(svgs["training"], encoding="utf-8")
    html_path, md_path = out / "report.html", out / "report.md"
    html_path.write_text(to_html(r, svgs), encoding="utf-8")
    md_path.write_text(to_markdown(r), encoding="utf-8")
    return html_path, md_path


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(x: str) -> str:
        return x.replace("|", "\\|")

    return "\n".join(["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(map(cell, row)) + " |" for row in rows])


def to_markdown(r: Report) -> str:
    parts = [f"# Decision report: {r.run}", f"_Written {r.created} by `tunewise report`._",
             f"## Recommendation\n\n**{headline(r)}**",
             "Why:\n\n" + "\n".join(f"- {x}" for x in r.reasons),
             ("What would change it:" if r.qualified else "What to try next:") + "\n\n"
             + "\n".join(f"- {x}" for x in r.changes)]
    if r.failures:
        parts.append("Where the wrong answers went wrong:\n\n"
                     + "\n".join(f"- {x}" for x in r.failures))
    if r.task is not None:
        parts += [f"## The {r.task.task} task: how many labels does training need?",
                  "\n".join(f"- {x}" for x in r.task.notes) or "- no learning curve was run "
                  "(eval run --train-sizes)"]
        if r.task.curve:
            parts.append("![Learning curve](report-learning-curve.svg)")
        parts += [f"![Confusion matrix of {s}](report-confusion-{i}.svg)"
                  for i, s in enumerate(r.task.confusions)]
        if r.task.distillation:
            parts += ["### Distillation: the students and their teacher",
                      "\n".join(f"- {x}" for x in r.task.distillation)]
    parts += [f"## {title}\n\n![{title}](report-{slug}.svg)" for slug, title, _ in PLOTS[:2]]
    parts += ["## Quality, latency and tokens (measured)", _md_table(*table_rows(r.summary))]
    for title, header, rows in comparison_rows(r.summary):
        parts += [f"Paired per question, {title}:", _md_table(header, rows)]
    parts += ["## Latency\n\n![Latency](report-latency.svg)"]
    if r.training_curves:
        parts += ["## Training loss\n\n![Training loss](report-training.svg)"]
    parts += [
              f"## Cost at {r.queries_per_day:,.0f} queries/day",
              _md_table(*cost_rows(r.rows, r.queries_per_day))]
    if r.at_target:
        parts += [f"## At production size: {r.target_size}",
                  "\n".join(f"- {x}" for x in r.at_target)]
    parts += ["## Where every number comes from", "\n".join(f"- {x}" for x in r.provenance)]
    return "\n\n".join(parts) + "\n"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f3f4f6;
color:#111827;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.6rem;margin:0 0 4px} h2{font-size:1.15rem;margin:0 0 12px}
.meta{color:#6b7280;font-size:.85rem;margin-bottom:20px}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:18px 20px;
margin-bottom:18px;overflow-x:auto}
.verdict{border-left:6px solid #16a34a}
.verdict .level{font-size:1.3rem;font-weight:650;color:#166534;margin-bottom:8px}
figure{margin:0;text-align:center} figure svg{max-width:860px;width:100%;height:auto}
table{border-collapse:collapse;font-size:.82rem;width:100%}
th,td{border-bottom:1px solid #e5e7eb;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f9fafb;font-weight:600} td.num{white-space:nowrap}
ul{margin:6px 0 0;padding-left:20px} li{margin:3px 0}
.basis{color:#4b5563;font-size:.75rem;max-width:420px}
.matrices{display:flex;flex-wrap:wrap;gap:8px} figure.confusion svg{width:300px}
.verdict.none{border-left-color:#d97706} .verdict.none .level{color:#92400e}
"""


def _table(header: list[str], rows: list[list[str]], cls: str = "", basis_last: bool = False) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            kind = "basis" if basis_last and i == len(row) - 1 else "num" if i else ""
            cells.append(f'<td class="{kind}">{html.escape(value)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in items) + "</ul>"


def _task_section(r: Report, svgs: dict[str, str]) -> str:
    if r.task is None:
        return ""
    notes = _list(r.task.notes) if r.task.notes else "<p>No learning curve was run (eval run " \
        "--train-sizes 25,50,100,all).</p>"
    matrices = "".join(f'<figure class="confusion">{svgs[f"confusion-{i}"]}</figure>'
                       for i in range(len(r.task.confusions)))
    return (f'<section class="card" id="task"><h2>The {html.escape(r.task.task)} task: how many '
            f'labels does training need?</h2>{notes}'
            + (f'<figure>{svgs["learning-curve"]}</figure>' if "learning-curve" in svgs else "")
            + (f'<h3>Confusion matrices</h3><div class="matrices">{matrices}</div>'
               if matrices else "")
            + (f"<h3>Distillation: the students and their teacher</h3>{_list(r.task.distillation)}"
               if r.task.distillation else "") + "</section>")


def to_html(r: Report, svgs: dict[str, str]) -> str:
    comparisons = "".join(f"<h3>Paired per question: {html.escape(title)}</h3>"
                          + _table(header, rows, "comparison")
                          for title, header, rows in comparison_rows(r.summary))
    next_title = "What would change it" if r.qualified else "What to try next"
    failures = f"<b>Where the wrong answers went wrong</b>{_list(r.failures)}" if r.failures else ""
    training = (f'<section class="card" id="plot-training"><h2>Training loss</h2><figure>'
                f'{svgs["training"]}</figure></section>\n' if "training" in svgs else "")
    at_target = (f'<section class="card" id="at-target"><h2>At production size: '
                 f'{html.escape(r.target_size or "")}</h2>{_list(r.at_target)}</section>'
                 if r.at_target else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>tunewise decision report: {html.escape(r.run)}</title><style>{CSS}</style></head>
<body><main>
<h1>Which level is worth it?</h1>
<div class="meta">Decision report for run <code>{html.escape(r.run)}</code> · written {r.created}
by <code>tunewise report</code> · {r.queries_per_day:,.0f} queries/day · ranked by
<b>{html.escape(r.metric)}</b></div>
<section class="card verdict{"" if r.qualified else " none"}" id="recommendation"><h2>Recommendation</h2>
<div class="level">{html.escape(headline(r))}</div>
<b>Why</b>{_list(r.reasons)}<b>{next_title}</b>{_list(r.changes)}{failures}</section>
{_task_section(r, svgs)}<section class="card" id="plot-quality"><h2>Quality against cost</h2>
<figure>{svgs["quality-vs-cost"]}</figure></section>
<section class="card" id="plot-monthly"><h2>Monthly cost against volume</h2>
<figure>{svgs["monthly-cost"]}</figure></section>
<section class="card" id="quality"><h2>Quality, latency and tokens (measured)</h2>
{_table(*table_rows(r.summary), "quality")}{comparisons}</section>
<section class="card" id="plot-latency"><h2>Latency</h2><figure>{svgs["latency"]}</figure></section>
{training}<section class="card" id="costs"><h2>Cost at {r.queries_per_day:,.0f} queries/day</h2>
{_table(*cost_rows(r.rows, r.queries_per_day), "costs", basis_last=True)}</section>
{at_target}<section class="card" id="provenance"><h2>Where every number comes from</h2>
{_list(r.provenance)}</section>
</main></body></html>
"""
