"""Stacking several trained models' probabilities with a meta-learner fitted on the VALIDATION split only.

The base models never trained on validation, so their validation probabilities are honest
inputs for a meta-learner; the test split is only ever predicted, never fitted. `stack`
takes no test labels at all, so it cannot leak them.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, clone

from pyck_eval import feature_models


def meta_learners(seed: int = 0) -> dict[str, ClassifierMixin]:
    return {"stack: XGBoost": feature_models.xgboost(seed, n_estimators=100, max_depth=3),
            "stack: logistic regression": feature_models.logistic_regression(seed)}


def stack_inputs(probabilities: list[np.ndarray]) -> np.ndarray:
    """Each model's class probabilities side by side: (n, models x classes)."""
    return np.concatenate(probabilities, axis=1)


def stack(validation_probabilities: list[np.ndarray], validation_labels: np.ndarray,
          test_probabilities: list[np.ndarray], learners: dict[str, ClassifierMixin]) -> dict[str, np.ndarray]:
    """Fit every meta-learner on validation; return each one's test class probabilities."""
    x_validation, x_test = stack_inputs(validation_probabilities), stack_inputs(test_probabilities)
    num_classes = validation_probabilities[0].shape[1]
    missing = set(range(num_classes)) - set(np.unique(validation_labels).tolist())
    if missing:
        raise ValueError(f"classes {sorted(missing)} have no validation example; a meta-learner cannot learn them")
    predictions = {}
    for name, learner in learners.items():
        fitted = clone(learner).fit(x_validation, validation_labels)
        predictions[name] = fitted.predict_proba(x_test)
    predictions["average of the models (no fit)"] = np.mean(test_probabilities, axis=0)
    return predictions
