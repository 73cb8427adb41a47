"""Read the dump's metadata JSON files into one flat DataFrame, one row per record.

Each file is a JSON list of observation-image records (see BUILD.md). An interrupted
scrape leaves a file cut short or with a trailing comma: such a file is recovered record
by record and the lost tail is counted in `JsonFileReport`. A file that ends properly
(with `]`) yet fails to parse is corrupt in the middle, and `DumpError` names the byte
offset, because guessing what the rest meant would drop records silently.

Memory: records are flattened file by file and string columns become pandas
categoricals at once, so 650,000 records (the real dump) stay well under 2 GB.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable, Sequence

import pandas as pd
from pandas.api.types import union_categoricals

from pyck_tfds.dump.errors import DumpError
from pyck_tfds.dump.ids import normalize_ids

logger = logging.getLogger(__name__)

# Fields of a record that are kept; any other field is ignored.
ID_FIELDS = {"image_id": "image_id", "observation": "observation_id", "user": "user_id", "location": "location_id"}
TEXT_FIELDS = ("label", "date", "image_url")
GBIF_TEXT_FIELDS = (
    "kingdom", "phylum", "class", "order", "family", "genus", "species",
    "rank", "status", "matchType", "canonicalName", "scientificName", "note",
)
GBIF_KEY_FIELDS = (
    "kingdomKey", "phylumKey", "classKey", "orderKey", "familyKey", "genusKey", "speciesKey", "usageKey",
)
GBIF_PREFIX = "gbif_info."
# What the funnel labels and filters by, whatever the source: the scrape's GBIF answer, the export's MO taxonomy.
TAXON_PREFIX = "taxon."
TAXON_FIELDS = ("family", "genus", "species", "confidence")

_JSON_WHITESPACE = " \t\n\r"


@dataclasses.dataclass
class JsonFileReport:
    """What one metadata file gave: parsed records, and what an interrupted scrape lost."""

    file: str
    records: int
    status: str = "ok"  # ok | trailing_comma | truncated
    lost_bytes: int = 0
    lost_records: int = 0  # estimated from the `"image_id"` keys in the lost tail
    byte_offset: int | None = None  # where the readable part ends


def find_metadata_files(manual_dir: str | os.PathLike) -> list[str]:
    """All `*.json` files below `manual_dir`, sorted by relative path (listing-order free)."""
    found = []
    for root, dirs, files in os.walk(manual_dir):
        dirs.sort()
        found.extend(os.path.join(root, f) for f in files if f.lower().endswith(".json"))
    return sorted(found, key=lambda p: os.path.relpath(p, manual_dir))


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _JSON_WHITESPACE:
        i += 1
    return i


def _byte_offset(text: str, pos: int) -> int:
    return len(text[:pos].encode("utf-8"))


def _recover_records(path: str, text: str, error: json.JSONDecodeError) -> tuple[list, JsonFileReport]:
    """Parse record by record after `json.loads` failed; see the module docstring for the rule."""
    decoder = json.JSONDecoder()
    i = _skip_ws(text, 0)
    if i >= len(text) or text[i] != "[":
        raise DumpError(
            f"{path}: not a JSON list of records (byte {_byte_offset(text, i)}: {error.msg}). "
            "Each metadata file must hold a JSON list of observation records; re-download it or remove it."
        )
    records, i, closed, fail_at, trailing_comma = [], i + 1, False, None, False
    while True:
        i = _skip_ws(text, i)
        if i >= len(text):
            break
        if text[i] == "]":
            trailing_comma, closed = bool(records), True
            break
        try:
            record, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError as bad:
            fail_at, error = i, bad
            break
        records.append(record)
        i = _skip_ws(text, i)
        if i < len(text) and text[i] == ",":
            i += 1
        elif i < len(text) and text[i] == "]":
            closed = True
            break
        elif i < len(text):
            fail_at, error = i, json.JSONDecodeError("Expecting ',' delimiter", text, i)
            break
    if fail_at is not None and text.rstrip().endswith("]"):
        raise DumpError(
            f"{path}: malformed JSON at byte {_byte_offset(text, error.pos)} (line {error.lineno}, "
            f"column {error.colno}) "
            f"after {len(records)} good records: {error.msg}. The file ends with ']', so it was not cut short "
            "by an interrupted scrape: fix or delete the record there, or re-download the file."
        )
    if closed and text[i + 1:].strip():
        extra = _skip_ws(text, i + 1)
        raise DumpError(
            f"{path}: unexpected data at byte {_byte_offset(text, extra)} after the closing ']' of the record "
            "list: delete it or re-download the file."
        )
    end = fail_at if fail_at is not None else i
    tail = text[end:] if not closed else ""
    report = JsonFileReport(
        file=path,
        records=len(records),
        status="trailing_comma" if closed and trailing_comma else "truncated",
        lost_bytes=len(tail.encode("utf-8")),
        lost_records=tail.count('"image_id"'),
        byte_offset=_byte_offset(text, end),
    )
    logger.warning(
        "%s: %s at byte %d; kept %d complete records, lost about %d record(s) (%d bytes).",
        path, report.status, report.byte_offset, report.records, report.lost_records, report.lost_bytes,
    )
    return records, report


def load_json_records(path: str) -> tuple[list, JsonFileReport]:
    """Return the records of one metadata file and a report of what, if anything, was lost."""
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DumpError(f"{path}: not UTF-8 text at byte {err.start}; metadata files must be UTF-8 JSON.") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return _recover_records(path, text, err)
    if not isinstance(data, list):
        raise DumpError(
            f"{path}: holds a JSON {type(data).__name__}, not a list of observation records. "
            "Every *.json file under the dump is read as metadata: move other JSON files out of it."
        )
    return data, JsonFileReport(file=path, records=len(data))


def _as_text(value: object) -> object:
    if value is None or isinstance(value, str):
        return value or None
    return str(value)


def _text_categorical(values: list[object]) -> pd.Categorical:
    """Text as a categorical with string categories, also when every value is missing (pandas would
    then pick float categories, which cannot be joined with another file's string ones)."""
    return pd.Categorical(values, categories=pd.Index(sorted({v for v in values if v is not None}), dtype=str))


def flatten_records(records: Sequence[object], json_file: str) -> pd.DataFrame:
    """Flatten raw records into typed columns; records that are not JSON objects get `not_an_object`."""
    rows = [r if isinstance(r, dict) else {} for r in records]
    gbif = [r.get("gbif_info") if isinstance(r.get("gbif_info"), dict) else {} for r in rows]
    columns: dict[str, object] = {}
    for field, column in ID_FIELDS.items():
        columns[column] = normalize_ids(pd.Series([r.get(field) for r in rows], dtype=object))
    columns["thumbnail"] = pd.array([bool(r.get("thumbnail")) for r in rows], dtype="boolean")
    for field in TEXT_FIELDS:
        columns[field] = _text_categorical([_as_text(r.get(field)) for r in rows])
    for field in GBIF_TEXT_FIELDS:
        columns[GBIF_PREFIX + field] = _text_categorical([_as_text(g.get(field)) for g in gbif])
    for field in GBIF_KEY_FIELDS:
        column = normalize_ids(pd.Series([g.get(field) for g in gbif], dtype=object))
        columns[GBIF_PREFIX + field] = column
    columns[GBIF_PREFIX + "confidence"] = pd.to_numeric(
        pd.Series([g.get("confidence") for g in gbif], dtype=object), errors="coerce"
    ).astype("float32")
    columns[GBIF_PREFIX + "synonym"] = pd.array(
        [g.get("synonym") if isinstance(g.get("synonym"), bool) else None for g in gbif], dtype="boolean"
    )
    columns["has_gbif_info"] = pd.array([bool(g) for g in gbif], dtype="boolean")
    for field in TAXON_FIELDS:
        columns[TAXON_PREFIX + field] = columns[GBIF_PREFIX + field]
    columns["is_object"] = pd.array([isinstance(r, dict) for r in records], dtype="boolean")
    columns["json_file"] = _text_categorical([json_file] * len(rows))
    columns["json_index"] = pd.array(range(len(rows)), dtype="int32")
    return pd.DataFrame({k: pd.Series(v).reset_index(drop=True) for k, v in columns.items()})


def concat_frames(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-file frames keeping categoricals categorical (plain concat would make them objects)."""
    frames = list(frames)
    if not frames:
        return pd.DataFrame()
    out = {}
    for column in frames[0].columns:
        parts = [f[column] for f in frames]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            out[column] = pd.Series(union_categoricals(parts, ignore_order=True))
        else:
            out[column] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(out)


def read_metadata(
    manual_dir: str | os.PathLike, files: Sequence[str] | None = None
) -> tuple[pd.DataFrame, list[JsonFileReport]]:
    """Read every metadata file below `manual_dir` into one DataFrame plus one report per file."""
    files = find_metadata_files(manual_dir) if files is None else list(files)
    frames, reports = [], []
    for path in files:
        records, report = load_json_records(path)
        relative = os.path.relpath(path, manual_dir)
        report.file = relative
        frames.append(flatten_records(records, relative))
        reports.append(report)
        del records
    return concat_frames(frames), reports
