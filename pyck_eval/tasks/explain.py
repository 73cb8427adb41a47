"""Grad-CAM, Integrated Gradients and SHAP side by side for a trained run, each scored for faithfulness.

For each photo (image files, or the first ones of each class of a split): the three maps of the
predicted class over the photo, the prediction and its calibrated probability, IG's completeness
gap, and the deletion and insertion curves of each map against a map in random order. The index
page averages the curves' areas over the photos and says which methods do no better than random.
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks import shared_options
from pyck_eval.tasks.errors import OptionError
from pyck_eval.tasks.image_inputs import read_images
from pyck_eval.tasks.outputs import finish, output_folder
from pyck_tfds.options import CheckedOptions, option

faithfulness = lazy_import("pyck_eval.faithfulness")
figures = lazy_import("pyck_eval.figures")
grad_cam = lazy_import("pyck_eval.grad_cam")
image_preprocessing = lazy_import("pyck_classifier.model.image_preprocessing")
integrated_gradients = lazy_import("pyck_eval.integrated_gradients")
shap_explanations = lazy_import("pyck_eval.shap_explanations")
tasks_gradcam = lazy_import("pyck_eval.tasks.gradcam")
trained_run = lazy_import("pyck_eval.trained_run")

METHODS = ("grad_cam", "integrated_gradients", "shap")
# A method beats the random order when its mean area is better by more than this (areas are in probability x share
# of pixels): equal areas, as on a model whose answer no pixel moves, are no evidence.
MARGIN = 0.02


@dataclasses.dataclass(frozen=True)
class ExplainOptions(CheckedOptions):
    images: tuple[str, ...] | None = option(None, "Image files to explain (any size; EXIF orientation applied).")
    split: str | None = option(None, "Explain the first images of each class of this split instead of files.")
    per_class: int = option(2, "With --split: images per true class.", lower=1)
    ig_steps: int = option(64, "Integrated Gradients: steps of the path from the baseline (trapezoid rule).", lower=1)
    ig_baseline: str = option("blur", "Integrated Gradients' baseline: blur (the photo under a Gaussian blur of "
                              "radius 16, the reference the curves swap pixels for) or black (all-zero pixels).",
                              choices=("blur", "black"))
    shap_background: int = option(16, "SHAP: training photos its baselines are drawn from.", lower=1)
    shap_samples: int = option(64, "SHAP: (baseline, path point) draws per photo.", lower=1)
    curve_steps: int = option(20, "Deletion and insertion curves: steps from none to all of the pixels.", lower=2)
    batch_size: int = shared_options.batch_size()
    seed: int = shared_options.seed()
    out_dir: str | None = shared_options.out_dir()


@dataclasses.dataclass
class ExplainResult:
    photos: pd.DataFrame  # one row per photo: its page, prediction, IG's completeness gap, each method's areas
    faithfulness: pd.DataFrame  # per method and the random order: mean deletion and insertion areas, seconds per photo
    out_dir: str
    index: str


def _photos(run, options: ExplainOptions) -> list[tuple[np.ndarray, str, str]]:
    """(image at the model's input size, title, file stem) of each photo; every file read before any work."""
    size = run.model.input_shape[1:3]
    if options.split:
        trained_run.check_split(run, options.split)
        return [(image_preprocessing.prepare_image(image, size).numpy(), f"id {image_id} ({run.labels[label]})",
                 f"id_{image_id}") for image, label, image_id in tasks_gradcam.first_per_class(run, options.split,
                                                                                               options.per_class)]
    return [(image_preprocessing.prepare_image(image, size).numpy(), os.path.basename(path),
             os.path.splitext(os.path.basename(path))[0])
            for image, path in zip(read_images(options.images), options.images)]


def _background(run, count: int, seed: int) -> np.ndarray:
    """`count` photos of the training split (the first of a seeded shuffle of its first 10 x count)."""
    size = run.model.input_shape[1:3]
    pool = [image for image, _, _ in trained_run.split_examples(run, "train").take(10 * count).as_numpy_iterator()]
    chosen = np.random.default_rng(seed).permutation(len(pool))[:count]
    return np.stack([image_preprocessing.prepare_image(pool[i], size).numpy() for i in chosen]).astype(np.float32)


def _probabilities(run, logits_model, batch_size: int):
    """Images -> calibrated probabilities (the run's temperature when it has one), in batches."""
    from scipy.special import softmax

    def score(images: np.ndarray) -> np.ndarray:
        logits = np.concatenate([np.asarray(logits_model(images[start:start + batch_size], training=False))
                                 for start in range(0, len(images), batch_size)])
        probabilities = softmax(logits.astype(np.float64), axis=1)
        return run.calibration.calibrated(probabilities) if run.calibration else probabilities

    return score


def explain(run, options: ExplainOptions) -> ExplainResult:
    """Maps, pages and the faithfulness table; see the module's docstring."""
    if bool(options.images) == bool(options.split):
        raise OptionError("give either --images or --split")
    photos = _photos(run, options)
    out = output_folder(options.out_dir, os.path.join(run.model_dir, "explain"))
    logits = integrated_gradients.logits_model(run.model)
    score = _probabilities(run, logits, options.batch_size)
    cam = grad_cam.GradCam(run.model, run.backbone)
    settings = shap_explanations.ShapSettings(options.shap_background, options.shap_samples, options.seed)
    background = _background(run, options.shap_background, options.seed)
    images = np.stack([image for image, _, _ in photos]).astype(np.float32)
    all_probabilities = score(images)
    targets = all_probabilities.argmax(axis=1)
    seconds = dict.fromkeys(METHODS, 0.0)
    started = time.perf_counter()  # one explainer for every photo: its graph is traced once
    shap_of = shap_explanations.shap_maps(logits, images, background, targets, settings, options.batch_size)
    seconds["shap"] = time.perf_counter() - started
    rows, curves_of = [], {method: [] for method in (*METHODS, "random")}
    progress = tqdm(zip(photos, all_probabilities, targets), total=len(photos), desc="explain", unit="photo")
    for number, ((image, title, stem), probabilities, target) in enumerate(progress):
        started = time.perf_counter()
        cam_map = cam.heatmaps(image[None], np.array([target]))[0][0]
        seconds["grad_cam"] += time.perf_counter() - started
        started = time.perf_counter()
        attribution = integrated_gradients.integrated_gradients(
            logits, image, integrated_gradients.baseline_of(image, options.ig_baseline), int(target),
            options.ig_steps, options.batch_size)
        seconds["integrated_gradients"] += time.perf_counter() - started
        maps = {"grad_cam": cam_map, "integrated_gradients": attribution.map(), "shap": shap_of[number]}
        reference = integrated_gradients.blurred(image)
        shape = image.shape[:2]
        rankings = {**{m: faithfulness.pixel_ranking(v, shape) for m, v in maps.items()},
                    "random": faithfulness.random_ranking(shape, options.seed + number)}
        photo_curves = {m: faithfulness.curves(score, image, reference, r, int(target), options.curve_steps)
                        for m, r in rankings.items()}
        for method, curve in photo_curves.items():
            curves_of[method].append(curve)
        page = _photo_page(out, stem, title, image, maps, photo_curves, run.labels[target], probabilities[target],
                           attribution, options)
        rows.append({"photo": title, "page": page, "predicted": run.labels[target],
                     "probability": float(probabilities[target]), "ig_completeness_gap": attribution.completeness_gap,
                     **{f"{m}_deletion_auc": c["deletion_auc"] for m, c in photo_curves.items()},
                     **{f"{m}_insertion_auc": c["insertion_auc"] for m, c in photo_curves.items()}})
    table = _faithfulness_table(curves_of, seconds, len(photos))
    photo_table = pd.DataFrame(rows)
    photo_table.to_csv(os.path.join(out, "photos.csv"), index=False)
    table.to_csv(os.path.join(out, "faithfulness.csv"))
    index = _index_page(out, run, table, photo_table, settings, options)
    return ExplainResult(photo_table, table, out, finish(index))


def _faithfulness_table(curves_of: dict, seconds: dict, photos: int) -> pd.DataFrame:
    random_deletion = np.mean([c["deletion_auc"] for c in curves_of["random"]])
    random_insertion = np.mean([c["insertion_auc"] for c in curves_of["random"]])
    rows = {}
    for method, curves in curves_of.items():
        deletion = float(np.mean([c["deletion_auc"] for c in curves]))
        insertion = float(np.mean([c["insertion_auc"] for c in curves]))
        rows[method] = {"deletion_auc": deletion, "insertion_auc": insertion,
                        "deletion_below_random": bool(deletion < random_deletion - MARGIN) if method != "random"
                        else None,
                        "insertion_above_random": bool(insertion > random_insertion + MARGIN) if method != "random"
                        else None,
                        "seconds_per_photo": seconds.get(method, 0.0) / max(photos, 1)}
    return pd.DataFrame(rows).T


def _photo_page(out: str, stem: str, title: str, image: np.ndarray, maps: dict, photo_curves: dict, predicted: str,
                probability: float, attribution, options: ExplainOptions) -> str:
    panels = [image] + [figures.overlay(image, _shown(values)) for values in maps.values()]
    names = ["Grad-CAM", f"Integrated Gradients ({options.ig_steps} steps, {options.ig_baseline} baseline)",
             f"SHAP (expected gradients, {options.shap_samples} samples)"]
    maps_png = f"{stem}_maps.png"
    figures.image_grid_png(panels, [f"{title}\n-> {predicted} (p={probability:.2f})", *names],
                           os.path.join(out, maps_png), columns=4)
    curves_png = f"{stem}_curves.png"
    figures.deletion_insertion_png(photo_curves, os.path.join(out, curves_png), f"{title}: {predicted}")
    areas = pd.DataFrame({m: {"deletion_auc": c["deletion_auc"], "insertion_auc": c["insertion_auc"]}
                          for m, c in photo_curves.items()}).T
    completeness = (f"Integrated Gradients sum to {attribution.pixels.sum():.4f}; logit(photo) - logit(baseline) = "
                    f"{attribution.logit_difference:.4f}: a gap of {attribution.completeness_gap:.2%} of it (of one "
                    "logit when the difference is smaller). More --ig_steps narrow it.")
    page = f"{stem}.html"
    write_index(out, f"{title}: {predicted}, calibrated probability {probability:.3f}",
                [("Maps of the predicted class (warm: evidence for it)", maps_png),
                 ("Deletion (lower is better) and insertion (higher is better) against a random order", curves_png),
                 ("Areas under the curves", areas), ("Completeness", completeness)], file_name=page)
    return page


def _shown(values: np.ndarray) -> np.ndarray:
    """A map's evidence for the class in [0, 1]: its negative part (evidence against) left out, scaled to its 99th
    percentile so that a pixel-level map's few extreme pixels do not leave the rest invisible."""
    positive = np.maximum(np.asarray(values, np.float64), 0)
    top = np.percentile(positive, 99)
    return np.clip(positive / top, 0, 1) if top > 0 else positive


def _index_page(out: str, run, table: pd.DataFrame, photo_table: pd.DataFrame, settings, options) -> str:
    random_area = table.loc["random", "deletion_auc"]
    verdicts = [f"{method}: deletion area {row.deletion_auc:.3f} against random's {random_area:.3f}"
                + ("" if row.deletion_below_random else f" -- NO BETTER THAN RANDOM (not below it by {MARGIN}): do "
                   "not trust this map")
                for method, row in table.drop(index="random").iterrows()]
    text = (f"{len(photo_table)} photos. Integrated Gradients: {options.ig_steps} steps, {options.ig_baseline} "
            "baseline; "
            f"completeness gap median {photo_table['ig_completeness_gap'].median():.2%}, largest "
            f"{photo_table['ig_completeness_gap'].max():.2%}. SHAP: {settings.explainer}, background "
            f"{settings.background} training photos, {settings.samples} samples, seed {settings.seed}. Curves: "
            f"{options.curve_steps} steps, removed pixels replaced by the photo blurred; random: pixels in a seeded "
            "random order.")
    sections = [("Faithfulness, averaged over the photos", table), ("Verdicts", "\n".join(verdicts)),
                ("Settings", text),
                ("Photos", [(f"{r.photo} -> {r.predicted} ({r.probability:.2f})", r.page)
                            for r in photo_table.itertuples()])]
    return write_index(out, f"Explanations: {run.model_dir} ({run.backbone})", sections)
