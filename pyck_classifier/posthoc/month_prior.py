"""A month prior: p(class | month) from the training split, fused with the image probabilities.

Mushrooms fruit in seasons, and a photo's date is known. Following DF20's metadata priors,
the image probabilities are re-weighted by how much likelier each class is in that month
than overall (`binned_prior` holds the arithmetic). A photo without a date (month 0) keeps
its image probabilities unchanged. Pure numpy/pandas.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from pyck_classifier.posthoc import binned_prior
from pyck_classifier.run import run_directory

FILE_NAME = run_directory.MONTH_PRIOR


def months_of(dates: Sequence[str | bytes | None]) -> np.ndarray:
    """Month 1-12 of each ISO date ('YYYY-MM-DD[ HH:MM:SS]'); 0 where the date is missing or unreadable."""
    text = pd.Series([d.decode() if isinstance(d, bytes) else d for d in dates], dtype=object)
    parsed = pd.to_datetime(text.replace("", None), errors="coerce", format="ISO8601")
    return parsed.dt.month.fillna(0).astype(int).to_numpy()


@dataclasses.dataclass(frozen=True)
class MonthPrior:
    class_given_month: np.ndarray  # (12, classes), rows sum to 1
    class_prior: np.ndarray  # (classes,)
    strength: float

    @classmethod
    def fit(cls, labels: np.ndarray, months: np.ndarray, num_classes: int, strength: float = 10.0) -> MonthPrior:
        """Counts of (month, class) over the dated training images, smoothed towards the class prior."""
        if not (np.asarray(months, int) > 0).any():
            raise ValueError("no training image has a date: a month prior cannot be estimated")
        return cls(*binned_prior.fit_class_given_bin(labels, months, 12, num_classes, strength), strength)

    def apply(self, probabilities: np.ndarray, months: np.ndarray) -> np.ndarray:
        """Image probabilities re-weighted by the month; rows with month 0 are returned unchanged."""
        return binned_prior.reweight(probabilities, months, self.class_given_month, self.class_prior)

    def to_json(self, path: str, labels: Sequence[str]) -> None:
        with open(path, "w") as f:
            json.dump({"labels": list(labels), "strength": self.strength, "class_prior": self.class_prior.tolist(),
                       "class_given_month": self.class_given_month.tolist()}, f, indent=1)

    @classmethod
    def from_json(cls, path: str, labels: Sequence[str]) -> MonthPrior:
        saved = binned_prior.read_prior_file(path, labels)
        return cls(np.asarray(saved["class_given_month"]), np.asarray(saved["class_prior"]), saved["strength"])
