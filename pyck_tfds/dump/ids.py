"""Normalise the dump's id fields, which are either integers or URL-like paths."""

from __future__ import annotations

import pandas as pd

# `/show_observation/10`, `http://mushroomobserver.org/observer/show_user/1`, `"38"`.
_TRAILING_DIGITS = r"(\d+)\s*/?\s*$"


def normalize_ids(values: pd.Series) -> pd.Series:
    """Return nullable Int64 ids; anything without a usable non-negative integer becomes <NA>."""
    raw = pd.Series(values, dtype=object)
    is_bool = raw.map(lambda v: isinstance(v, bool))
    numeric = pd.to_numeric(raw.where(~is_bool), errors="coerce")
    integral = numeric.notna() & (numeric % 1 == 0) & (numeric >= 0)
    ids = pd.Series(pd.NA, index=raw.index, dtype="Int64")
    ids[integral] = numeric[integral].astype("int64")
    strings = raw[~integral & raw.map(lambda v: isinstance(v, str))]
    if not strings.empty:
        extracted = strings.str.extract(_TRAILING_DIGITS, expand=False).dropna()
        ids[extracted.index] = extracted.astype("int64")
    return ids
