"""The study's classifiers on CNN features (SVC, logistic regression, XGBoost) against the network's own head.

Fitted on the train split's features (`extract_features`), chosen on validation, scored on test.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pandas as pd

from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks import shared_options
from pyck_eval.tasks.outputs import finish, output_folder
from pyck_tfds.options import CheckedOptions, option

classification_metrics = lazy_import("pyck_eval.classification_metrics")
feature_models = lazy_import("pyck_eval.feature_models")

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class SvcOptions(CheckedOptions):
    C: float = option(1.0, "SVC regularisation (the study: 1).", lower=0.0)
    kernel: str = option("rbf", "SVC kernel (the study: rbf).", choices=("rbf", "linear", "poly", "sigmoid"))
    grid_search: bool = option(False, "Choose SVC's C and kernel on the validation split.")
    seed: int = shared_options.seed()
    out_dir: str | None = shared_options.out_dir()


@dataclasses.dataclass
class ComparisonResult:
    """A table of models scored on test (comparison.csv) and where it was written."""
    table: pd.DataFrame
    out_dir: str
    index: str


def load_features(folder: str) -> dict[str, dict[str, np.ndarray]]:
    loaded = {}
    for split in SPLITS:
        path = os.path.join(folder, f"features_{split}.npz")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} is missing; run `python -m pyck_eval features --model_dir=...` first")
        with np.load(path) as data:
            loaded[split] = dict(data)
    return loaded


def compare_on_features(features: str, options: SvcOptions = SvcOptions()) -> ComparisonResult:
    """`features`: a folder of features_{train,validation,test}.npz. Writes comparison.csv and metrics.json."""
    data = load_features(features)
    out = output_folder(options.out_dir, os.path.join(os.path.dirname(os.path.abspath(features)), "svc"))
    names = [str(n) for n in data["train"]["class_names"]]
    splits = {s: (data[s]["features"], data[s]["labels"]) for s in SPLITS}
    svc = feature_models.svc(options.C, options.kernel, options.seed)
    estimators = {f"SVC (C={options.C}, {options.kernel})": svc}
    if options.grid_search:
        search = feature_models.grid_search_on_validation(svc, feature_models.SVC_GRID, splits["train"],
                                                          splits["validation"])
        estimators[f"SVC grid-searched {search.best_params_}"] = search
    estimators["logistic regression"] = feature_models.logistic_regression(options.seed)
    estimators["XGBoost"] = feature_models.xgboost(options.seed)
    table, _ = feature_models.compare(estimators, splits, names)

    head = {"model": "network's own head", "fit_seconds": float("nan")}
    for split in ("validation", "test"):
        scores = classification_metrics.summary(data[split]["labels"], data[split]["probabilities"], names)
        head[f"{split}_accuracy"] = scores["accuracy"]
    head |= {"test_balanced_accuracy": scores["balanced_accuracy"], "test_macro_f1": scores["macro_f1"]}
    table = pd.concat([pd.DataFrame([head]), table], ignore_index=True)
    table.to_csv(os.path.join(out, "comparison.csv"), index=False)
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"features": features, "rows": table.to_dict(orient="records"),
                   "examples": {s: int(len(data[s]["labels"])) for s in SPLITS}}, f, indent=2)
    index = write_index(out, f"Classifiers on the CNN features of {features}", [
        ("Fitted on train; chosen on validation; scored on test", table)])
    return ComparisonResult(table, out, finish(index))
