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
`--min_confidence` gets "unsure" with its top 3. A species (genus) run backs off: when the
species fail a check, the genus and then the family are tried, each with its own
out-of-class threshold and its probability summed over the run's taxonomy (taxonomy.json):
"Amanita (genus 0.930); not one of the 4 species this model knows (closest: ...)".
`--noback_off` answers at the run's own level only.

A prediction says which of the model's classes a photo looks most like. It is no advice on
whether a mushroom is edible. From Python: `pyck_eval.predict(model, paths, PredictOptions(...))`.
"""

from __future__ import annotations

import json
import sys

from absl import app, flags
from tqdm.auto import tqdm

from pyck_eval.lazy_imports import lazy_import
from pyck_eval.tasks.predict import NOT_ADVICE, PredictOptions
from pyck_eval.tasks.shared_options import RunOptions
from pyck_tfds.options import define_flags, options_from_flags

tasks_predict = lazy_import("pyck_eval.tasks.predict")
trained_run = lazy_import("pyck_eval.trained_run")

OPTIONS = (RunOptions, PredictOptions)
define_flags(RunOptions)
flags.DEFINE_string("tflite", None, "Instead of --model_dir: a LiteRT model from `pyck_eval export` (its labels are "
                    "in its metadata; no out-of-class check, no month prior).")
flags.DEFINE_bool("json", False, "One JSON document instead of a table.")
define_flags(PredictOptions)
STREAM_CHUNK_BATCHES = 8  # per-image answers are printed every this many batches
PLURALS = {"family": "families", "genus": "genera", "species": "species", "order": "orders", "class": "classes"}


def prepare() -> None:
    flags.register_multi_flags_validator(["model_dir", "tflite"], _one_model)


def _one_model(values: dict) -> bool:
    given = [f"--{name}" for name in ("model_dir", "tflite") if values[name] is not None]
    if len(given) == 1:
        return True
    wanted = "give --model_dir (a pyck_train run) or --tflite (a `pyck_eval export` file)"
    raise flags.ValidationError(f"{wanted}, not both" if given else wanted)


def describe(answer, known: str) -> str:
    """One line: the classes, or the coarser taxon answered and why the classes were not."""
    ranked = "  ".join(f"{t['class']} {t['probability']:.3f}" for t in answer.top)
    if answer.verdict == "out_of_class":
        return f"not one of the {known} this model knows (closest: {ranked})"
    if answer.verdict == "unsure":
        return f"unsure (top {len(answer.top)}: {ranked})"
    taxon = answer.answer
    if taxon["level"] == answer.level:
        return ranked
    why = (f"not one of the {known} this model knows" if answer.level in answer.out_of_class_at else
           f"{answer.level} unsure")
    return f"{taxon['taxon']} ({taxon['level']} {taxon['probability']:.3f}); {why} (closest: {ranked})"


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise app.UsageError("give one or more image files or directories")
    source, options, as_json = options_from_flags(RunOptions), options_from_flags(PredictOptions), flags.FLAGS.json
    if flags.FLAGS.tflite:
        model = tasks_predict.load_exported(flags.FLAGS.tflite)
    else:
        model = trained_run.load_run(source.model_dir, source.data_dir, source.runtime)
    # One answer per image streams chunk by chunk; observations and the JSON document need every file first.
    chunk = None if as_json else STREAM_CHUNK_BATCHES * options.batch_size
    collected, failed = [], False
    for answers in tasks_predict.predict_in_chunks(model, argv[1:], options, chunk):
        failed = failed or any(a.verdict == "error" for a in answers)
        if as_json:
            collected += [a.to_json() for a in answers]
            continue
        for answer in answers:
            if answer.error is not None:
                tqdm.write(f"error: {answer.error}", file=sys.stderr)
            else:
                known = f"{len(answer.probabilities)} {PLURALS.get(answer.level, answer.level)}"
                name = answer.file or f"{answer.observation} ({len(answer.files)} photos)"
                tqdm.write(f"{name}\t{describe(answer, known)}", file=sys.stdout)
    if as_json:
        print(json.dumps(collected, indent=2))
        print(NOT_ADVICE, file=sys.stderr)
    else:
        print(NOT_ADVICE)
    if failed:
        sys.exit(1)
