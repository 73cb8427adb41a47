r"""`python -m pyck_eval report --model_dir M [--split test]`: how good a trained run is, per image and observation.

Writes metrics.json, predictions.csv, confusion_matrix.png (counts and row-normalised),
most_confused.csv, worst_mistakes.png and index.html into --out_dir (default M/report_<split>).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
from absl import flags

from pyck_eval import classification_metrics as cm
from pyck_eval import figures
from pyck_eval.commands import common_flags
from pyck_eval.index_page import write_index
from pyck_eval.trained_run import load_run, predict_split, split_examples

flags.DEFINE_string("model_dir", None, "A finished `python -m pyck_train` run.")
flags.DEFINE_string("split", "test", "Split to report on (tfds slicing works).")
flags.DEFINE_integer("worst", 16, "Mistakes shown in the gallery, most confident first.", lower_bound=0)
FLAGS = flags.FLAGS


def prepare() -> None:
    flags.mark_flag_as_required("model_dir")


def images_at(run, split: str, indices: np.ndarray) -> dict[int, np.ndarray]:
    wanted, found = set(int(i) for i in indices), {}
    for i, (image, _, _) in enumerate(split_examples(run, split).as_numpy_iterator()):
        if i in wanted:
            found[i] = image
            if len(found) == len(wanted):
                break
    return found


def main(argv: list[str]) -> None:
    run = load_run(FLAGS.model_dir, FLAGS.data_dir)
    out = common_flags.out_dir(os.path.join(FLAGS.model_dir, f"report_{FLAGS.split.replace('/', '_')}"))
    rows, probabilities = predict_split(run, FLAGS.split, FLAGS.batch_size)
    labels, names = rows["label"].to_numpy(), run.labels
    predicted = probabilities.argmax(axis=1)

    result = {"model_dir": FLAGS.model_dir, "dataset": run.dataset, "split": FLAGS.split,
              "per_image": cm.summary(labels, probabilities, names)}
    obs_labels, obs_probabilities = cm.per_observation(labels, probabilities, rows["observation_id"].to_numpy())
    result["per_observation"] = cm.summary(obs_labels, obs_probabilities, names)
    matrix = cm.confusion(labels, predicted, len(names))
    result["confusion_matrix"] = matrix.tolist()
    confused = cm.most_confused_pairs(matrix, names)
    result["most_confused"] = confused.to_dict(orient="records")
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(result, f, indent=2)
    rows.assign(predicted=predicted, confidence=probabilities.max(axis=1),
                **{f"p_{name}": probabilities[:, i] for i, name in enumerate(names)}).to_csv(
        os.path.join(out, "predictions.csv"), index=False)
    confused.to_csv(os.path.join(out, "most_confused.csv"), index=False)
    figures.confusion_matrix_png(matrix, names, os.path.join(out, "confusion_matrix.png"), title=FLAGS.split)

    worst = cm.worst_mistakes(labels, probabilities, FLAGS.worst)
    sections = []
    if len(worst):
        images = images_at(run, FLAGS.split, worst)
        figures.image_grid_png(
            [images[i] for i in worst],
            [f"id {rows.image_id[i]}: {names[labels[i]]}\n-> {names[predicted[i]]} ({probabilities[i].max():.2f})"
             for i in worst],
            os.path.join(out, "worst_mistakes.png"), colors=["red"] * len(worst),
            suptitle="Most confident mistakes (true -> predicted)")
        sections.append(("Most confident mistakes", "worst_mistakes.png"))

    headline = pd.DataFrame({level: {k: v for k, v in result[level].items() if k != "per_class"}
                             for level in ("per_image", "per_observation")})
    per_class = pd.DataFrame(result["per_image"]["per_class"]).T
    index = write_index(out, f"{run.dataset} {FLAGS.split}: {os.path.basename(os.path.normpath(FLAGS.model_dir))}", [
        ("Accuracy per image and per observation (mean of its images' probabilities)", headline),
        ("Per family (per image)", per_class),
        ("Confusion matrix", "confusion_matrix.png"),
        ("Most confused pairs", confused),
        *sections,
    ])
    print(headline.to_string())
    common_flags.done(index)
