"""Shared fixtures: one small generated sample dump per test session."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from tools.make_sample_dump import SampleDumpManifest, make_sample_dump

SMALL_IMAGES_PER_FAMILY = 30
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The README's test command runs two test processes (`-n 2 --dist loadfile --no-loadscope-reorder`): each
# takes whole files (a file's fixtures are built once) in collection order. The longest files go first, so
# that no long file starts last while the other process idles (ordered by their `--durations` totals).
# The first two go to the two processes at once, the next two after them (pytest-xdist's loadfile starts each
# process with two files): the fault campaign pairs with the shorter of the two longest.
LONGEST_FILES_FIRST = ("tests/test_eval.py", "tests/test_fault_campaign.py", "tests/test_train.py",
                       "tests/test_multi_worker.py",
                       "tests/test_data_service.py", "tests/test_benchmarks.py", "tests/test_compare_backbones.py",
                       "tests/test_taxonomy_runs.py",
                       "tests/test_tune.py", "tests/test_uneven_batches.py", "tests/test_csv_export.py",
                       "tests/test_efficientnet_lite.py",
                       "tests/test_builder.py", "tests/test_trainer_core.py", "tests/test_provenance.py")


def pytest_collection_modifyitems(items: list) -> None:
    rank = {path: position for position, path in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: files keep their order


def run_python(*args: str, timeout: int = 600, cwd: str = ROOT, env: dict | None = None
               ) -> subprocess.CompletedProcess:
    """`python ARGS` (`-m module ...` or `-c script ...`) from the repository root, output captured as text."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def terminal_sigint() -> None:
    """`preexec_fn` of a child a test interrupts: SIGINT as a terminal delivers it, even when the suite itself was
    started in the background (`&` in a script starts it with SIGINT ignored, which children inherit)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def without_tf_log_level() -> dict:
    """The user's environment without TF_CPP_MIN_LOG_LEVEL, and oneDNN forced on: TensorFlow then prints its
    start-up lines on any CPU (by default only where oneDNN is on, AVX-512 class CPUs)."""
    return {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, "TF_ENABLE_ONEDNN_OPTS": "1"}


@pytest.fixture(scope="session", autouse=True)
def litert_cache(tmp_path_factory):
    """LiteRT conversions of this session's models go to a folder of its own (subprocesses inherit it)."""
    os.environ["PYCK_CACHE_DIR"] = str(tmp_path_factory.mktemp("pyck_cache"))


@pytest.fixture(scope="session")
def sample_dump(tmp_path_factory) -> SampleDumpManifest:
    """A sample dump with every kind of mess; read-only for tests (copy before changing it)."""
    return make_sample_dump(str(tmp_path_factory.mktemp("dump")), SMALL_IMAGES_PER_FAMILY, seed=0)


@pytest.fixture
def sample_filter():
    """The study's filter with the class-size threshold scaled down to the sample dump."""
    from pyck_tfds.dump import DumpFilter

    return DumpFilter(min_per_class=SMALL_IMAGES_PER_FAMILY)


def free_ports(n: int) -> list[int]:
    """`n` distinct ports free on 127.0.0.1 now (held together while chosen, so they differ)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_training_cluster(args: list[str], workers: int = 2) -> list[subprocess.Popen]:
    """`python -m pyck_train ARGS --distribution=multi_worker` in each process of a cluster on 127.0.0.1,
    as users start one: the same command everywhere, a TF_CONFIG per worker."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    processes = []
    for index in range(workers):
        tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CONFIG": json.dumps(tf_config)}
        processes.append(subprocess.Popen([sys.executable, "-m", "pyck_train", *args, "--distribution=multi_worker"],
                                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return processes


def finish(processes: list[subprocess.Popen], timeout: int = 600) -> list[tuple[int, str, str]]:
    """(return code, stdout, stderr) of each process once it has ended."""
    outputs = [p.communicate(timeout=timeout) for p in processes]
    return [(p.returncode, *output) for p, output in zip(processes, outputs)]


def write_text(path, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return str(path)


@pytest.fixture
def no_network(monkeypatch):
    """Every socket connection and name lookup fails, as on an offline machine."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("Name or service not known (network access refused by the test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def family7_config(name: str, min_per_class: int = SMALL_IMAGES_PER_FAMILY):
    """family7's filters with the class-size threshold scaled to a sample dump, as a custom config `name`."""
    import dataclasses

    from pyck_tfds.mushroom_observer import configs

    return dataclasses.replace(configs.BUILDER_CONFIGS[0], name=name, min_per_class=min_per_class)


def build_dataset(manual_dir, data_dir, config, file_format: str | None = None, **download_kwargs):
    """Build `config` of mushroom_observer from `manual_dir` into `data_dir`; returns the builder."""
    import tensorflow_datasets as tfds

    from pyck_tfds.mushroom_observer import Builder

    builder = Builder(config=config, data_dir=str(data_dir), file_format=file_format)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir),
                                                                              **download_kwargs))
    return builder


BUILT_DATASET = "mushroom_observer/family7_small"


@pytest.fixture(scope="session")
def array_record_data_dir(sample_dump, tmp_path_factory) -> str:
    """`mushroom_observer/family7_ar`, `BUILT_DATASET`'s filters stored as ArrayRecord, built once per session."""
    out = str(tmp_path_factory.mktemp("array_record"))
    build_dataset(sample_dump.out, out, family7_config("family7_ar"), file_format="array_record")
    return out


@pytest.fixture(scope="session")
def built_data_dir(sample_dump, tmp_path_factory) -> str:
    """`BUILT_DATASET` built once from the session's sample dump: the data_dir trainer and eval tests read."""
    out = str(tmp_path_factory.mktemp("tfds"))
    build_dataset(sample_dump.out, out, family7_config(BUILT_DATASET.split("/")[1]))
    return out


BASELINE_MARGIN = 0.1  # what a transfer path must add to raw pixels (measured: frozen Lite0 0.90 vs pixels 0.74-0.76)


@pytest.fixture(scope="session")
def pixel_baseline(built_data_dir) -> float:
    """Test accuracy of logistic regression on 12x16 raw pixels of `BUILT_DATASET` (trained on its train split).

    The floor every learning path must clear by `BASELINE_MARGIN`: a broken transfer path (an
    untrained base: 1/7) or a model no better than pixels cannot.
    """
    from sklearn.linear_model import LogisticRegression

    from pyck_eval.pixel_baselines import pixel_matrix

    train = pixel_matrix(BUILT_DATASET, "train", built_data_dir, (12, 16))
    test = pixel_matrix(BUILT_DATASET, "test", built_data_dir, (12, 16))
    accuracy = float(LogisticRegression(max_iter=3000).fit(*train).score(*test))
    print(f"raw-pixel logistic regression: test accuracy {accuracy:.3f}")
    return accuracy


def beats_pixels(accuracy: float, baseline: float, what: str) -> bool:
    """Prints both figures (pytest -s shows them) and whether `accuracy` clears the baseline by the margin."""
    print(f"{what}: test accuracy {accuracy:.3f} vs raw pixels {baseline:.3f} (+{BASELINE_MARGIN} needed)")
    return accuracy >= baseline + BASELINE_MARGIN


def assert_epochs_end_on_averages(trained: list, ends: list, val_losses: list, x: np.ndarray, y: np.ndarray,
                                  steps_per_epoch: int, momentum: float) -> list:
    """--ema_momentum, checked by hand on a softmax Dense layer: each epoch ended on the moving average of the
    weights after each of its steps (`trained`), and validation on (x, y) scored those averages. Returns the trained
    weights at each epoch's end."""
    average, trained_at_ends = None, []
    for step, weights in enumerate(trained, start=1):
        weights = [np.asarray(w) for w in weights]
        average = weights if average is None else [momentum * a + (1 - momentum) * w for a, w in zip(average, weights)]
        if step % steps_per_epoch == 0:
            epoch = step // steps_per_epoch - 1
            for held, expected in zip(ends[epoch], average):
                np.testing.assert_allclose(held, expected, rtol=1e-5, atol=1e-6)
            kernel, bias = (np.asarray(w) for w in ends[epoch])
            logits = x @ kernel + bias
            probabilities = np.exp(logits - logits.max(1, keepdims=True))
            probabilities /= probabilities.sum(1, keepdims=True)
            assert val_losses[epoch] == pytest.approx(-np.mean(np.log((probabilities * y).sum(1))), rel=1e-4)
            trained_at_ends.append(weights)
    assert len(trained_at_ends) == len(ends)
    return trained_at_ends
