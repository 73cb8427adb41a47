r"""Write a small Mushroom Observer dump in the real layout, mess included.

    python -m tools.make_sample_dump --out /tmp/sample_dump [--images_per_family 120] [--seed 0]

Seven families are drawn so that they can be told apart (see `tools.sample_drawing`),
three rare ones fall under any sensible class-size threshold, and the dump carries the
real one's mess: other resolutions, records without images and images without records,
`gbif_info` null or no-match, low confidence, missing family, duplicate ids across JSON
files, URL-style ids, extra fields, odd nesting, a corrupt, a zero-byte, an HTML and a
PNG "image", a grayscale and a CMYK JPEG, and a metadata file cut short by an
interrupted scrape. `make_sample_dump` returns a manifest of what it planted, so tests
can check the reader's funnel exactly. Same seed, same bytes.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import sys
import time

import numpy as np
from absl import app, flags

from tools.sample_drawing import draw_sample_image
from tools.sample_families import FAMILIES, RARE_FAMILIES, SEASONS, SIZE, Family, check_sample_target

OTHER_SIZES = ((240, 320), (640, 480), (320, 213), (300, 225))
YEARS = tuple(range(2006, 2017))  # image folders; the metadata has one more file, 2017
LAST_JSON_YEAR = 2017


LOW_CONFIDENCES = (60, 70, 75, 80, 85, 88, 90, 90)  # 90 is not > 90: dropped too


@dataclasses.dataclass
class SampleDumpManifest:
    """What was planted, so a reader's funnel can be checked against it."""

    out: str
    families: list[str]
    images_per_family: int
    rare_family_images: dict[str, int]
    json_records: int
    lost_records: int
    image_files: int
    orphan_images: int
    expected_skips: dict[str, int]
    seconds: float = 0.0


@dataclasses.dataclass
class PlannedImage:
    image_id: int
    family: Family
    size: tuple[int, int]
    year: int
    folder: str
    kind: str = "rgb"  # rgb | gray | cmyk | png | corrupt | zero | html
    variant: int | None = None  # the species' cap colour (`Family.variant`)


def _taxonomy_keys(families) -> dict[str, int]:
    names = sorted({n for f in families for n in (f.name, f.order, *f.genera, *itertools.chain(*f.genera.values()))})
    return {name: 1000 + 37 * i for i, name in enumerate(names)}


class DumpPlanner:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.image_ids = itertools.count(11)
        self.observation_ids = itertools.count(10)
        self.images: list[PlannedImage] = []
        self.records: list[tuple[int, dict]] = []  # (json year, record)
        self.keys = _taxonomy_keys(FAMILIES + RARE_FAMILIES)

    def _id_field(self, kind: str, value: int) -> int | str:
        """Ids as the dump has them: mostly integers, sometimes URL-like paths."""
        roll = self.rng.random()
        if roll < 0.1:
            return f"/show_{kind}/{value}"
        if roll < 0.2:
            return f"http://mushroomobserver.org/observer/show_{kind}/{value}"
        return value

    def gbif(self, family: Family, genus: str, species: str | None, confidence: int, rank: str) -> dict:
        info = {"kingdom": "Fungi", "kingdomKey": 5, "phylum": family.phylum, "phylumKey": self.keys.get(family.phylum, 34),
                "class": family.class_, "classKey": 186, "order": family.order, "orderKey": self.keys[family.order]}
        if rank in ("FAMILY", "GENUS", "SPECIES"):
            info.update(family=family.name, familyKey=self.keys[family.name])
        if rank in ("GENUS", "SPECIES"):
            info.update(genus=genus, genusKey=self.keys[genus])
        if rank == "SPECIES":
            info.update(species=species, speciesKey=self.keys[species])
        if rank == "KINGDOM":
            info = {"kingdom": "Fungi", "kingdomKey": 5}
        name = {"SPECIES": species, "GENUS": genus, "FAMILY": family.name, "ORDER": family.order}.get(rank, "Fungi")
        info.update(usageKey=self.keys.get(name, 5), rank=rank, status="ACCEPTED", synonym=False,
                    confidence=int(confidence), matchType="EXACT", canonicalName=name,
                    scientificName=f"{name} (Fr.) Fr., 1838")
        return info

    def observation(self, family: Family, n_images: int, size=SIZE, *, rank: str = "SPECIES", confidence: int | None = None,
                    gbif: object = "auto", kinds: tuple[str, ...] = (), with_files: bool = True,
                    with_records: bool = True) -> list[int]:
        rng = self.rng
        observation = next(self.observation_ids)
        year = int(rng.choice(YEARS))
        genus = str(rng.choice(sorted(family.genera)))
        species = str(rng.choice(family.genera[genus]))
        label = genus if rank == "GENUS" else species
        confidence = int(rng.integers(92, 101)) if confidence is None else confidence
        info = self.gbif(family, genus, species, confidence, rank) if gbif == "auto" else gbif
        month = SEASONS[family.name][int(rng.integers(1, 13)) - 1]  # one draw, as before: other bytes unchanged
        date = f"{year}-{month:02d}-{rng.integers(1, 29):02d} " \
               f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}:{rng.integers(0, 60):02d}"
        user, location = int(rng.integers(1, 80)), int(rng.integers(1, 300))
        ids = []
        for k in range(n_images):
            image_id = next(self.image_ids)
            ids.append(image_id)
            if with_files:
                placement = rng.random()
                folder = os.path.join(str(year), label)
                if placement < 0.05:
                    folder = str(year)
                elif placement < 0.1:
                    folder = os.path.join(str(year), label, "more")
                kind = kinds[k] if k < len(kinds) else "rgb"
                self.images.append(PlannedImage(image_id, family, size, year, folder, kind, family.variant(species)))
            if with_records:
                record = {"image_id": image_id, "observation": self._id_field("observation", observation),
                          "thumbnail": int(k == 0), "label": label, "date": date,
                          "user": self._id_field("user", user), "location": self._id_field("location", location),
                          "image_url": f"http://mushroomobserver.org/images/320/{image_id}", "gbif_info": info}
                if rng.random() < 0.05:
                    record["notes"] = "unexpected extra field"
                    if isinstance(info, dict):
                        record["gbif_info"] = {**info, "acceptedUsageKey": 42}
                self.records.append((year, record))
        return ids

    def observations(self, family: Family, n_images: int, sizes=(SIZE,), kinds: tuple[str, ...] = ()) -> list[int]:
        ids = []
        while len(ids) < n_images:
            k = min(n_images - len(ids), int(self.rng.integers(1, 5)))
            size = sizes[int(self.rng.integers(len(sizes)))]
            rank = "GENUS" if self.rng.random() < 0.1 else "SPECIES"
            ids += self.observation(family, k, size, rank=rank, kinds=kinds if not ids else ())
        return ids


def _plan(images_per_family: int, seed: int) -> tuple[DumpPlanner, dict[str, int], dict[str, int]]:
    p = DumpPlanner(seed)
    special = {"Agaricaceae": ("gray",), "Boletaceae": ("cmyk",)}
    kept = []
    for family in FAMILIES:
        kept += p.observations(family, images_per_family, kinds=special.get(family.name, ()))
    off_resolution = sum(len(p.observations(f, round(0.15 * images_per_family), OTHER_SIZES)) for f in FAMILIES)
    rare = {f.name: len(p.observations(f, max(6, images_per_family // 8))) for f in RARE_FAMILIES}
    cycle = itertools.cycle(FAMILIES)
    for i in range(6):
        p.observation(next(cycle), 1, gbif=None)
        p.observation(next(cycle), 1, gbif={"confidence": 100, "matchType": "NONE", "synonym": False})
        p.observation(next(cycle), 1, rank="ORDER" if i % 2 else "KINGDOM")
    for confidence in LOW_CONFIDENCES:
        p.observation(next(cycle), 1, confidence=confidence)
    for kind in ("corrupt", "zero", "html", "png"):
        p.observation(next(cycle), 1, kinds=(kind,))
    for _ in range(25):
        p.observation(next(cycle), 1, with_files=False)
    for _ in range(8):
        p.observation(next(cycle), 1, with_records=False)
    by_id = {record["image_id"]: (year, record) for year, record in p.records}
    chosen = [int(i) for i in p.rng.choice(kept, size=min(30, len(kept)), replace=False)]
    for image_id in chosen[:20]:  # re-scraped later: the copy in the last file wins
        year, record = by_id[image_id]
        p.records.append((LAST_JSON_YEAR, {**record, "gbif_info": {**record["gbif_info"], "confidence": 99}}))
    for image_id in chosen[20:]:  # stale copy in the first file, first in it: the original wins
        year, record = by_id[image_id]
        p.records.insert(0, (YEARS[0], {**record, "gbif_info": None}))
    skips = {"duplicate_image_id": len(chosen), "no_image_file": 25, "image_zero_bytes": 1, "image_unreadable": 1,
             "image_truncated_jpeg": 1, "format_not_kept": 1, "resolution_not_kept": off_resolution,
             "missing_family": 18, "low_confidence": len(LOW_CONFIDENCES), "class_too_small": sum(rare.values())}
    return p, rare, skips


def write_image(planned: PlannedImage, out: str, seed: int, quality: int = 88) -> None:
    folder = os.path.join(out, "images", planned.folder)
    os.makedirs(folder, exist_ok=True)
    suffix = ".png" if planned.kind == "png" else ".jpg"
    path = os.path.join(folder, f"{planned.image_id}{suffix}")
    if planned.kind == "zero":
        open(path, "wb").close()
        return
    if planned.kind == "html":
        with open(path, "w") as f:
            f.write("<html><body>503 Service Unavailable</body></html>\n")
        return
    image = draw_sample_image(planned.family.style, planned.size, np.random.default_rng([seed, planned.image_id]),
                              planned.variant)
    if planned.kind == "gray":
        image = image.convert("L")
    elif planned.kind == "cmyk":
        image = image.convert("CMYK")
    if planned.kind == "png":
        image.save(path, format="PNG")
        return
    image.save(path, format="JPEG", quality=quality)
    if planned.kind == "corrupt":  # cut short mid-scan, as a broken download is
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])


def _write_metadata(records: list[tuple[int, dict]], out: str) -> int:
    """One `observations_<year>.json` per year; the last one is cut mid-record. Returns records lost."""
    folder = os.path.join(out, "json")
    os.makedirs(folder, exist_ok=True)
    for year in (*YEARS, LAST_JSON_YEAR):
        rows = [json.dumps(record) for y, record in records if y == year]
        text = "[\n" + ",\n".join(rows) + "\n]\n"
        if year == LAST_JSON_YEAR:  # the scraper was interrupted while writing a record
            text = "[\n" + ",\n".join(rows) + ',\n{"image_id": 99999999, "observation": 77, "label": "Amani'
        with open(os.path.join(folder, f"observations_{year}.json"), "w") as f:
            f.write(text)
    return 1


def make_sample_dump(out: str, images_per_family: int = 120, seed: int = 0, jpeg_quality: int = 88) -> SampleDumpManifest:
    """Write the sample dump under `out` (which must be empty or absent) and return its manifest."""
    start = time.perf_counter()
    check_sample_target(out, images_per_family, "sample dump")
    planner, rare, skips = _plan(images_per_family, seed)
    for planned in planner.images:
        write_image(planned, out, seed, jpeg_quality)
    lost = _write_metadata(planner.records, out)
    with open(os.path.join(out, "images", str(YEARS[0]), "Thumbs.db"), "wb") as f:
        f.write(b"\x00" * 16)
    with open(os.path.join(out, "README.txt"), "w") as f:
        f.write(f"pyck sample dump: python -m tools.make_sample_dump --images_per_family {images_per_family} "
                f"--seed {seed} --jpeg_quality {jpeg_quality}\n")
    return SampleDumpManifest(
        out=out, families=sorted(f.name for f in FAMILIES), images_per_family=images_per_family,
        rare_family_images=rare, json_records=len(planner.records), lost_records=lost,
        image_files=len(planner.images), orphan_images=8, expected_skips=skips, seconds=time.perf_counter() - start,
    )


FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Folder to write the sample dump into (new or empty).")
flags.DEFINE_integer("images_per_family", 120, "Images kept per main family by the study's filters.", lower_bound=10)
flags.DEFINE_integer("seed", 0, "Seed: the same seed writes the same bytes.")
flags.DEFINE_integer("jpeg_quality", 88, "JPEG quality of the drawn images.", lower_bound=10, upper_bound=100)
flags.DEFINE_enum("format", "scrape_2017", ["scrape_2017", "csv_export"],
                  "scrape_2017: the 2017 research dump's layout (JSON + year folders); csv_export: today's nightly "
                  "CSV export with the images as tools.fetch_mo_images writes them.")


def main(argv: list[str]) -> None:
    del argv
    try:
        check_sample_target(FLAGS.out, FLAGS.images_per_family, "sample")
    except (FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    if FLAGS.format == "csv_export":
        from tools.sample_csv_export import make_sample_csv_export

        export = make_sample_csv_export(FLAGS.out, FLAGS.images_per_family, FLAGS.seed, FLAGS.jpeg_quality)
        print(f"Wrote a CSV export of {export.export_rows} image-observation rows and {export.image_files} image "
              f"files to {export.out} in {export.seconds:.1f} s.")
        print(f"Families kept by the *_csv_sample configs: {', '.join(export.families)} "
              f"({export.images_per_family} images each).")
        return
    manifest = make_sample_dump(FLAGS.out, FLAGS.images_per_family, FLAGS.seed, FLAGS.jpeg_quality)
    print(f"Wrote {manifest.image_files} image files and {manifest.json_records} metadata records "
          f"to {manifest.out} in {manifest.seconds:.1f} s.")
    print(f"Families kept by the study's filters: {', '.join(manifest.families)} "
          f"({manifest.images_per_family} images each); rare families: {manifest.rare_family_images}.")


if __name__ == "__main__":
    flags.mark_flag_as_required("out")
    app.run(main)
