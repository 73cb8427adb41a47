r"""Download the images a CSV-export config will keep, politely and resumably, from mushroomobserver.org.

    python -m tools.fetch_mo_images --csv_dir D [--out D/images] [--size 320] [--config family7_csv |
        --classes A,B,...] [--licenses CC0,CC-BY-4.0,...] [--max_per_class N]

Only images the config can keep are requested: ok for export, in the export, under a name MO can place
at the config's rank, with a vote above its threshold, of its classes (or of classes with enough
candidates), under the chosen licences. Mushroom Observer asks anonymous clients for at most 20 requests
a minute (README_API.md of MushroomObserver/mushroom-observer), so that is the default rate: a family7
fetch is days, and resumable. A file is written as `<id>.jpg.part` and renamed only once it is a
complete JPEG, so a killed run never leaves a partial image that counts; a rerun skips every complete
JPEG already there. Server errors, timeouts and cut-short bodies are retried with exponential back-off;
an HTML page where a JPEG should be (a block or error page) stops the run with what the site said.
`fetch_manifest.csv` beside the export lists every image with its licence and attribution.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import pandas as pd
from absl import app, flags

from tools.mo_images import (
    BASE_URL,
    MANIFEST,
    MANIFEST_COLUMNS,
    SITE_RATE,
    SIZES,
    Fetcher,
    SiteRefused,
    fetch_images,
    images_to_fetch,
    write_manifest,
)

FLAGS = flags.FLAGS
flags.DEFINE_string("csv_dir", None, "Folder holding the nightly CSV export (observations.csv, images.csv, ...).")
flags.DEFINE_string("out", None, "Where the images go (default: CSV_DIR/images, where the builder looks).")
flags.DEFINE_enum("size", "320", [str(s) for s in SIZES], "Image size on the site, in pixels on the long side "
                  "(320: the study's).")
flags.DEFINE_string("config", "family7_csv", "The mushroom_observer CSV config whose images to fetch.")
flags.DEFINE_list("classes", None, "Fetch these classes (at the config's level) instead of the config's.")
flags.DEFINE_list("licenses", None, "Fetch only images under these licence ids (e.g. CC0,CC-BY-4.0,CC-BY-SA-3.0).")
flags.DEFINE_integer("max_per_class", None, "At most N images per class (a seeded random draw).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the --max_per_class draw.")
flags.DEFINE_float("rate", SITE_RATE, "Requests per second; the default is the site's stated limit (20 a minute).",
                   lower_bound=1e-3)
flags.DEFINE_integer("retries", 4, "Retries per image on server errors, timeouts and cut-short bodies.",
                     lower_bound=0)
flags.DEFINE_float("backoff", 10.0, "Seconds before the first retry; doubled at each retry.", lower_bound=0)
flags.DEFINE_float("timeout", 60.0, "Seconds to wait for one answer.", lower_bound=0.1)
flags.DEFINE_string("base_url", BASE_URL, "Where the site serves images (a mirror or a test server).")
flags.DEFINE_bool("progress", True, "Show a progress bar.")


def main(argv: list[str]) -> None:
    del argv
    from pyck_tfds.console import quiet_python_logs, quiet_tensorflow

    quiet_tensorflow()
    quiet_python_logs()
    from pyck_tfds.dump import DumpError
    from pyck_tfds.dump.csv_export import is_csv_export, read_csv_export
    from pyck_tfds.mushroom_observer.configs import BUILDER_CONFIGS

    configs = {c.name: c for c in BUILDER_CONFIGS if c.source == "csv_export"}
    if FLAGS.config not in configs:
        raise app.UsageError(f"--config={FLAGS.config} is not a CSV-export config; one of: {', '.join(configs)}")
    if not is_csv_export(FLAGS.csv_dir):
        raise app.UsageError(f"--csv_dir={FLAGS.csv_dir} holds no images_observations.csv: download the nightly "
                             "export first (BUILD.md)")
    options = configs[FLAGS.config].filter_options
    changes = {k: tuple(v) for k, v in (("classes", FLAGS.classes), ("licenses", FLAGS.licenses)) if v}
    dump_filter = dataclasses.replace(options, **changes).dump_filter()
    try:
        records, _, _ = read_csv_export(FLAGS.csv_dir)
        selection = images_to_fetch(records, dump_filter, FLAGS.max_per_class, FLAGS.seed)
    except DumpError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    out = FLAGS.out or os.path.join(FLAGS.csv_dir, "images")
    fetcher = Fetcher(FLAGS.base_url, int(FLAGS.size), FLAGS.rate, FLAGS.retries, FLAGS.backoff, FLAGS.timeout)
    hours = len(selection) / FLAGS.rate / 3600
    print(f"{len(selection):,} images of {selection['class_name'].nunique()} classes to fetch into {out} "
          f"(at most {FLAGS.rate * 60:g} a minute: {hours:.1f} h if none is there yet)")
    rows: list[dict] = []
    try:
        fetch_images(selection, out, fetcher, progress=FLAGS.progress, rows=rows)
    except SiteRefused as err:
        print(f"error: stopped: {err}. Images finished so far are kept; rerun the same command later to go on.",
              file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("error: interrupted; images finished so far are kept: rerun the same command to go on.",
              file=sys.stderr)
        sys.exit(130)
    finally:
        if rows:
            write_manifest(pd.DataFrame(rows, columns=MANIFEST_COLUMNS), FLAGS.csv_dir)
    counts = pd.Series([r["status"] for r in rows]).value_counts().to_dict()
    print(f"done: {counts}; licences and attribution in {os.path.join(FLAGS.csv_dir, MANIFEST)}")


if __name__ == "__main__":
    flags.mark_flag_as_required("csv_dir")
    app.run(main)
