r"""`python -m pyck_eval segment --images A.jpg,B.jpg [--clusters 4]`: colour segmentation previews.

For each image: KMeans on RGB, KMeans on RGB+xy, MeanShift, and the KMeans RGB+xy result with
the border-dominant segment blanked (a background-removal guess), one PNG per image plus
index.html in --out_dir (default ./segment). Images are shrunk to --max_width first (MeanShift
is quadratic-ish in pixels). From Python: `pyck_eval.segment(paths, SegmentOptions(...))`.
"""

from __future__ import annotations

import os

from absl import flags

from pyck_eval.commands import command_line
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks.segment import SegmentOptions
from pyck_tfds.options import define_flags, options_from_flags

tasks_segment = lazy_import("pyck_eval.tasks.segment")

OPTIONS = (SegmentOptions,)
flags.DEFINE_list("images", None, "Image files to segment.")
define_flags(SegmentOptions)


def prepare() -> None:
    flags.mark_flag_as_required("images")


def main(argv: list[str]) -> None:
    result = tasks_segment.segment(flags.FLAGS.images, options_from_flags(SegmentOptions))
    for figure in result.figures:
        print(os.path.join(result.out_dir, figure))
    command_line.done(result.index)
