r"""`python -m pyck_eval segment --images A.jpg,B.jpg [--clusters 4]`: colour segmentation previews.

For each image: KMeans on RGB, KMeans on RGB+xy, MeanShift, and the KMeans RGB+xy result with
the border-dominant segment blanked (a background-removal guess), one PNG per image plus
index.html in --out_dir (default ./segment). Images are shrunk to --max_width first (MeanShift
is quadratic-ish in pixels).
"""

from __future__ import annotations

import os

import numpy as np
from absl import flags
from PIL import Image

from pyck_eval.commands import common_flags
from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import

figures = lazy_import("pyck_eval.figures")
image_preprocessing = lazy_import("pyck_classifier.model.image_preprocessing")
seg = lazy_import("pyck_eval.colour_segmentation")

flags.DEFINE_list("images", None, "Image files to segment.")
flags.DEFINE_integer("clusters", 4, "KMeans clusters.", lower_bound=2)
flags.DEFINE_float("xy_weight", 1.0, "Weight of pixel position against colour in RGB+xy KMeans.", lower_bound=0.0)
flags.DEFINE_integer("max_width", 160, "Images are shrunk to at most this width first.", lower_bound=16)
FLAGS = flags.FLAGS


def prepare() -> None:
    flags.mark_flag_as_required("images")


def shrink(image: np.ndarray, max_width: int) -> np.ndarray:
    height, width = image.shape[:2]
    if width <= max_width:
        return image
    size = (max_width, max(1, round(height * max_width / width)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))


def main(argv: list[str]) -> None:
    out = common_flags.out_dir("segment")
    sections = []
    for path in FLAGS.images:
        image = shrink(image_preprocessing.read_image_file(path), FLAGS.max_width)
        rgb = seg.kmeans_segments(image, FLAGS.clusters, seed=FLAGS.seed)
        rgb_xy = seg.kmeans_segments(image, FLAGS.clusters, FLAGS.xy_weight, seed=FLAGS.seed)
        shift = seg.mean_shift_segments(image, seed=FLAGS.seed)
        name = f"{os.path.splitext(os.path.basename(path))[0]}_segments.png"
        figures.image_grid_png(
            [image, seg.mean_colours(image, rgb), seg.mean_colours(image, rgb_xy), seg.mean_colours(image, shift),
             seg.remove_background(image, rgb_xy)],
            ["original", f"KMeans RGB (k={FLAGS.clusters})", f"KMeans RGB+xy (k={FLAGS.clusters})",
             f"MeanShift ({len(np.unique(shift))} segments)", "background guess removed (RGB+xy)"],
            os.path.join(out, name), columns=5)
        sections.append((os.path.basename(path), name))
        print(os.path.join(out, name))
    common_flags.done(write_index(out, "Colour segmentation previews", sections))
