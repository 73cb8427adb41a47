"""`tools.folder_to_dump`: photos sorted by class become a dump the reader and builder take unchanged."""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from pyck_tfds.dump import DumpFilter, load_dump
from tools.folder_to_dump import convert, crop_to_size

TAXONOMY = "class,family,genus,species\nfly_agaric,Amanitaceae,Amanita,Amanita muscaria\n" \
           "cep,Boletaceae,Boletus,Boletus edulis\n"


def _photo(path, size, colour, date: str | None = None, orientation: int | None = None) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = Image.new("RGB", size, colour)
    exif = Image.Exif()
    if date:
        exif.get_ifd(0x8769)[0x9003] = date
    if orientation:
        exif[0x0112] = orientation
    image.save(path, exif=exif)


@pytest.fixture
def photos(tmp_path):
    root_a, root_b = tmp_path / "train_data", tmp_path / "val_data"
    for i in range(15):  # a grouped 3-way split needs 25 observations
        _photo(root_a / "fly_agaric" / f"a{i}.jpg", (64, 48), (200, 30, 30), date=f"2015:09:{10 + i} 10:00:00")
    for i in range(14):
        _photo(root_a / "cep" / "nested" / f"c{i}.jpg", (40, 60), (120, 80, 40))  # portrait, no date
    _photo(root_b / "cep" / "c9.jpg", (600, 400), (120, 80, 40), orientation=6)  # shown rotated: portrait
    (root_b / "cep" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    taxonomy = tmp_path / "taxonomy.csv"
    taxonomy.write_text(TAXONOMY)
    return [str(root_a), str(root_b)], str(taxonomy)


def test_photos_become_a_dump_in_the_real_layout(photos, tmp_path):
    roots, taxonomy = photos
    out = str(tmp_path / "dump")
    result = convert(roots, taxonomy, out)
    assert result == {"images": {"cep": 15, "fly_agaric": 15}, "skipped": {"unreadable": 1}, "files": 31}
    selection = load_dump(out, DumpFilter(level="species", min_per_class=5), seed=0)
    examples = selection.examples
    assert len(examples) == 30 and set(examples["class_name"]) == {"Amanita muscaria", "Boletus edulis"}
    assert set(zip(examples["width"], examples["height"])) == {(320, 240)}
    assert set(examples.loc[examples["class_name"] == "Boletus edulis", "gbif_info.family"]) == {"Boletaceae"}
    dated = examples.loc[examples["class_name"] == "Amanita muscaria", "date"].astype(str)
    assert sorted(dated) == [f"2015-09-{10 + i} 10:00:00" for i in range(15)]
    assert examples["observation_id"].nunique() == 30  # each photo its own observation
    records = [r for name in os.listdir(os.path.join(out, "json")) for r in json.load(open(os.path.join(out, "json",
                                                                                                     name)))]
    assert sorted(os.listdir(os.path.join(out, "json"))) == ["observations_2015.json", "observations_undated.json"]
    assert {r["gbif_info"]["confidence"] for r in records} == {100}


def test_crop_keeps_the_centre_at_four_to_three():
    image = Image.new("RGB", (300, 600), (0, 0, 0))
    image.paste((255, 255, 255), (0, 263, 300, 338))  # a white band in the middle rows
    cropped = crop_to_size(image)
    assert cropped.size == (320, 240)
    assert cropped.getpixel((160, 120)) == (255, 255, 255) and cropped.getpixel((160, 5)) == (0, 0, 0)


def test_a_class_without_taxonomy_is_an_error_naming_it(photos, tmp_path):
    roots, _ = photos
    taxonomy = tmp_path / "partial.csv"
    taxonomy.write_text("class,family,genus,species\ncep,Boletaceae,Boletus,Boletus edulis\n")
    with pytest.raises(ValueError, match="no row for class folder.*fly_agaric"):
        convert(roots, str(taxonomy), str(tmp_path / "dump"))
    assert not (tmp_path / "dump").exists()


def test_a_second_run_into_the_same_folder_refuses_and_loses_nothing(photos, tmp_path):
    roots, taxonomy = photos
    out = tmp_path / "dump"
    convert(roots, taxonomy, str(out))
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    with pytest.raises(FileExistsError, match="not an empty folder"):
        convert(roots, taxonomy, str(out))
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    assert not (tmp_path / "dump.partial").exists()


def test_the_command_prints_one_line_on_bad_input(tmp_path):
    from tests.conftest import run_python

    result = run_python("-m", "tools.folder_to_dump", f"--roots={tmp_path / 'missing'}",
                        f"--taxonomy={tmp_path / 'none.csv'}", f"--out={tmp_path / 'dump'}", timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "folder_to_dump:" in result.stderr and "none.csv" in result.stderr
