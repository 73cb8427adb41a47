"""How good a trained run is on one split, and how far its probabilities can be trusted (`report`).

Per image and per observation (the mean of its images' probabilities); with test-time views,
the run's temperature and the metadata priors the options ask for; the expected calibration
error and reliability diagrams; accuracy against coverage and the abstention threshold chosen
on validation; for a species (genus) run, the accuracy at each coarser level, the taxonomic
distance of the mistakes and the back-off answers; with `ood_from`, how well each
out-of-class score separates this split's photos from photos of classes the model never
learned. Writes its files into `options.out_dir` (default `<model_dir>/report_<split>`) and
returns what it wrote.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pandas as pd

from pyck_classifier.posthoc.binned_prior import priors_named
from pyck_eval.index_page import Section, write_index
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks import shared_options
from pyck_eval.tasks.errors import OptionError
from pyck_eval.tasks.outputs import finish, output_folder
from pyck_tfds.options import CheckedOptions, option

abstention = lazy_import("pyck_eval.abstention")
back_off = lazy_import("pyck_classifier.posthoc.back_off")
cm = lazy_import("pyck_eval.classification_metrics")
figures = lazy_import("pyck_eval.figures")
month_prior = lazy_import("pyck_classifier.posthoc.month_prior")
location_prior = lazy_import("pyck_classifier.posthoc.location_prior")
observation_groups = lazy_import("pyck_classifier.posthoc.observations")
out_of_class = lazy_import("pyck_classifier.posthoc.out_of_class")
scores = lazy_import("pyck_classifier.posthoc.scores")
special = lazy_import("scipy.special")
taxonomic_answers = lazy_import("pyck_eval.taxonomic_answers")
temperature_scaling = lazy_import("pyck_classifier.posthoc.temperature_scaling")
trained_run = lazy_import("pyck_eval.trained_run")


@dataclasses.dataclass(frozen=True)
class ReportOptions(CheckedOptions):
    split: str = option("test", "Split to report on (tfds slicing works).")
    worst: int = option(16, "Mistakes shown in the gallery, most confident first.", lower=0)
    target_accuracy: float = option(0.95, "Accuracy the abstention threshold must reach on validation.", lower=0.0,
                                    upper=1.0)
    ood_from: str | None = option(None, "Another config of the same data_dir (e.g. family7): its photos of classes "
                                  "this model does not have are scored as out of class.")
    tta: str = shared_options.tta()
    metadata_prior: str = shared_options.metadata_prior()
    calibrated: bool = shared_options.calibrated()
    min_confidence: float = shared_options.min_confidence()
    batch_size: int = shared_options.batch_size()
    out_dir: str | None = shared_options.out_dir()


@dataclasses.dataclass
class ReportResult:
    """What `report` wrote (metrics.json's content, predictions.csv's rows) and the tables a reader sees first."""
    metrics: dict
    predictions: pd.DataFrame
    headline: pd.DataFrame
    notes: list[Section]  # calibration, abstention and out-of-class sections, as the command prints them
    out_dir: str
    index: str


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

    def logits_and_features(self, run: trained_run.TrainedRun, split: str, batch_size: int
                            ) -> tuple[np.ndarray, np.ndarray]:
        if self.logits is None:
            _, self.logits, self.features = trained_run.predict_logits_and_features(run, split, batch_size)
        return self.logits, self.features


def metadata_priors(run: trained_run.TrainedRun, metadata_prior: str) -> list:
    """The priors `metadata_prior` asks for, each as apply(probabilities, rows) -> probabilities."""
    priors, wanted = [], priors_named(metadata_prior)
    if "month" in wanted:
        month = run.month_prior()
        priors.append(lambda p, rows: month.apply(p, month_prior.months_of(rows["date"])))
    if "location" in wanted:
        location = run.location_prior()
        priors.append(lambda p, rows: location.apply(p, rows["latitude"].to_numpy(), rows["longitude"].to_numpy()))
    return priors


def predictions(run: trained_run.TrainedRun, split: str, priors: list, options: ReportOptions) -> Predictions:
    """One pass: without TTA the logits and features model gives the probabilities (their softmax) too."""
    logits = features = None
    if options.tta == "none":
        rows, logits, features = trained_run.predict_logits_and_features(run, split, options.batch_size)
        if rows.empty:
            raise ValueError(f"split {split!r} of {run.dataset} in {run.data_dir} is empty")
        raw = special.softmax(logits, axis=1)
    else:
        rows, raw = trained_run.predict_split(run, split, options.batch_size, tta=options.tta)
    calibrated = run.calibration.calibrated(raw) if run.calibration and options.calibrated else raw
    final = calibrated
    for prior in priors:
        final = prior(final, rows)
    return Predictions(rows, raw, calibrated, final, logits, features)


def calibration_section(run: trained_run.TrainedRun, scored: Predictions, out: str, options: ReportOptions
                        ) -> tuple[dict, list]:
    """ECE and reliability diagrams, per image and per observation, before and after the temperature (and the
    prior); the negative log-likelihood per image, the trainer's `loss` of the same probabilities."""
    labels, observations = scored.rows["label"].to_numpy(), scored.rows["observation_id"].to_numpy()
    curves = {"network_softmax": ("network softmax", scored.raw)}
    if scored.calibrated is not scored.raw:
        curves["calibrated"] = (f"temperature {run.calibration.temperature:.2f}", scored.calibrated)
    if scored.final is not scored.calibrated:
        curves[f"with_{options.metadata_prior.replace('+', '_and_')}_prior"] = (f"+ {options.metadata_prior} prior",
                                                                              scored.final)
    result, panels = {}, {"per image": {}, "per observation": {}}
    for key, (name, probabilities) in curves.items():
        observation_labels, observation_probabilities = observation_groups.per_observation(labels, probabilities,
                                                                                           observations)
        result[key] = {"per_image_ece": temperature_scaling.expected_calibration_error(labels, probabilities),
                       "per_observation_ece": temperature_scaling.expected_calibration_error(observation_labels,
                                                                         observation_probabilities),
                       "per_image_nll": temperature_scaling.negative_log_likelihood(labels, probabilities)}
        panels["per image"][name] = temperature_scaling.reliability_bins(labels, probabilities)
        panels["per observation"][name] = temperature_scaling.reliability_bins(observation_labels,
                                                                               observation_probabilities)
    figures.reliability_png(panels, os.path.join(out, "reliability.png"))
    if run.calibration is None:
        note = ("This run has no calibration.json (trained before pyck fitted one): probabilities are the raw "
                f"softmax. {trained_run.REFIT}")
    elif not options.calibrated:
        note = "--nocalibrated: the run's temperature is not applied."
    else:
        note = (f"Temperature {run.calibration.temperature:.3f}, fitted on the validation split "
                "(expected calibration error, 15 confidence bins, and negative log-likelihood: lower is better).")
    return result, [("Calibration", note), ("Calibration error and log-likelihood", pd.DataFrame(result).T),
                    ("Reliability diagrams", "reliability.png")]


def abstention_section(scored: Predictions, validation: Predictions, out: str, options: ReportOptions
                       ) -> tuple[dict, list]:
    """Accuracy vs coverage; the threshold reaching `target_accuracy` on validation and its cost on this split."""
    labels = scored.rows["label"].to_numpy()
    validation_labels = validation.rows["label"].to_numpy()
    threshold = abstention.threshold_for_accuracy(validation_labels, validation.final, options.target_accuracy)
    result = {"target_accuracy": options.target_accuracy, "threshold_from_validation": threshold,
              "validation": abstention.at_threshold(validation_labels, validation.final, threshold or 1.0),
              options.split: abstention.at_threshold(labels, scored.final, threshold or 1.0)}
    if threshold is None:
        text = f"No confidence threshold reaches {options.target_accuracy:.2f} accuracy on validation."
    else:
        on_split = result[options.split]
        accuracy = "n/a" if on_split["accuracy"] is None else f"{on_split['accuracy']:.3f}"
        text = (f"--min_confidence={threshold:.3f} reaches {options.target_accuracy:.2f} accuracy on validation; on "
                f"{options.split} it answers {on_split['coverage']:.1%} of the photos ({on_split['answered']} of "
                f"{len(labels)}) at accuracy {accuracy}.")
    if options.min_confidence > 0:
        result["at_min_confidence"] = abstention.at_threshold(labels, scored.final, options.min_confidence)
    figures.coverage_png(
        {options.split: abstention.coverage_curve(labels, scored.final),
         "validation": abstention.coverage_curve(validation_labels, validation.final)},
        os.path.join(out, "coverage.png"), target=options.target_accuracy,
        chosen={f"threshold {threshold:.2f}": result[options.split]["coverage"]} if threshold is not None else None)
    return result, [("Abstaining when unsure", text), ("Accuracy vs coverage", "coverage.png")]


def level_flags(run: trained_run.TrainedRun, logits: np.ndarray, features: np.ndarray) -> dict[str, np.ndarray]:
    """Per level the run has a detector for (its classes' and each coarser one fitted), the photos it flags."""
    if run.calibration is None:
        return {}
    own = run.taxonomy.level
    return {level: run.calibration.is_out_of_class(run.calibration.outlyingness(
        logits, features, level=None if level == own else level), level=None if level == own else level)
        for level in (own, *run.calibration.levels)}


def taxonomy_section(run: trained_run.TrainedRun, scored: Predictions, out: str, options: ReportOptions
                     ) -> tuple[dict, list, pd.DataFrame]:
    """Accuracy at every level from the summed probabilities, the taxonomic distance of the mistakes, and the
    back-off answers (with each level's out-of-class check) over min_confidence; each photo's answer at
    `options.min_confidence`."""
    taxonomy, labels = run.taxonomy, scored.rows["label"].to_numpy()
    accuracy = taxonomic_answers.accuracy_per_level(taxonomy, labels, scored.final,
                                                    scored.rows["observation_id"].to_numpy())
    errors = taxonomic_answers.taxonomic_errors(taxonomy, labels, scored.final.argmax(axis=1))
    flags = level_flags(run, *scored.logits_and_features(run, options.split, options.batch_size))
    thresholds = tuple(sorted({*taxonomic_answers.THRESHOLDS, options.min_confidence}))
    curve = taxonomic_answers.back_off_curve(taxonomy, labels, scored.final, flags, thresholds)
    chosen = curve.loc[options.min_confidence]
    figures.back_off_png(curve, taxonomy.levels, os.path.join(out, "back_off.png"),
                         title=f"Back-off answers on {options.split}", chosen=options.min_confidence)
    answered = ", ".join(f"{chosen[f'answered_{level}']:.1%} at {level}" for level in taxonomy.levels)
    checked = ", ".join(flags) if flags else "none (no calibration.json)"
    text = (f"Probabilities of a {' and a '.join(taxonomy.parents)} are the sums of their {run.level} "
            f"probabilities ({run.taxonomy.level} → {' → '.join(taxonomy.parents)}, taxonomy.json). With "
            f"--min_confidence={options.min_confidence:g} and the out-of-class check at each level ({checked}): "
            f"{answered}; {chosen['unsure']:.1%} unsure, {chosen['out_of_class']:.1%} out of class; accuracy of the "
            f"answers {chosen['accuracy']:.3f}.")
    result = {"levels": list(taxonomy.levels), "accuracy_per_level": accuracy.to_dict(orient="index"),
              "taxonomic_errors": errors["photos"].to_dict(), "checked_levels": list(flags),
              "back_off": {"min_confidence": options.min_confidence, **chosen.to_dict()}}
    curve.to_csv(os.path.join(out, "back_off.csv"))
    answers = back_off.back_off(taxonomy, scored.final, options.min_confidence, flags)
    return result, [("Accuracy per taxonomic level (summed probabilities)", accuracy),
                    ("How far the mistakes are", errors), ("Answers at the finest level that is sure", text),
                    ("Back-off answers against --min_confidence", "back_off.png")], answers


def out_of_class_dataset(run: trained_run.TrainedRun, ood_from: str) -> tuple[str, list[str]]:
    """The `ood_from` config's full name and its class names; a usage error when it cannot serve."""
    name = ood_from if "/" in ood_from else f"{run.dataset.split('/')[0]}/{ood_from}"
    if run.calibration is None:
        raise OptionError(f"{run.model_dir} has no calibration.json (trained before pyck fitted its out-of-class "
                          f"detector). {trained_run.REFIT}")
    try:
        names = trained_run.label_names(run, name)
    except Exception as err:  # noqa: BLE001 (tfds raises several types for a config that is not built)
        raise OptionError(f"--ood_from={ood_from}: {name} cannot be read from {run.data_dir} "
                          f"({type(err).__name__}); build it there with `tfds build` first") from None
    if not set(names) - set(run.labels):
        raise OptionError(f"--ood_from={ood_from}: every class of {name} is one of this model's; "
                          "choose a config holding other classes")
    return name, names


def out_of_class_section(run: trained_run.TrainedRun, unknown: tuple[str, list[str]], scored: dict[str, Predictions],
                         out: str, options: ReportOptions) -> tuple[dict, list]:
    """AUROC of each score (in-class photos vs photos of the other config's unknown classes), on validation and here.

    `unknown` is the other config and its class names; `scored` holds the in-class predictions of validation
    and the reported split. The thresholds are the run's (95 % of in-class validation photos kept); the best
    score is chosen on validation.
    """
    dataset, names = unknown
    scores, counts = {}, {}
    for split, in_class in scored.items():
        logits, features = in_class.logits_and_features(run, split, options.batch_size)
        rows, other_logits, other_features = trained_run.predict_logits_and_features(run, split, options.batch_size,
                                                                                     dataset)
        unknown = ~rows["label"].map(names.__getitem__).isin(run.labels).to_numpy()
        counts[split] = rows.loc[unknown, "label"].map(names.__getitem__).value_counts().sort_index().to_dict()
        if split == options.split and run.taxonomy.parents:
            backed_off = unknown_answers(run, other_logits[unknown], other_features[unknown],
                                         trained_run.split_taxa(run, split, dataset)[unknown], options)
        scores[split] = {name: (run.calibration.outlyingness(logits, features, name),
                                run.calibration.outlyingness(other_logits[unknown], other_features[unknown], name))
                         for name in out_of_class.SCORES}
    table = pd.DataFrame([{
        "score": name,
        "validation_auroc": out_of_class.auroc(*scores["validation"][name]),
        "validation_in_class_kept": float(np.mean(~run.calibration.is_out_of_class(scores["validation"][name][0],
                                                                                    name))),
        f"{options.split}_auroc": out_of_class.auroc(*scores[options.split][name]),
        f"{options.split}_in_class_kept": float(np.mean(~run.calibration.is_out_of_class(
            scores[options.split][name][0], name))),
        f"{options.split}_out_of_class_flagged": float(np.mean(run.calibration.is_out_of_class(
            scores[options.split][name][1], name))),
    } for name in out_of_class.SCORES]).set_index("score")
    best = str(table["validation_auroc"].idxmax())
    in_scores, out_scores = scores[options.split][best]
    figures.score_histograms_png(
        {"in class": in_scores, "out of class": out_scores}, run.calibration.thresholds[best],
        os.path.join(out, "out_of_class.png"), title=f"{best} on {options.split}",
        threshold_label=f"threshold (keeps {run.calibration.in_class_recall:.0%} of in-class validation)")
    result = {"dataset": dataset, "unknown_classes": counts, "best_on_validation": best,
              "used_by_predict": run.calibration.score, "scores": table.to_dict(orient="index")}
    text = (f"Photos of {', '.join(counts[options.split])} from {dataset} ({sum(counts[options.split].values())} on "
            f"{options.split}) against this run's {options.split} photos. Best on validation: {best}; predict uses "
            f"{run.calibration.score}. AUROC 0.5 is chance, 1.0 a perfect separation.")
    sections = [("Photos of classes the model never learned", text), ("Out-of-class scores", table),
                (f"{best} score", "out_of_class.png")]
    if run.taxonomy.parents:
        result["back_off"] = backed_off.reset_index().to_dict(orient="records")
        sections.append((f"How these photos are answered (--min_confidence={options.min_confidence:g}, each level's "
                         "out-of-class check; right: the photo's own taxon at that level)", backed_off))
    return result, sections


def unknown_answers(run: trained_run.TrainedRun, logits: np.ndarray, features: np.ndarray, taxa: pd.DataFrame,
                    options: ReportOptions) -> pd.DataFrame:
    """The back-off answers `predict` gives photos of classes the run never learned (calibrated, no TTA, no prior):
    per level answered (or unsure, out of class), how many photos and how many of them right at that level."""
    probabilities = special.softmax(logits, axis=1)
    if run.calibration and options.calibrated:
        probabilities = run.calibration.calibrated(probabilities)
    answers = back_off.back_off(run.taxonomy, probabilities, options.min_confidence,
                                level_flags(run, logits, features))
    outcome = answers["level"].where(answers["verdict"] == "answer", answers["verdict"])
    right = np.array([level in taxa and taxon == truth[level] for level, taxon, (_, truth)
                      in zip(answers["level"], answers["taxon"], taxa.iterrows())])
    order = [*run.taxonomy.levels, "unsure", "out_of_class"]
    grouped = pd.DataFrame({"answered": outcome.to_numpy(), "right": right}).groupby("answered")["right"]
    table = pd.DataFrame({"photos": grouped.size(), "right": grouped.sum()}).reindex(order, fill_value=0)
    return table.assign(share=table["photos"] / max(len(answers), 1)).astype({"photos": int, "right": int})


def report(run: trained_run.TrainedRun, options: ReportOptions = ReportOptions()) -> ReportResult:
    """Scores `options.split` of the run's dataset and writes the report (metrics.json, figures, index.html)."""
    for split in {options.split, "validation"}:  # before any work: the splits read, the other config
        trained_run.check_split(run, split)
    unknown = out_of_class_dataset(run, options.ood_from) if options.ood_from else None
    priors = metadata_priors(run, options.metadata_prior)
    out = output_folder(options.out_dir, os.path.join(run.model_dir, f"report_{options.split.replace('/', '_')}"))
    scored = predictions(run, options.split, priors, options)
    rows, probabilities, names = scored.rows, scored.final, run.labels
    labels, observations = rows["label"].to_numpy(), rows["observation_id"].to_numpy()

    result = {"model_dir": run.model_dir, "dataset": run.dataset, "split": options.split, "tta": options.tta,
              "metadata_prior": options.metadata_prior,
              "temperature": run.calibration.temperature if run.calibration and options.calibrated else None}
    levels, wanted = ["per_image", "per_observation"], priors_named(options.metadata_prior)
    if "month" in wanted:
        result["dated_examples"] = int((month_prior.months_of(rows["date"]) > 0).sum())
    if "location" in wanted:
        cells = location_prior.cells_of(rows["latitude"].to_numpy(), rows["longitude"].to_numpy())
        result["located_examples"] = int((cells > 0).sum())
    if priors:
        without = scores.per_image_and_observation(labels, scored.calibrated, observations, names)
        result |= {f"{level}_without_prior": block for level, block in without.items()}
        levels += ["per_image_without_prior", "per_observation_without_prior"]
    result |= scores.per_image_and_observation(labels, probabilities, observations, names)
    predicted = probabilities.argmax(axis=1)
    matrix = cm.confusion(labels, predicted, len(names))
    result["confusion_matrix"] = matrix.tolist()
    confused = cm.most_confused_pairs(matrix, names)
    result["most_confused"] = confused.to_dict(orient="records")
    result["calibration"], calibration_sections = calibration_section(run, scored, out, options)
    validation = scored if options.split == "validation" else predictions(run, "validation", priors, options)
    result["abstention"], abstention_sections = abstention_section(scored, validation, out, options)
    taxonomy_sections, answers = [], None
    if run.taxonomy.parents:
        result["taxonomy"], taxonomy_sections, answers = taxonomy_section(run, scored, out, options)
    ood_sections = []
    if unknown:
        result["out_of_class"], ood_sections = out_of_class_section(run, unknown, {"validation": validation,
                                                                                   options.split: scored}, out, options)
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(result, f, indent=2)
    predictions_csv = rows.assign(predicted=predicted, confidence=probabilities.max(axis=1),
                                  **{f"p_{name}": probabilities[:, i] for i, name in enumerate(names)})
    if answers is not None:  # the back-off answer at --min_confidence
        predictions_csv = predictions_csv.assign(**{f"answer_{k}": answers[k].to_numpy()
                                                    for k in ("verdict", "level", "taxon", "probability")})
    predictions_csv.to_csv(os.path.join(out, "predictions.csv"), index=False)
    confused.to_csv(os.path.join(out, "most_confused.csv"), index=False)
    figures.confusion_matrix_png(matrix, names, os.path.join(out, "confusion_matrix.png"), title=options.split)

    worst = cm.worst_mistakes(labels, probabilities, options.worst)
    sections = []
    if len(worst):
        images = images_at(run, options.split, worst)
        figures.image_grid_png(
            [images[i] for i in worst],
            [f"id {rows.image_id[i]}: {names[labels[i]]}\n-> {names[predicted[i]]} ({probabilities[i].max():.2f})"
             for i in worst],
            os.path.join(out, "worst_mistakes.png"), colors=["red"] * len(worst),
            suptitle="Most confident mistakes (true -> predicted)")
        sections.append(("Most confident mistakes", "worst_mistakes.png"))
    elif not (predicted != labels).any():
        sections.append(("Most confident mistakes", f"No mistakes: every {options.split} photo is right."))

    headline = cm.headline_table(result, levels)
    per_class = cm.per_class_table(result["per_image"]["per_class"], names)
    no_confusion = f"No mistakes: no {run.level} was taken for another on {options.split}."
    index = write_index(out, f"{run.dataset} {options.split}: {os.path.basename(os.path.normpath(run.model_dir))}", [
        ("Accuracy per image and per observation (mean of its images' probabilities)", headline),
        (f"Per {run.level} (per image)", per_class),
        ("Confusion matrix", "confusion_matrix.png"),
        ("Most confused pairs", confused if len(confused) else no_confusion),
        *sections, *taxonomy_sections, *calibration_sections, *abstention_sections, *ood_sections,
    ])
    return ReportResult(result, predictions_csv, headline, [*taxonomy_sections, *calibration_sections,
                                                            *abstention_sections, *ood_sections], out, finish(index))
