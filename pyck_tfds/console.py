"""What pyck's commands print: their own lines and progress bars, not the libraries' chatter.

TensorFlow's C++ INFO and WARNING lines are turned off unless the user set TF_CPP_MIN_LOG_LEVEL
(pyck_train and pyck_eval do it on import, before TensorFlow is loaded). The lines TensorFlow prints
while it is imported come before it reads that variable (oneDNN's "custom operations are on" on CPUs
where oneDNN is on by default, absl's "All log messages before absl::InitializeLog()"), so the first
import of TensorFlow also passes file descriptor 2 through a filter that drops the log lines below that
level. absl's INFO logs (TFDS's "Load dataset info ...") stay off unless --verbosity is given;
`silenced_stderr` hides what a C++ library prints where Python cannot reach it.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator

TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
# A C++ log line (absl's and TensorFlow's format: level letter, date, time, thread, file:line]).
_LOG_LINE = re.compile(r"(?P<level>[IWEF])\d{4} [\d:.]+ +\d+ [^\]\s]+:\d+\] ")
_ABSL_PRE_INIT = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_CONTINUATIONS = ("To enable the following instructions:",)  # the second line of TF's CPU-feature notice


def quiet_tensorflow() -> None:
    """Call before TensorFlow is imported; a TF_CPP_MIN_LOG_LEVEL the user set wins."""
    os.environ.setdefault(TF_LOG_LEVEL, "2")
    level = tensorflow_log_level()
    if level > 0 and "tensorflow" not in sys.modules and not any(
            isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport(level))


def tensorflow_log_level() -> int:
    """TF_CPP_MIN_LOG_LEVEL as TensorFlow reads it: 0 (all) to 3 (fatal only); 0 when unset or not a number."""
    try:
        return max(0, int(os.environ.get(TF_LOG_LEVEL, "0")))
    except ValueError:
        return 0


def is_log_chatter(line: str, min_level: int) -> bool:
    """A C++ log line below `min_level` (TF_CPP_MIN_LOG_LEVEL's scale), or a known notice that comes with one."""
    if min_level < 1:
        return False
    if line.startswith(_ABSL_PRE_INIT) or line.startswith(_CONTINUATIONS):
        return True
    match = _LOG_LINE.match(line)
    return bool(match) and "IWEF".index(match["level"]) < min_level


@contextlib.contextmanager
def filtered_stderr(keep: Callable[[str], bool]) -> Iterator[None]:
    """File descriptor 2 (C++ libraries included) goes through a pipe inside the block; the lines `keep`
    accepts reach the real stderr as they come, so nothing else is lost even if the process dies in the block."""
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    saved = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward():
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if keep(line.decode("utf-8", "replace")):
                    os.write(saved, line)

    thread = threading.Thread(target=forward, name="pyck-stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's write end: the thread reads what is left, then ends
        thread.join()
        os.close(saved)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Imports `tensorflow`, the first time it is executed, through `filtered_stderr`, then steps aside. (A
    library that only looks TensorFlow up, `importlib.util.find_spec`, does not use it up.)"""

    def __init__(self, level: int):
        self.level, self.finding = level, False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow" or self.finding:
            return None
        self.finding = True
        try:
            spec = importlib.util.find_spec(fullname)  # the finders after this one
        finally:
            self.finding = False
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader, lambda line: not is_log_chatter(line, self.level), self)
        return spec


class _FilteredLoader(importlib.abc.Loader):
    def __init__(self, loader, keep: Callable[[str], bool], finder: _QuietTensorFlowImport):
        self.loader, self.keep, self.finder = loader, keep, finder

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)
        with filtered_stderr(self.keep):
            self.loader.exec_module(module)

    def __getattr__(self, name):  # is_package, get_resource_reader, ...: the real loader's
        return getattr(self.loader, name)


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
