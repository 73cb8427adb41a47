"""A model directory describes its weights: reruns are checked before any work; mistakes end in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from pyck_train import provenance
from tests.conftest import BUILT_DATASET, ROOT, run_python, terminal_sigint
from tests.conftest import write_text as write

DEFAULTS = {"learning_rate": "0.001", "cache_features": "false", "tta": "none"}


def test_flagfiles_are_read_back_with_booleans_and_defaults(tmp_path):
    path = write(tmp_path / "flags.txt", "--learning_rate=1e-3\n--cache_features\n--nojit_compile\n# comment\n")
    assert provenance.read_flagfile(path) == {"learning_rate": "1e-3", "cache_features": "true",
                                              "jit_compile": "false"}
    old = provenance.read_flagfile(path)
    # 1e-3 == 0.001; a flag missing from the old file had its default; evaluation flags may differ.
    assert provenance.differences(old, {"learning_rate": "0.001", "cache_features": "true", "jit_compile": "false",
                                        "tta": "flip"}, DEFAULTS) == []
    assert provenance.differences(old, {"learning_rate": "0.5", "cache_features": "true", "seed": "3"},
                                  {"seed": "0"}) == [("jit_compile", "false", ""), ("learning_rate", "1e-3", "0.5"),
                                                     ("seed", "0", "3")]


def test_model_dir_decisions(tmp_path):
    flags = {"learning_rate": "0.001", "epochs": "8"}
    assert provenance.check_model_dir(str(tmp_path / "new"), flags, {}, overwrite=False) == "new"
    run = tmp_path / "run"
    write(run / "flags.txt", "--learning_rate=0.001\n--epochs=8\n")
    assert provenance.check_model_dir(str(run), flags, {}, overwrite=False) == "resume"
    with pytest.raises(provenance.RunDirectoryError, match=r"--epochs: 8 -> 2.*--overwrite"):
        provenance.check_model_dir(str(run), {**flags, "epochs": "2"}, {}, overwrite=False)
    assert open(run / "flags.txt").read() == "--learning_rate=0.001\n--epochs=8\n"  # nothing written
    replaced = provenance.check_model_dir(str(run), {**flags, "epochs": "2"}, {}, overwrite=True)
    moved = replaced.split("now in ")[1].rstrip(")")
    assert not run.exists() and open(os.path.join(moved, "flags.txt")).read().startswith("--learning_rate")
    foreign = tmp_path / "foreign"
    write(foreign / "notes.txt", "mine")
    with pytest.raises(provenance.RunDirectoryError, match="not a pyck_train run"):
        provenance.check_model_dir(str(foreign), flags, {}, overwrite=False)
    with pytest.raises(provenance.RunDirectoryError, match="is a file"):
        provenance.check_model_dir(str(foreign / "notes.txt"), flags, {}, overwrite=False)


def test_training_records_its_run_for_every_caller(tmp_path, monkeypatch):
    """`train()` itself checks and writes flags.txt (not the command line), so a Python caller, a tune trial and a
    backbone comparison get the same record and the same refusal; the work after the record is stubbed out."""
    import pyck_train.train as training
    from pyck_train.config import TrainConfig

    class Started(Exception):
        pass

    monkeypatch.setattr(training, "_start", lambda config: (_ for _ in ()).throw(Started()))
    config = TrainConfig(model_dir=str(tmp_path / "run"), epochs=3)
    with pytest.raises(Started):
        training.train(config)
    assert open(tmp_path / "run" / "flags.txt").read() == config.to_flagfile()
    assert os.listdir(tmp_path / "run") == ["flags.txt"]  # written whole (no .tmp left)
    with pytest.raises(Started):  # the same settings resume
        training.train(config)
    with pytest.raises(provenance.RunDirectoryError, match=r"--epochs: 3 -> 4"):
        training.train(TrainConfig(model_dir=str(tmp_path / "run"), epochs=4))
    assert open(tmp_path / "run" / "flags.txt").read() == config.to_flagfile()  # the record is never rewritten


def run_train(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return run_python("-m", "pyck_train", "--flagfile=configs/quickstart.flags", *args, **kwargs)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines and lines[-1].startswith("error: "), result.stderr[-3000:]
    return lines[-1]


@pytest.mark.slow
def test_bad_runs_stop_in_one_line_before_writing_anything(built_data_dir, tmp_path):
    data = (f"--dataset={BUILT_DATASET}", f"--data_dir={built_data_dir}")
    run = tmp_path / "run"
    flagfile = write(run / "flags.txt", open(os.path.join(ROOT, "configs/quickstart.flags")).read().replace(
        "--model_dir=runs/quickstart", f"--model_dir={run}") + f"--dataset={BUILT_DATASET}\n")
    before = open(flagfile).read()
    changed = run_train(*data, f"--model_dir={run}", "--learning_rate=0.5", "--epochs=1")
    assert changed.returncode == 2
    message = one_line_error(changed)
    assert "--learning_rate: 0.001 -> 0.5" in message and "--epochs: 8 -> 1" in message
    assert open(flagfile).read() == before and os.listdir(run) == ["flags.txt"]

    unbuilt = run_train(f"--dataset={BUILT_DATASET}", f"--data_dir={tmp_path / 'empty'}",
                        f"--model_dir={tmp_path / 'never'}")
    assert unbuilt.returncode == 2 and "tfds build" in one_line_error(unbuilt)
    assert not (tmp_path / "never").exists()
    listed = run_train("--dataset=mushroom_observer/family7", f"--data_dir={built_data_dir}",
                       f"--model_dir={tmp_path / 'never'}")
    assert f"built there: {BUILT_DATASET.split('/')[1]}" in one_line_error(listed)

    a_file = write(tmp_path / "model.txt", "keep me")
    as_file = run_train(*data, f"--model_dir={a_file}")
    assert as_file.returncode == 2 and "is a file" in one_line_error(as_file)
    assert open(a_file).read() == "keep me"


@pytest.mark.slow
def test_ctrl_c_exits_130_and_says_how_to_resume(built_data_dir, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "pyck_train", "--flagfile=configs/quickstart.flags", f"--dataset={BUILT_DATASET}",
         f"--data_dir={built_data_dir}", f"--model_dir={tmp_path / 'run'}", "--nocache_features", "--epochs=50",
         "--steps_per_epoch=1", "--batch_size=4", "--runtime=keras"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=terminal_sigint,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})  # lines as they are printed, not when a buffer fills
    for line in process.stdout:
        if line.startswith("Epoch 2/"):
            process.send_signal(signal.SIGINT)
            break
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130
    message = one_line_error(subprocess.CompletedProcess([], 130, "", stderr))
    assert message.startswith("error: interrupted in epoch ") and message.endswith("rerun the same command to resume")


TFDS_LOAD_WRONG_DATA_DIR = """
import sys
import tensorflow_datasets as tfds
import pyck_tfds
try:
    tfds.load(sys.argv[1], data_dir=sys.argv[2])
except FileNotFoundError as err:
    print(type(err).__name__, err)
"""


@pytest.mark.slow
def test_tfds_load_from_a_data_dir_without_the_build_says_so_and_writes_nothing(built_data_dir, tmp_path):
    wrong = tmp_path / "wrong"
    result = run_python("-c", TFDS_LOAD_WRONG_DATA_DIR, "mushroom_observer/family7", str(wrong), timeout=300)
    assert (f"DatasetNotBuiltError mushroom_observer/family7 is not built in {wrong} (built there: nothing)"
            in result.stdout), result.stdout + result.stderr[-2000:]
    assert "Manual directory" not in result.stdout + result.stderr and not wrong.exists()
    other = run_python("-c", TFDS_LOAD_WRONG_DATA_DIR, "mushroom_observer/family7", built_data_dir, timeout=300)
    built_there = other.stdout.split("(built there: ", 1)[1].split(")", 1)[0].split(", ")
    assert BUILT_DATASET.split("/")[1] in built_there, other.stdout + other.stderr[-2000:]


def test_demo_never_deletes_a_folder_it_did_not_write(tmp_path):
    foreign = tmp_path / "mine"
    write(foreign / "thesis.tex", "years of work")
    result = subprocess.run(["bash", "tools/demo.sh", str(foreign)], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        f"error: {foreign} holds files the demo did not write (no .pyck_demo_output): give the demo another "
        "output folder"]
    assert open(foreign / "thesis.tex").read() == "years of work" and os.listdir(foreign) == ["thesis.tex"]


def test_a_demo_rerun_removes_only_what_the_demo_wrote(tmp_path):
    out = tmp_path / "demo out"
    write(out / ".pyck_demo_output", "written by tools/demo.sh")
    write(out / "sample_dump" / "images" / "a.jpg", "earlier demo")
    write(out / "models" / "quickstart" / "flags.txt", "--epochs=8")
    write(out / "preview_train.png", "earlier demo")
    write(out / "thesis.docx", "years of work")
    write(out / "notes" / "field.txt", "mine too")
    fake = tmp_path / "bin"  # a python that fails: the demo stops at its first step, right after the clean-up
    write(fake / "python", "#!/bin/sh\nexit 3\n")
    os.chmod(fake / "python", 0o755)
    result = subprocess.run(["bash", "tools/demo.sh", str(out)], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"})
    assert result.returncode == 3, result.stderr
    assert f"note: kept in {out} what the demo did not write: notes thesis.docx" in result.stdout.splitlines()
    assert sorted(os.listdir(out)) == [".pyck_demo_output", "notes", "thesis.docx"]
    assert open(out / "thesis.docx").read() == "years of work" and os.listdir(out / "notes") == ["field.txt"]


def test_demo_help_is_usage_and_an_option_is_no_folder(tmp_path):
    demo = os.path.join(ROOT, "tools", "demo.sh")
    helped = subprocess.run(["bash", demo, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "bash tools/demo.sh [OUT]" in helped.stdout
    wrong = subprocess.run(["bash", demo, "--out=x"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and wrong.stderr.startswith("error: unknown option --out=x")
    assert os.listdir(tmp_path) == []  # no folder named after an option


def test_the_run_index_links_what_the_run_and_its_evaluations_wrote(tmp_path):
    from pyck_classifier.run.run_directory import find_run
    from pyck_classifier.run.run_index import write_run_index

    run = tmp_path / "run"
    write(run / "flags.txt", "--epochs=8\n")
    write(run / "metrics.json", '{"dataset": "d", "backbone": "b", "strategy": "frozen", '
                                '"test": {"accuracy": 0.5, "examples": 4}}')
    write(run / "report_test" / "index.html", "<html>")
    write(run / "features" / "svc" / "index.html", "<html>")
    assert find_run(str(run / "features" / "svc")) == str(run) and find_run(str(tmp_path)) is None
    page = open(write_run_index(str(run))).read()
    for link in ("flags.txt", "metrics.json", "report_test/index.html", "features/svc/index.html"):
        assert f"href='{link}'" in page
    assert "training_curves.png" not in page  # only what is there
    assert f"tensorboard --logdir {run / 'logs'}" in page and "test: accuracy 0.500 on 4 images" in page


def test_the_dump_reader_and_inspect_start_without_tensorflow():
    script = ("import sys, pyck_tfds.inspect, pyck_tfds.dump; "
              "print(sorted(m for m in ('tensorflow', 'tensorflow_datasets', 'keras') if m in sys.modules))")
    result = run_python("-c", script, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr[-2000:]
    helped = run_python("-m", "pyck_tfds.inspect", "--help", timeout=120)
    assert all(f"--{name}" in helped.stdout for name in ("level", "min_per_class", "classes", "json"))
    assert "json/observations_2006.json" in helped.stdout and "images_observations.csv" in helped.stdout  # layouts


@pytest.mark.parametrize("order", ["tfds first", "pyck_tfds first"])
def test_import_pyck_tfds_registers_the_builder_in_either_order(order):
    imports = ["import tensorflow_datasets as tfds", "import pyck_tfds"]
    script = "; ".join(imports if order == "tfds first" else imports[::-1]) + (
        "; print('mushroom_observer' in tfds.list_builders(with_community_datasets=False))")
    result = run_python("-c", script, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("True"), result.stderr[-2000:]


HELP_WITHOUT_TENSORFLOW = """
import runpy, sys
module, argv = sys.argv[1], sys.argv[2:]
sys.argv = [module, *argv]
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
except SystemExit:
    pass
print("tensorflow imported:", any(m in sys.modules for m in ("tensorflow", "keras", "tensorflow_datasets")))
"""


@pytest.mark.parametrize("command,expected", [
    (["pyck_train"], ["--learning_rate", "--overwrite", "--backbone", "--runtime"]),
    (["pyck_train.tune"], ["--n_trials", "--storage", "--learning_rate"]),
    (["pyck_train.compare_backbones"], ["--backbones", "--learning_rate"]),
    (["pyck_eval", "predict"], ["--model_dir", "--tflite", "--min_confidence", "--runtime", "--tta"]),
    (["pyck_eval", "report"], ["--ood_from", "--target_accuracy", "--split", "--batch_size"]),
    *[(["pyck_eval", name], ["--model_dir"]) for name in ("gradcam", "features", "export")],
    (["pyck_eval", "svc"], ["--features"]),
    (["pyck_eval", "stack"], ["--model_dirs"]),
    (["pyck_eval", "pixels"], ["--dataset"]),
    (["pyck_eval", "segment"], ["--images"]),
    (["tools.bench_train"], ["--n_images", "--backbone"]),
    (["tools.fault_campaign"], ["--out", "--trials", "--faults_per_chain"]),
])
def test_help_lists_the_commands_own_flags_without_importing_tensorflow(command, expected):
    result = run_python("-c", HELP_WITHOUT_TENSORFLOW, *command, "--help", timeout=120)
    listed = result.stdout + result.stderr
    assert "Try --helpfull" in listed and all(flag in listed for flag in expected), listed[-3000:]
    assert "tensorflow imported: False" in result.stdout, listed[-3000:]
