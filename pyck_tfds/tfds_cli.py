"""`tfds build` of pyck's builder: a refusal is one `error:` line, not TFDS's traceback around it.

TFDS's CLI lets every exception reach Python's default hook. When the builder module is
imported by that CLI, a hook prints pyck's own refusals (and TFDS's unknown `--config`) as the
cause alone; `PYCK_DEBUG=1` restores the traceback. Other programs importing pyck are left as
they are.
"""

from __future__ import annotations

import os
import re
import sys

from pyck_tfds.built_datasets import DatasetNotBuiltError
from pyck_tfds.dump.errors import DumpError

_UNKNOWN_CONFIG = re.compile(r"BuilderConfig (\S+) not found")


def running_tfds_cli() -> bool:
    return os.path.basename(sys.argv[0]) == "tfds"


def one_line(error: BaseException, configs: list[str]) -> str | None:
    """The line `tfds build` prints for `error`, or None for an error that is not a user's mistake pyck knows."""
    if isinstance(error, (DumpError, DatasetNotBuiltError)):
        return f"error: {error}"
    unknown = _UNKNOWN_CONFIG.match(str(error)) if isinstance(error, ValueError) else None
    if unknown:
        return f"error: --config={unknown.group(1)} is not a config of mushroom_observer; its configs: " \
               f"{', '.join(configs)}"
    return None


def install_error_hook(configs: list[str]) -> None:
    """Under `tfds build` only (see the module's docstring)."""
    if not running_tfds_cli() or os.environ.get("PYCK_DEBUG"):
        return
    previous = sys.excepthook

    def hook(kind, error, traceback):
        line = one_line(error, configs)
        if line is None:
            previous(kind, error, traceback)
        else:
            print(line, file=sys.stderr)

    sys.excepthook = hook
