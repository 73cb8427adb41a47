"""The command lines as users run them."""

import json
import os
import subprocess

import pytest

from tests.conftest import BUILT_DATASET, run_python, without_tf_log_level


def run(*args: str) -> subprocess.CompletedProcess:
    return run_python("-m", *args, timeout=300)


def test_inspect_json_adds_up(sample_dump):
    result = run("pyck_tfds.inspect", sample_dump.out, "--min_per_class=20", "--json", "--noprogress")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["records_in"] == sample_dump.json_records and report["kept"] == 7 * sample_dump.images_per_family
    assert report["classes"] == sample_dump.families
    assert sum(report["split_sizes"].values()) == report["kept"]


def test_inspect_text_shows_funnel_and_splits(sample_dump):
    result = run("pyck_tfds.inspect", sample_dump.out, "--min_per_class=20", "--noprogress")
    assert result.returncode == 0, result.stderr
    for expected in ("Filter funnel", "confidence > 90", "low_confidence", "validation", "observations"):
        assert expected in result.stdout
    assert "truncated at byte" in result.stdout and result.stderr == "", "a cut-short file is said once, in the report"


def is_pyck_line(line: str) -> bool:
    """A progress bar, or a warning in pyck's plain format (not absl's `W1126 06:30:39.0 123 file.py:130]`)."""
    return "%|" in line or line.startswith("WARNING: ") or not line.strip()


def test_tools_print_their_own_lines_and_progress_only(sample_dump, built_data_dir, tmp_path):
    explore = run_python("-m", "tools.explore", sample_dump.out, f"--out={tmp_path}", env=without_tf_log_level())
    assert explore.returncode == 0 and all(is_pyck_line(line) for line in explore.stderr.splitlines()), explore.stderr
    assert "WARNING: " in explore.stderr and "truncated at byte" in explore.stderr
    preview = run_python("-m", "tools.preview", f"--data_dir={built_data_dir}", f"--dataset={BUILT_DATASET}",
                         f"--out={tmp_path / 'preview.png'}", env=without_tf_log_level())
    assert preview.returncode == 0 and preview.stderr == "", preview.stderr
    assert preview.stdout.splitlines() == [f"wrote {tmp_path / 'preview.png'}"]


IMPORT_TENSORFLOW = ("import importlib.util, sys; from pyck_tfds.console import quiet_tensorflow; quiet_tensorflow(); "
                     "importlib.util.find_spec('tensorflow'); "  # a look-up first, as some libraries do
                     "import keras, tensorflow; print('after', file=sys.stderr)")


def test_tensorflow_is_imported_without_its_start_up_lines_unless_the_user_asks_for_them():
    quiet = run_python("-c", IMPORT_TENSORFLOW, env=without_tf_log_level())
    assert quiet.returncode == 0 and quiet.stderr == "after\n", quiet.stderr
    # The user's level wins, and shows that the lines are there to be dropped on this CPU.
    loud = run_python("-c", IMPORT_TENSORFLOW, env={**without_tf_log_level(), "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert loud.returncode == 0 and "oneDNN custom operations are on" in loud.stderr, loud.stderr
    assert loud.stderr.endswith("after\n")


def test_the_stderr_filter_drops_only_log_lines_below_the_level(capfd):
    from pyck_tfds.console import filtered_stderr, is_log_chatter

    info = "I0000 00:00:1796081744.741758    2062 port.cc:153] oneDNN custom operations are on.\n"
    warning = "W0000 00:00:1796081744.741758    2062 gpu.cc:12] no GPU\n"
    with filtered_stderr(lambda line: not is_log_chatter(line, 1)):
        os.write(2, ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                     + info + "a line of the program's own\n" + warning + "no newline at the end").encode())
    assert capfd.readouterr().err == "a line of the program's own\n" + warning + "no newline at the end"
    assert not is_log_chatter(info, 0) and is_log_chatter(warning, 2) and not is_log_chatter(warning, 1)


def test_inspect_missing_dir_fails_fast_with_the_path(tmp_path):
    result = run("pyck_tfds.inspect", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert str(tmp_path / "missing") in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("flag", ["--resolution=320by240", "--level=kingdom", "--min_per_class=0"])
def test_inspect_bad_flag_is_a_usage_error_naming_the_flag(sample_dump, flag):
    result = run("pyck_tfds.inspect", sample_dump.out, flag)
    assert result.returncode != 0 and flag.split("=")[0] in result.stderr


def test_explore_writes_plots_and_summary(sample_dump, tmp_path):
    result = run("tools.explore", sample_dump.out, f"--out={tmp_path}")
    assert result.returncode == 0, result.stderr
    names = sorted(os.listdir(tmp_path))
    assert names == sorted(["images_per_rank.png", "top_resolutions.png", "images_per_family.png",
                            "images_and_observations_per_year.png", "images_per_observation.png", "summary.csv"])
    summary = open(tmp_path / "summary.csv").read()
    assert "images_per_family,Amanitaceae," in summary


CONFIGS = ["family7", "family7_sample"]


@pytest.mark.parametrize("dataset, start", [
    ("mushrom_observer/family7_sample", "--dataset=mushrom_observer/family7_sample: 'mushrom_observer' is no dataset "
                                        "builder of pyck (its one builder is mushroom_observer); did you mean "
                                        "mushroom_observer/family7_sample?"),
    ("family7_sample", "--dataset=family7_sample: 'family7_sample' is no dataset builder of pyck (its one builder is "
                       "mushroom_observer); did you mean mushroom_observer/family7_sample?"),
    ("mushrom_observer/x", "--dataset=mushrom_observer/x: 'mushrom_observer' is no dataset builder of pyck (its one "
                           "builder is mushroom_observer); its configs: family7, family7_sample"),
    ("mushroom_observer", "--dataset=mushroom_observer names no config; mushroom_observer's configs: family7, "),
])
def test_a_misspelled_dataset_is_named_and_no_build_command_that_cannot_work_suggested(dataset, start):
    from pyck_tfds.built_datasets import unknown_dataset_message

    message = unknown_dataset_message(dataset, CONFIGS)
    assert message.startswith(start) and "tfds build" not in message


def test_an_unbuilt_config_gets_a_build_command_only_if_the_builder_has_it(tmp_path):
    from pyck_tfds.built_datasets import not_built_message, unknown_dataset_message

    assert unknown_dataset_message("mushroom_observer/family8", CONFIGS) is None  # maybe a JSON config built elsewhere
    typo = not_built_message("mushroom_observer/family8", str(tmp_path), CONFIGS)
    assert typo.endswith("; family8 is not a config of mushroom_observer; its configs: family7, family7_sample")
    assert "--config=family8" not in typo
    unbuilt = not_built_message("mushroom_observer/family7:1.0.0", str(tmp_path), CONFIGS)
    assert unbuilt.endswith(f"`tfds build pyck_tfds/mushroom_observer --config=family7 --manual_dir=DUMP "
                            f"--data_dir={tmp_path}`")


@pytest.mark.parametrize("case", ["preview of a dataset not built", "sample into a folder that is not empty",
                                  "predict with no model"])
def test_a_tools_mistake_is_one_line_and_writes_nothing(tmp_path, case):
    (tmp_path / "mine.txt").write_text("mine")
    if case == "preview of a dataset not built":
        args, status = ["tools.preview", f"--data_dir={tmp_path / 'data'}", f"--out={tmp_path / 'p.png'}"], 1
        line = f"error: mushroom_observer/family7 is not built in {tmp_path / 'data'} (built there: nothing)."
    elif case == "sample into a folder that is not empty":
        args, status = ["tools.make_sample_dump", f"--out={tmp_path}"], 2
        line = f"error: {tmp_path} is not empty; the sample is written into a new or empty folder."
    else:
        args, status = ["pyck_eval", "predict", str(tmp_path)], 1
        line = "FATAL Flags parsing error: flags model_dir=None, tflite=None: give --model_dir (a pyck_train run) " \
               "or --tflite (a `pyck_eval export` file)"
    result = run_python("-m", *args, timeout=300)
    assert result.returncode == status and "Traceback" not in result.stderr, result.stderr[-3000:]
    first = result.stderr.strip().splitlines()[0]
    assert first == line if case == "predict with no model" else first.startswith(line), result.stderr[-3000:]
    assert os.listdir(tmp_path) == ["mine.txt"]
