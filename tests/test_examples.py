import io

import numpy as np
import pandas as pd
from PIL import Image

from pyck_tfds.dump import DumpFilter, load_dump
from pyck_tfds.mushroom_observer.examples import example_rows, make_example


def test_rows_fall_back_to_folder_year_and_mark_missing_ids(sample_dump):
    examples = load_dump(sample_dump.out, DumpFilter(min_per_class=10), progress=False).examples.head(3).copy()
    examples["date"] = pd.Categorical(["2012-06-01 10:00:00", "not a date", None])
    examples["location_id"] = pd.array([5, pd.NA, 7], dtype="Int64")
    rows = example_rows(examples)
    assert [r["year"] for r in rows] == [2012, int(examples["file_year"].iloc[1]), int(examples["file_year"].iloc[2])]
    key, example = make_example(rows[1], sample_dump.out, (240, 320))
    assert key == rows[1]["image_id"] and example["location_id"] == -1 and example["date"] == "not a date"
    assert all(isinstance(v, (int, float, str, bool, type(None))) for r in rows for v in r.values())


def test_other_sizes_are_centre_cropped_not_padded(tmp_path):
    pixels = np.zeros((480, 800, 3), np.uint8)  # 5:3, wider than 4:3: the sides are cropped
    pixels[:, :80] = 255  # a white band that a centre crop removes
    Image.fromarray(pixels).save(tmp_path / "5.png")
    row = {"image_id": 5, "file_path": "5.png", "format": "PNG", "mode": "RGB", "width": 800, "height": 480,
           "label": "x", "observation_id": 1, "is_thumbnail": True, "date": None, "year": -1, "family": None,
           "genus": None, "species": None, "gbif_confidence": 99.0, "location_id": None, "user_id": None}
    _, example = make_example(row, str(tmp_path), (240, 320))
    image = np.asarray(Image.open(io.BytesIO(example["image"])))
    assert image.shape == (240, 320, 3) and image.max() < 40
