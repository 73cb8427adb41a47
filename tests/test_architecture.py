"""The layering rules of ARCHITECTURE.md, checked on every import: import statements (module level or not) and
modules named by string to `lazy_import`, `importlib.import_module` and `__import__`."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import shutil

import pytest

from pyck_tfds.dump import FilterOptions
from pyck_tfds.mushroom_observer.configs import MushroomObserverConfig
from tests.conftest import ROOT, run_python

TENSORFLOW = ("tensorflow", "tensorflow_datasets", "keras")
STRING_IMPORTS = ("lazy_import", "import_module", "__import__")


def named_module(argument: ast.expr) -> str | None:
    """The module a string argument names: a literal, or an f-string's literal start (`f"pkg.{name}"` -> pkg)."""
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return argument.value
    if isinstance(argument, ast.JoinedStr) and argument.values and isinstance(argument.values[0], ast.Constant):
        return argument.values[0].value.rstrip(".") or None
    return None


def imports_of(path: str) -> set[str]:
    """Every module a file imports, absolute names (`from pyck_train import flags` gives pyck_train.flags too)."""
    names = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Call) and node.args:
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if function in STRING_IMPORTS and (name := named_module(node.args[0])):
                names.add(name)
    return names


def modules_under(folder: str, root: str = ROOT) -> dict[str, set[str]]:
    found = {}
    for directory, _, files in os.walk(os.path.join(root, folder)):
        for name in files:
            if name.endswith(".py") and not name.endswith("_test.py"):
                path = os.path.join(directory, name)
                found[os.path.relpath(path, root)] = imports_of(path)
    return found


def starts(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(folder: str, forbidden, root: str = ROOT) -> list[str]:
    return sorted(f"{path} imports {name}" for path, names in modules_under(folder, root).items()
                  for name in names if forbidden(name))


PRODUCT = ("pyck_tfds", "pyck_classifier", "pyck_train", "pyck_eval")
RULES = {
    "the dump reader imports no TensorFlow": ("pyck_tfds/dump", lambda n: starts(n, *TENSORFLOW)),
    "pyck_tfds knows no model, trainer or eval": (
        "pyck_tfds", lambda n: starts(n, "pyck_classifier", "pyck_train", "pyck_eval")),
    "the classifier library imports neither the trainer nor eval": (
        "pyck_classifier", lambda n: starts(n, "pyck_train", "pyck_eval")),
    "the trainer imports no eval": ("pyck_train", lambda n: starts(n, "pyck_eval")),
    "eval imports no trainer": ("pyck_eval", lambda n: starts(n, "pyck_train")),
    **{f"product code imports no tools ({package})": (package, lambda n: starts(n, "tools")) for package in PRODUCT},
}


@pytest.mark.parametrize("rule", list(RULES))
def test_import_rule(rule):
    folder, forbidden = RULES[rule]
    assert violations(folder, forbidden) == []


def test_the_rule_checker_sees_imports_inside_functions_and_by_string(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from pyck_train import train\n    import tensorflow as tf\n"
                      "report = lazy_import('pyck_train.train')\n"
                      "command = importlib.import_module(f'pyck_eval.commands.{name}')\n__import__('tools.demo')\n")
    assert {"pyck_train.train", "tensorflow", "pyck_eval.commands", "tools.demo"} <= imports_of(str(module))


def test_a_string_import_of_the_trainer_in_eval_breaks_the_rule(tmp_path):
    """The issue's example: `lazy_import("pyck_train.train")` in report.py passed the statement-only checker."""
    shutil.copytree(os.path.join(ROOT, "pyck_eval"), tmp_path / "pyck_eval")
    with open(tmp_path / "pyck_eval" / "commands" / "report.py", "a") as report:
        report.write('\ntrainer = lazy_import("pyck_train.train")\n')
    assert violations("pyck_eval", RULES["eval imports no trainer"][1], str(tmp_path)) == [
        "pyck_eval/commands/report.py imports pyck_train.train"]


LOGGING_FLAGS = ("verbosity",)  # absl's own: read where Python logging is set up (`console.quiet_python_logs`)


def flag_reads_outside_main(path: str) -> list[int]:
    """Lines reading a flag's value (`FLAGS.x`, `flags.FLAGS.x`, `FLAGS["x"]`) outside a function named main."""
    lines = []

    def visit(node: ast.AST, in_main: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Attribute, ast.Subscript)) and not in_main:
                base = child.value
                if (isinstance(base, ast.Name) and base.id == "FLAGS") or (
                        isinstance(base, ast.Attribute) and base.attr == "FLAGS"):
                    key = child.slice if isinstance(child, ast.Subscript) else None
                    absl_own = child.attr == "is_parsed" if isinstance(child, ast.Attribute) else (
                        isinstance(key, ast.Constant) and key.value in LOGGING_FLAGS)
                    if not absl_own:
                        lines.append(child.lineno)
            named_main = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and child.name == "main"
            visit(child, in_main or named_main)

    visit(ast.parse(open(path).read(), path), False)
    return lines


def test_only_a_commands_main_reads_flags():
    """Functions take options objects; a command's main() alone turns flags into them."""
    found = {path: lines for package in (*PRODUCT, "tools") for path in modules_under(package)
             if (lines := flag_reads_outside_main(os.path.join(ROOT, path)))}
    assert found == {}


def test_the_flag_read_checker_sees_a_helper_reading_flags(tmp_path):
    module = tmp_path / "command.py"
    module.write_text("FLAGS = flags.FLAGS\n\ndef helper():\n    return FLAGS.split\n\n"
                      "def chosen():\n    return flags.FLAGS['tta'].value\n\n"
                      "def main(argv):\n    def inner():\n        return FLAGS.top_k\n    return FLAGS.split, inner\n")
    assert flag_reads_outside_main(str(module)) == [4, 7]


EVAL_COMMANDS = ("report", "predict", "features", "svc", "stack", "gradcam", "explain", "pixels", "segment", "export")
EVAL_FLAG_DEFAULTS = """
import dataclasses, importlib, json, sys
from absl import flags
from pyck_tfds.options import options_from_flags
command = importlib.import_module("pyck_eval.commands." + sys.argv[1])
flags.FLAGS(["pyck_eval"])
answer = {"tensorflow": "tensorflow" in sys.modules, "options": {}}
for options_class in command.OPTIONS:
    fields = dataclasses.fields(options_class)
    given = {f.name: "given" for f in fields if f.name not in flags.FLAGS}  # a command's own input (runtime="keras")
    required = {f.name: "m" for f in fields if f.default is dataclasses.MISSING and f.name not in given}
    parsed = options_from_flags(options_class, **given, **required)
    answer["options"][options_class.__name__] = {
        "flags": sorted(f.name for f in fields if f.name not in given),
        "equal": parsed == options_class(**given, **required),
        "wrong_help": [f.name for f in fields if f.name not in given  # enum flags prefix their choices: <a|b>: help
                       and not flags.FLAGS[f.name].help.endswith(f.metadata["help"])],
        "defined_elsewhere": [f.name for f in fields if f.name not in given
                              and flags.FLAGS.find_module_defining_flag(f.name) != command.__name__]}
print(json.dumps(answer))
"""


def test_every_eval_command_is_checked_here():
    """`EVAL_COMMANDS` is `python -m pyck_eval`'s list (read from its source: importing it defines its flags)."""
    tree = ast.parse(open(os.path.join(ROOT, "pyck_eval", "__main__.py")).read())
    listed = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                  and getattr(node.targets[0], "id", None) == "COMMANDS")
    assert sorted(key.value for key in listed.keys) == sorted(EVAL_COMMANDS)


@pytest.mark.parametrize("command", EVAL_COMMANDS)
def test_eval_flags_are_their_options_dataclasses(command):
    """Defaults, help and allowed values of every eval flag come from the function's options dataclass."""
    result = run_python("-c", EVAL_FLAG_DEFAULTS, command, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["tensorflow"] is False  # --help and usage errors answer before TensorFlow starts
    for name, checked in answer["options"].items():
        assert checked["flags"], name
        # defined_elsewhere: --help lists only the command module's own flags
        assert (checked["equal"], checked["wrong_help"], checked["defined_elsewhere"]) == (True, [], []), name


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
