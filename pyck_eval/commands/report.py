r"""`python -m pyck_eval report --model_dir M [--split test] [--tta flip] [--metadata_prior month] [--ood_from C]`.

How good a trained run is, per image and per observation (the mean of its images'
probabilities), and how far its probabilities can be trusted. With `--tta` the probabilities
are averaged over test-time views; the run's temperature (calibration.json) is applied unless
`--nocalibrated`; with `--metadata_prior=month` (or `location`, `month+location` on a *_csv dataset)
the headline shows the scores with and without the prior, and the rest of the report uses the
probabilities with it.

Trust: the expected calibration error and reliability diagrams before and after the temperature;
accuracy against coverage when answering only above a confidence, with the lowest threshold
that reaches `--target_accuracy` on validation and what it costs on this split; with
`--ood_from=CONFIG` (another config built in the same data_dir), how well each out-of-class
score separates this split's photos from photos of CONFIG's classes the model never learned.

Writes metrics.json, predictions.csv, confusion_matrix.png (counts and row-normalised),
most_confused.csv, worst_mistakes.png, reliability.png, coverage.png, out_of_class.png and
index.html into --out_dir (default M/report_<split>).
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pandas as pd
from absl import app, flags

from pyck_classifier.posthoc.binned_prior import priors_named
from pyck_eval.commands import common_flags, inference_flags  # noqa: F401  (--tta, --metadata_prior, ...)
from pyck_eval.index_page import write_index
from pyck_eval.lazy_imports import lazy_import

abstention = lazy_import("pyck_eval.abstention")
cm = lazy_import("pyck_eval.classification_metrics")
figures = lazy_import("pyck_eval.figures")
month_prior = lazy_import("pyck_classifier.posthoc.month_prior")
location_prior = lazy_import("pyck_classifier.posthoc.location_prior")
observation_groups = lazy_import("pyck_classifier.posthoc.observations")
out_of_class = lazy_import("pyck_classifier.posthoc.out_of_class")
special = lazy_import("scipy.special")
temperature_scaling = lazy_import("pyck_classifier.posthoc.temperature_scaling")
trained_run = lazy_import("pyck_eval.trained_run")

flags.DEFINE_string("model_dir", None, "A finished `python -m pyck_train` run.")
flags.DEFINE_string("split", "test", "Split to report on (tfds slicing works).")
flags.DEFINE_integer("worst", 16, "Mistakes shown in the gallery, most confident first.", lower_bound=0)
flags.DEFINE_float("target_accuracy", 0.95, "Accuracy the abstention threshold must reach on validation.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_string("ood_from", None, "Another config of the same data_dir (e.g. family7): its photos of classes "
                    "this model does not have are scored as out of class.")
FLAGS = flags.FLAGS


def prepare() -> None:
    flags.mark_flag_as_required("model_dir")


def images_at(run, split: str, indices: np.ndarray) -> dict[int, np.ndarray]:
    wanted, found = set(int(i) for i in indices), {}
    for i, (image, _, _) in enumerate(trained_run.split_examples(run, split).as_numpy_iterator()):
        if i in wanted:
            found[i] = image
            if len(found) == len(wanted):
                break
    return found



@dataclasses.dataclass
class Predictions:
    rows: pd.DataFrame
    raw: np.ndarray  # the network's softmax (averaged over TTA views)
    calibrated: np.ndarray  # after the run's temperature (the raw ones without calibration)
    final: np.ndarray  # after the metadata priors when asked for
    logits: np.ndarray | None = None  # with the pooled features, from the same pass when there is no TTA
    features: np.ndarray | None = None

    def logits_and_features(self, run: trained_run.TrainedRun, split: str) -> tuple[np.ndarray, np.ndarray]:
        if self.logits is None:
            _, self.logits, self.features = trained_run.predict_logits_and_features(run, split, FLAGS.batch_size)
        return self.logits, self.features


def metadata_priors(run: trained_run.TrainedRun) -> list:
    """The priors --metadata_prior asks for, each as apply(probabilities, rows) -> probabilities."""
    priors, wanted = [], priors_named(FLAGS.metadata_prior)
    if "month" in wanted:
        month = run.month_prior()
        priors.append(lambda p, rows: month.apply(p, month_prior.months_of(rows["date"])))
    if "location" in wanted:
        location = run.location_prior()
        priors.append(lambda p, rows: location.apply(p, rows["latitude"].to_numpy(), rows["longitude"].to_numpy()))
    return priors


def predictions(run: trained_run.TrainedRun, split: str, priors: list) -> Predictions:
    """One pass: without TTA the logits and features model gives the probabilities (their softmax) too."""
    logits = features = None
    if FLAGS.tta == "none":
        rows, logits, features = trained_run.predict_logits_and_features(run, split, FLAGS.batch_size)
        if rows.empty:
            raise ValueError(f"split {split!r} of {run.dataset} in {run.data_dir} is empty")
        raw = special.softmax(logits, axis=1)
    else:
        rows, raw = trained_run.predict_split(run, split, FLAGS.batch_size, tta=FLAGS.tta)
    calibrated = run.calibration.calibrated(raw) if run.calibration and FLAGS.calibrated else raw
    final = calibrated
    for prior in priors:
        final = prior(final, rows)
    return Predictions(rows, raw, calibrated, final, logits, features)


def calibration_section(run: trained_run.TrainedRun, scored: Predictions, out: str) -> tuple[dict, list]:
    """ECE and reliability diagrams, per image and per observation, before and after the temperature."""
    labels, observations = scored.rows["label"].to_numpy(), scored.rows["observation_id"].to_numpy()
    curves = {"network_softmax": ("network softmax", scored.raw)}
    if scored.calibrated is not scored.raw:
        curves["calibrated"] = (f"temperature {run.calibration.temperature:.2f}", scored.calibrated)
    if scored.final is not scored.calibrated:
        curves[f"with_{FLAGS.metadata_prior.replace('+', '_and_')}_prior"] = (f"+ {FLAGS.metadata_prior} prior",
                                                                              scored.final)
    result, panels = {}, {"per image": {}, "per observation": {}}
    for key, (name, probabilities) in curves.items():
        observation_labels, observation_probabilities = observation_groups.per_observation(labels, probabilities,
                                                                                           observations)
        result[key] = {"per_image_ece": temperature_scaling.expected_calibration_error(labels, probabilities),
                       "per_observation_ece": temperature_scaling.expected_calibration_error(observation_labels,
                                                                         observation_probabilities)}
        panels["per image"][name] = temperature_scaling.reliability_bins(labels, probabilities)
        panels["per observation"][name] = temperature_scaling.reliability_bins(observation_labels,
                                                                               observation_probabilities)
    figures.reliability_png(panels, os.path.join(out, "reliability.png"))
    if run.calibration is None:
        note = ("This run has no calibration.json (trained before pyck fitted one): probabilities are the raw "
                f"softmax. {trained_run.REFIT}")
    elif not FLAGS.calibrated:
        note = "--nocalibrated: the run's temperature is not applied."
    else:
        note = (f"Temperature {run.calibration.temperature:.3f}, fitted on the validation split "
                "(expected calibration error: lower is better; 15 confidence bins).")
    return result, [("Calibration", note), ("Expected calibration error", pd.DataFrame(result).T),
                    ("Reliability diagrams", "reliability.png")]


def abstention_section(scored: Predictions, validation: Predictions, out: str) -> tuple[dict, list]:
    """Accuracy vs coverage; the threshold reaching --target_accuracy on validation and its cost on this split."""
    labels = scored.rows["label"].to_numpy()
    validation_labels = validation.rows["label"].to_numpy()
    threshold = abstention.threshold_for_accuracy(validation_labels, validation.final, FLAGS.target_accuracy)
    result = {"target_accuracy": FLAGS.target_accuracy, "threshold_from_validation": threshold,
              "validation": abstention.at_threshold(validation_labels, validation.final, threshold or 1.0),
              FLAGS.split: abstention.at_threshold(labels, scored.final, threshold or 1.0)}
    if threshold is None:
        text = f"No confidence threshold reaches {FLAGS.target_accuracy:.2f} accuracy on validation."
    else:
        on_split = result[FLAGS.split]
        accuracy = "n/a" if on_split["accuracy"] is None else f"{on_split['accuracy']:.3f}"
        text = (f"--min_confidence={threshold:.3f} reaches {FLAGS.target_accuracy:.2f} accuracy on validation; on "
                f"{FLAGS.split} it answers {on_split['coverage']:.1%} of the photos ({on_split['answered']} of "
                f"{len(labels)}) at accuracy {accuracy}.")
    if FLAGS.min_confidence > 0:
        result["at_min_confidence"] = abstention.at_threshold(labels, scored.final, FLAGS.min_confidence)
    figures.coverage_png(
        {FLAGS.split: abstention.coverage_curve(labels, scored.final),
         "validation": abstention.coverage_curve(validation_labels, validation.final)},
        os.path.join(out, "coverage.png"), target=FLAGS.target_accuracy,
        chosen={f"threshold {threshold:.2f}": result[FLAGS.split]["coverage"]} if threshold is not None else None)
    return result, [("Abstaining when unsure", text), ("Accuracy vs coverage", "coverage.png")]


def out_of_class_dataset(run: trained_run.TrainedRun) -> tuple[str, list[str]]:
    """The --ood_from config's full name and its class names; a usage error when it cannot serve."""
    name = FLAGS.ood_from if "/" in FLAGS.ood_from else f"{run.dataset.split('/')[0]}/{FLAGS.ood_from}"
    if run.calibration is None:
        raise app.UsageError(f"{run.model_dir} has no calibration.json (trained before pyck fitted its out-of-class "
                             f"detector). {trained_run.REFIT}")
    try:
        names = trained_run.label_names(run, name)
    except Exception as err:  # noqa: BLE001 (tfds raises several types for a config that is not built)
        raise app.UsageError(f"--ood_from={FLAGS.ood_from}: {name} cannot be read from {run.data_dir} "
                             f"({type(err).__name__}); build it there with `tfds build` first") from None
    if not set(names) - set(run.labels):
        raise app.UsageError(f"--ood_from={FLAGS.ood_from}: every class of {name} is one of this model's; "
                             "choose a config holding other classes")
    return name, names


def out_of_class_section(run: trained_run.TrainedRun, scored: dict[str, Predictions], out: str) -> tuple[dict, list]:
    """AUROC of each score (in-class photos vs photos of the other config's unknown classes), on validation and here.

    `scored` holds the in-class predictions of validation and the reported split. The thresholds are the run's
    (95 % of in-class validation photos kept); the best score is chosen on validation.
    """
    dataset, names = out_of_class_dataset(run)
    scores, counts = {}, {}
    for split, in_class in scored.items():
        logits, features = in_class.logits_and_features(run, split)
        rows, other_logits, other_features = trained_run.predict_logits_and_features(run, split, FLAGS.batch_size,
                                                                                     dataset)
        unknown = ~rows["label"].map(names.__getitem__).isin(run.labels).to_numpy()
        counts[split] = rows.loc[unknown, "label"].map(names.__getitem__).value_counts().sort_index().to_dict()
        scores[split] = {name: (run.calibration.outlyingness(logits, features, name),
                                run.calibration.outlyingness(other_logits[unknown], other_features[unknown], name))
                         for name in out_of_class.SCORES}
    table = pd.DataFrame([{
        "score": name,
        "validation_auroc": out_of_class.auroc(*scores["validation"][name]),
        "validation_in_class_kept": float(np.mean(~run.calibration.is_out_of_class(scores["validation"][name][0],
                                                                                    name))),
        f"{FLAGS.split}_auroc": out_of_class.auroc(*scores[FLAGS.split][name]),
        f"{FLAGS.split}_in_class_kept": float(np.mean(~run.calibration.is_out_of_class(
            scores[FLAGS.split][name][0], name))),
        f"{FLAGS.split}_out_of_class_flagged": float(np.mean(run.calibration.is_out_of_class(
            scores[FLAGS.split][name][1], name))),
    } for name in out_of_class.SCORES]).set_index("score")
    best = str(table["validation_auroc"].idxmax())
    in_scores, out_scores = scores[FLAGS.split][best]
    figures.score_histograms_png(
        {"in class": in_scores, "out of class": out_scores}, run.calibration.thresholds[best],
        os.path.join(out, "out_of_class.png"), title=f"{best} on {FLAGS.split}",
        threshold_label=f"threshold (keeps {run.calibration.in_class_recall:.0%} of in-class validation)")
    result = {"dataset": dataset, "unknown_classes": counts, "best_on_validation": best,
              "used_by_predict": run.calibration.score, "scores": table.to_dict(orient="index")}
    text = (f"Photos of {', '.join(counts[FLAGS.split])} from {dataset} ({sum(counts[FLAGS.split].values())} on "
            f"{FLAGS.split}) against this run's {FLAGS.split} photos. Best on validation: {best}; predict uses "
            f"{run.calibration.score}. AUROC 0.5 is chance, 1.0 a perfect separation.")
    return result, [("Photos of classes the model never learned", text), ("Out-of-class scores", table),
                    (f"{best} score", "out_of_class.png")]


def main(argv: list[str]) -> None:
    run = trained_run.load_run(FLAGS.model_dir, FLAGS.data_dir, FLAGS.runtime)
    out = common_flags.out_dir(os.path.join(FLAGS.model_dir, f"report_{FLAGS.split.replace('/', '_')}"))
    priors = metadata_priors(run)
    scored = predictions(run, FLAGS.split, priors)
    rows, probabilities, names = scored.rows, scored.final, run.labels
    labels, observations = rows["label"].to_numpy(), rows["observation_id"].to_numpy()

    result = {"model_dir": FLAGS.model_dir, "dataset": run.dataset, "split": FLAGS.split, "tta": FLAGS.tta,
              "metadata_prior": FLAGS.metadata_prior,
              "temperature": run.calibration.temperature if run.calibration and FLAGS.calibrated else None}
    levels, wanted = ["per_image", "per_observation"], priors_named(FLAGS.metadata_prior)
    if "month" in wanted:
        result["dated_examples"] = int((month_prior.months_of(rows["date"]) > 0).sum())
    if "location" in wanted:
        cells = location_prior.cells_of(rows["latitude"].to_numpy(), rows["longitude"].to_numpy())
        result["located_examples"] = int((cells > 0).sum())
    if priors:
        for level, (level_labels, level_probabilities) in (
                ("per_image_without_prior", (labels, scored.calibrated)),
                ("per_observation_without_prior", cm.per_observation(labels, scored.calibrated, observations))):
            result[level] = cm.summary(level_labels, level_probabilities, names)
        levels += ["per_image_without_prior", "per_observation_without_prior"]
    result["per_image"] = cm.summary(labels, probabilities, names)
    result["per_observation"] = cm.summary(*cm.per_observation(labels, probabilities, observations), names)
    predicted = probabilities.argmax(axis=1)
    matrix = cm.confusion(labels, predicted, len(names))
    result["confusion_matrix"] = matrix.tolist()
    confused = cm.most_confused_pairs(matrix, names)
    result["most_confused"] = confused.to_dict(orient="records")
    result["calibration"], calibration_sections = calibration_section(run, scored, out)
    validation = scored if FLAGS.split == "validation" else predictions(run, "validation", priors)
    result["abstention"], abstention_sections = abstention_section(scored, validation, out)
    ood_sections = []
    if FLAGS.ood_from:
        result["out_of_class"], ood_sections = out_of_class_section(run, {"validation": validation,
                                                                          FLAGS.split: scored}, out)
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
    elif not (predicted != labels).any():
        sections.append(("Most confident mistakes", f"No mistakes: every {FLAGS.split} photo is right."))

    headline = cm.headline_table(result, levels)
    per_class = cm.per_class_table(result["per_image"]["per_class"], names)
    no_confusion = f"No mistakes: no {run.level} was taken for another on {FLAGS.split}."
    index = write_index(out, f"{run.dataset} {FLAGS.split}: {os.path.basename(os.path.normpath(FLAGS.model_dir))}", [
        ("Accuracy per image and per observation (mean of its images' probabilities)", headline),
        (f"Per {run.level} (per image)", per_class),
        ("Confusion matrix", "confusion_matrix.png"),
        ("Most confused pairs", confused if len(confused) else no_confusion),
        *sections, *calibration_sections, *abstention_sections, *ood_sections,
    ])
    print(headline.to_string(float_format=lambda v: f"{v:.4f}"))
    for heading, content in (*calibration_sections, *abstention_sections, *ood_sections):
        if isinstance(content, pd.DataFrame):
            print(f"{heading}:\n{content.to_string(float_format=lambda v: f'{v:.3f}')}")
        elif not content.endswith(".png"):
            print(content)
    common_flags.done(index)
