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
import tempfile
import time

from absl import app, flags

from tools.bench_data import run_inspect, write_metadata_dump

FLAGS = flags.FLAGS
flags.DEFINE_integer("records", 650_000, "Metadata records to generate (the real dump has 650,743).", lower_bound=100)
flags.DEFINE_integer("images", 2000, "Image files to write (records beyond them have no image).", lower_bound=10)
flags.DEFINE_string("work_dir", None, "Where to write the generated dump (default: a temporary folder).")


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
