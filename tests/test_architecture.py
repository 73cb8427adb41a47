"""The layering rules of ARCHITECTURE.md, checked on every import statement (module level or not)."""

from __future__ import annotations

import ast
import dataclasses
import json
import os

import pytest

from pyck_tfds.dump import FilterOptions
from pyck_tfds.mushroom_observer.configs import MushroomObserverConfig
from tests.conftest import ROOT, run_python

TENSORFLOW = ("tensorflow", "tensorflow_datasets", "keras")


def imports_of(path: str) -> set[str]:
    """Every module a file imports, absolute names (`from pyck_train import flags` gives pyck_train.flags too)."""
    names = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def modules_under(folder: str) -> dict[str, set[str]]:
    found = {}
    for directory, _, files in os.walk(os.path.join(ROOT, folder)):
        for name in files:
            if name.endswith(".py") and not name.endswith("_test.py"):
                path = os.path.join(directory, name)
                found[os.path.relpath(path, ROOT)] = imports_of(path)
    return found


def starts(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(folder: str, forbidden) -> list[str]:
    return sorted(f"{path} imports {name}" for path, names in modules_under(folder).items()
                  for name in names if forbidden(name))


RULES = {
    "the dump reader imports no TensorFlow": ("pyck_tfds/dump", lambda n: starts(n, *TENSORFLOW)),
    "pyck_tfds knows no model, trainer or eval": ("pyck_tfds", lambda n: starts(n, "pyck_train", "pyck_eval")),
    "the model library stands below the trainer": (
        "pyck_train/modeling", lambda n: starts(n, "pyck_eval") or (starts(n, "pyck_train")
                                                                    and not starts(n, "pyck_train.modeling"))),
    "the trainer imports no eval": ("pyck_train", lambda n: starts(n, "pyck_eval")),
    "eval imports only the model library from pyck_train": (
        "pyck_eval", lambda n: starts(n, "pyck_train") and not starts(n, "pyck_train.modeling")
        and n != "pyck_train"),
    "product code imports no tools (tfds)": ("pyck_tfds", lambda n: starts(n, "tools")),
    "product code imports no tools (train)": ("pyck_train", lambda n: starts(n, "tools")),
    "product code imports no tools (eval)": ("pyck_eval", lambda n: starts(n, "tools")),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_import_rule(rule):
    folder, forbidden = RULES[rule]
    assert violations(folder, forbidden) == []


def test_the_rule_checker_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from pyck_train import train\n    import tensorflow as tf\n")
    assert {"pyck_train.train", "tensorflow"} <= imports_of(str(module))


def test_import_pyck_tfds_dump_leaves_tensorflow_out():
    script = f"import sys, pyck_tfds.dump; print([m for m in {TENSORFLOW!r} if m in sys.modules])"
    result = run_python("-c", script, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr[-2000:]


FLAG_DEFAULTS = """
import dataclasses, json, sys
from absl import flags
import pyck_train.flags as train_flags
from pyck_train.config import TrainConfig
flags.FLAGS(["pyck_train", "--model_dir=/tmp/m"])
parsed = train_flags.config_from_flags()
print(json.dumps({"equal": parsed == TrainConfig(model_dir="/tmp/m"),
                  "help": {f.name: flags.FLAGS[f.name].help for f in dataclasses.fields(TrainConfig)},
                  "tensorflow": "tensorflow" in sys.modules}))
"""


def test_train_config_defaults_and_help_are_the_flags():
    result = run_python("-c", FLAG_DEFAULTS, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["equal"] and not answer["tensorflow"]
    from pyck_train.config import TrainConfig

    for field in dataclasses.fields(TrainConfig):  # enum flags prefix their choices: <a|b>: help
        assert answer["help"][field.name].endswith(field.metadata["help"]), field.name


DUMP_FLAG_DEFAULTS = """
import json
from absl import flags
from pyck_tfds import dump_flags
from pyck_tfds.dump import FilterOptions
flags.FLAGS(["inspect"])
print(json.dumps({"equal": dump_flags.filter_options_from_flags() == FilterOptions()}))
"""


def test_filter_flags_and_builder_configs_take_filter_options_defaults():
    result = run_python("-c", DUMP_FLAG_DEFAULTS, timeout=120)
    assert result.returncode == 0 and json.loads(result.stdout.splitlines()[-1])["equal"], result.stderr[-2000:]
    config = MushroomObserverConfig(name="defaults")
    assert config.filter_options == FilterOptions()
    builder_fields = {f.name for f in dataclasses.fields(MushroomObserverConfig)}
    assert {f.name for f in dataclasses.fields(FilterOptions)} <= builder_fields
