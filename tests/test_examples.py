"""Every example file in examples/ is what a newcomer copies: each lists every setting of its
table (set, or commented out where the default depends on another setting) and loads to exactly
the defaults, through the same loader the commands use."""

import dataclasses
import re

import pytest

from tests.conftest import ROOT
from tunewise.config import Settings, load_settings
from tunewise.train.finetune import FinetuneRecipe
from tunewise.train.pretrain import PretrainRecipe
from tunewise.train.recipe import read_recipe


def _listed(path) -> set[str]:
    return set(re.findall(r"^#? ?([a-z_]+) = ", path.read_text(), flags=re.M))


def test_tunewise_toml_is_the_defaults():
    path = ROOT / "examples" / "tunewise.toml"
    assert load_settings(path, env={}) == Settings()


@pytest.mark.parametrize("file, cls, table", [("finetune-lora.toml", FinetuneRecipe, "finetune"),
                                              ("pretrain.toml", PretrainRecipe, "pretrain")])
def test_recipes_are_the_defaults(file, cls, table):
    path = ROOT / "examples" / file
    assert read_recipe(cls, table, path) == cls()
    assert {f.name for f in dataclasses.fields(cls)} <= _listed(path)
