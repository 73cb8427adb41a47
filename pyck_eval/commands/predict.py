r"""`python -m pyck_eval predict --model_dir M IMAGE_OR_DIR...`: the top-k classes of each image or observation.

Any size, format PIL reads and EXIF orientation; images go through the same `prepare_image`
as training, in batches. A file that cannot be read gets an error line (stderr, or an
"error" entry with --json) and the others are still predicted; the exit status is then 1.

Several photos of one find answer better together: `--group=folder` treats each folder of
images as one observation, `--group=csv --observations_csv=F` reads `file,observation` rows;
each observation then gets one answer from the mean of its photos' probabilities.
`--tta` averages test-time views; `--metadata_prior=month` re-weights by the month the photo
was taken (`--month`, else each photo's EXIF date; undated photos are left unchanged).

Probabilities are calibrated with the run's temperature (calibration.json, fitted on
validation). Two checks come before an answer: a photo (or observation) whose out-of-class
score passes the run's threshold gets "not one of the N families this model knows"
(`--noout_of_class` turns the check off), and one whose top probability is under
`--min_confidence` gets "unsure" with its top 3.

A prediction says which of the model's classes a photo looks most like. It is no advice on
whether a mushroom is edible.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable

import numpy as np
from absl import app, flags
from tqdm.auto import tqdm

from pyck_classifier.model import litert
from pyck_classifier.posthoc.binned_prior import priors_named
from pyck_classifier.posthoc.test_time_augmentation import with_tta
from pyck_eval.commands import common_flags, inference_flags  # noqa: F401  (--data_dir, --tta, ...)
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.photo_groups import GROUPINGS, observation_of
from pyck_tfds.dump.images import IMAGE_SUFFIXES

calibration = lazy_import("pyck_classifier.posthoc.calibration")
feature_extraction = lazy_import("pyck_classifier.model.feature_extraction")
image_preprocessing = lazy_import("pyck_classifier.model.image_preprocessing")
month_prior = lazy_import("pyck_classifier.posthoc.month_prior")
observations = lazy_import("pyck_classifier.posthoc.observations")
out_of_class = lazy_import("pyck_classifier.posthoc.out_of_class")
photo_metadata = lazy_import("pyck_classifier.data.photo_metadata")
special = lazy_import("scipy.special")
trained_run = lazy_import("pyck_eval.trained_run")

flags.DEFINE_string("model_dir", None, "A finished `python -m pyck_train` run.")
flags.DEFINE_string("tflite", None, "Instead of --model_dir: a LiteRT model from `pyck_eval export` (its labels are "
                    "in its metadata; no out-of-class check, no month prior).")
flags.DEFINE_integer("top_k", 3, "Classes listed per image or observation.", lower_bound=1)
flags.DEFINE_bool("json", False, "One JSON document instead of a table.")
flags.DEFINE_enum("group", "none", list(GROUPINGS), "One answer per image (none), per folder of images "
                  "(folder), or per observation of --observations_csv (csv).")
flags.DEFINE_string("observations_csv", None, "--group=csv: a CSV with columns file,observation.")
flags.DEFINE_integer("month", 0, "--metadata_prior=month: the month (1-12) for every photo, instead of their EXIF "
                     "dates.", lower_bound=0, upper_bound=12)
flags.DEFINE_bool("out_of_class", True, "Say when a photo looks like none of the model's classes (the run's "
                  "out-of-class score and threshold, calibration.json).")
flags.DEFINE_enum("out_of_class_score", "run", ["run", *out_of_class.SCORES], "Which out-of-class score decides: "
                  "the run's default, or the one `report --ood_from` found best on validation; each has its own "
                  "threshold.")
FLAGS = flags.FLAGS
NOT_ADVICE = "These are look-alike scores, not advice on edibility: never eat a mushroom on a model's word."
STREAM_CHUNK_BATCHES = 8  # per-image answers are printed every this many batches
PLURALS = {"family": "families", "genus": "genera", "species": "species", "order": "orders", "class": "classes"}


def prepare() -> None:
    flags.register_multi_flags_validator(
        ["model_dir", "tflite"], lambda values: (values["model_dir"] is None) != (values["tflite"] is None),
        message="give --model_dir (a pyck_train run) or --tflite (a `pyck_eval export` file), not both")


@dataclasses.dataclass
class Answers:
    """What a model said about readable files, and what it needs to turn that into verdicts."""
    labels: list[str]
    level: str
    probabilities: dict[str, np.ndarray]  # calibrated
    errors: dict[str, str]
    outlyingness: dict[str, float] = dataclasses.field(default_factory=dict)  # empty: no out-of-class check
    calibration: calibration.Calibration | None = None
    prior: month_prior.MonthPrior | None = None


def image_files(paths: list[str]) -> list[str]:
    """Files as given, and the image files under each directory (sorted)."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs.sort()
                files += [os.path.join(root, n) for n in sorted(names) if n.lower().endswith(IMAGE_SUFFIXES)]
        else:
            files.append(path)
    return files


def top_k(probabilities: np.ndarray, names: list[str], k: int) -> list[dict]:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [{"class": names[i], "probability": float(probabilities[i])} for i in order]


def predict_files(model, files: list[str], batch_size: int, bar: tqdm | None = None
                  ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Outputs per readable file and an error message per unreadable one, in batches; `bar` counts the files."""
    probabilities, errors = {}, {}
    for start in range(0, len(files), batch_size):
        batch, names = [], []
        for path in files[start:start + batch_size]:
            try:
                image = image_preprocessing.read_image_file(path)
                batch.append(image_preprocessing.prepare_image(image, model.input_shape[1:3]).numpy())
                names.append(path)
            except (ValueError, FileNotFoundError, IsADirectoryError) as err:
                errors[path] = str(err)
        if batch:
            for path, row in zip(names, np.asarray(model.predict_on_batch(np.stack(batch)))):
                probabilities[path] = row
        if bar is not None:
            bar.update(len(files[start:start + batch_size]))
    return probabilities, errors


def chosen_score() -> str | None:
    return None if FLAGS.out_of_class_score == "run" else FLAGS.out_of_class_score


Answerer = Callable[[list[str], "tqdm | None"], Answers]


def model_answerer() -> tuple[Answerer, int]:
    """Loads the run once; returns what answers a list of files, and how many passes over them it makes."""
    if "location" in priors_named(FLAGS.metadata_prior):
        raise app.UsageError("--metadata_prior=location: photos given to predict carry no coordinates pyck reads; "
                             "the location prior is for `report` on a *_csv dataset (use month here)")
    run = trained_run.load_run(FLAGS.model_dir, FLAGS.data_dir, FLAGS.runtime)
    prior = run.month_prior() if FLAGS.metadata_prior == "month" else None
    check = FLAGS.out_of_class and run.calibration is not None
    if FLAGS.out_of_class and run.calibration is None:
        print(f"{FLAGS.model_dir} has no calibration.json (trained before pyck fitted one): no out-of-class check, "
              f"uncalibrated probabilities. {trained_run.REFIT}", file=sys.stderr)
    scorer = (run.executable(feature_extraction.logits_and_features_model(run.model), "logits_and_features")
              if check else None)
    # Without TTA the scorer's logits give the probabilities too (their softmax): one pass.
    classifier = (run.executable(with_tta(run.model, FLAGS.tta), f"tta_{FLAGS.tta}")
                  if not check or FLAGS.tta != "none" else None)

    def answer(files: list[str], bar: tqdm | None = None) -> Answers:
        probabilities, scores = {}, {}
        if scorer is not None:
            outputs, errors = predict_files(scorer, files, FLAGS.batch_size, bar)
            for path, row in outputs.items():
                logits, features = feature_extraction.split_logits_and_features(row[None].astype(np.float64),
                                                                           len(run.labels))
                scores[path] = float(run.calibration.outlyingness(logits, features, chosen_score())[0])
                probabilities[path] = special.softmax(logits[0])
        if classifier is not None:
            probabilities, errors = predict_files(classifier, files, FLAGS.batch_size, bar)
        if run.calibration and FLAGS.calibrated:
            probabilities = {path: run.calibration.calibrated(row[None])[0] for path, row in probabilities.items()}
        return Answers(run.labels, run.level, probabilities, errors, scores, run.calibration, prior)

    return answer, (scorer is not None) + (classifier is not None)


def export_answerer() -> tuple[Answerer, int]:
    """An exported LiteRT model alone: its calibrated probabilities, no out-of-class check, no month prior."""
    if FLAGS.tta != "none" or FLAGS.metadata_prior != "none":
        raise app.UsageError("--tflite answers with the exported model alone: drop --tta and --metadata_prior")
    try:
        exported = litert.LiteRTModel.from_file(FLAGS.tflite)
        metadata = exported.metadata
    except litert.ExportError as err:
        sys.exit(f"error: {err}")
    if metadata is None:
        sys.exit(f"error: {FLAGS.tflite} has no pyck metadata (labels): export it with `python -m pyck_eval export`")
    labels, level = metadata["labels"], metadata.get("level", "class")

    def answer(files: list[str], bar: tqdm | None = None) -> Answers:
        return Answers(labels, level, *predict_files(exported, files, FLAGS.batch_size, bar))

    return answer, 1


def results_of(answers: Answers, files: list[str], groups: list[str]) -> list[dict]:
    """One result per unreadable file, then one per readable image or per observation (mean of its photos)."""
    readable = [f for f in files if f in answers.probabilities]
    rows = np.array([answers.probabilities[f] for f in readable]).reshape(len(readable), len(answers.labels))
    if answers.prior is not None:
        if FLAGS.month:
            months = np.full(len(readable), FLAGS.month)
        else:
            months = month_prior.months_of([photo_metadata.photo_datetime(f) for f in readable])
        rows = answers.prior.apply(rows, months)
    group_of = dict(zip(files, groups))
    group_ids = np.array([group_of[f] for f in readable], dtype=object)
    keys, means = observations.mean_by_group(rows, group_ids)
    check = bool(answers.outlyingness)
    if check:  # an observation's score is the mean of its photos' scores
        photo_scores = np.array([answers.outlyingness[f] for f in readable]).reshape(-1, 1)
        _, mean_scores = observations.mean_by_group(photo_scores, group_ids)
    members: dict[str, list[str]] = {}
    for path in readable:
        members.setdefault(group_of[path], []).append(path)
    results = [{"file": path, "error": message} for path, message in answers.errors.items()]
    for i, (key, mean) in enumerate(zip(keys, means)):
        answer = verdict(mean, float(mean_scores[i, 0]) if check else None, answers)
        if FLAGS.group == "none":
            results.append({"file": key, **answer})
        else:
            results.append({"observation": str(key), "files": members[key], **answer})
    return results


def verdict(mean: np.ndarray, score: float | None, answers: Answers) -> dict:
    """The answer for one photo or observation: its top classes, or unsure / out of class with the closest ones."""
    labels = answers.labels
    if score is not None and answers.calibration.is_out_of_class(score, chosen_score()):
        return {"verdict": "out_of_class", "out_of_class_score": score, "top": top_k(mean, labels, FLAGS.top_k)}
    answer = {"out_of_class_score": score} if score is not None else {}
    if mean.max() < FLAGS.min_confidence:
        return {"verdict": "unsure", **answer, "top": top_k(mean, labels, max(3, FLAGS.top_k))}
    return {"verdict": "answer", **answer, "top": top_k(mean, labels, FLAGS.top_k)}


def describe(result: dict, known: str) -> str:
    ranked = "  ".join(f"{t['class']} {t['probability']:.3f}" for t in result["top"])
    if result["verdict"] == "out_of_class":
        return f"not one of the {known} this model knows (closest: {ranked})"
    if result["verdict"] == "unsure":
        return f"unsure (top {len(result['top'])}: {ranked})"
    return ranked


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise app.UsageError("give one or more image files or directories")
    if FLAGS.group == "csv" and not FLAGS.observations_csv:
        raise app.UsageError("--group=csv needs --observations_csv=FILE (columns file,observation)")
    files = image_files(argv[1:])
    try:
        groups = observation_of(files, FLAGS.group, FLAGS.observations_csv)
    except ValueError as err:
        raise app.UsageError(str(err)) from None
    answer, passes = export_answerer() if FLAGS.tflite else model_answerer()
    # One answer per image streams chunk by chunk; observations and the JSON document need every file first.
    chunk = STREAM_CHUNK_BATCHES * FLAGS.batch_size if FLAGS.group == "none" and not FLAGS.json else len(files)
    collected, failed = [], False
    with tqdm(total=passes * len(files), desc="predict", unit="photo", disable=len(files) <= FLAGS.batch_size,
              file=sys.stderr) as bar:
        for start in range(0, len(files), chunk):
            answers = answer(files[start:start + chunk], bar)
            results = results_of(answers, files[start:start + chunk], groups[start:start + chunk])
            failed = failed or bool(answers.errors)
            if FLAGS.json:
                collected += results
                continue
            known = f"{len(answers.labels)} {PLURALS.get(answers.level, answers.level)}"
            for result in results:
                if "error" in result:
                    bar.write(f"error: {result['error']}", file=sys.stderr)
                else:
                    name = result.get("file") or f"{result['observation']} ({len(result['files'])} photos)"
                    bar.write(f"{name}\t{describe(result, known)}", file=sys.stdout)
    if FLAGS.json:
        print(json.dumps(collected, indent=2))
        print(NOT_ADVICE, file=sys.stderr)
    else:
        print(NOT_ADVICE)
    if failed:
        sys.exit(1)
