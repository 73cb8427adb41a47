r"""Turn a folder of photos sorted by class into a dump in the real Mushroom Observer layout.

    python -m tools.folder_to_dump --roots=PHOTOS/train_data,PHOTOS/val_data \
        --taxonomy=taxonomy.csv --out=DUMP

Each root holds one folder per class (`<root>/<class>/**/*.jpg`, any nesting below the
class folder). The taxonomy CSV maps each class folder name to its family, genus and
species (columns `class,family,genus,species`). Every photo is turned upright by its EXIF
orientation, centre-cropped to 4:3 and resized to 320x240, the study's resolution, and
written as `images/<year>/<species>/<id>.jpg` with one `json/observations_<year>.json`
record per photo (GBIF confidence 100, rank SPECIES), so `inspect`, `tfds build`, the
trainer and eval run unchanged on photos people took. Photos carry no observation id: each
one is its own observation. The date is the photo's EXIF `DateTimeOriginal` when it has
one (year folder `undated` otherwise). `source.csv` maps every image id back to its file;
unreadable files are skipped and counted per reason, never dropped silently. The dump is written
into `<out>.partial` and moved to `--out` only when complete.
"""

from __future__ import annotations

import collections
import json
import os
import sys
from collections.abc import Sequence

import pandas as pd
from absl import app, flags
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from pyck_classifier.data.photo_metadata import exif_datetime
from pyck_tfds.dump.images import IMAGE_SUFFIXES

SIZE = (320, 240)  # (width, height)
TAXONOMY_COLUMNS = ("class", "family", "genus", "species")


def read_taxonomy(path: str) -> pd.DataFrame:
    """The class -> family, genus, species table, indexed by class; errors name the file and what is wrong."""
    table = pd.read_csv(path, dtype=str)
    missing = [c for c in TAXONOMY_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(TAXONOMY_COLUMNS)}")
    duplicated = table["class"][table["class"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"{path}: class(es) listed twice: {', '.join(duplicated)}")
    return table.set_index("class")[list(TAXONOMY_COLUMNS[1:])]


def find_photos(roots: Sequence[str]) -> pd.DataFrame:
    """One row per image file: root, class (the first folder below the root), path; sorted, listing-order free."""
    rows = []
    for root in roots:
        if not os.path.isdir(root):
            raise FileNotFoundError(f"{root}: no such folder; expected <root>/<class>/*.jpg")
        for folder, dirs, files in os.walk(root):
            dirs.sort()
            relative = os.path.relpath(folder, root)
            if relative == ".":
                continue
            for name in sorted(files):
                if name.lower().endswith(IMAGE_SUFFIXES):
                    rows.append({"root": root, "class": relative.split(os.sep)[0],
                                 "path": os.path.join(folder, name)})
    return pd.DataFrame(rows, columns=["root", "class", "path"])


def crop_to_size(image: Image.Image, size: tuple[int, int] = SIZE) -> Image.Image:
    """Centre crop to the aspect of `size` (width, height), then resize; no padding, no distortion."""
    width, height = image.size
    scale = min(width / size[0], height / size[1])
    crop_w, crop_h = round(size[0] * scale), round(size[1] * scale)
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    return image.crop((left, top, left + crop_w, top + crop_h)).resize(size, Image.Resampling.LANCZOS)


def convert(roots: Sequence[str], taxonomy_csv: str, out: str, *, quality: int = 90) -> dict:
    """Write the dump into `out`; returns counts: images per class, skipped per reason."""
    taxonomy = read_taxonomy(taxonomy_csv)
    photos = find_photos(roots)
    if photos.empty:
        raise ValueError(f"no image files under {', '.join(roots)}; expected <root>/<class>/*.jpg")
    unknown = sorted(set(photos["class"]) - set(taxonomy.index))
    if unknown:
        raise ValueError(f"{taxonomy_csv}: no row for class folder(s) {', '.join(unknown)}; add "
                         f"{','.join(TAXONOMY_COLUMNS)} rows for them")
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise FileExistsError(f"{out} exists and is not an empty folder; choose a new --out")
    final, out = out, os.path.normpath(out) + ".partial"  # written aside, moved into place when complete
    if os.path.exists(out):
        raise FileExistsError(f"{out} is left from an interrupted run; delete it, then run again")

    records: dict[str, list[dict]] = collections.defaultdict(list)
    sources, kept, skipped = [], collections.Counter(), collections.Counter()
    for image_id, photo in enumerate(tqdm(photos.itertuples(index=False), total=len(photos), desc="photos",
                                          unit="img"), start=1):
        taxon = taxonomy.loc[photo[1]]
        try:
            with Image.open(photo.path) as image:
                date = exif_datetime(image)
                upright = ImageOps.exif_transpose(image).convert("RGB")
        except (UnidentifiedImageError, OSError, SyntaxError):
            skipped["unreadable"] += 1
            continue
        year = date[:4] if date else "undated"
        folder = os.path.join(out, "images", year, taxon["species"])
        os.makedirs(folder, exist_ok=True)
        crop_to_size(upright).save(os.path.join(folder, f"{image_id}.jpg"), quality=quality)
        info = {"kingdom": "Fungi", "family": taxon["family"], "genus": taxon["genus"], "species": taxon["species"],
                "rank": "SPECIES", "status": "ACCEPTED", "synonym": False, "confidence": 100, "matchType": "EXACT",
                "canonicalName": taxon["species"]}
        records[year].append({"image_id": image_id, "observation": image_id, "thumbnail": 1,
                              "label": taxon["species"], "date": date, "gbif_info": info})
        sources.append({"image_id": image_id, "class": photo[1], "source": os.path.relpath(photo.path, photo.root),
                        "root": photo.root})
        kept[photo[1]] += 1
    os.makedirs(os.path.join(out, "json"), exist_ok=True)
    for year, rows in sorted(records.items()):
        with open(os.path.join(out, "json", f"observations_{year}.json"), "w") as f:
            json.dump(rows, f)
    pd.DataFrame(sources).to_csv(os.path.join(out, "source.csv"), index=False)
    os.replace(out, final)
    return {"images": dict(sorted(kept.items())), "skipped": dict(skipped), "files": len(photos)}


def define_flags() -> None:
    """The command's flags, defined only when it runs (importing `convert` defines none)."""
    flags.DEFINE_list("roots", None, "Folders holding one sub-folder per class.")
    flags.DEFINE_string("taxonomy", None, "CSV with columns class,family,genus,species.")
    flags.DEFINE_string("out", None, "Where the dump is written (must not hold one already).")
    flags.DEFINE_integer("quality", 90, "JPEG quality of the written images.", lower_bound=1, upper_bound=100)
    flags.mark_flags_as_required(["roots", "taxonomy", "out"])


def main(argv: list[str]) -> None:
    try:
        result = convert(flags.FLAGS.roots, flags.FLAGS.taxonomy, flags.FLAGS.out, quality=flags.FLAGS.quality)
    except (ValueError, OSError) as err:
        sys.exit(f"folder_to_dump: {err}")
    print(f"{result['files']} files: " + ", ".join(f"{k} {v}" for k, v in result["images"].items())
          + f"; skipped {sum(result['skipped'].values())} {result['skipped'] or ''}".rstrip())
    print(f"dump written to {flags.FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
