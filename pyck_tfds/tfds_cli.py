"""`tfds build` of pyck's builder: a refusal is one `error:` line, not TFDS's traceback around it.

TFDS's CLI lets every exception reach Python's default hook. When the builder module is
imported by that CLI, a hook prints pyck's own refusals (and TFDS's unknown `--config`) as the
cause alone; `PYCK_DEBUG=1` restores the traceback. Other programs importing pyck are left as
they are.

`python -m pyck_tfds build` (`main` below) is that same CLI, quiet: the `tfds` script imports
TensorFlow before any pyck code runs, so TensorFlow's start-up lines can only be filtered by a
command that starts first.
"""

from __future__ import annotations

import logging
import os
import re
import sys

from pyck_tfds.built_datasets import DatasetNotBuiltError, not_a_config
from pyck_tfds.dump.errors import DumpError

_UNKNOWN_CONFIG = re.compile(r"BuilderConfig (\S+) not found")


def running_tfds_cli() -> bool:
    """`tfds` itself, or `python -m pyck_tfds build`, which runs it."""
    return os.path.basename(sys.argv[0]) == "tfds"


def one_line(error: BaseException, configs: list[str]) -> str | None:
    """The line `tfds build` prints for `error`, or None for an error that is not a user's mistake pyck knows."""
    if isinstance(error, (DumpError, DatasetNotBuiltError)):
        return f"error: {error}"
    unknown = _UNKNOWN_CONFIG.match(str(error)) if isinstance(error, ValueError) else None
    if unknown:
        return f"error: --config={not_a_config(unknown.group(1), 'mushroom_observer', configs)}"
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


_BEAM_WITHOUT_BIGQUERY = "apitools not found"  # Beam's import warns of a client pyck never uses


def main(argv: list[str]) -> None:
    """`python -m pyck_tfds build [tfds build's flags]`: `tfds build mushroom_observer` with pyck's output rules.

    TensorFlow's start-up lines are filtered as in pyck's other commands; logs are WARNING and above in
    pyck's `WARNING: message` format unless --verbosity is given; TFDS's nested progress bars, which leave
    cursor-up codes in a log file, show only on a terminal.
    """
    from pyck_tfds.console import quiet_python_logs, quiet_tensorflow

    if argv[1:2] != ["build"]:
        print("usage: python -m pyck_tfds build [--config=C --manual_dir=DUMP --data_dir=DATA and other flags of "
              "`tfds build`]: builds pyck's mushroom_observer dataset", file=sys.stderr)
        raise SystemExit(0 if argv[1:2] in (["-h"], ["--help"]) else 2)
    sys.argv = ["tfds", "build", "mushroom_observer", *argv[2:]]  # before the builder's import reads it
    quiet_tensorflow()
    logging.getLogger().addFilter(lambda record: not record.getMessage().startswith(_BEAM_WITHOUT_BIGQUERY))
    from absl import app, flags
    from tensorflow_datasets.scripts.cli.main import launch_cli

    def quiet_once_flags_are_read():
        flags.FLAGS.logtostderr = True  # TFDS's CLI then keeps the logging set here instead of turning INFO on
        quiet_python_logs()
        if not sys.stderr.isatty():
            import tensorflow_datasets as tfds

            tfds.disable_progress_bar()

    app.call_after_init(quiet_once_flags_are_read)
    launch_cli()
