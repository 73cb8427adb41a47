"""Colour segmentation previews: KMeans on RGB and on RGB+xy, MeanShift, and a background-removal guess."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from PIL import Image

from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks import shared_options
from pyck_eval.tasks.gradcam import FiguresResult
from pyck_eval.tasks.image_inputs import read_images
from pyck_eval.tasks.outputs import finish, output_folder
from pyck_tfds.options import CheckedOptions, option

figures = lazy_import("pyck_eval.figures")
seg = lazy_import("pyck_eval.colour_segmentation")


@dataclasses.dataclass(frozen=True)
class SegmentOptions(CheckedOptions):
    clusters: int = option(4, "KMeans clusters.", lower=2)
    xy_weight: float = option(1.0, "Weight of pixel position against colour in RGB+xy KMeans.", lower=0.0)
    max_width: int = option(160, "Images are shrunk to at most this width first.", lower=16)
    seed: int = shared_options.seed()
    out_dir: str | None = shared_options.out_dir()


def shrink(image: np.ndarray, max_width: int) -> np.ndarray:
    height, width = image.shape[:2]
    if width <= max_width:
        return image
    size = (max_width, max(1, round(height * max_width / width)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))


def segment(images: list[str], options: SegmentOptions = SegmentOptions()) -> FiguresResult:
    """One PNG of the four segmentations per image file."""
    pixels = read_images(images)
    out = output_folder(options.out_dir, "segment")
    sections = []
    for path, image in zip(images, pixels):
        image = shrink(image, options.max_width)
        rgb = seg.kmeans_segments(image, options.clusters, seed=options.seed)
        rgb_xy = seg.kmeans_segments(image, options.clusters, options.xy_weight, seed=options.seed)
        shift = seg.mean_shift_segments(image, seed=options.seed)
        name = f"{os.path.splitext(os.path.basename(path))[0]}_segments.png"
        figures.image_grid_png(
            [image, seg.mean_colours(image, rgb), seg.mean_colours(image, rgb_xy), seg.mean_colours(image, shift),
             seg.remove_background(image, rgb_xy)],
            ["original", f"KMeans RGB (k={options.clusters})", f"KMeans RGB+xy (k={options.clusters})",
             f"MeanShift ({len(np.unique(shift))} segments)", "background guess removed (RGB+xy)"],
            os.path.join(out, name), columns=5)
        sections.append((os.path.basename(path), name))
    index = write_index(out, "Colour segmentation previews", sections)
    return FiguresResult([figure for _, figure in sections], out, finish(index))
