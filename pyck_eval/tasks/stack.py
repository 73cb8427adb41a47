"""Stacking several runs' probabilities: meta-learners fitted on validation only, every row scored on test."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pandas as pd

from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks import shared_options
from pyck_eval.tasks.errors import OptionError
from pyck_eval.tasks.outputs import finish, output_folder
from pyck_eval.tasks.svc import ComparisonResult
from pyck_tfds.options import CheckedOptions

classification_metrics = lazy_import("pyck_eval.classification_metrics")
stacking = lazy_import("pyck_eval.stacking")
trained_run = lazy_import("pyck_eval.trained_run")


@dataclasses.dataclass(frozen=True)
class StackOptions(CheckedOptions):
    batch_size: int = shared_options.batch_size()
    seed: int = shared_options.seed()
    out_dir: str | None = shared_options.out_dir()


def stack_runs(runs: list, options: StackOptions = StackOptions()) -> ComparisonResult:
    """Each run alone, the meta-learners on their validation probabilities and the plain average, on test."""
    if len(runs) < 2:
        raise OptionError("--model_dirs: give at least two runs to stack")
    for run in runs[1:]:  # before any prediction
        if run.labels != runs[0].labels:
            raise OptionError(f"--model_dirs: {run.model_dir} has classes {run.labels}, not {runs[0].labels}: "
                              "stack runs of one dataset config")
    out = output_folder(options.out_dir, "stack")
    names, predictions, ids, labels = runs[0].labels, {"validation": [], "test": []}, {}, {}
    for run in runs:
        for split in ("validation", "test"):
            rows, probabilities = trained_run.predict_split(run, split, options.batch_size)
            if split in ids and not ids[split].equals(rows["image_id"]):
                raise OptionError(f"--model_dirs: {run.model_dir}'s {split} split holds other images than "
                                  f"{runs[0].model_dir}'s; stack runs trained on the same dataset config and data_dir")
            ids[split], labels[split] = rows["image_id"], rows["label"].to_numpy()
            predictions[split].append(probabilities)

    def row(name: str, validation: np.ndarray | None, test: np.ndarray) -> dict:
        held_out = (classification_metrics.summary(labels["validation"], validation, names)["accuracy"]
                    if validation is not None else np.nan)
        return {"model": name, "validation_accuracy": held_out,
                **classification_metrics.summary(labels["test"], test, names)}

    rows = [row(os.path.basename(os.path.normpath(run.model_dir)), validation, test)
            for run, validation, test in zip(runs, predictions["validation"], predictions["test"])]
    learners = stacking.meta_learners(options.seed)
    stacked = stacking.stack(predictions["validation"], labels["validation"], predictions["test"], learners)
    held_out = stacking.held_out_on_validation(predictions["validation"], labels["validation"], learners,
                                               options.seed)
    rows += [row(name, held_out[name], probabilities) for name, probabilities in stacked.items()]
    table = pd.DataFrame(rows).drop(columns="per_class")
    table.to_csv(os.path.join(out, "comparison.csv"), index=False)
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"model_dirs": [run.model_dir for run in runs], "fitted_on": "validation", "scored_on": "test",
                   "validation_examples": int(len(labels["validation"])),
                   "validation_accuracy": "held out: the runs never trained on validation; the meta-learners are "
                                          "cross-validated on it (null: a class has one validation photo)",
                   "rows": json.loads(table.to_json(orient="records", double_precision=15))},
                  f, indent=2)
    index = write_index(out, "Stacking on the test split", [
        ("Meta-learners fitted on the validation split only; every row scored on test. validation_accuracy is "
         "held out (the meta-learners' is cross-validated on validation): choose a row by it, not by test", table)])
    return ComparisonResult(table, out, finish(index))
