"""Classical classifiers on CNN features (the study's SVC, plus logistic regression and XGBoost).

Pure scikit-learn / XGBoost: features and labels in, fitted estimators and scores out.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from xgboost import XGBClassifier

from pyck_eval.classification_metrics import summary

SVC_GRID = {"svc__C": [0.1, 1.0, 10.0], "svc__kernel": ["rbf", "linear"]}


def svc(c: float = 1.0, kernel: str = "rbf", seed: int = 0) -> ClassifierMixin:
    """The study's SVC (C=1, RBF) on standardised features."""
    return make_pipeline(StandardScaler(), SVC(C=c, kernel=kernel, random_state=seed))


def logistic_regression(seed: int = 0) -> ClassifierMixin:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, random_state=seed))


def xgboost(seed: int = 0, n_estimators: int = 200, max_depth: int = 4, learning_rate: float = 0.1
            ) -> ClassifierMixin:
    return XGBClassifier(n_estimators=n_estimators, max_depth=max_depth, learning_rate=learning_rate,
                         tree_method="hist", n_jobs=2, random_state=seed, eval_metric="mlogloss")


def grid_search_on_validation(estimator: ClassifierMixin, grid: dict, train: tuple[np.ndarray, np.ndarray],
                              validation: tuple[np.ndarray, np.ndarray]) -> GridSearchCV:
    """Choose hyper-parameters on the validation split (one predefined fold), then refit on train+validation."""
    x = np.concatenate([train[0], validation[0]])
    y = np.concatenate([train[1], validation[1]])
    fold = np.concatenate([np.full(len(train[1]), -1), np.zeros(len(validation[1]), int)])
    return GridSearchCV(estimator, grid, cv=PredefinedSplit(fold), scoring="accuracy", refit=True).fit(x, y)


def compare(estimators: dict[str, ClassifierMixin], splits: dict[str, tuple[np.ndarray, np.ndarray]],
            class_names: list[str]) -> tuple[pd.DataFrame, dict[str, ClassifierMixin]]:
    """Fit each estimator on train; score on validation and test. Returns the table and the fitted estimators.

    A fitted GridSearchCV (see `grid_search_on_validation`) is taken as it is: its validation score
    is the selection score (fitted on train), its test score that of the train+validation refit.
    """
    rows, fitted = [], {}
    train_x, train_y = splits["train"]
    for name, estimator in estimators.items():
        searched = isinstance(estimator, GridSearchCV)  # already fitted; validation was its selection fold
        started = time.perf_counter()
        model = estimator if searched else clone(estimator).fit(train_x, train_y)
        row = {"model": name, "fit_seconds": model.refit_time_ if searched else time.perf_counter() - started}
        if searched:
            row["validation_accuracy"] = model.best_score_  # fitted on train only, as for the other rows
        else:
            row["validation_accuracy"] = summary(splits["validation"][1], one_hot(
                model.predict(splits["validation"][0]), len(class_names)), class_names)["accuracy"]
        scores = summary(splits["test"][1], one_hot(model.predict(splits["test"][0]), len(class_names)), class_names)
        row |= {"test_accuracy": scores["accuracy"], "test_balanced_accuracy": scores["balanced_accuracy"],
                "test_macro_f1": scores["macro_f1"]}
        rows.append(row)
        fitted[name] = model
    return pd.DataFrame(rows), fitted


def one_hot(predicted: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes)[np.asarray(predicted, int)]
