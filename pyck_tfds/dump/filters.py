"""The study's filter funnel over joined records and images, with every dropped row counted.

Order of the steps follows the study's table: join, resolution, missing label, confidence,
class size. Each row that leaves is counted once, under the first reason that applies, so
`records in == kept + sum(skips)` holds by construction and is checked by `Funnel.check`.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from pyck_tfds.dump.csv_export import RECORD_PROBLEMS
from pyck_tfds.dump.errors import DumpError
from pyck_tfds.dump.images import IMAGE_PROBLEMS
from pyck_tfds.dump.licenses import KNOWN_LICENSES
from pyck_tfds.dump.metadata import TAXON_PREFIX
from pyck_tfds.options import option

LEVELS = ("family", "genus", "species")


@dataclasses.dataclass(frozen=True)
class FilterOptions:
    """A `DumpFilter` as people write it (flags, builder configs, JSON): the one place its defaults live.

    Defaults are the study's 7-family setup on the real dump; each field's metadata holds the
    help text the command-line flags show (`pyck_tfds.dump_flags`).
    """

    level: str = option("family", "Taxonomic rank whose name is the class label.", choices=LEVELS)
    # 320x240: the study's, and the most common of the dump's 734 resolutions
    resolution: str = option("320x240", "WIDTHxHEIGHT[,WIDTHxHEIGHT...] of the images to keep, or 'any' (the "
                              "builder then centre-crops and resizes).")
    min_confidence: float = option(90.0, "Keep records whose GBIF match confidence is strictly above this.")
    min_per_class: int = option(4000, "Keep classes with at least this many images (the study: 4000).", lower=1)
    max_classes: int | None = option(None, "Keep only the N largest classes left after --min_per_class.", lower=2)
    classes: tuple[str, ...] | None = option(None, "Explicit comma-separated class list; overrides "
                                              "--min_per_class and --max_classes.")
    formats: tuple[str, ...] = option(("JPEG",), "Image formats (PIL names) to keep.")
    licenses: tuple[str, ...] | None = option(None, "CSV export only: keep images under these licences (ids: "
                                               + ", ".join(lic.id for lic in KNOWN_LICENSES) + "); all if unset.")

    def dump_filter(self) -> DumpFilter:
        return DumpFilter(
            level=self.level,
            resolutions=parse_resolutions(self.resolution),
            min_confidence=self.min_confidence,
            min_per_class=self.min_per_class,
            max_classes=self.max_classes,
            classes=tuple(self.classes) if self.classes else None,
            formats=tuple(f.upper() for f in self.formats),
            licenses=tuple(self.licenses) if self.licenses else None,
        )


_DEFAULTS = FilterOptions()


@dataclasses.dataclass(frozen=True)
class DumpFilter:
    """Which images become examples, parsed (`FilterOptions.dump_filter()`); defaults are `FilterOptions`'s."""

    level: str = _DEFAULTS.level
    # (width, height) pairs to keep; None keeps every resolution (the builder then resizes).
    resolutions: tuple[tuple[int, int], ...] | None = dataclasses.field(
        default_factory=lambda: parse_resolutions(_DEFAULTS.resolution))
    min_confidence: float = _DEFAULTS.min_confidence  # keep GBIF match confidence strictly above this
    min_per_class: int = _DEFAULTS.min_per_class
    max_classes: int | None = _DEFAULTS.max_classes  # keep only the N largest classes left after min_per_class
    classes: tuple[str, ...] | None = _DEFAULTS.classes  # explicit class list; overrides min_per_class/max_classes
    formats: tuple[str, ...] = _DEFAULTS.formats  # image formats (PIL names) that are kept
    licenses: tuple[str, ...] | None = _DEFAULTS.licenses  # licence ids kept (CSV export only); None keeps all

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {self.level!r}")
        if self.min_per_class < 1:
            raise ValueError(f"min_per_class must be >= 1, got {self.min_per_class}")
        if self.max_classes is not None and self.max_classes < 2:
            raise ValueError(f"max_classes must be >= 2, got {self.max_classes}")
        if self.classes is not None and len(self.classes) < 2:
            raise ValueError(f"classes must name at least 2 classes, got {self.classes}")

    @property
    def label_column(self) -> str:
        return TAXON_PREFIX + self.level


@dataclasses.dataclass
class FunnelStep:
    step: str
    rows: int
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Funnel:
    steps: list[FunnelStep] = dataclasses.field(default_factory=list)

    @property
    def records_in(self) -> int:
        return self.steps[0].rows

    @property
    def kept(self) -> int:
        return self.steps[-1].rows

    def skip_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for step in self.steps:
            for reason, n in step.skipped.items():
                counts[reason] = counts.get(reason, 0) + n
        return counts

    def check(self) -> None:
        """Raise if any row left the funnel without a counted reason."""
        skipped = sum(self.skip_counts().values())
        if self.records_in != self.kept + skipped:
            raise AssertionError(f"funnel leaks rows: {self.records_in} in != {self.kept} kept + {skipped} skipped")


class _FunnelBuilder:
    def __init__(self, frame: pd.DataFrame, first_step: str):
        self.frame = frame
        self.funnel = Funnel([FunnelStep(first_step, len(frame))])

    def drop(self, step: str, reasons: list[tuple[str, pd.Series]]) -> None:
        """Drop rows where a reason's mask is True, crediting each row to its first reason."""
        remaining = pd.Series(True, index=self.frame.index)
        skipped = {}
        for reason, mask in reasons:
            hit = remaining & mask.fillna(False).astype(bool)
            skipped[reason] = int(hit.sum())
            remaining &= ~hit
        self.frame = self.frame[remaining]
        self.funnel.steps.append(FunnelStep(step, len(self.frame), {k: v for k, v in skipped.items() if v}))


def parse_resolutions(text: str) -> tuple[tuple[int, int], ...] | None:
    """`"320x240"` or `"320x240,640x480"` (width x height) -> pairs; `"any"` -> None (keep all)."""
    if text.strip().lower() == "any":
        return None
    pairs = []
    for part in text.split(","):
        width, sep, height = part.strip().lower().partition("x")
        if not (sep and width.isdigit() and height.isdigit()):
            raise ValueError(f"resolution {part!r} is not WIDTHxHEIGHT (e.g. 320x240) or 'any'")
        pairs.append((int(width), int(height)))
    return tuple(pairs)


def deduplicate_records(records: pd.DataFrame) -> pd.Series:
    """Mask of records superseded by another record of the same image id.

    Rule: the record from the metadata file whose relative path sorts last (the latest
    scrape) wins; within one file, the later record wins. Listing order plays no part.
    """
    order = pd.DataFrame(
        {"file": records["json_file"].astype(str), "index": records["json_index"], "image_id": records["image_id"]}
    ).sort_values(["file", "index"], kind="stable")
    superseded = order["image_id"].duplicated(keep="last")
    return superseded.reindex(records.index)


def _join(records: pd.DataFrame, images: pd.DataFrame, dump_filter: DumpFilter = DumpFilter()
          ) -> tuple[_FunnelBuilder, int]:
    """Funnel steps up to one row per record with a readable image; returns orphan image count."""
    f = _FunnelBuilder(records, "export rows (image on observation)" if "record_problem" in records else "JSON records")
    f.drop("valid ids", [
        ("not_an_object", ~records["is_object"]),
        ("invalid_image_id", records["image_id"].isna()),
        ("invalid_observation_id", records["observation_id"].isna()),
    ])
    if "record_problem" in records:  # the CSV export: rows that do not join up inside it
        problem = f.frame["record_problem"].astype(object)
        f.drop("complete in the export, ok for export", [(p, problem == p) for p in RECORD_PROBLEMS])
    if dump_filter.licenses is not None:
        if "license" not in records:
            raise DumpError("--licenses selects by each image's licence, which only the CSV export gives; "
                            "the 2017 scrape has none: leave --licenses unset for it")
        f.drop(f"licences {','.join(dump_filter.licenses)}",
               [("license_not_kept", ~f.frame["license"].astype(object).isin(dump_filter.licenses))])
    f.drop("unique image ids", [("duplicate_image_id", deduplicate_records(f.frame))])

    joined = f.frame.merge(images, on="image_id", how="left", indicator=True, validate="one_to_one")
    joined.index = f.frame.index
    orphan_images = int((~images["image_id"].isin(f.frame["image_id"])).sum())
    f.frame = joined
    f.drop("joined with image files", [("no_image_file", joined["_merge"] == "left_only")])
    problem = f.frame["problem"].astype(object)
    f.drop("readable images", [("image_" + p, problem == p) for p in IMAGE_PROBLEMS])
    f.frame = f.frame.drop(columns=["_merge"]).astype({"file_size": "int64", "width": "int32", "height": "int32"})
    return f, orphan_images


def join_records_images(records: pd.DataFrame, images: pd.DataFrame) -> pd.DataFrame:
    """One row per unique, valid record whose image file is readable: the study's 38-column table."""
    return _join(records, images)[0].frame


def select_examples(
    records: pd.DataFrame, images: pd.DataFrame, dump_filter: DumpFilter
) -> tuple[pd.DataFrame, Funnel, int]:
    """Join records with images, apply the funnel, and return (examples, funnel, orphan image count).

    Examples are sorted by image id and carry `class_name`, the label at `dump_filter.level`.
    """
    f, orphan_images = _join(records, images, dump_filter)
    f.drop("image formats " + "/".join(dump_filter.formats),
           [("format_not_kept", ~f.frame["format"].astype(object).isin(dump_filter.formats))])
    if dump_filter.resolutions is not None:
        size = list(zip(f.frame["width"].astype(int), f.frame["height"].astype(int)))
        kept = pd.Series([s in dump_filter.resolutions for s in size], index=f.frame.index, dtype=bool)
        names = ",".join(f"{w}x{h}" for w, h in dump_filter.resolutions)
        f.drop(f"resolution {names}", [("resolution_not_kept", ~kept)])

    label = f.frame[dump_filter.label_column].astype(object)
    f.drop(f"has {dump_filter.level}", [(f"missing_{dump_filter.level}", label.isna())])
    f.drop(f"confidence > {dump_filter.min_confidence:g}",
           [("low_confidence", ~(f.frame[TAXON_PREFIX + "confidence"] > dump_filter.min_confidence))])

    labels = f.frame[dump_filter.label_column].astype(str)
    counts = labels.value_counts()
    if dump_filter.classes is not None:
        missing = sorted(set(dump_filter.classes) - set(counts.index))
        if missing:
            top = ", ".join(f"{name} ({n})" for name, n in counts.head(10).items())
            raise DumpError(
                f"requested {dump_filter.level} classes not found after filtering: {missing}. "
                f"Largest {dump_filter.level} classes available: {top}."
            )
        f.drop(f"classes {','.join(dump_filter.classes)}", [("class_not_selected", ~labels.isin(dump_filter.classes))])
    else:
        ranked = counts.sort_index().sort_values(ascending=False, kind="stable")
        big = ranked[ranked >= dump_filter.min_per_class]
        if big.empty and not ranked.empty:
            raise DumpError(
                f"no {dump_filter.level} has >= {dump_filter.min_per_class} images after the other filters (largest: "
                f"{ranked.index[0]} with {ranked.iloc[0]}): lower --min_per_class or name --classes."
            )
        if dump_filter.max_classes is not None:
            big = big.head(dump_filter.max_classes)
        step = f"{dump_filter.level} with >= {dump_filter.min_per_class} images"
        if dump_filter.max_classes is not None:
            step += f" (top {dump_filter.max_classes})"
        f.drop(step, [("class_too_small", ~labels.isin(big.index))])

    examples = f.frame.copy()
    examples["class_name"] = examples[dump_filter.label_column].astype(str)
    examples = examples.sort_values("image_id", kind="stable").reset_index(drop=True)
    f.funnel.check()
    return examples, f.funnel, orphan_images


def class_names(examples: pd.DataFrame) -> list[str]:
    """The label list: class names sorted alphabetically, so label ids never depend on counts."""
    return sorted(examples["class_name"].unique().tolist())
