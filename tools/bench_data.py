"""Generated inputs shared by the benchmarks (no flags here, so any of them can import it)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from tools.make_sample_dump import FAMILIES, SIZE, DumpPlanner, PlannedImage, write_image


def build_sample(work: str, per_family: int, formats: tuple[str, ...] = ("tfrecord", "array_record"),
                 num_shards: int | None = None) -> tuple[str, str, str | None]:
    """Generate a dump and build family7 (scaled) in each format; returns (dataset, tfrecord dir, array_record dir)."""
    import tensorflow_datasets as tfds

    from pyck_tfds.mushroom_observer import Builder, configs
    from tools.make_sample_dump import make_sample_dump

    dump = os.path.join(work, "dump")
    make_sample_dump(dump, per_family, seed=0)
    name = f"family7_min{per_family // 2}"
    config = dataclasses.replace(configs.BUILDER_CONFIGS[0], name=name, min_per_class=per_family // 2)
    dirs = {}
    for file_format in formats:
        dirs[file_format] = os.path.join(work, file_format)
        Builder(config=config, data_dir=dirs[file_format], file_format=file_format).download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=dump, num_shards=num_shards))
    return f"mushroom_observer/{name}", dirs["tfrecord"], dirs.get("array_record")


def write_metadata_dump(out: str, n_records: int, n_images: int, seed: int = 0) -> None:
    """Records shaped like the real ones (full GBIF answer, note field), three per image id on average."""
    planner = DumpPlanner(seed)
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(out, "json"), exist_ok=True)
    years = list(range(2006, 2018))
    per_file = -(-n_records // len(years))
    image_ids = np.arange(11, 11 + max(n_images, n_records // 3))
    for k, year in enumerate(years):
        with open(os.path.join(out, "json", f"observations_{year}.json"), "w") as f:
            f.write("[\n")
            count = min(per_file, n_records - k * per_file)
            for i in range(count):
                family = FAMILIES[int(rng.integers(len(FAMILIES)))]
                genus = sorted(family.genera)[0]
                info = planner.gbif(family, genus, family.genera[genus][0], int(rng.integers(80, 101)), "SPECIES")
                info["note"] = "Similarity: name=100; authorship=0; classification=-2; rank=0; status=0"
                image_id = int(image_ids[int(rng.integers(len(image_ids)))])
                record = {"image_id": image_id, "observation": f"/show_observation/{image_id // 3}", "thumbnail": 0,
                          "label": family.genera[genus][0], "date": f"{year}-05-21 07:17:22", "user": int(i % 5000),
                          "location": int(i % 9000), "image_url": f"http://mushroomobserver.org/images/320/{image_id}",
                          "gbif_info": info}
                f.write(json.dumps(record) + (",\n" if i < count - 1 else "\n"))
            f.write("]\n")
    for image_id in image_ids[:n_images]:
        family = FAMILIES[int(image_id) % len(FAMILIES)]
        write_image(PlannedImage(int(image_id), family, SIZE, 2010, "2010", "rgb"), out, seed)


def run_inspect(dump: str) -> dict:
    """`python -m pyck_tfds.inspect --json` in a child; its own peak RSS (os.wait4), not that of earlier children."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            [sys.executable, "-m", "pyck_tfds.inspect", dump, "--json", "--noprogress", "--min_per_class=1"],
            stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if child.returncode:
            raise RuntimeError(f"inspect failed ({child.returncode}):\n{err.read()[-3000:]}")
        report = json.loads(out.read())
    return {"records": report["records_in"], "kept": report["kept"], "seconds": round(seconds, 2),
            "records_per_second": round(report["records_in"] / seconds),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}
