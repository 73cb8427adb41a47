r"""Write a small Mushroom Observer nightly CSV export plus its fetched images, mess included.

    python -m tools.make_sample_dump --format=csv_export --out /tmp/sample_export [--images_per_family 40]

The same drawn families as `tools.make_sample_dump`, in the layout `python -m tools.fetch_mo_images`
leaves (the six export files, `images/<id>.jpg`), written as MO's `mysql -s` dump writes them (tabs,
`NULL`, backslash escapes). The export's mess: deprecated names and misspellings whose observations
count under the accepted name, a species without a classification of its own (its genus has one), names
that cannot be placed, a name id missing from names.csv, images not ok for export, images not fetched,
portrait photos, low and missing votes, an image on two observations, rows pointing at observations or
images the export does not hold, observations without images, coordinates from the observation, from
its location's box (one across the antimeridian) or none. The manifest says what was planted, so tests
check the reader's funnel exactly. Each family's own coordinates lie in a region of its own. Same seed,
same bytes.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time

import numpy as np

from tools.sample_drawing import draw_sample_image
from tools.sample_families import FAMILIES, RARE_FAMILIES, SEASONS, SIZE, Family, check_sample_target

PORTRAIT = (240, 320)
LICENSES = ("Creative Commons Wikipedia Compatible v3.0", "Creative Commons Attribution v4.0 (Wikipedia compatible)",
            "Creative Commons Non-commercial v3.0", "Public Domain", "Creative Commons Attribution Non-commercial v4.0")
HOLDERS = ("Nathan Wilson", "Alan Rockefeller", "O'Brien \"Shroomy\" Smith", "Back\\slash\tand tab", "Élise Dupré")
LOW_VOTES = (1.5, 1.0, 0.0, -1.0, None)  # MO percent 50, 33, 0, -33, none: not above the sample configs' 50
HEADERS = {
    "observations.csv": "id\tname_id\twhen\tlocation_id\tlat\tlng\t alt\tvote_cache\tis_collection_location\t"
                        "thumb_image_id",
    "images_observations.csv": "image_id\tobservation_id",
    "images.csv": "id\tcontent_type\tcopyright_holder\tlicense\tok_for_export\tdiagnostic",
    "names.csv": "id\ttext_name\tauthor\tdeprecated\tcorrect_spelling_id\tsynonym_id\trank",
    "name_classifications.csv": "name_id\tdomain\tkingdom\tphylum\tclass\torder\tfamily",
    "locations.csv": "id\tname\tnorth\tsouth\teast\twest\thigh\tlow",
}
SPECIES, GENUS, FAMILY, KINGDOM = 400, 500, 600, 1000


@dataclasses.dataclass
class SampleExportManifest:
    """What was planted, so the reader's funnel can be checked against it."""

    out: str
    families: list[str]
    images_per_family: int
    export_rows: int  # rows of images_observations.csv: the funnel's records in
    image_files: int
    expected_skips: dict[str, int]
    observations_without_images: int
    records_under_accepted_name: int
    family_from_genus_classification: int
    seconds: float = 0.0


def _mysql(value: object) -> str:
    """A value as `mysql -s` writes it."""
    if value is None:
        return "NULL"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


class ExportPlanner:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.tables: dict[str, list[tuple]] = {name: [] for name in HEADERS}
        self.name_ids = itertools.count(1)
        self.observation_ids = itertools.count(100)
        self.image_ids = itertools.count(1000)
        self.files: list[tuple[int, Family, tuple[int, int]]] = []
        self.names: dict[str, int] = {}
        self.synonyms: dict[str, int] = {}  # accepted species -> a deprecated synonym's name id
        self.misspelt: dict[str, int] = {}
        self.locations = self._locations()

    def name(self, text: str, rank: int, family: Family | None, *, deprecated: bool = False,
             correct_spelling: int | None = None, synonym: int | None = None, classified: bool = True) -> int:
        name_id = next(self.name_ids)
        self.tables["names.csv"].append((name_id, text, "(Fr.) Fr.", int(deprecated), correct_spelling, synonym, rank))
        if classified and family is not None:
            self.tables["name_classifications.csv"].append(
                (name_id, "Eukarya", "Fungi", family.phylum, family.class_, family.order, family.name))
        return name_id

    def taxonomy(self) -> None:
        synonym_groups = itertools.count(1)
        for family in FAMILIES + RARE_FAMILIES:
            self.names[family.name] = self.name(family.name, FAMILY, family)
            for genus, species_list in family.genera.items():
                self.names[genus] = self.name(genus, GENUS, family)
                for k, species in enumerate(species_list):
                    if k == 0 and family in FAMILIES[:3]:  # an accepted name with a deprecated synonym
                        group = next(synonym_groups)
                        self.names[species] = self.name(species, SPECIES, family, synonym=group)
                        self.synonyms[species] = self.name(species + "oides", SPECIES, family, deprecated=True,
                                                           synonym=group, classified=False)
                    else:
                        self.names[species] = self.name(species, SPECIES, family)
        amanita = "Amanita muscaria"
        self.misspelt[amanita] = self.name("Amanita muscria", SPECIES, None, deprecated=True,
                                           correct_spelling=self.names[amanita])
        self.names["Russula incognita"] = self.name("Russula incognita", SPECIES, FAMILIES[0], classified=False)
        self.names["Fungus mysterius"] = self.name("Fungus mysterius", SPECIES, None)
        self.names["Fungi"] = self.name("Fungi", KINGDOM, None)

    def _locations(self) -> list[int]:
        rows = [(1, "Albion, Mendocino Co., California, USA", 39.24, 39.21, -123.73, -123.77, 100, 0),
                (2, "Taveuni, Fiji", -16.7, -17.1, -179.8, 179.8, None, None),  # across the antimeridian
                (3, "Somewhere, unmapped", None, None, None, None, None, None)]
        for i in range(4, 16):
            north = float(self.rng.uniform(36, 58))
            west = float(self.rng.uniform(-122, 15))
            rows.append((i, f"Forest {i}, Sample Co., Region", round(north, 4), round(north - 0.2, 4),
                         round(west + 0.3, 4), round(west, 4), 400, 20))
        self.tables["locations.csv"] = rows
        return [row[0] for row in rows]

    def observation(self, family: Family, n_images: int, *, name: str | None = None, vote: float | None | str = "auto",
                    size=SIZE, name_id: int | None | str = "auto", ok_for_export: bool = True,
                    fetched: bool = True) -> tuple[int, list[int]]:
        rng = self.rng
        observation_id = next(self.observation_ids)
        if name is None:
            genus = str(rng.choice(sorted(family.genera)))
            name = genus if rng.random() < 0.1 else str(rng.choice(family.genera[genus]))
        if name_id == "auto":
            name_id = self.names[name]
        vote = round(float(rng.uniform(1.8, 3.0)), 4) if vote == "auto" else vote
        month = SEASONS[family.name][int(rng.integers(0, 12))]
        when = f"{int(rng.integers(2006, 2025))}-{month:02d}-{int(rng.integers(1, 29)):02d}"
        location = int(rng.choice(self.locations)) if rng.random() < 0.9 else None
        lat = lng = None
        if rng.random() < 0.3:  # each family has its own region, so a location prior has something to learn
            region = (FAMILIES + RARE_FAMILIES).index(family)
            lat = round(38 + 2 * region + float(rng.uniform(-1.5, 1.5)), 5)
            lng = round(-125 + 20 * region + float(rng.uniform(-4, 4)), 5)
        images = [next(self.image_ids) for _ in range(n_images)]
        self.tables["observations.csv"].append(
            (observation_id, name_id, when, location, lat, lng, None, vote, 1, images[0] if images else None))
        for image_id in images:
            self.tables["images_observations.csv"].append((image_id, observation_id))
            license = LICENSES[int(rng.integers(len(LICENSES)))]
            holder = HOLDERS[int(rng.integers(len(HOLDERS)))]
            self.tables["images.csv"].append((image_id, "image/jpeg", holder, license, int(ok_for_export), 1))
            if fetched:
                self.files.append((image_id, family, size))
        return observation_id, images

    def observations(self, family: Family, n_images: int, **kwargs) -> list[int]:
        ids: list[int] = []
        while len(ids) < n_images:
            ids += self.observation(family, min(n_images - len(ids), int(self.rng.integers(1, 4))), **kwargs)[1]
        return ids


def _plan(images_per_family: int, seed: int) -> tuple[ExportPlanner, dict[str, int], dict[str, int]]:
    p = ExportPlanner(seed)
    p.taxonomy()
    facts = {"records_under_accepted_name": 0, "family_from_genus_classification": 0}
    kept_observations = []
    for family in FAMILIES:
        planted = 0
        for species, synonym_id in p.synonyms.items():
            if species in itertools.chain(*family.genera.values()):
                observation_id, images = p.observation(family, 2, name=species + "oides", name_id=synonym_id)
                planted += len(images)
                facts["records_under_accepted_name"] += len(images)
        if family.name == "Amanitaceae":
            planted += len(p.observation(family, 1, name="Amanita muscria", name_id=p.misspelt["Amanita muscaria"])[1])
            facts["records_under_accepted_name"] += 1
        if family.name == "Russulaceae":
            planted += len(p.observation(family, 2, name="Russula incognita")[1])
            facts["family_from_genus_classification"] += 2
        before = len(p.tables["observations.csv"])
        p.observations(family, images_per_family - planted)
        kept_observations += [row[0] for row in p.tables["observations.csv"][before:]]
    portrait = sum(len(p.observations(f, 2, size=PORTRAIT)) for f in FAMILIES)
    rare = sum(len(p.observations(f, 4)) for f in RARE_FAMILIES)
    cycle = itertools.cycle(FAMILIES)
    low = sum(len(p.observation(next(cycle), 1, vote=v)[1]) for v in LOW_VOTES)
    unplaced = len(p.observation(next(cycle), 1, name="Fungus mysterius")[1])
    unplaced += len(p.observation(next(cycle), 1, name="Fungi")[1])
    no_name = len(p.observation(next(cycle), 1, name_id=None)[1])
    no_name += len(p.observation(next(cycle), 1, name_id=999_999)[1])
    not_ok = sum(len(p.observation(next(cycle), 1, ok_for_export=False, fetched=False)[1]) for _ in range(3))
    not_fetched = sum(len(p.observation(next(cycle), 1, fetched=False)[1]) for _ in range(4))
    without_images = [p.observation(next(cycle), 0)[0] for _ in range(3)]
    pairs = p.tables["images_observations.csv"]
    first, image = pairs[0][1], pairs[0][0]  # an image on a second observation of its family: the later row wins
    pairs.append((image, next(o for o in kept_observations if o != first)))
    pairs.append((next(p.image_ids), kept_observations[0]))  # an image missing from images.csv
    pairs.append((pairs[1][0], 987_654))  # an observation missing from observations.csv
    orphan = next(p.image_ids)  # fetched, but on no observation
    p.files.append((orphan, FAMILIES[0], SIZE))
    skips = {"observation_not_in_export": 1, "image_not_in_export": 1, "not_ok_for_export": not_ok,
             "name_not_in_export": no_name, "duplicate_image_id": 1, "no_image_file": not_fetched,
             "resolution_not_kept": portrait, "missing_family": unplaced, "low_confidence": low,
             "class_too_small": rare}
    facts["observations_without_images"] = len(without_images)
    return p, skips, facts


def write_export(planner: ExportPlanner, out: str) -> None:
    for name, header in HEADERS.items():
        with open(os.path.join(out, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(header + "\n")
            for row in planner.tables[name]:
                f.write("\t".join(_mysql(v) for v in row) + "\n")


def make_sample_csv_export(out: str, images_per_family: int = 40, seed: int = 0,
                           jpeg_quality: int = 88) -> SampleExportManifest:
    """Write the sample export under `out` (new or empty) and return its manifest."""
    start = time.perf_counter()
    check_sample_target(out, images_per_family, "sample export")
    planner, skips, facts = _plan(images_per_family, seed)
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    write_export(planner, out)
    for image_id, family, size in planner.files:
        image = draw_sample_image(family.style, size, np.random.default_rng([seed, image_id]))
        image.save(os.path.join(out, "images", f"{image_id}.jpg"), format="JPEG", quality=jpeg_quality)
    return SampleExportManifest(
        out=out, families=sorted(f.name for f in FAMILIES), images_per_family=images_per_family,
        export_rows=len(planner.tables["images_observations.csv"]), image_files=len(planner.files),
        expected_skips=skips, seconds=time.perf_counter() - start, **facts)

