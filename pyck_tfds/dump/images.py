"""Find the dump's image files and read what their headers say, without decoding pixels.

Images are found recursively and keyed by id (the integer file stem), never by path,
because the real dump nests them as `<year>/<label>/<id>.jpg` with variations.
"""

from __future__ import annotations

import concurrent.futures
import os
import re

import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
_YEAR_FOLDER = re.compile(r"^(19|20)\d\d$")
# A complete JPEG ends with the end-of-image marker; a cut-short download does not.
_JPEG_EOI = b"\xff\xd9"
_EOI_WINDOW = 4096

IMAGE_PROBLEMS = ("zero_bytes", "unreadable", "truncated_jpeg")


def find_image_files(manual_dir: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
    """Relative paths of files named `<integer>.<image suffix>`, sorted; other files counted by suffix."""
    paths, ignored = [], {}
    for root, dirs, files in os.walk(manual_dir):
        dirs.sort()
        for name in files:
            stem, suffix = os.path.splitext(name)
            if suffix.lower() in IMAGE_SUFFIXES and stem.isdigit():
                paths.append(os.path.relpath(os.path.join(root, name), manual_dir))
            elif suffix.lower() not in (".json", ".csv"):  # the metadata: the scrape's JSON, the export's CSV
                key = suffix.lower() or "(no suffix)"
                ignored[key] = ignored.get(key, 0) + 1
    return sorted(paths), ignored


def year_of(relative_path: str) -> int | None:
    """The innermost folder named like a year (2006 ... 2016 in the real dump)."""
    for part in reversed(os.path.normpath(relative_path).split(os.sep)[:-1]):
        if _YEAR_FOLDER.match(part):
            return int(part)
    return None


def read_image_header(path: str) -> dict:
    """Format, size and mode from the header, plus the first problem found, if any."""
    info = {"format": None, "width": None, "height": None, "mode": None, "problem": None}
    size = os.path.getsize(path)
    info["file_size"] = size
    if size == 0:
        info["problem"] = "zero_bytes"
        return info
    try:
        with open(path, "rb") as f:
            with Image.open(f) as image:
                info.update(format=image.format, width=image.width, height=image.height, mode=image.mode)
            if image.format == "JPEG":
                f.seek(max(0, size - _EOI_WINDOW))
                if _JPEG_EOI not in f.read():
                    info["problem"] = "truncated_jpeg"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        info["problem"] = "unreadable"
    return info


def scan_images(manual_dir: str | os.PathLike, *, progress: bool = True, threads: int = 8) -> tuple[pd.DataFrame, dict]:
    """One row per image id: path, year, header facts and problem; plus counts of what was set aside.

    When two files carry the same id, the one whose relative path sorts first is kept and the
    other is counted as `duplicate_image_file`.
    """
    paths, ignored = find_image_files(manual_dir)
    full = [os.path.join(manual_dir, p) for p in paths]
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        headers = list(
            tqdm(pool.map(read_image_header, full, chunksize=64), total=len(full), desc="Reading image headers",
                 unit="img", disable=not progress, mininterval=1.0)
        )
    frame = pd.DataFrame(headers, columns=["format", "width", "height", "mode", "problem", "file_size"])
    frame.insert(0, "image_id", pd.array([int(os.path.splitext(os.path.basename(p))[0]) for p in paths], dtype="Int64"))
    frame.insert(1, "file_path", paths)
    frame.insert(2, "file_year", pd.array([year_of(p) for p in paths], dtype="Int16"))
    for column in ("width", "height"):
        frame[column] = frame[column].astype("Int32")
    for column in ("format", "mode", "problem"):
        frame[column] = frame[column].astype("category")
    duplicated = frame["image_id"].duplicated(keep="first")
    stats = {
        "image_files": int(len(frame)),
        "duplicate_image_file": int(duplicated.sum()),
        "ignored_files_by_suffix": dict(sorted(ignored.items())),
    }
    return frame[~duplicated].reset_index(drop=True), stats
