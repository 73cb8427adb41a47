r"""`python -m pyck_eval gradcam --model_dir M (--images A.jpg,B.png | --split test --per_class N)`.

Grad-CAM (or `--plus` for Grad-CAM++) of the registry backbone's last conv layer (`--layer`
overrides), as jet overlays. With --split: a grid of N images per true family, titled
true -> predicted and marked green (right) or red (wrong), plus every class's CAM for the first
image. With --images: every class's CAM side by side for each file. PNGs and index.html go
to --out_dir (default M/gradcam).
"""

from __future__ import annotations

import os

import numpy as np
from absl import app, flags

from pyck_eval.commands import common_flags
from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import

figures = lazy_import("pyck_eval.figures")
grad_cam = lazy_import("pyck_eval.grad_cam")
image_preprocessing = lazy_import("pyck_classifier.model.image_preprocessing")
trained_run = lazy_import("pyck_eval.trained_run")

flags.DEFINE_string("model_dir", None, "A finished `python -m pyck_train` run.")
flags.DEFINE_list("images", None, "Image files to explain (any size; EXIF orientation applied).")
flags.DEFINE_string("split", None, "Explain images of this split instead of files.")
flags.DEFINE_integer("per_class", 4, "With --split: images per true family.", lower_bound=1)
flags.DEFINE_string("layer", None, "Conv layer of the backbone (default: the registry's last conv layer).")
flags.DEFINE_bool("plus", False, "Grad-CAM++ instead of Grad-CAM.")
FLAGS = flags.FLAGS


def prepare() -> None:
    flags.mark_flag_as_required("model_dir")


def first_per_class(run, split: str, per_class: int) -> list[tuple[np.ndarray, int, int]]:
    """(image, label, image_id) of the first `per_class` images of each family, family by family."""
    chosen: dict[int, list] = {i: [] for i in range(len(run.labels))}
    for image, label, meta in trained_run.split_examples(run, split).as_numpy_iterator():
        if len(chosen[int(label)]) < per_class:
            chosen[int(label)].append((image, int(label), int(meta["image_id"])))
        if all(len(v) >= per_class for v in chosen.values()):
            break
    return [item for label in sorted(chosen) for item in chosen[label]]


def all_classes_png(cam: grad_cam.GradCam, image: np.ndarray, names: list[str], title: str, out: str,
                    plus: bool) -> str:
    batch = np.repeat(image[None], len(names), axis=0)
    heatmaps, probabilities = cam.heatmaps(batch, np.arange(len(names)), plus=plus)
    return figures.image_grid_png(
        [image] + [figures.overlay(image, h) for h in heatmaps],
        [title] + [f"{name} p={probabilities[0, i]:.2f}" for i, name in enumerate(names)],
        out, columns=min(4, len(names) + 1))


def main(argv: list[str]) -> None:
    if bool(FLAGS.images) == bool(FLAGS.split):
        raise app.UsageError("give either --images or --split")
    run = trained_run.load_run(FLAGS.model_dir, FLAGS.data_dir)
    cam = grad_cam.GradCam(run.model, run.backbone, FLAGS.layer)
    method = "Grad-CAM++" if FLAGS.plus else "Grad-CAM"
    out = common_flags.out_dir(os.path.join(FLAGS.model_dir, "gradcam"))
    names, sections, level = run.labels, [], run.level
    size = run.model.input_shape[1:3]  # the model's own input, whatever the dataset's
    if FLAGS.split:
        items = first_per_class(run, FLAGS.split, FLAGS.per_class)
        images = np.stack([image_preprocessing.prepare_image(image, size).numpy() for image, _, _ in items])
        heatmaps, probabilities = [], []
        for start in range(0, len(images), FLAGS.batch_size):
            h, p = cam.heatmaps(images[start:start + FLAGS.batch_size], plus=FLAGS.plus)
            heatmaps.append(h)
            probabilities.append(p)
        heatmaps, probabilities = np.concatenate(heatmaps), np.concatenate(probabilities)
        predicted = probabilities.argmax(axis=1)
        grid = f"{FLAGS.split.replace('/', '_')}_per_class.png"
        figures.image_grid_png(
            [figures.overlay(image, h) for image, h in zip(images, heatmaps)],
            [f"id {image_id}: {names[label]}\n-> {names[p]} ({probabilities[i, p]:.2f})"
             for i, ((_, label, image_id), p) in enumerate(zip(items, predicted))],
            os.path.join(out, grid), columns=FLAGS.per_class,
            colors=["green" if p == label else "red" for (_, label, _), p in zip(items, predicted)],
            suptitle=f"{method} of {cam.layer} for the predicted {level} (green: right, red: wrong)")
        sections.append((f"{method}, {FLAGS.per_class} {FLAGS.split} images per {level}", grid))
        sources = [(images[0], f"id {items[0][2]} ({names[items[0][1]]})", f"id_{items[0][2]}")]
    else:
        sources = []
        for path in FLAGS.images:
            image = image_preprocessing.prepare_image(image_preprocessing.read_image_file(path), size).numpy()
            sources.append((image, os.path.basename(path), os.path.splitext(os.path.basename(path))[0]))
    for image, title, stem in sources:
        name = f"{stem}_all_classes.png"
        all_classes_png(cam, image, names, title, os.path.join(out, name), FLAGS.plus)
        sections.append((f"{method} of every {level} for {title}", name))
    common_flags.done(write_index(out, f"{method}: {FLAGS.model_dir} ({run.backbone}, layer {cam.layer})",
                                  sections))
