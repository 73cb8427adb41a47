r"""A PNG grid of N examples per class from a built split: what a user checks first.

    python -m tools.preview --data_dir DATA [--dataset mushroom_observer/family7] [--split train]
        [--per_class 6] [--out preview.png]
"""

from __future__ import annotations

import sys

import matplotlib

from pyck_tfds.built_datasets import DEFAULT_DATASET, not_built_message
from pyck_tfds.console import quiet_python_logs, quiet_tensorflow

matplotlib.use("Agg")
quiet_tensorflow()
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from absl import app, flags  # noqa: E402

import pyck_tfds  # noqa: E402,F401  (registers mushroom_observer)

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "The --data_dir given to `tfds build`.")
flags.DEFINE_string("dataset", DEFAULT_DATASET, "Dataset/config to preview.")
flags.DEFINE_string("split", "train", "Split (tfds slicing works: train[:10%]).")
flags.DEFINE_integer("per_class", 6, "Examples per class (row).", lower_bound=1)
flags.DEFINE_string("out", "preview.png", "PNG file to write.")


def collect_per_class(dataset, num_classes: int, per_class: int) -> list[list[dict]]:
    """The first `per_class` examples of each class, in the split's order (deterministic)."""
    rows: list[list[dict]] = [[] for _ in range(num_classes)]
    for example in tfds.as_numpy(dataset):
        label = int(example["label"])
        if len(rows[label]) < per_class:
            rows[label].append(example)
        if all(len(r) >= per_class for r in rows):
            break
    return rows


def draw_grid(rows: list[list[dict]], class_names: list[str], per_class: int, title: str, out: str) -> None:
    fig, axes = plt.subplots(len(rows), per_class, figsize=(2.2 * per_class, 1.8 * len(rows)), squeeze=False)
    for r, (name, examples) in enumerate(zip(class_names, rows)):
        for c in range(per_class):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(examples):
                ax.imshow(examples[c]["image"])
                ax.set_title(f"#{int(examples[c]['image_id'])}", fontsize=7)
            else:
                ax.imshow(np.full((240, 320, 3), 255, np.uint8))
            if c == 0:
                ax.set_ylabel(f"{name}\n({len(examples)})", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str]) -> None:
    del argv
    quiet_python_logs()
    builder = tfds.builder(FLAGS.dataset, data_dir=FLAGS.data_dir)
    if not builder.is_prepared():  # before tfds.load, which would start a build and say so
        print(f"error: {not_built_message(FLAGS.dataset, str(builder.data_dir_root))}", file=sys.stderr)
        sys.exit(1)
    dataset, info = tfds.load(FLAGS.dataset, split=FLAGS.split, data_dir=FLAGS.data_dir, with_info=True,
                              shuffle_files=False, read_config=tfds.ReadConfig(try_autocache=False))
    names = info.features["label"].names
    rows = collect_per_class(dataset, len(names), FLAGS.per_class)
    draw_grid(rows, names, FLAGS.per_class, f"{FLAGS.dataset} [{FLAGS.split}]", FLAGS.out)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
