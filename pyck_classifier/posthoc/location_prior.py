"""A location prior: p(class | coarse latitude/longitude cell) from the training split, fused like the month prior.

Mushroom families are not spread evenly over the world, and the CSV export gives each photo's
coordinates (`*_csv` configs). Cells are `degrees` x `degrees` (10 by default: 648 cells, coarse
enough that most hold training photos, and blind to a hidden location rounded to whole degrees).
A photo without coordinates (cell 0) keeps its image probabilities. Pure numpy.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence

import numpy as np

from pyck_classifier.posthoc import binned_prior
from pyck_classifier.run import run_directory

FILE_NAME = run_directory.LOCATION_PRIOR
CELL_DEGREES = 10.0


def num_cells(degrees: float = CELL_DEGREES) -> int:
    return math.ceil(180 / degrees) * math.ceil(360 / degrees)


def cells_of(latitude: np.ndarray, longitude: np.ndarray, degrees: float = CELL_DEGREES) -> np.ndarray:
    """1-based cell of each point (rows from the south pole, columns from the antimeridian); 0 where unknown."""
    latitude, longitude = np.asarray(latitude, np.float64), np.asarray(longitude, np.float64)
    known = np.isfinite(latitude) & np.isfinite(longitude) & (np.abs(latitude) <= 90)
    rows = np.floor((np.clip(np.nan_to_num(latitude), -90, 90 - 1e-9) + 90) / degrees)
    columns = np.floor(((np.nan_to_num(longitude) + 180) % 360) / degrees)
    cells = rows * math.ceil(360 / degrees) + columns + 1
    return np.where(known, cells, 0).astype(int)


@dataclasses.dataclass(frozen=True)
class LocationPrior:
    class_given_cell: np.ndarray  # (cells, classes), rows sum to 1
    class_prior: np.ndarray  # (classes,)
    strength: float
    degrees: float

    @classmethod
    def fit(cls, labels: np.ndarray, latitude: np.ndarray, longitude: np.ndarray, num_classes: int,
            strength: float = 10.0, degrees: float = CELL_DEGREES) -> LocationPrior:
        cells = cells_of(latitude, longitude, degrees)
        if not (cells > 0).any():
            raise ValueError("no training image has coordinates: a location prior cannot be estimated")
        given, prior = binned_prior.fit_class_given_bin(labels, cells, num_cells(degrees), num_classes, strength)
        return cls(given, prior, strength, degrees)

    def apply(self, probabilities: np.ndarray, latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
        """Image probabilities re-weighted by the cell; rows without coordinates are returned unchanged."""
        cells = cells_of(latitude, longitude, self.degrees)
        return binned_prior.reweight(probabilities, cells, self.class_given_cell, self.class_prior)

    def to_json(self, path: str, labels: Sequence[str]) -> None:
        seen = np.flatnonzero(~np.isclose(self.class_given_cell, self.class_prior).all(axis=1))
        with open(path, "w") as f:  # only cells that differ from the class prior: the rest is implied
            json.dump({"labels": list(labels), "strength": self.strength, "degrees": self.degrees,
                       "class_prior": self.class_prior.tolist(),
                       "class_given_cell": {str(int(c) + 1): self.class_given_cell[c].tolist() for c in seen}},
                      f, indent=1)

    @classmethod
    def from_json(cls, path: str, labels: Sequence[str]) -> LocationPrior:
        saved = binned_prior.read_prior_file(path, labels)
        prior = np.asarray(saved["class_prior"])
        given = np.tile(prior, (num_cells(saved["degrees"]), 1))
        for cell, row in saved["class_given_cell"].items():
            given[int(cell) - 1] = row
        return cls(given, prior, saved["strength"], saved["degrees"])
