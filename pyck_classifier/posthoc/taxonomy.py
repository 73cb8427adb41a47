"""The taxonomy a run's classes sit in, and its probabilities at the coarser levels: numpy and pandas only.

A species run also answers at genus and family: the probability of a genus is the sum of the
calibrated probabilities of its species. The class → genus → family map is read from the
training split's records (the builder stores family, genus and species for every photo) and
saved in the run folder (`taxonomy.json`) and in the LiteRT export's metadata, so every
reader sums over the same map.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pandas as pd

from pyck_classifier.run import run_directory
from pyck_classifier.run.atomic_write import write_text_atomically

LEVELS = ("species", "genus", "family")  # finest first: what a label can name, and what it backs off to
FILE_NAME = run_directory.TAXONOMY


def coarser_levels(level: str) -> tuple[str, ...]:
    """The levels above `level` pyck sums to ("species" → genus, family); none for a level it does not know."""
    return LEVELS[LEVELS.index(level) + 1:] if level in LEVELS else ()


@dataclasses.dataclass(frozen=True)
class Taxonomy:
    level: str  # what the labels name
    labels: tuple[str, ...]  # in the model's output order
    parents: dict[str, tuple[str, ...]]  # per coarser level, each label's taxon there (same order as labels)

    @property
    def levels(self) -> tuple[str, ...]:
        """The labels' level, then each coarser one."""
        return (self.level, *self.parents)

    def names(self, level: str) -> list[str]:
        """The taxa of `level` in output order: the labels, or the sorted names of their parents."""
        if level == self.level:
            return list(self.labels)
        return sorted(set(self._parents(level)))

    def _parents(self, level: str) -> tuple[str, ...]:
        if level not in self.parents:
            raise ValueError(f"{level!r} is not a level of this taxonomy ({', '.join(self.levels)})")
        return self.parents[level]

    def membership(self, level: str) -> np.ndarray:
        """(labels, taxa of `level`) of 0/1: which taxon each label belongs to."""
        if level == self.level:
            return np.eye(len(self.labels))
        names = self.names(level)
        matrix = np.zeros((len(self.labels), len(names)))
        matrix[np.arange(len(self.labels)), [names.index(p) for p in self._parents(level)]] = 1.0
        return matrix

    def probabilities(self, probabilities: np.ndarray, level: str) -> np.ndarray:
        """(n, taxa of `level`): each taxon's probability, the sum of its classes'."""
        return np.asarray(probabilities, np.float64) @ self.membership(level)

    def label_at(self, labels: np.ndarray, level: str) -> np.ndarray:
        """Each class index's taxon index at `level`."""
        return self.membership(level).argmax(axis=1)[np.asarray(labels, int)]

    @classmethod
    def from_records(cls, labels: list[str], level: str, records: pd.DataFrame) -> Taxonomy:
        """The map from records with columns label (index into `labels`) and one column per coarser level.

        A class whose records disagree on a parent (a GBIF record moved between genera) takes the one most of
        its photos carry; `conflicts` says how many did not.
        """
        parents = {}
        for coarser in coarser_levels(level):
            named = records[records[coarser].astype(str) != ""]
            missing = sorted(set(range(len(labels))) - set(named["label"].tolist()))
            if missing:
                raise ValueError(f"no record of {', '.join(labels[i] for i in missing)} names its {coarser}: "
                                 f"the {coarser} answers cannot be summed")
            counts = named.groupby(["label", coarser]).size().rename("n").reset_index()
            counts = counts.sort_values(["label", "n", coarser], ascending=[True, False, True], kind="stable")
            parents[coarser] = tuple(counts.drop_duplicates("label").set_index("label")[coarser].loc[
                range(len(labels))].astype(str))
        return cls(level, tuple(labels), parents)

    def conflicts(self, records: pd.DataFrame) -> dict[str, int]:
        """Per coarser level, how many records name another parent than the map's."""
        label = records["label"].to_numpy(int)
        return {coarser: int(((records[coarser].astype(str) != "")
                              & (records[coarser].astype(str).to_numpy() != np.array(self.parents[coarser])[label])
                              ).sum()) for coarser in self.parents}

    def to_json(self) -> dict:
        return {"level": self.level, "labels": list(self.labels),
                "parents": {level: list(names) for level, names in self.parents.items()}}

    @classmethod
    def from_json(cls, saved: dict) -> Taxonomy:
        return cls(saved["level"], tuple(saved["labels"]),
                   {level: tuple(names) for level, names in saved["parents"].items()})

    def save(self, model_dir: str) -> None:
        write_text_atomically(os.path.join(model_dir, FILE_NAME), json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, model_dir: str, labels: list[str]) -> Taxonomy | None:
        """The run's taxonomy; None for a run trained before pyck recorded one."""
        path = os.path.join(model_dir, FILE_NAME)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            taxonomy = cls.from_json(json.load(f))
        if list(taxonomy.labels) != list(labels):
            raise ValueError(f"{path} was written for the labels {list(taxonomy.labels)}, not this model's {labels}")
        return taxonomy
