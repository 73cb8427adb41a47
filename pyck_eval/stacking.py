"""Stacking several trained models' probabilities with a meta-learner fitted on the VALIDATION split only.

The base models never trained on validation, so their validation probabilities are honest
inputs for a meta-learner; the test split is only ever predicted, never fitted. `stack`
takes no test labels at all, so it cannot leak them. `held_out_on_validation` gives each
combination a validation figure that was not fitted on the photos it scores (cross-validated
for the meta-learners), so the choice between them is made on validation, not on test.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from pyck_eval import feature_models

AVERAGE = "average of the models (no fit)"


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
    predictions[AVERAGE] = np.mean(test_probabilities, axis=0)
    return predictions


def held_out_on_validation(validation_probabilities: list[np.ndarray], validation_labels: np.ndarray,
                           learners: dict[str, ClassifierMixin], seed: int = 0,
                           folds: int = 5) -> dict[str, np.ndarray | None]:
    """Validation class probabilities of each combination `stack` returns, none scored on photos it was fitted on.

    The meta-learners are cross-validated (stratified folds, seeded); with fewer than two validation photos in
    some class they have no estimate (None). The average fits nothing, so it is scored on the whole split.
    """
    x_validation = stack_inputs(validation_probabilities)
    smallest_class = np.bincount(validation_labels).min() if len(validation_labels) else 0
    estimates: dict[str, np.ndarray | None] = {}
    for name, learner in learners.items():
        if smallest_class < 2:
            estimates[name] = None
            continue
        splitter = StratifiedKFold(n_splits=min(folds, int(smallest_class)), shuffle=True, random_state=seed)
        estimates[name] = cross_val_predict(clone(learner), x_validation, validation_labels, cv=splitter,
                                            method="predict_proba")
    estimates[AVERAGE] = np.mean(validation_probabilities, axis=0)
    return estimates
