"""The package layers point one way, and every module imports on its own (an import cycle that
only works in one import order fails here). Read from the source with `ast`, imports inside
functions included."""

import ast
import subprocess
import sys
from collections import defaultdict

from tests.conftest import ROOT

SRC = ROOT / "src" / "tunewise"

# what each lower layer may import (besides itself); anything above it is off limits
ALLOWED = {
    "errors": set(),
    "jsonl": set(),
    "openai_client": set(),
    "objects": {"errors"},
    "config": {"errors", "objects"},
    "systems": {"config", "errors"},
    "store": {"errors", "objects", "config"},
    "documents": {"config", "errors", "objects"},
    "embeddings": {"config", "errors", "openai_client"},
    "models": {"config", "errors", "openai_client"},
    "rerank": {"config", "embeddings", "errors", "models"},
    "retrieval": {"config", "embeddings", "errors", "objects", "rerank", "store"},
    "rag": {"config", "errors", "models", "objects", "retrieval", "store"},
    "ingest": {"config", "documents", "embeddings", "errors", "store"},
    "testing": {"documents", "objects", "store"},
    # the typed seam below the workspace: what evaluation, tasks and training use of it
    "parts": {"config", "embeddings", "models", "rerank", "retrieval", "store"},
    # measuring, pricing, data, training and tasks: each may use the ones before it
    "evaluate": {"documents", "errors", "jsonl", "models", "objects", "parts", "rag", "retrieval",
                 "systems"},
    "cost": {"config", "errors", "evaluate", "models", "retrieval", "systems"},
    "data": {"config", "cost", "errors", "evaluate", "jsonl", "models", "objects", "rag"},
    "train": {"config", "cost", "data", "documents", "embeddings", "errors", "evaluate", "jsonl",
              "models", "objects", "parts", "retrieval"},
    "tasks": {"config", "cost", "data", "documents", "embeddings", "errors", "evaluate", "jsonl", "models",
              "objects", "parts", "systems", "train"},
    "report": {"config", "cost", "errors", "evaluate", "objects", "systems", "tasks"},
}
TOP = {"cli", "serve", "workspace"}  # only the package root, cli and serve use these


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        yield ".".join(p for p in parts if p != "__init__"), path


def _imports() -> dict[str, set[str]]:
    """{top-level package or module of tunewise: the tunewise packages it imports}."""
    found = defaultdict(set)
    for name, path in _modules():
        layer = name.split(".")[1] if "." in name else "tunewise"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tunewise."):
                found[layer].add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                found[layer] |= {a.name.split(".")[1] for a in node.names
                                 if a.name.startswith("tunewise.")}
    return {layer: used - {layer} for layer, used in found.items()}


def test_lower_layers_import_only_what_is_below_them():
    imports = _imports()
    wrong = {layer: sorted(imports.get(layer, set()) - allowed)
             for layer, allowed in ALLOWED.items() if imports.get(layer, set()) - allowed}
    assert not wrong


def test_the_packages_form_no_cycle():
    """Dependencies between packages point one way: ALLOWED read as a graph has an order."""
    placed: list[str] = []
    left = dict(ALLOWED)
    while left:
        ready = [layer for layer, uses in left.items() if uses <= set(placed)]
        assert ready, f"a cycle among {sorted(left)}"
        placed += ready
        for layer in ready:
            del left[layer]


def test_only_the_command_line_and_the_server_reach_the_top():
    imports = _imports()
    wrong = {layer: sorted(used & TOP) for layer, used in imports.items()
             if used & TOP and layer not in TOP | {"tunewise", "__main__"}}
    assert not wrong


def test_below_the_command_line_a_workspace_is_typed_parts_never_workspace():
    """Modules under the workspace take `parts.Parts`: none imports or names `Workspace`, and
    every parameter called `ws` is annotated (so the layer test sees what it uses)."""
    wrong = []
    for name, path in _modules():
        layer = name.split(".")[1] if "." in name else "tunewise"
        if layer in TOP | {"tunewise", "__main__"}:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and any(a.name == "Workspace" for a in node.names):
                wrong.append(f"{name}: imports Workspace")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg in node.args.args + node.args.kwonlyargs:
                    text = ast.unparse(arg.annotation) if arg.annotation else ""
                    if "Workspace" in text or (arg.arg == "ws" and not text):
                        wrong.append(f"{name}.{node.name}: {arg.arg}: {text or 'untyped'}")
    assert not wrong


def test_every_module_imports_on_its_own():
    names = [n for n, _ in _modules() if n != "tunewise.__main__"]
    script = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "tunewise" or m.startswith("tunewise.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError as exc:
        if "ray" not in str(exc):  # the optional extra
            failed.append(f"{name}: {exc}")
print("\\n".join(failed))
"""
    done = subprocess.run([sys.executable, "-c", script, *names], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""


def _function_import_groups(tree):
    """Each run of consecutive import statements inside a function (a `try:` body excepted:
    that is an import that may fail, handled where it is made)."""
    def walk(node, in_function):
        for name in ("body", "orelse", "finalbody", "handlers"):
            statements = getattr(node, name, None)
            if not isinstance(statements, list):
                continue
            if in_function and not (isinstance(node, ast.Try) and name == "body"):
                group = []
                for s in [*statements, None]:
                    if isinstance(s, (ast.Import, ast.ImportFrom)):
                        group.append(s)
                    elif group:
                        yield group
                        group = []
            for s in statements:
                yield from walk(s, in_function or isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)))
    yield from walk(tree, False)


def test_an_import_inside_a_function_says_why_it_is_lazy():
    """Imports sit at the top of a module unless the import is an optional extra or measurably
    slow (torch, transformers …, or the command line's per-command imports); then a `# lazy:`
    comment above the group says which."""
    unexplained = []
    for name, path in _modules():
        lines = path.read_text().split("\n")
        for group in _function_import_groups(ast.parse("\n".join(lines))):
            first = group[0].lineno - 1
            if "# lazy:" not in lines[first - 1] and "# lazy:" not in lines[first]:
                unexplained.append(f"{name}:{group[0].lineno}")
    assert not unexplained
