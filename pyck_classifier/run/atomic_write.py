"""Files of a run written under a temporary name and renamed into place.

An interrupt lands anywhere, also while a file is written: a reader then finds the previous
complete file or none, never half of one. The temporary name keeps the file's suffix
(`best.weights.h5` -> `best.partial.weights.h5`), which Keras's savers check.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import Iterator

PARTIAL = ".partial"


def partial_path(path: str) -> str:
    folder, name = os.path.split(path)
    stem, dot, suffix = name.partition(".")
    return os.path.join(folder, f"{stem}{PARTIAL}{dot}{suffix}")


@contextlib.contextmanager
def replaced_atomically(path: str) -> Iterator[str]:
    """Yields the temporary path to write; on success moves it to `path` (a folder too), else removes it."""
    partial = partial_path(path)
    remove_tree(partial)  # left by an earlier interrupt
    try:
        yield partial
    except BaseException:
        remove_tree(partial)
        raise
    if os.path.isdir(partial) and os.path.isdir(path):  # a folder cannot replace a folder in one rename
        shutil.rmtree(path)
    os.replace(partial, path)


def write_bytes_atomically(path: str, content: bytes) -> None:
    with replaced_atomically(path) as partial, open(partial, "wb") as f:
        f.write(content)


def write_text_atomically(path: str, text: str) -> None:
    with replaced_atomically(path) as partial, open(partial, "w") as f:
        f.write(text)


def remove_tree(path: str) -> None:
    """A file or a folder of the run's own, gone if it was there."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)
