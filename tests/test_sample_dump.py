import hashlib
import os

import pytest

from tools.make_sample_dump import make_sample_dump


def tree_digest(root: str) -> dict[str, str]:
    digests = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            digests[os.path.relpath(path, root)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return digests


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = make_sample_dump(str(tmp_path / "a"), 10, seed=3)
    b = make_sample_dump(str(tmp_path / "b"), 10, seed=3)
    c = make_sample_dump(str(tmp_path / "c"), 10, seed=4)
    assert tree_digest(a.out) == tree_digest(b.out)
    assert tree_digest(a.out) != tree_digest(c.out)


def test_layout_is_the_real_dumps(sample_dump):
    assert sorted(os.listdir(os.path.join(sample_dump.out, "json"))) == [f"observations_{y}.json" for y in range(2006, 2018)]
    assert sorted(os.listdir(os.path.join(sample_dump.out, "images"))) == [str(y) for y in range(2006, 2017)]


def test_refuses_to_write_into_a_non_empty_folder(tmp_path):
    (tmp_path / "x").write_text("keep me")
    with pytest.raises(FileExistsError):
        make_sample_dump(str(tmp_path), 10)
