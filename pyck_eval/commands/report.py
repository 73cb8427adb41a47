r"""`python -m pyck_eval report --model_dir M [--split test] [--tta flip] [--metadata_prior month]`.

How good a trained run is, per image and per observation (the mean of its images'
probabilities). With `--tta` the probabilities are averaged over test-time views; with
`--metadata_prior=month` the headline shows the scores with and without the month prior, and
the rest of the report uses the probabilities with it.

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
from pyck_eval.commands import common_flags, inference_flags  # noqa: F401  (--tta, --metadata_prior)
from pyck_eval.index_page import write_index
from pyck_eval.trained_run import load_run, predict_split, split_examples
from pyck_train.month_prior import months_of

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
    prior = run.month_prior() if FLAGS.metadata_prior == "month" else None
    rows, probabilities = predict_split(run, FLAGS.split, FLAGS.batch_size, tta=FLAGS.tta)
    labels, names = rows["label"].to_numpy(), run.labels
    observations = rows["observation_id"].to_numpy()

    result = {"model_dir": FLAGS.model_dir, "dataset": run.dataset, "split": FLAGS.split, "tta": FLAGS.tta,
              "metadata_prior": FLAGS.metadata_prior}
    levels = ["per_image", "per_observation"]
    if prior is not None:
        months = months_of(rows["date"])
        result["dated_examples"] = int((months > 0).sum())
        for level, (level_labels, level_probabilities) in (
                ("per_image_without_prior", (labels, probabilities)),
                ("per_observation_without_prior", cm.per_observation(labels, probabilities, observations))):
            result[level] = cm.summary(level_labels, level_probabilities, names)
        levels += ["per_image_without_prior", "per_observation_without_prior"]
        probabilities = prior.apply(probabilities, months)
    result["per_image"] = cm.summary(labels, probabilities, names)
    result["per_observation"] = cm.summary(*cm.per_observation(labels, probabilities, observations), names)
    predicted = probabilities.argmax(axis=1)
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
                             for level in levels})
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
