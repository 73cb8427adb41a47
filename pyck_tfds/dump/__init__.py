"""Pure-pandas reader of the Mushroom Observer dump (no TensorFlow): see `load_dump`."""

from pyck_tfds.dump.errors import DumpError
from pyck_tfds.dump.filters import (
    LEVELS,
    DumpFilter,
    FilterOptions,
    Funnel,
    class_names,
    join_records_images,
    parse_resolutions,
    select_examples,
)
from pyck_tfds.dump.images import scan_images
from pyck_tfds.dump.metadata import read_metadata
from pyck_tfds.dump.reader import (
    EXPECTED_LAYOUT,
    LAYOUT_HELP,
    SOURCES,
    DumpSelection,
    check_manual_dir,
    dump_source,
    load_dump,
)
from pyck_tfds.dump.report import DumpReport
from pyck_tfds.dump.splits import SPLITS, assign_splits

__all__ = [
    "DumpError", "DumpFilter", "DumpReport", "DumpSelection", "EXPECTED_LAYOUT", "FilterOptions", "Funnel",
    "LAYOUT_HELP", "LEVELS", "SOURCES", "SPLITS", "assign_splits", "check_manual_dir", "class_names", "dump_source",
    "join_records_images", "load_dump", "parse_resolutions", "read_metadata", "scan_images", "select_examples",
]
