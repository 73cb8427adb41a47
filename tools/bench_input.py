r"""Input pipeline throughput, side by side in one run: pyck vs Keras, vs the study's PIL loader, vs decode alone.

    python -m tools.bench_input [--data_dir DATA --dataset mushroom_observer/family7] [--n_images 3000]
    python -m tools.bench_input --cores=1,2     # the same cases pinned to 1 core, then to 2: images/s per core

Without --data_dir a sample dump is generated and built (TFRecord and array_record) in a
temporary folder. The train split's JPEG bytes are also written out as class folders, so all
cases read the very same images. Rates are images/s over five epochs (--epochs: the shortest
training phase in configs/; the trainer keeps one iterator, so one start-up, for a phase), batch 32:
  a  pyck's training pipeline on the built TFRecord dataset, as the trainer makes and reads it (shard
     order shuffled, `EpochSeeds`: the seeded, resumable order; one iterator for every epoch, warm); and the same
     images from the array_record build through `tfds.data_source` (tfds has no tf.data reader
     for array_record: random access, decoded in Python, as grain or PyTorch users read it);
  b  `keras.utils.image_dataset_from_directory` on the JPEG files;
  c  the study's way: a pandas DataFrame of paths loaded batch by batch with PIL
     (what `ImageDataGenerator.flow_from_dataframe` does);
  d  the decode ceiling: the JPEG bytes in memory, `tf.io.decode_jpeg` on a thread per CPU, batched;
  e  pyck's pipeline with cache on, epoch 2 only;
  f  with --data_service_workers N: pyck's training pipeline run by a tf.data service dispatcher
     (in this process) and N worker processes on this machine (`python -m pyck_train.data_service`),
     the trainer's side only receiving batches. The built sample then has 8 record files, since the
     dispatcher hands out whole files.
Prints one JSON object with every rate and the ratios a/d, a/b, a/c, e/d (and f/a); each case's start-up
apart too (the wait for an epoch's first batch: opening files, filling the shuffle buffer, the first
decodes, in ms; the median epoch's and the first epoch's, which is a phase's start) and its rate after
that first batch, with a/d and a/b of those steady rates (the
whole-epoch ratios at --n_images fall as start-up weighs more). Without --cold every file the cases
read is read through before each case's first epoch, so it really is in the OS page cache, and its
epochs run back to back. With --cold the OS page cache is dropped before every epoch, so the files
really come from the disk (d holds its bytes in process memory, and e's cache is process memory
too), and a's epochs each start an iterator of their own. With --cores each count runs in a
child process pinned to that many of this process's CPUs (TensorFlow sizes its thread pools by the
CPUs it may use), on the same built data, and the report adds each rate per core.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from absl import app, flags
from PIL import Image

from pyck_classifier.usable_cpus import usable_cpus
from pyck_tfds.built_datasets import DEFAULT_DATASET  # before TensorFlow: keeps its start-up lines off
from tools.bench_data import build_sample

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "A data_dir with --dataset built in TFRecord (default: build a sample).")
flags.DEFINE_string("dataset", DEFAULT_DATASET, "Dataset/config in --data_dir.")
flags.DEFINE_integer("n_images", 3000, "Train images used (fewer if the split is smaller).", lower_bound=32)
flags.DEFINE_integer("per_family", 480, "Sample dump size when no --data_dir is given.", lower_bound=10)
flags.DEFINE_integer("batch_size", 32, "Batch size of every case.", lower_bound=1)
flags.DEFINE_integer("epochs", 5, "Epochs timed per case (a training phase's: the shortest in configs/ is 5).",
                     lower_bound=1)
flags.DEFINE_bool("cold", False, "Drop the OS page cache before every epoch (Linux, root): files come from disk, "
                  "as for a dump larger than memory.")
flags.DEFINE_integer("repeats", 2, "Each case is measured this many times, cases interleaved; the best counts.",
                     lower_bound=1)
flags.DEFINE_list("cores", [], "Core counts (e.g. 1,2): run every case pinned to each count in turn, and report "
                  "images/s per core.")
flags.DEFINE_integer("data_service_workers", 0, "Also time the training pipeline on a tf.data service with this "
                     "many worker processes on this machine (0: not).", lower_bound=0)


def drop_page_cache() -> None:
    """Empty the OS page cache (Linux, root), so the next read comes from the disk."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


@dataclasses.dataclass(frozen=True)
class Epochs:
    """How many timed passes each case makes, and whether the OS page cache is dropped before each.

    Warm runs read `files` (every file a case reads) before a case's first pass: a VM's kernel may page idle
    file pages out on its own (this one runs DAMON's pageout, after ~60 s idle), which made a "warm" start-up
    3x longer at random. Reading them again between passes would let a running iterator (a's) read ahead.
    """
    count: int
    cold: bool = False
    files: tuple[str, ...] = ()


def read_through(paths: tuple[str, ...]) -> None:
    """Read every file once, so the next reads come from the OS page cache."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(8 << 20):
                pass


@dataclasses.dataclass(frozen=True)
class Rate:
    """One case's timing: images/s over whole epochs; the wait for an epoch's first batch (its start-up: opening
    files, filling the shuffle buffer, the first decodes), the median epoch's and the first epoch's (a training
    phase's start, where an iterator lasts the phase); and images/s after each epoch's first batch."""
    images_per_second: float
    first_batch_seconds: float
    first_epoch_first_batch_seconds: float
    steady_images_per_second: float

    def best(self, other: Rate) -> Rate:
        return Rate(max(self.images_per_second, other.images_per_second),
                    min(self.first_batch_seconds, other.first_batch_seconds),
                    min(self.first_epoch_first_batch_seconds, other.first_epoch_first_batch_seconds),
                    max(self.steady_images_per_second, other.steady_images_per_second))


def timed_epochs(make_epoch, epochs: Epochs, skip_first: bool = False) -> Rate:
    """The timing of `epochs.count` passes of the iterable returned by `make_epoch()` (each yields batches);
    the first batch's wait is the median over the passes. Warm, the files are read through before the first
    pass and the passes run back to back, as a trainer runs its epochs; cold, the page cache is dropped before
    every pass."""
    images, seconds, steady_images, steady_seconds, waits = 0, 0.0, 0, 0.0, []
    for epoch in range(epochs.count + int(skip_first)):
        if epochs.cold:
            drop_page_cache()
        elif epoch == 0:
            read_through(epochs.files)
        start = time.perf_counter()
        batches = iter(make_epoch())
        count = int(next(batches).shape[0])
        first = time.perf_counter()
        rest = sum(int(batch.shape[0]) for batch in batches)
        if skip_first and epoch == 0:
            continue
        end = time.perf_counter()
        images, seconds = images + count + rest, seconds + end - start
        steady_images, steady_seconds = steady_images + rest, steady_seconds + end - first
        waits.append(first - start)
    return Rate(images / seconds, float(np.median(waits)), waits[0], steady_images / steady_seconds)


def pyck_rate(dataset: str, data_dir: str, n_images: int, batch: int, epochs: Epochs, cache: bool) -> Rate:
    """The trainer's pipeline: shards shuffled unless cached, the (seed, epoch) order of `EpochSeeds`, an epoch's
    steps at a time from one iterator, as `fit` reads it. Cold, every epoch starts an iterator of its own: the
    page cache is dropped between epochs, which a running iterator would race (reading the next epoch's first
    records meanwhile), so cold rates include every epoch's start-up."""
    from pyck_classifier.data.input_pipeline import EpochSeeds, image_shape, load_split, make_pipeline

    ds, info = load_split(dataset, f"train[:{n_images}]", data_dir, shuffle_files=not cache)
    steps = -(-int(ds.cardinality()) // batch)
    pipeline = make_pipeline(ds, image_size=image_shape(info)[:2], training=True, batch_size=batch, cache=cache,
                             epoch_seeds=EpochSeeds())
    pipeline = pipeline.map(lambda images, labels: images)
    stream = None

    def epoch():
        nonlocal stream
        if stream is None or epochs.cold:
            stream = iter(pipeline)
        return itertools.islice(stream, steps)

    return timed_epochs(epoch, epochs, skip_first=cache)


def data_service_rate(dataset: str, data_dir: str, n_images: int, batch: int, epochs: Epochs, service: str) -> Rate:
    from pyck_classifier.data.input_pipeline import image_shape, load_split, make_pipeline

    ds, info = load_split(dataset, f"train[:{n_images}]", data_dir, shuffle_files=True, known_size=False)
    pipeline = make_pipeline(ds, image_size=image_shape(info)[:2], training=True, batch_size=batch,
                             data_service=service).map(lambda images, labels: images)
    return timed_epochs(lambda: pipeline, epochs)


@contextlib.contextmanager
def local_data_service(workers: int):
    """grpc://localhost:PORT of a dispatcher in this process with `workers` worker processes beside it."""
    from pyck_train.data_service import start_dispatcher

    dispatcher = start_dispatcher(0)
    address = dispatcher.target.removeprefix("grpc://")
    processes = []
    try:
        for _ in range(workers):
            with socket.socket() as s:
                s.bind(("localhost", 0))
                port = s.getsockname()[1]
            process = subprocess.Popen([sys.executable, "-m", "pyck_train.data_service", "worker", f"--port={port}",
                                        f"--dispatcher={address}"], stdout=subprocess.PIPE, text=True)
            process.stdout.readline()  # printed once it serves
            processes.append(process)
        yield dispatcher.target
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        dispatcher.stop()


def array_record_rate(dataset: str, data_dir: str, n_images: int, batch: int, epochs: Epochs, seed: int = 0) -> Rate:
    """tfds reads array_record only through `tfds.data_source` (random access, decoded in Python), not tf.data."""
    import tensorflow_datasets as tfds

    source = tfds.data_source(dataset, split=f"train[:{n_images}]", data_dir=data_dir)
    rng = np.random.default_rng(seed)

    def epoch():
        order = rng.permutation(len(source))
        for start in range(0, len(order), batch):
            examples = source.__getitems__(order[start:start + batch].tolist())
            yield np.stack([example["image"] for example in examples])

    return timed_epochs(epoch, epochs)


def export_jpegs(dataset: str, data_dir: str, n_images: int, out: str) -> tuple[list[bytes], pd.DataFrame]:
    """The split's stored JPEG bytes, in memory and as <out>/<label>/<i>.jpg files."""
    import tensorflow_datasets as tfds

    ds = tfds.load(dataset, split=f"train[:{n_images}]", data_dir=data_dir,
                   decoders={"image": tfds.decode.SkipDecoding()})
    encoded, rows = [], []
    for i, example in enumerate(tfds.as_numpy(ds)):
        folder = os.path.join(out, str(int(example["label"])))
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{i}.jpg")
        with open(path, "wb") as f:
            f.write(example["image"])
        encoded.append(example["image"])
        rows.append({"path": path, "label": int(example["label"])})
    return encoded, pd.DataFrame(rows)


def keras_directory_rate(folder: str, batch: int, epochs: Epochs, size: tuple[int, int]) -> Rate:
    import keras

    ds = keras.utils.image_dataset_from_directory(folder, image_size=size, batch_size=batch, shuffle=True, seed=0,
                                                  verbose=False).map(lambda images, labels: images)
    return timed_epochs(lambda: ds, epochs)


def pandas_pil_rate(frame: pd.DataFrame, batch: int, epochs: Epochs, seed: int = 0) -> Rate:
    rng = np.random.default_rng(seed)

    def epoch():
        order = frame.iloc[rng.permutation(len(frame))]
        for start in range(0, len(order), batch):
            paths = order["path"].iloc[start:start + batch]
            yield np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) for p in paths])

    return timed_epochs(epoch, epochs)


def decode_ceiling_rate(encoded: list[bytes], batch: int, epochs: Epochs) -> Rate:
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False  # with it, whole epochs ran on one of 2 cores at random: no ceiling then
    ds = (tf.data.Dataset.from_tensor_slices(tf.constant(encoded)).with_options(options)
          .map(lambda data: tf.io.decode_jpeg(data, channels=3), num_parallel_calls=tf.data.AUTOTUNE,
               deterministic=False)
          .batch(batch).prefetch(4))
    return timed_epochs(lambda: ds, epochs)


def split_files(dataset: str, data_dir: str | None, n_images: int) -> list[str]:
    """The record files `train[:n_images]` of `dataset` in `data_dir` reads (none without a data_dir)."""
    import tensorflow_datasets as tfds

    if data_dir is None:
        return []
    split = tfds.builder(dataset, data_dir=data_dir).info.splits[f"train[:{n_images}]"]
    return sorted({instruction.filename for instruction in split.file_instructions})


class TooFewImages(ValueError):
    """The split cannot give an epoch of two batches."""


def run(dataset: str, tfrecord_dir: str, array_record_dir: str | None, work: str, n_images: int, batch: int,
        epochs: Epochs, repeats: int = 1, service: str | None = None, service_workers: int = 0) -> dict:
    import tensorflow_datasets as tfds

    info = tfds.builder(dataset, data_dir=tfrecord_dir).info
    image_size = tuple(info.features["image"].shape[:2])
    n_images = min(n_images, info.splits["train"].num_examples)
    if n_images < 2 * batch:
        raise TooFewImages(f"{dataset} in {tfrecord_dir}: {n_images} train images, fewer than two batches of "
                           f"{batch}; an epoch's first batch is timed apart from the rest: give a larger split or a "
                           "smaller --batch_size")
    encoded, frame = export_jpegs(dataset, tfrecord_dir, n_images, os.path.join(work, "jpegs"))
    if not epochs.cold:
        epochs = dataclasses.replace(epochs, files=(*frame["path"], *split_files(dataset, tfrecord_dir, n_images),
                                                    *split_files(dataset, array_record_dir, n_images)))
    cases = {
        "d_decode_ceiling": lambda: decode_ceiling_rate(encoded, batch, epochs),
        "a_pyck_tfrecord": lambda: pyck_rate(dataset, tfrecord_dir, n_images, batch, epochs, cache=False),
        "b_keras_image_dataset_from_directory": lambda: keras_directory_rate(os.path.join(work, "jpegs"), batch,
                                                                             epochs, image_size),
        "c_pandas_pil_study": lambda: pandas_pil_rate(frame, batch, epochs),
        "e_pyck_cached_epoch2": lambda: pyck_rate(dataset, tfrecord_dir, n_images, batch, epochs, cache=True),
    }
    if array_record_dir:
        cases["a_array_record_data_source"] = lambda: array_record_rate(dataset, array_record_dir, n_images, batch,
                                                                        epochs)
    if service:
        cases[f"f_data_service_{service_workers}_workers"] = lambda: data_service_rate(
            dataset, tfrecord_dir, n_images, batch, epochs, service)
    best: dict[str, Rate] = {}
    for _ in range(repeats):  # interleaved, so a slow spell of the machine hits every case alike
        for name, measure in cases.items():
            rate = measure()
            best[name] = best[name].best(rate) if name in best else rate
    rates = {name: rate.images_per_second for name, rate in best.items()}
    steady = {name: rate.steady_images_per_second for name, rate in best.items()}
    a, d = rates["a_pyck_tfrecord"], rates["d_decode_ceiling"]
    ratios = {"a/d": a / d, "a/b": a / rates["b_keras_image_dataset_from_directory"],
              "a/c": a / rates["c_pandas_pil_study"], "e/d": rates["e_pyck_cached_epoch2"] / d,
              "a/d_steady": steady["a_pyck_tfrecord"] / steady["d_decode_ceiling"],
              "a/b_steady": steady["a_pyck_tfrecord"] / steady["b_keras_image_dataset_from_directory"]}
    if array_record_dir:
        ratios["a_array_record/d"] = rates["a_array_record_data_source"] / d
    if service:
        ratios["f/a"] = rates[f"f_data_service_{service_workers}_workers"] / a
    return {"images": len(encoded), "batch_size": batch, "epochs": epochs.count, "repeats": repeats,
            "cpus": usable_cpus(), "cold_page_cache": epochs.cold,
            **{name: round(rate, 1) for name, rate in rates.items()},
            "first_batch_ms": {name: round(rate.first_batch_seconds * 1000, 1) for name, rate in best.items()},
            "first_batch_ms_first_epoch": {name: round(rate.first_epoch_first_batch_seconds * 1000, 1)
                                           for name, rate in best.items()},
            "steady_images_per_second": {name: round(rate, 1) for name, rate in steady.items()},
            "ratios": {k: round(v, 3) for k, v in ratios.items()}}


def case_rates(report: dict) -> dict[str, float]:
    """The images/s of each case in one report of `run` (its keys a_ to e_)."""
    return {case: rate for case, rate in report.items() if case.startswith(("a_", "b_", "c_", "d_", "e_"))}


def pinned_runs(dataset: str, data_dir: str, cores: list[int], repeats: int, case_flags: list[str]) -> dict:
    """Every case in a child pinned to each core count, the counts alternating `repeats` times; best rate of each.

    `case_flags` (--n_images, --batch_size, --epochs, --cold) go to every child as given."""
    allowed = sorted(os.sched_getaffinity(0))
    reports: dict[int, dict] = {}
    for _ in range(repeats):  # alternating, so a slow spell of the machine hits every count alike
        for count in cores:
            command = [sys.executable, "-m", "tools.bench_input", f"--data_dir={data_dir}", f"--dataset={dataset}",
                       "--repeats=1", *case_flags]
            child = subprocess.run(command, capture_output=True, text=True, check=False,
                                   preexec_fn=lambda count=count: os.sched_setaffinity(0, allowed[:count]))
            if child.returncode:
                raise SystemExit(f"bench_input pinned to {count} cores failed:\n{child.stderr[-2000:]}")
            report = json.loads(child.stdout[child.stdout.index("{"):])
            best = reports.setdefault(count, report)
            for case, rate in case_rates(report).items():
                best[case] = max(best[case], rate)
    table = {}
    for count, report in reports.items():
        rates = case_rates(report)
        a, b, d = (rates[name] for name in ("a_pyck_tfrecord", "b_keras_image_dataset_from_directory",
                                            "d_decode_ceiling"))
        table[f"{count}_cores"] = {"cpus_seen": report["cpus"], **rates,
                                   "per_core": {case: round(rate / count, 1) for case, rate in rates.items()},
                                   "ratios": {"a/d": round(a / d, 3), "a/b": round(a / b, 3)}}
    first = reports[cores[0]]
    return {**{key: first[key] for key in ("images", "batch_size", "epochs", "cold_page_cache")}, "repeats": repeats,
            **table}


def main(argv: list[str]) -> None:
    from pyck_tfds.console import quiet_python_logs

    quiet_python_logs()
    try:
        cores = [int(count) for count in FLAGS.cores]
    except ValueError:
        raise app.UsageError(f"--cores={','.join(FLAGS.cores)}: give whole core counts, e.g. --cores=1,2") from None
    if cores and not hasattr(os, "sched_setaffinity"):
        raise app.UsageError(f"--cores={','.join(FLAGS.cores)}: pinning a run to some cores needs Linux's "
                             "sched_setaffinity, which this system lacks; measure without --cores")
    if cores and not all(0 < count <= usable_cpus() for count in cores):
        raise app.UsageError(f"--cores={','.join(FLAGS.cores)}: each count must be between 1 and the "
                             f"{usable_cpus()} CPUs this process may use")
    if cores and FLAGS.data_service_workers:
        raise app.UsageError("--cores and --data_service_workers: measure one at a time")
    with tempfile.TemporaryDirectory() as work:
        if FLAGS.data_dir:
            dataset, tfrecord_dir, array_record_dir = FLAGS.dataset, FLAGS.data_dir, None
        else:
            dataset, tfrecord_dir, array_record_dir = build_sample(
                work, FLAGS.per_family, formats=("tfrecord",) if cores else ("tfrecord", "array_record"),
                num_shards=8 if FLAGS.data_service_workers else None)
        if cores:
            case_flags = [f"--n_images={FLAGS.n_images}", f"--batch_size={FLAGS.batch_size}",
                          f"--epochs={FLAGS.epochs}", f"--cold={FLAGS.cold}"]
            print(json.dumps(pinned_runs(dataset, tfrecord_dir, cores, FLAGS.repeats, case_flags), indent=2))
            return
        with contextlib.ExitStack() as stack:
            service = (stack.enter_context(local_data_service(FLAGS.data_service_workers))
                       if FLAGS.data_service_workers else None)
            try:
                report = run(dataset, tfrecord_dir, array_record_dir, work, FLAGS.n_images, FLAGS.batch_size,
                             Epochs(FLAGS.epochs, FLAGS.cold), FLAGS.repeats, service, FLAGS.data_service_workers)
            except TooFewImages as error:
                raise app.UsageError(str(error)) from None
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    app.run(main)
