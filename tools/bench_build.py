r"""`tfds build` throughput against the copy ceiling, its growth with dump size, and `inspect` at full scale.

    python -m tools.bench_build [--per_family 120] [--scales 1,2,4] [--inspect_records 650000]

For each scale s, a sample dump with s x --per_family images per family is generated; then,
each in a fresh child process (so peak RSS is the build's own): the `family7` build with the
class threshold scaled to the dump, and the copy ceiling (read every kept JPEG and write the
same bytes to new files). Prints one JSON object: per scale the build's images/s, the
ceiling's, their ratio, peak RSS and seconds; the seconds-per-image growth from the smallest
to the largest scale; the marginal build rate between them (extra images over extra seconds,
so the fixed cost of reading metadata and splitting cancels out) against the ceiling; and
`inspect` on --inspect_records generated metadata records (0: skip).
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from pyck_classifier.usable_cpus import usable_cpus
from tools.bench_data import run_inspect, write_metadata_dump

FLAGS = flags.FLAGS
flags.DEFINE_integer("per_family", 120, "Images per family at scale 1.", lower_bound=10)
flags.DEFINE_list("scales", ["1", "2", "4"], "Dump sizes, as multiples of --per_family.")
flags.DEFINE_integer("inspect_records", 650_000, "Metadata records for the inspect row (0: skip).", lower_bound=0)
flags.DEFINE_integer("repeats", 2, "Runs per measurement; the fastest counts.", lower_bound=1)
flags.DEFINE_string("work_dir", None, "Where to write dumps and builds (default: a temporary folder).")
flags.DEFINE_string("child", None, "Internal: 'build|copy,MANUAL_DIR,OUT_DIR,MIN_PER_CLASS' runs one measurement.")


def child_build(manual_dir: str, out_dir: str, min_per_class: int) -> dict:
    import tensorflow_datasets as tfds

    from pyck_tfds.mushroom_observer import Builder, configs

    config = dataclasses.replace(configs.BUILDER_CONFIGS[0], name=f"family7_min{min_per_class}",
                                 min_per_class=min_per_class)
    start = time.perf_counter()
    builder = Builder(config=config, data_dir=out_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    seconds = time.perf_counter() - start
    images = sum(split.num_examples for split in builder.info.splits.values())
    return {"images": images, "seconds": seconds}


def child_copy(manual_dir: str, out_dir: str, min_per_class: int) -> dict:
    """Read every file a build keeps and write the same bytes elsewhere: what any build must at least do."""
    from pyck_tfds.dump import DumpFilter, load_dump

    kept = load_dump(manual_dir, DumpFilter(min_per_class=min_per_class), progress=False).examples["file_path"]
    start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    for i, relative in enumerate(kept):
        with open(os.path.join(manual_dir, relative), "rb") as source:
            data = source.read()
        with open(os.path.join(out_dir, f"{i}.jpg"), "wb") as target:
            target.write(data)
    return {"images": int(len(kept)), "seconds": time.perf_counter() - start}


def run_child(kind: str, manual_dir: str, out_dir: str, min_per_class: int) -> dict:
    result = subprocess.run([sys.executable, "-m", "tools.bench_build", f"--child={kind},{manual_dir},{out_dir},"
                             f"{min_per_class}"], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{kind} child failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def best_of(kind: str, manual_dir: str, work: str, min_per_class: int, repeats: int) -> dict:
    runs = []
    for r in range(repeats):
        out = os.path.join(work, f"{kind}_{r}")
        runs.append(run_child(kind, manual_dir, out, min_per_class))
        shutil.rmtree(out, ignore_errors=True)
    best = min(runs, key=lambda run: run["seconds"])
    return {**best, "images_per_second": best["images"] / best["seconds"],
            "peak_rss_mib": max(run["peak_rss_mib"] for run in runs)}


def measure_scale(scale: int, per_family: int, work: str, repeats: int) -> dict:
    from tools.make_sample_dump import make_sample_dump

    dump = os.path.join(work, f"dump_x{scale}")
    make_sample_dump(dump, per_family * scale, seed=0)
    min_per_class = per_family * scale // 2
    build = best_of("build", dump, work, min_per_class, repeats)
    copy = best_of("copy", dump, work, min_per_class, repeats)
    shutil.rmtree(dump, ignore_errors=True)
    return {"scale": scale, "images": build["images"], "build_images_per_second": round(build["images_per_second"], 1),
            "copy_images_per_second": round(copy["images_per_second"], 1),
            "build_vs_copy": round(build["images_per_second"] / copy["images_per_second"], 3),
            "build_seconds": round(build["seconds"], 2), "build_peak_rss_mib": round(build["peak_rss_mib"], 1),
            "build_ms_per_image": round(1000 * build["seconds"] / build["images"], 3)}


def main(argv: list[str]) -> None:
    if FLAGS.child:
        kind, manual_dir, out_dir, min_per_class = FLAGS.child.split(",")
        result = (child_build if kind == "build" else child_copy)(manual_dir, out_dir, int(min_per_class))
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(dir=FLAGS.work_dir) as work:
        scales = [measure_scale(int(s), FLAGS.per_family, work, FLAGS.repeats) for s in FLAGS.scales]
        first, last = scales[0], scales[-1]
        result = {"machine": f"{usable_cpus()} CPUs", "scales": scales,
                  "ms_per_image_growth": round(last["build_ms_per_image"] / first["build_ms_per_image"], 3)}
        if len(scales) > 1:  # the fixed cost (reading metadata, splitting, tfds set-up) cancels out
            marginal = (last["images"] - first["images"]) / (last["build_seconds"] - first["build_seconds"])
            result["marginal_build_images_per_second"] = round(marginal, 1)
            result["marginal_build_vs_copy"] = round(marginal / last["copy_images_per_second"], 3)
        if FLAGS.inspect_records:
            dump = os.path.join(work, "metadata_dump")
            write_metadata_dump(dump, FLAGS.inspect_records, min(2000, FLAGS.inspect_records))
            result["inspect"] = run_inspect(dump)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    app.run(main)
