r"""`inspect` at the real dump's metadata scale: wall time and peak RSS.

    python -m tools.bench_inspect [--records 650000] [--images 2000] [--work_dir DIR]

Writes `--records` generated metadata records over 12 JSON files (about 440 MB at the
default, like the real dump) plus a few real images, then runs
`python -m pyck_tfds.inspect --json` in a child process and prints one JSON object with
the rows it read, seconds, records/s and peak RSS in MiB.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

from tools.make_sample_dump import FAMILIES, SIZE, DumpPlanner, PlannedImage, write_image

FLAGS = flags.FLAGS
flags.DEFINE_integer("records", 650_000, "Metadata records to generate (the real dump has 650,743).", lower_bound=100)
flags.DEFINE_integer("images", 2000, "Image files to write (records beyond them have no image).", lower_bound=10)
flags.DEFINE_string("work_dir", None, "Where to write the generated dump (default: a temporary folder).")


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
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pyck_tfds.inspect", dump, "--json", "--noprogress", "--min_per_class=1"],
        capture_output=True, text=True, check=True,
    )
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = json.loads(result.stdout)
    return {"records": report["records_in"], "kept": report["kept"], "seconds": round(seconds, 2),
            "records_per_second": round(report["records_in"] / seconds), "peak_rss_mib": round(peak_kib / 1024, 1)}


def main(argv: list[str]) -> None:
    del argv
    with tempfile.TemporaryDirectory(dir=FLAGS.work_dir) as out:
        start = time.perf_counter()
        write_metadata_dump(out, FLAGS.records, FLAGS.images)
        json_mib = sum(os.path.getsize(os.path.join(out, "json", f)) for f in os.listdir(os.path.join(out, "json")))
        result = {"generated_seconds": round(time.perf_counter() - start, 1), "json_mib": round(json_mib / 2**20, 1)}
        result.update(run_inspect(out))
    print(json.dumps(result))


if __name__ == "__main__":
    app.run(main)
