"""What pyck's commands print: their own lines and progress bars, not the libraries' chatter.

TensorFlow's C++ INFO and WARNING lines are turned off unless the user set TF_CPP_MIN_LOG_LEVEL
(pyck_train and pyck_eval do it on import, before TensorFlow is loaded); absl's INFO logs
(TFDS's "Load dataset info ...") stay off unless --verbosity is given; `silenced_stderr`
hides what a C++ library prints where Python cannot reach it.
"""

from __future__ import annotations

import contextlib
import os
import sys


def quiet_tensorflow() -> None:
    """Call before TensorFlow is imported; a TF_CPP_MIN_LOG_LEVEL the user set wins."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def quiet_python_logs() -> None:
    """absl (and so TFDS) logs WARNING and above as `WARNING: message` lines, unless --verbosity was given on the
    command line (then absl's full format: time, thread, file and line)."""
    import logging as python_logging

    from absl import flags, logging

    if not (flags.FLAGS.is_parsed() and flags.FLAGS["verbosity"].present):
        logging.set_verbosity(logging.WARNING)
        logging.get_absl_handler().setFormatter(python_logging.Formatter("%(levelname)s: %(message)s"))


@contextlib.contextmanager
def silenced_stderr():
    """Discards what is written to file descriptor 2 (C++ libraries included) inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
