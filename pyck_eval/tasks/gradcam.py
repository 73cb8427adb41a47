"""Grad-CAM and Grad-CAM++ heatmaps of a trained run, for image files or for the first images of each class."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks import shared_options
from pyck_eval.tasks.errors import OptionError
from pyck_eval.tasks.image_inputs import read_images
from pyck_eval.tasks.outputs import finish, output_folder
from pyck_tfds.options import CheckedOptions, option

figures = lazy_import("pyck_eval.figures")
grad_cam = lazy_import("pyck_eval.grad_cam")
image_preprocessing = lazy_import("pyck_classifier.model.image_preprocessing")
trained_run = lazy_import("pyck_eval.trained_run")


@dataclasses.dataclass(frozen=True)
class GradCamOptions(CheckedOptions):
    images: tuple[str, ...] | None = option(None, "Image files to explain (any size; EXIF orientation applied).")
    split: str | None = option(None, "Explain images of this split instead of files.")
    per_class: int = option(4, "With --split: images per true family.", lower=1)
    layer: str | None = option(None, "Conv layer of the backbone (default: the registry's last conv layer).")
    plus: bool = option(False, "Grad-CAM++ instead of Grad-CAM.")
    batch_size: int = shared_options.batch_size()
    out_dir: str | None = shared_options.out_dir()


@dataclasses.dataclass
class FiguresResult:
    """The PNGs a function wrote (file names in `out_dir`) and its index page."""
    figures: list[str]
    out_dir: str
    index: str


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


def gradcam(run, options: GradCamOptions) -> FiguresResult:
    """Heatmaps for the predicted class (a grid, with `split`) and for every class (per file, or the first image)."""
    if bool(options.images) == bool(options.split):
        raise OptionError("give either --images or --split")
    size = run.model.input_shape[1:3]  # the model's own input, whatever the dataset's
    if options.split:
        trained_run.check_split(run, options.split)
    else:  # every file read before any work
        sources = [(image_preprocessing.prepare_image(image, size).numpy(), os.path.basename(path),
                    os.path.splitext(os.path.basename(path))[0])
                   for image, path in zip(read_images(options.images), options.images)]
    cam = grad_cam.GradCam(run.model, run.backbone, options.layer)
    method = "Grad-CAM++" if options.plus else "Grad-CAM"
    out = output_folder(options.out_dir, os.path.join(run.model_dir, "gradcam"))
    names, sections, level = run.labels, [], run.level
    if options.split:
        items = first_per_class(run, options.split, options.per_class)
        images = np.stack([image_preprocessing.prepare_image(image, size).numpy() for image, _, _ in items])
        heatmaps, probabilities = [], []
        for start in range(0, len(images), options.batch_size):
            h, p = cam.heatmaps(images[start:start + options.batch_size], plus=options.plus)
            heatmaps.append(h)
            probabilities.append(p)
        heatmaps, probabilities = np.concatenate(heatmaps), np.concatenate(probabilities)
        predicted = probabilities.argmax(axis=1)
        grid = f"{options.split.replace('/', '_')}_per_class.png"
        figures.image_grid_png(
            [figures.overlay(image, h) for image, h in zip(images, heatmaps)],
            [f"id {image_id}: {names[label]}\n-> {names[p]} ({probabilities[i, p]:.2f})"
             for i, ((_, label, image_id), p) in enumerate(zip(items, predicted))],
            os.path.join(out, grid), columns=options.per_class,
            colors=["green" if p == label else "red" for (_, label, _), p in zip(items, predicted)],
            suptitle=f"{method} of {cam.layer} for the predicted {level} (green: right, red: wrong)")
        sections.append((f"{method}, {options.per_class} {options.split} images per {level}", grid))
        sources = [(images[0], f"id {items[0][2]} ({names[items[0][1]]})", f"id_{items[0][2]}")]
    for image, title, stem in sources:
        name = f"{stem}_all_classes.png"
        all_classes_png(cam, image, names, title, os.path.join(out, name), options.plus)
        sections.append((f"{method} of every {level} for {title}", name))
    index = write_index(out, f"{method}: {run.model_dir} ({run.backbone}, layer {cam.layer})", sections)
    return FiguresResult([figure for _, figure in sections], out, finish(index))
