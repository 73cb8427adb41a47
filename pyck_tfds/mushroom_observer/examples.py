"""Turn one selected dump row into a TFDS example. Module-level functions only, so Beam can pickle them.

Images that already are 320x240 RGB or grayscale JPEGs pass through byte for byte (the
reader checked their header and end-of-image marker). CMYK JPEGs are converted with
`tfds.core.utils.jpeg_cmyk_to_rgb`; any other image (other size, PNG, ...) is decoded,
EXIF-rotated, centre-cropped to 4:3, resized and re-encoded as JPEG.
"""

from __future__ import annotations

import io

import pandas as pd
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image, ImageOps, UnidentifiedImageError

from pyck_tfds.dump import sources

PASS_THROUGH_MODES = ("RGB", "L")
JPEG_QUALITY = 92
SKIP_COUNTER_NAMESPACE = "mushroom_observer"


class SkipExample(Exception):
    """An image that cannot be stored; `reason` is the skip count's key."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _text(value: object) -> str:
    return "" if pd.isna(value) else str(value)


FILE_KEYS = ("file_path", "format", "mode", "width", "height")  # what `encoded_image` reads; not features
TEXT_FEATURES = ("date", "family", "genus", "species")  # and each source's extra text features


def _ids(values: pd.Series) -> pd.Series:
    return values.astype("Int64").fillna(-1).astype("int64")


def example_rows(examples: pd.DataFrame, source: str = "scrape_2017") -> list[dict]:
    """Plain-Python rows (picklable, no pandas NA): the file facts `encoded_image` needs and the source's features."""
    year = pd.to_datetime(examples["date"].astype(object), errors="coerce", format="ISO8601").dt.year
    year = year.fillna(examples["file_year"].astype("Float64")).fillna(-1)
    columns = {
        "image_id": examples["image_id"].astype("int64"),
        "file_path": examples["file_path"].astype(str),
        "format": examples["format"].astype(str),
        "mode": examples["mode"].astype(str),
        "width": examples["width"].astype("int64"),
        "height": examples["height"].astype("int64"),
        "label": examples["class_name"].astype(str),
        "observation_id": examples["observation_id"].astype("int64"),
        "is_thumbnail": examples["thumbnail"].fillna(False).astype(bool),
        "date": examples["date"].astype(object),
        "year": year.astype("int64"),
        "family": examples["taxon.family"].astype(object),
        "genus": examples["taxon.genus"].astype(object),
        "species": examples["taxon.species"].astype(object),
        "location_id": _ids(examples["location_id"]),
    }
    extra = sources.source_named(source).extra_features
    for feature in extra:
        values = examples[feature.column]
        columns[feature.name] = (values.astype("float64") if feature.kind == "float" else
                                 _ids(values) if feature.kind == "id" else values.astype(object))
    frame = pd.DataFrame(columns)
    for name in (*TEXT_FEATURES, *(feature.name for feature in extra if feature.kind == "text")):
        frame[name] = frame[name].map(_text).astype(object)
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _resized_jpeg(data: bytes, size: tuple[int, int], where: str) -> bytes:
    height, width = size
    try:
        with Image.open(io.BytesIO(data)) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
            image = ImageOps.fit(image, (width, height), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise SkipExample("image_decode_error", f"{where}: {err}") from err
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def encoded_image(row: dict, manual_dir: str, size: tuple[int, int]) -> bytes:
    """The JPEG bytes to store for `row`, untouched whenever possible."""
    path = epath.Path(manual_dir) / row["file_path"]
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SkipExample("image_read_error", f"{path}: {err}") from err
    at_size = (row["height"], row["width"]) == tuple(size)
    if row["format"] == "JPEG" and at_size and row["mode"] in PASS_THROUGH_MODES:
        return data
    if row["format"] == "JPEG" and at_size and row["mode"] == "CMYK":
        return tfds.core.utils.jpeg_cmyk_to_rgb(data, quality=JPEG_QUALITY)
    return _resized_jpeg(data, size, str(path))


def make_example(row: dict, manual_dir: str, size: tuple[int, int]) -> tuple[int, dict]:
    """(key, example) for one row of `example_rows`; raises `SkipExample` for an image that cannot be stored."""
    example = {"image": encoded_image(row, manual_dir, size)}
    for key, value in row.items():
        if key not in FILE_KEYS:
            example[key] = value
    return row["image_id"], example


def beam_examples(row: dict, manual_dir: str, size: tuple[int, int]):
    """Beam FlatMap body: yields the example or counts the skip in a Beam metric (never touches `self`)."""
    import apache_beam as beam

    try:
        yield make_example(row, manual_dir, size)
    except SkipExample as skip:
        beam.metrics.Metrics.counter(SKIP_COUNTER_NAMESPACE, skip.reason).inc()
