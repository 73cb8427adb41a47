"""Read Mushroom Observer's nightly CSV export into the records table the 2017 scrape gives.

The site dumps its database every night (`script/update_snapshots` in MushroomObserver/mushroom-observer)
with `mysql -s`: tab-separated, one header line, no quoting, SQL NULL written as `NULL`, and tab,
newline and backslash inside a value escaped as `\\t`, `\\n`, `\\\\`. BUILD.md lists the columns.

One record per row of `images_observations.csv` (an image on an observation). Its labels come from
MO's own taxonomy: the observation's name, a misspelling followed to its correct spelling and a
deprecated name to the accepted name of its synonym group; genus and species from that name's text
and rank, family from `name_classifications.csv` (the genus's classification when the name has none).
Confidence is the community vote as MO shows it, in percent (`vote_cache` x 100 / 3), so the
filter reads like GBIF's. Each record that cannot be used carries the first reason in
`record_problem`; the funnel counts it.
"""

from __future__ import annotations

import csv
import os
import re

import numpy as np
import pandas as pd

from pyck_tfds.dump.errors import DumpError
from pyck_tfds.dump.licenses import license_id
from pyck_tfds.dump.metadata import JsonFileReport

EXPORT_COLUMNS = {
    "observations.csv": ("id", "name_id", "when", "location_id", "lat", "lng", "vote_cache", "thumb_image_id"),
    "images_observations.csv": ("image_id", "observation_id"),
    "images.csv": ("id", "copyright_holder", "license", "ok_for_export"),
    "names.csv": ("id", "text_name", "deprecated", "correct_spelling_id", "synonym_id", "rank"),
    "name_classifications.csv": ("name_id", "family"),
    "locations.csv": ("id", "north", "south", "east", "west"),
}
EXPORT_FILES = tuple(EXPORT_COLUMNS)
# In the funnel's order: the first that applies is the one counted.
RECORD_PROBLEMS = ("observation_not_in_export", "image_not_in_export", "not_ok_for_export", "name_not_in_export")
IMAGE_URL = "https://mushroomobserver.org/images/320/{image_id}.jpg"
MAX_VOTE = 3.0  # MO's strongest vote, "I'd call it that": 100 %

# MO's rank codes (app/models/name.rb); before April 2026 they were 1..16, in another order.
RANKS = {"Form": 100, "Variety": 200, "Subspecies": 300, "Species": 400, "Group": 410, "Stirps": 420, "Series": 430,
         "Subsection": 440, "Section": 460, "Subgenus": 480, "Genus": 500, "Subtribe": 520, "Tribe": 540,
         "Subfamily": 560, "Family": 600, "Suborder": 650, "Order": 700, "Subclass": 750, "Class": 800,
         "Subphylum": 850, "Phylum": 900, "Kingdom": 1000, "Domain": 1100}
OLD_RANKS = {1: 100, 2: 200, 3: 300, 4: 400, 5: 420, 6: 440, 7: 460, 8: 480, 9: 500, 10: 600, 11: 700, 12: 800,
             13: 900, 14: 1000, 15: 1100, 16: 410}
_ESCAPED = re.compile(r"\\(.)")
_UNESCAPE = {"t": "\t", "n": "\n", "0": "\0", "\\": "\\"}


def is_csv_export(manual_dir: str | os.PathLike) -> bool:
    return os.path.isfile(os.path.join(manual_dir, "images_observations.csv"))


def read_export_table(path: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """One export file as text columns (`columns` only), NULL and empty values as missing, escapes undone."""
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, quoting=csv.QUOTE_NONE, keep_default_na=False,
                            na_filter=False, encoding="utf-8")
    except FileNotFoundError:
        raise DumpError(f"{path} is missing: a CSV-export manual dir holds {', '.join(EXPORT_FILES)} "
                        "(download them from https://mushroomobserver.org/, see BUILD.md)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DumpError(f"{path}: not a tab-separated export file ({err}); re-download it") from None
    frame.columns = [str(c).strip() for c in frame.columns]  # the export's header spells " alt"
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DumpError(f"{path}: no column {', '.join(missing)} (found: {', '.join(frame.columns)}); "
                        "is it Mushroom Observer's export file of that name? Re-download it.")
    frame = frame[list(columns)]
    for column in columns:
        values = frame[column]
        if values.str.contains("\\", regex=False).any():
            values = values.str.replace(_ESCAPED, lambda m: _UNESCAPE.get(m.group(1), m.group(1)), regex=True)
        frame[column] = values.mask(values.isin(("NULL", "")))
    return frame


def _ids(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    whole = numeric.notna() & (numeric % 1 == 0) & (numeric >= 0)
    return numeric.where(whole).astype("Int64")


def _floats(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _rank_codes(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    by_name = values.map(RANKS)
    codes = numeric.where(numeric > 16, numeric.map(OLD_RANKS)).fillna(by_name)
    return codes.astype("float64")


def accepted_names(names: pd.DataFrame) -> pd.Series:
    """Name id -> the id its observations are counted under: correct spelling, then the accepted synonym."""
    ids = names["id"]
    spelled = names["correct_spelling_id"].where(names["correct_spelling_id"].isin(ids), ids)
    by_id = names.set_index("id")
    accepted = names[(names["deprecated"] != "1") & names["synonym_id"].notna()]
    accepted_of_group = accepted.groupby("synonym_id")["id"].min()
    after_spelling = pd.Series(spelled.to_numpy(), index=ids.to_numpy())
    deprecated = by_id.loc[after_spelling.to_numpy(), "deprecated"].to_numpy() == "1"
    group = by_id.loc[after_spelling.to_numpy(), "synonym_id"].map(accepted_of_group).to_numpy()
    replace = deprecated & pd.notna(group)
    result = after_spelling.copy()
    result[replace] = group[replace]
    return result.astype("Int64")


def name_taxonomy(names: pd.DataFrame, classifications: pd.DataFrame) -> pd.DataFrame:
    """Per name id: text, family, genus, species (missing where the name does not reach that rank)."""
    text = names["text_name"].fillna("").str.strip()
    words = text.str.split()
    rank = _rank_codes(names["rank"])
    genus = words.str[0].where(rank <= RANKS["Genus"])
    species_rank = (rank <= RANKS["Species"]) & (words.str.len() >= 2)
    species = (words.str[0] + " " + words.str[1]).where(species_rank)
    family_of = classifications.dropna(subset=["name_id"]).drop_duplicates("name_id", keep="last")
    family_of = family_of.set_index("name_id")["family"]
    family = names["id"].map(family_of)
    genus_names = names[(rank == RANKS["Genus"]) & (names["deprecated"] != "1")]
    family_of_genus = genus_names.assign(family=genus_names["id"].map(family_of)).dropna(subset=["family"])
    family_of_genus = family_of_genus.drop_duplicates("text_name", keep="first").set_index("text_name")["family"]
    from_genus = family.isna() & genus.notna()
    family = family.where(~from_genus, genus.map(family_of_genus))
    family = family.where(rank != RANKS["Family"], text)
    return pd.DataFrame({"text_name": text.to_numpy(), "family": family.to_numpy(), "genus": genus.to_numpy(),
                         "species": species.to_numpy(), "family_from_genus": (from_genus & family.notna()).to_numpy()},
                        index=names["id"].to_numpy())


def coordinates(observations: pd.DataFrame, locations: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Latitude, longitude and where they came from: the observation's own, else its location's box centre."""
    lat, lng = _floats(observations["lat"]), _floats(observations["lng"])
    boxes = locations.assign(id=_ids(locations["id"]),
                             **{c: _floats(locations[c]) for c in ("north", "south", "east", "west")})
    boxes = boxes.drop_duplicates("id").set_index("id")
    box = boxes.reindex(observations["location_id"].to_numpy())
    centre_lat = ((box["north"] + box["south"]) / 2).to_numpy()
    east, west = box["east"].to_numpy(), box["west"].to_numpy()
    span = np.where(west <= east, east - west, east - west + 360)  # a box across the antimeridian
    centre_lng = (west + span / 2 + 180) % 360 - 180
    own = (lat.notna() & lng.notna()).to_numpy()
    boxed = ~own & ~np.isnan(centre_lat) & ~np.isnan(centre_lng)
    source = np.where(own, "observation", np.where(boxed, "location_box", "none"))
    latitude = np.where(own, lat.to_numpy(), np.where(boxed, centre_lat, np.nan))
    longitude = np.where(own, lng.to_numpy(), np.where(boxed, centre_lng, np.nan))
    index = observations.index
    return pd.Series(latitude, index), pd.Series(longitude, index), pd.Series(source, index)


def _text_column(values) -> pd.Categorical:
    values = pd.Series(values, dtype=object).where(pd.notna(values), None)
    return pd.Categorical(values, categories=pd.Index(sorted({v for v in values if v is not None}), dtype=str))


def read_csv_export(manual_dir: str | os.PathLike) -> tuple[pd.DataFrame, list[JsonFileReport], dict]:
    """The records table (one row per image on an observation), one report per file read, and export facts."""
    manual_dir = os.fspath(manual_dir)
    tables = {name: read_export_table(os.path.join(manual_dir, name), columns)
              for name, columns in EXPORT_COLUMNS.items()}
    pairs = tables["images_observations.csv"]
    observations = tables["observations.csv"].assign(id=lambda t: _ids(t["id"]),
                                                      name_id=lambda t: _ids(t["name_id"]),
                                                      location_id=lambda t: _ids(t["location_id"]))
    observations = observations.dropna(subset=["id"]).drop_duplicates("id", keep="last")
    images = tables["images.csv"].assign(id=lambda t: _ids(t["id"])).dropna(subset=["id"])
    images = images.drop_duplicates("id", keep="last").set_index("id")
    names = tables["names.csv"].assign(id=lambda t: _ids(t["id"]),
                                       correct_spelling_id=lambda t: _ids(t["correct_spelling_id"]),
                                       synonym_id=lambda t: _ids(t["synonym_id"]))
    names = names.dropna(subset=["id"]).drop_duplicates("id", keep="last").reset_index(drop=True)
    classifications = tables["name_classifications.csv"].assign(name_id=lambda t: _ids(t["name_id"]))

    accepted = accepted_names(names)
    taxonomy = name_taxonomy(names, classifications)
    latitude, longitude, located = coordinates(observations, tables["locations.csv"])
    observations = observations.assign(latitude=latitude, longitude=longitude, located=located)
    observations = observations.set_index("id")

    image_id, observation_id = _ids(pairs["image_id"]), _ids(pairs["observation_id"])
    observation = observations.reindex(observation_id.to_numpy())
    image = images.reindex(image_id.to_numpy())
    name_id = observation["name_id"].to_numpy()
    known_name = pd.Series(name_id).isin(names["id"]).to_numpy()
    accepted_id = pd.Series(name_id).map(accepted).to_numpy()
    taxon = taxonomy.reindex(pd.Series(accepted_id).astype("float64").fillna(-1).astype("int64").to_numpy())

    in_observations = observation_id.isin(observations.index).to_numpy()
    in_images = image_id.isin(images.index).to_numpy()
    ok = (image["ok_for_export"] == "1").to_numpy()
    problem = np.select(
        [~in_observations, ~in_images, ~ok, ~known_name], list(RECORD_PROBLEMS), default=None).astype(object)
    vote = _floats(observation["vote_cache"]).to_numpy()

    records = pd.DataFrame({
        "image_id": image_id.to_numpy(),
        "observation_id": observation_id.to_numpy(),
        "user_id": pd.array([pd.NA] * len(pairs), dtype="Int64"),
        "location_id": pd.array(observation["location_id"].to_numpy(), dtype="Int64"),
        "thumbnail": pd.array((image_id == _ids(observation["thumb_image_id"]).set_axis(image_id.index))
                              .fillna(False).to_numpy(dtype=bool), dtype="boolean"),
        "label": _text_column(taxon["text_name"].to_numpy()),
        "date": _text_column(observation["when"].to_numpy()),
        "image_url": _text_column([IMAGE_URL.format(image_id=i) if pd.notna(i) else None for i in image_id]),
        "taxon.family": _text_column(taxon["family"].to_numpy()),
        "taxon.genus": _text_column(taxon["genus"].to_numpy()),
        "taxon.species": _text_column(taxon["species"].to_numpy()),
        "taxon.confidence": (vote * 100 / MAX_VOTE).astype("float32"),
        "license": _text_column([license_id(v) if isinstance(v, str) else None for v in image["license"]]),
        "copyright_holder": _text_column(image["copyright_holder"].to_numpy()),
        "latitude": observation["latitude"].to_numpy(dtype="float64"),
        "longitude": observation["longitude"].to_numpy(dtype="float64"),
        "record_problem": _text_column(problem),
        "is_object": pd.array([True] * len(pairs), dtype="boolean"),
        "json_file": pd.Categorical(["images_observations.csv"] * len(pairs)),
        "json_index": pd.array(range(len(pairs)), dtype="int32"),
    })
    usable = pd.isna(problem)
    renamed = usable & known_name & (pd.Series(accepted_id).to_numpy() != name_id)
    facts = {
        "observations": int(len(observations)),
        "observations_without_images": int((~observations.index.isin(observation_id.dropna())).sum()),
        "records_under_accepted_name": int(renamed.sum()),
        "family_from_genus_classification": int((usable & taxon["family_from_genus"].fillna(False)
                                                 .to_numpy(dtype=bool)).sum()),
        "coordinates": {where: int(((observation["located"] == where).to_numpy() & usable).sum())
                        for where in ("observation", "location_box", "none")},
    }
    reports = [JsonFileReport(file=name, records=int(len(table))) for name, table in tables.items()]
    return records, reports, facts
