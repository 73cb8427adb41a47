r"""Dry run over a dump: the filter funnel, class counts per split and skips, without building.

    python -m pyck_tfds.inspect DUMP_DIR [--level family] [--min_per_class N | --classes A,B] [--json]
"""

from __future__ import annotations

import json
import logging
import sys

from absl import app, flags

from pyck_tfds import dump_flags
from pyck_tfds.console import quiet_python_logs
from pyck_tfds.dump import EXPECTED_LAYOUT, DumpError, load_dump

__doc__ += f"""
DUMP_DIR (the folder `tfds build` takes as --manual_dir) holds one of
{EXPECTED_LAYOUT}
"""

flags.DEFINE_bool("json", False, "Print one JSON object instead of the text report.")
flags.DEFINE_bool("progress", True, "Show a progress bar while image headers are read.")
flags.adopt_module_key_flags(dump_flags)  # --help lists the filter flags too


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise app.UsageError("expected exactly one argument, the dump folder: python -m pyck_tfds.inspect DUMP_DIR")
    quiet_python_logs()
    logging.getLogger("pyck_tfds.dump.metadata").setLevel(logging.ERROR)  # truncated files: listed in the report
    try:
        selection = load_dump(argv[1], dump_flags.dump_filter_from_flags(), seed=flags.FLAGS.seed,
                              progress=flags.FLAGS.progress)
    except DumpError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    report = selection.report
    print(json.dumps(report.to_dict(), indent=2) if flags.FLAGS.json else report.to_text())


if __name__ == "__main__":
    app.run(main)
