r"""`python -m pyck_eval predict --model_dir M IMAGE_OR_DIR...`: the top-k families of each image file.

Any size, format PIL reads and EXIF orientation; images go through the same `prepare_image`
as training. A file that cannot be read gets an error line (stderr, or an "error" entry with
--json) and the others are still predicted; the exit status is then 1.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from absl import app, flags

from pyck_eval.commands import common_flags  # noqa: F401  (defines --data_dir)
from pyck_eval.trained_run import load_run
from pyck_train.preprocessing import prepare_image, read_image_file

flags.DEFINE_string("model_dir", None, "A finished `python -m pyck_train` run.")
flags.DEFINE_integer("top_k", 3, "Families listed per image.", lower_bound=1)
flags.DEFINE_bool("json", False, "One JSON document instead of a table.")
FLAGS = flags.FLAGS
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def prepare() -> None:
    flags.mark_flag_as_required("model_dir")


def image_files(paths: list[str]) -> list[str]:
    """Files as given, and the image files under each directory (sorted)."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs.sort()
                files += [os.path.join(root, n) for n in sorted(names) if n.lower().endswith(IMAGE_EXTENSIONS)]
        else:
            files.append(path)
    return files


def top_k(probabilities: np.ndarray, names: list[str], k: int) -> list[dict]:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [{"family": names[i], "probability": float(probabilities[i])} for i in order]


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise app.UsageError("give one or more image files or directories")
    run = load_run(FLAGS.model_dir, FLAGS.data_dir)
    results = []
    for path in image_files(argv[1:]):
        try:
            image = prepare_image(read_image_file(path)).numpy()
        except (ValueError, FileNotFoundError, IsADirectoryError) as err:
            results.append({"file": path, "error": str(err)})
            continue
        probabilities = run.model.predict_on_batch(image[None])[0]
        results.append({"file": path, "top": top_k(np.asarray(probabilities), run.labels, FLAGS.top_k)})
    if FLAGS.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            if "error" in result:
                print(f"error: {result['error']}", file=sys.stderr)
                continue
            ranked = "  ".join(f"{t['family']} {t['probability']:.3f}" for t in result["top"])
            print(f"{result['file']}\t{ranked}")
    if any("error" in r for r in results):
        sys.exit(1)
