r"""`python -m pyck_eval svc --features M/features`: SVC, logistic regression and XGBoost on CNN features.

Fits on the train split's features (from `pyck_eval features`) and compares with the
network's own head on the test split. `--grid_search` picks SVC's C and kernel on the
validation split (then refits on train+validation). Writes comparison.csv, metrics.json and
index.html into --out_dir (default: <features>/../svc).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
from absl import flags

from pyck_eval.commands import common_flags
from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import

classification_metrics = lazy_import("pyck_eval.classification_metrics")
feature_models = lazy_import("pyck_eval.feature_models")

flags.DEFINE_string("features", None, "Folder with features_{train,validation,test}.npz from `pyck_eval features`.")
flags.DEFINE_float("C", 1.0, "SVC regularisation (the study: 1).", lower_bound=0.0)
flags.DEFINE_enum("kernel", "rbf", ["rbf", "linear", "poly", "sigmoid"], "SVC kernel (the study: rbf).")
flags.DEFINE_bool("grid_search", False, "Choose SVC's C and kernel on the validation split.")
FLAGS = flags.FLAGS
SPLITS = ("train", "validation", "test")


def prepare() -> None:
    flags.mark_flag_as_required("features")


def load_features(folder: str) -> dict[str, dict[str, np.ndarray]]:
    loaded = {}
    for split in SPLITS:
        path = os.path.join(folder, f"features_{split}.npz")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} is missing; run `python -m pyck_eval features --model_dir=...` first")
        with np.load(path) as data:
            loaded[split] = dict(data)
    return loaded


def main(argv: list[str]) -> None:
    data = load_features(FLAGS.features)
    out = common_flags.out_dir(os.path.join(os.path.dirname(os.path.abspath(FLAGS.features)), "svc"))
    names = [str(n) for n in data["train"]["class_names"]]
    splits = {s: (data[s]["features"], data[s]["labels"]) for s in SPLITS}
    svc = feature_models.svc(FLAGS.C, FLAGS.kernel, FLAGS.seed)
    estimators = {f"SVC (C={FLAGS.C}, {FLAGS.kernel})": svc}
    if FLAGS.grid_search:
        search = feature_models.grid_search_on_validation(svc, feature_models.SVC_GRID, splits["train"],
                                                          splits["validation"])
        estimators[f"SVC grid-searched {search.best_params_}"] = search
    estimators["logistic regression"] = feature_models.logistic_regression(FLAGS.seed)
    estimators["XGBoost"] = feature_models.xgboost(FLAGS.seed)
    table, _ = feature_models.compare(estimators, splits, names)

    head = {"model": "network's own head", "fit_seconds": float("nan")}
    for split in ("validation", "test"):
        scores = classification_metrics.summary(data[split]["labels"], data[split]["probabilities"], names)
        head[f"{split}_accuracy"] = scores["accuracy"]
    head |= {"test_balanced_accuracy": scores["balanced_accuracy"], "test_macro_f1": scores["macro_f1"]}
    table = pd.concat([pd.DataFrame([head]), table], ignore_index=True)
    table.to_csv(os.path.join(out, "comparison.csv"), index=False)
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"features": FLAGS.features, "rows": table.to_dict(orient="records"),
                   "examples": {s: int(len(data[s]["labels"])) for s in SPLITS}}, f, indent=2)
    print(table.to_string(index=False))
    common_flags.done(write_index(out, f"Classifiers on the CNN features of {FLAGS.features}", [
        ("Fitted on train; chosen on validation; scored on test", table)]))
