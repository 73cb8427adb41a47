"""Answering at the finest level the model is sure of: species, else genus, else family, else unsure.

A level answers when its most probable taxon reaches `min_confidence` (at or above) and, where an
out-of-class check runs, the photo is not flagged at that level: a photo of a species the
model never learned, in a genus it knows, gets the genus. Pure numpy and pandas; `predict`
and `report` both answer through `back_off`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyck_classifier.posthoc.taxonomy import Taxonomy

VERDICTS = ("answer", "unsure", "out_of_class")


def back_off(taxonomy: Taxonomy, probabilities: np.ndarray, min_confidence: float,
             out_of_class: dict[str, np.ndarray] | None = None, levels: tuple[str, ...] | None = None
             ) -> pd.DataFrame:
    """One row per photo: verdict, level and taxon answered (empty when none), its probability, and whether the
    labels' own level flagged it as out of class (`own_level_out_of_class`).

    `probabilities` are the classes' (calibrated); `out_of_class` maps a level to a boolean per photo (a level
    without an entry has no check). The verdict is "out_of_class" when every level tried flags the photo,
    "unsure" when no level answers otherwise. `levels` limits the levels tried (default: all, finest first).
    """
    levels = levels or taxonomy.levels
    n = len(probabilities)
    verdict = np.full(n, "", dtype=object)
    level, taxon = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
    probability = np.full(n, np.nan)
    flagged_everywhere = np.ones(n, bool)
    for name in levels:
        at_level = taxonomy.probabilities(probabilities, name)
        best = at_level.argmax(axis=1)
        top = at_level[np.arange(n), best]
        flagged = (np.zeros(n, bool) if out_of_class is None or name not in out_of_class
                   else np.asarray(out_of_class[name], bool))
        flagged_everywhere &= flagged
        answers = (verdict == "") & ~flagged & (top >= min_confidence)
        names = np.array(taxonomy.names(name), dtype=object)
        verdict[answers], level[answers], taxon[answers] = "answer", name, names[best[answers]]
        probability[answers] = top[answers]
    verdict[(verdict == "") & flagged_everywhere] = "out_of_class"
    verdict[verdict == ""] = "unsure"
    own = out_of_class.get(taxonomy.level) if out_of_class else None
    return pd.DataFrame({"verdict": verdict, "level": level, "taxon": taxon, "probability": probability,
                         "own_level_out_of_class": np.zeros(n, bool) if own is None else np.asarray(own, bool)})
