"""The README is a front page that links the reference in docs/; every page is reachable from it,
every link resolves, and every setting is listed in examples/tunewise.toml, the configuration
reference docs/configuration.md points to (so the two cannot drift apart)."""

import dataclasses
import re

from tests.conftest import ROOT
from tunewise.config import ModelSettings, Settings, TaskSettings

LINK = re.compile(r"\]\(([^)#]+)(?:#[^)]*)?\)")


def test_every_docs_page_is_linked_from_the_readme_and_every_link_resolves():
    readme = (ROOT / "README.md").read_text()
    linked = set(LINK.findall(readme))
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages <= linked
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in LINK.findall(page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), (page.name, target)


def test_every_setting_is_in_the_example_configuration():
    example = (ROOT / "examples" / "tunewise.toml").read_text()
    for section in dataclasses.fields(Settings):
        if section.name in ("models", "tasks"):
            continue  # tables by name, shown with [models.local] and [tasks.NAME]
        header = example.index(f"[{section.name}]")
        body = example[header:].split("\n[", 1)[0]
        listed = set(re.findall(r"^#? ?([a-z_0-9]+) = ", body, flags=re.M))
        fields = {f.name for f in dataclasses.fields(section.default_factory())}
        assert fields <= listed, (section.name, fields - listed)
    for cls, header in ((ModelSettings, "[models.local]"), (TaskSettings, "[tasks.")):
        body = example[example.index(header):].split("\n[", 1)[0]
        listed = set(re.findall(r"^#? ?([a-z_0-9]+) = ", body, flags=re.M))
        assert {f.name for f in dataclasses.fields(cls)} <= listed, (header, listed)
    assert "examples/tunewise.toml" in (ROOT / "docs" / "configuration.md").read_text()


def test_every_setting_the_configuration_page_shows_exists():
    """docs/configuration.md quotes part of the example; a renamed key must not live on there."""
    page = (ROOT / "docs" / "configuration.md").read_text()
    known = {f.name for section in dataclasses.fields(Settings)
             if section.name not in ("models", "tasks")
             for f in dataclasses.fields(section.default_factory())}
    known |= {f.name for f in dataclasses.fields(ModelSettings)}
    known |= {f.name for f in dataclasses.fields(TaskSettings)}
    shown = set(re.findall(r"^#? ?([a-z_0-9]+) = ", page, flags=re.M))
    assert shown and shown <= known, shown - known


def test_every_module_is_named_in_the_development_map():
    """docs/development.md's map of src/tunewise names every package and module, so a newcomer
    finds each file there (issue 40)."""
    page = (ROOT / "docs" / "development.md").read_text()
    tree = page.split("```")[1]
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", tree))
    src = ROOT / "src" / "tunewise"
    missing = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                     if p.stem not in ("__init__", "__main__")
                     and (p.stem not in words or p.parent.name not in words | {"tunewise"}))
    assert not missing, f"docs/development.md does not name: {', '.join(missing)}"
