import io
import os

import numpy as np
from PIL import Image

from pyck_tfds.dump import scan_images
from pyck_tfds.dump.images import read_image_header, year_of


def jpeg_bytes(size=(320, 240), mode="RGB") -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format="JPEG")
    return buffer.getvalue()


def write(path, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def test_header_gives_size_format_and_mode_without_problems(tmp_path):
    info = read_image_header(write(tmp_path / "1.jpg", jpeg_bytes((320, 240), "L")))
    assert (info["format"], info["width"], info["height"], info["mode"], info["problem"]) == ("JPEG", 320, 240, "L", None)


def test_bad_images_get_a_problem_not_an_exception(tmp_path):
    good = jpeg_bytes()
    assert read_image_header(write(tmp_path / "1.jpg", b""))["problem"] == "zero_bytes"
    assert read_image_header(write(tmp_path / "2.jpg", b"<html>404</html>"))["problem"] == "unreadable"
    assert read_image_header(write(tmp_path / "3.jpg", good[: len(good) // 2]))["problem"] == "truncated_jpeg"
    assert read_image_header(write(tmp_path / "4.jpg", good[:10]))["problem"] == "unreadable"
    png = io.BytesIO()
    Image.new("RGB", (320, 240)).save(png, format="PNG")
    info = read_image_header(write(tmp_path / "5.jpg", png.getvalue()))
    assert info["format"] == "PNG" and info["problem"] is None


def test_year_is_the_innermost_year_folder():
    assert year_of(os.path.join("images", "2012", "Amanita muscaria", "11.jpg")) == 2012
    assert year_of(os.path.join("2009", "11.jpg")) == 2009
    assert year_of(os.path.join("misc", "11.jpg")) is None


def test_scan_keys_by_id_and_keeps_first_path_of_a_duplicate_id(tmp_path):
    write(tmp_path / "images" / "2010" / "B label" / "7.jpg", jpeg_bytes())
    write(tmp_path / "images" / "2009" / "A label" / "deeper" / "7.jpg", jpeg_bytes((640, 480)))
    write(tmp_path / "images" / "2009" / "8.jpeg", jpeg_bytes())
    write(tmp_path / "images" / "2009" / "notes.txt", b"hi")
    write(tmp_path / "images" / "2009" / "cover.jpg", jpeg_bytes())
    frame, stats = scan_images(tmp_path, progress=False)
    assert frame["image_id"].tolist() == [8, 7]
    assert frame.set_index("image_id").loc[7, "file_path"] == os.path.join("images", "2009", "A label", "deeper", "7.jpg")
    assert stats["duplicate_image_file"] == 1
    assert stats["ignored_files_by_suffix"] == {".jpg": 1, ".txt": 1}
