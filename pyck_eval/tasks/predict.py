"""The answer of a trained run, or of its LiteRT export, for image files: one `Answer` per photo or observation.

Photos go through the same `prepare_image` as training, in batches; an unreadable file gets an
answer whose verdict is "error" and the others are still answered. Probabilities are calibrated
with the run's temperature. A species (genus) run answers at the finest level that passes two
checks (`pyck_classifier.posthoc.back_off`): the level's out-of-class score against the run's
threshold there, then its top probability (summed over the taxonomy) against `min_confidence`;
species, else genus, else family, else "unsure" ("out_of_class" when every level flags the photo).
An exported model answers alone: no out-of-class check, no prior.

A prediction says which of the model's classes a photo looks most like, never whether a
mushroom is edible.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterator

import numpy as np
from tqdm.auto import tqdm

from pyck_classifier.model import litert
from pyck_classifier.posthoc.back_off import back_off
from pyck_classifier.posthoc.binned_prior import priors_named
from pyck_classifier.posthoc.out_of_class import SCORES
from pyck_classifier.posthoc.taxonomy import Taxonomy
from pyck_classifier.posthoc.test_time_augmentation import with_tta
from pyck_eval.lazy_imports import lazy_import
from pyck_eval.photo_groups import GROUPINGS, observation_of
from pyck_eval.tasks import shared_options
from pyck_eval.tasks.errors import OptionError
from pyck_tfds.dump.images import IMAGE_SUFFIXES
from pyck_tfds.options import CheckedOptions, option

feature_extraction = lazy_import("pyck_classifier.model.feature_extraction")
image_preprocessing = lazy_import("pyck_classifier.model.image_preprocessing")
month_prior = lazy_import("pyck_classifier.posthoc.month_prior")
observations = lazy_import("pyck_classifier.posthoc.observations")
photo_metadata = lazy_import("pyck_classifier.data.photo_metadata")
special = lazy_import("scipy.special")
trained_run = lazy_import("pyck_eval.trained_run")

NOT_ADVICE = "These are look-alike scores, not advice on edibility: never eat a mushroom on a model's word."


@dataclasses.dataclass(frozen=True)
class PredictOptions(CheckedOptions):
    top_k: int = option(3, "Classes listed per image or observation.", lower=1)
    group: str = option("none", "One answer per image (none), per folder of images (folder), or per observation of "
                        "--observations_csv (csv).", choices=GROUPINGS)
    observations_csv: str | None = option(None, "--group=csv: a CSV with columns file,observation.")
    month: int = option(0, "--metadata_prior=month: the month (1-12) for every photo, instead of their EXIF dates.",
                        lower=0, upper=12)
    out_of_class: bool = option(True, "Say when a photo looks like none of the model's classes (the run's "
                                "out-of-class score and threshold, calibration.json).")
    out_of_class_score: str = option("run", "Which out-of-class score decides: the run's default (at a genus or "
                                     "family level backed off to: the summed top probability), or the one "
                                     "`report --ood_from` found best on validation, at every level; each has its own "
                                     "threshold.", choices=("run", *SCORES))
    tta: str = shared_options.tta()
    metadata_prior: str = shared_options.metadata_prior()
    calibrated: bool = shared_options.calibrated()
    min_confidence: float = shared_options.min_confidence()
    back_off: bool = shared_options.back_off()
    batch_size: int = shared_options.batch_size()

    def __post_init__(self):
        super().__post_init__()
        if self.group == "csv" and not self.observations_csv:
            raise OptionError("--group=csv needs --observations_csv=FILE (columns file,observation)")
        if "location" in priors_named(self.metadata_prior):
            raise OptionError("--metadata_prior=location: photos given to predict carry no coordinates pyck reads; "
                              "the location prior is for `report` on a *_csv dataset (use month here)")


@dataclasses.dataclass(frozen=True)
class Answer:
    """What the model says about one photo (`file`) or one observation (`observation`, its `files`)."""
    verdict: str  # "answer" (at `answer["level"]`), "unsure", "out_of_class" (at every level), or "error"
    level: str  # what a class names: family, genus, species...
    top: tuple[dict, ...] = ()  # {"class", "probability"}, most probable first
    probabilities: dict[str, float] = dataclasses.field(default_factory=dict)  # every class, calibrated (+ prior)
    out_of_class_score: float | None = None  # at the classes' level; None: no out-of-class check
    file: str | None = None
    observation: str | None = None
    files: tuple[str, ...] = ()
    error: str | None = None
    answer: dict | None = None  # {"level", "taxon", "probability"}: the finest level that passed both checks
    coarser: dict[str, tuple[dict, ...]] = dataclasses.field(default_factory=dict)  # per coarser level, its top
    out_of_class_at: tuple[str, ...] = ()  # the levels whose out-of-class check flagged it

    def to_json(self) -> dict:
        """The entry `predict --json` prints."""
        if self.error is not None:
            return {"file": self.file, "error": self.error}
        where = {"file": self.file} if self.observation is None else {"observation": self.observation,
                                                                      "files": list(self.files)}
        score = {} if self.out_of_class_score is None else {"out_of_class_score": self.out_of_class_score}
        answer = {} if self.answer is None else {"answer": self.answer}
        flagged = {"out_of_class_at": list(self.out_of_class_at)} if self.out_of_class_at else {}
        coarser = {"levels": {level: list(top) for level, top in self.coarser.items()}} if self.coarser else {}
        return {**where, "verdict": self.verdict, **answer, **score, **flagged, "top": list(self.top), **coarser}


@dataclasses.dataclass(frozen=True)
class ExportedModel:
    """A `pyck_eval export` file: the LiteRT model, its labels, their level and taxonomy (from its metadata)."""
    path: str
    model: litert.LiteRTModel
    labels: list[str]
    level: str
    taxonomy: Taxonomy


def load_exported(path: str) -> ExportedModel:
    """Reads a `.tflite` written by `pyck_eval export`; `litert.ExportError` says why one cannot serve."""
    exported = litert.LiteRTModel.from_file(path)
    metadata = exported.metadata
    if metadata is None:
        raise litert.ExportError(f"{path} has no pyck metadata (labels): export it with `python -m pyck_eval export`")
    level = metadata.get("level", "class")
    taxonomy = (Taxonomy.from_json(metadata["taxonomy"]) if "taxonomy" in metadata
                else Taxonomy(level, tuple(metadata["labels"]), {}))  # exported before pyck recorded a taxonomy
    return ExportedModel(path, exported, metadata["labels"], level, taxonomy)


@dataclasses.dataclass
class _Outputs:
    """What a model said about readable files, and what it needs to turn that into answers."""
    labels: list[str]
    level: str
    taxonomy: Taxonomy
    probabilities: dict[str, np.ndarray]  # calibrated
    errors: dict[str, str]
    outlyingness: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # per file, one score per level
    calibration: object | None = None
    prior: object | None = None
    checked_levels: tuple[str, ...] = ()  # the levels of outlyingness's scores; empty: no out-of-class check


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


def top_k(probabilities: np.ndarray, names: list[str], k: int) -> tuple[dict, ...]:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return tuple({"class": names[i], "probability": float(probabilities[i])} for i in order)


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


def _chosen_score(options: PredictOptions) -> str | None:
    return None if options.out_of_class_score == "run" else options.out_of_class_score


def _coarser(level: str, taxonomy: Taxonomy) -> str | None:
    """The calibration's name for a level's detector: None for the classes' own."""
    return None if level == taxonomy.level else level


Answerer = Callable[[list[str], "tqdm | None"], _Outputs]


def _run_answerer(run, options: PredictOptions) -> tuple[Answerer, int]:
    """What answers a list of files with a trained run, and how many passes over them it makes."""
    prior = run.month_prior() if options.metadata_prior == "month" else None
    check = options.out_of_class and run.calibration is not None
    if options.out_of_class and run.calibration is None:
        print(f"{run.model_dir} has no calibration.json (trained before pyck fitted one): no out-of-class check, "
              f"uncalibrated probabilities. {trained_run.REFIT}", file=sys.stderr)
    scorer = (run.executable(feature_extraction.logits_and_features_model(run.model), "logits_and_features")
              if check else None)
    levels = run.taxonomy.levels if options.back_off else run.taxonomy.levels[:1]
    checked = (levels[0], *(level for level in levels[1:] if level in run.calibration.levels)) if check else ()
    if check and len(checked) < len(levels):
        print(f"{run.model_dir}'s calibration has no out-of-class detector at {', '.join(levels[len(checked):])} "
              f"level (fitted before pyck made one per level): answers there are not checked. {trained_run.REFIT}",
              file=sys.stderr)
    # Without TTA the scorer's logits give the probabilities too (their softmax): one pass.
    classifier = (run.executable(with_tta(run.model, options.tta), f"tta_{options.tta}")
                  if not check or options.tta != "none" else None)

    def answer(files: list[str], bar: tqdm | None = None) -> _Outputs:
        probabilities, scores = {}, {}
        if scorer is not None:
            outputs, errors = predict_files(scorer, files, options.batch_size, bar)
            for path, row in outputs.items():
                logits, features = feature_extraction.split_logits_and_features(row[None].astype(np.float64),
                                                                                len(run.labels))
                scores[path] = np.array([run.calibration.outlyingness(
                    logits, features, _chosen_score(options), _coarser(level, run.taxonomy))[0] for level in checked])
                probabilities[path] = special.softmax(logits[0])
        if classifier is not None:
            probabilities, errors = predict_files(classifier, files, options.batch_size, bar)
        if run.calibration and options.calibrated:
            probabilities = {path: run.calibration.calibrated(row[None])[0] for path, row in probabilities.items()}
        return _Outputs(run.labels, run.level, run.taxonomy, probabilities, errors, scores, run.calibration, prior,
                        checked)

    return answer, (scorer is not None) + (classifier is not None)


def _exported_answerer(exported: ExportedModel, options: PredictOptions) -> tuple[Answerer, int]:
    """An exported LiteRT model alone: its calibrated probabilities, no out-of-class check, no month prior."""
    if options.tta != "none" or options.metadata_prior != "none":
        raise OptionError("--tflite answers with the exported model alone: drop --tta and --metadata_prior")

    def answer(files: list[str], bar: tqdm | None = None) -> _Outputs:
        return _Outputs(exported.labels, exported.level, exported.taxonomy,
                        *predict_files(exported.model, files, options.batch_size, bar))

    return answer, 1


def _answers_of(outputs: _Outputs, files: list[str], groups: list[str], options: PredictOptions) -> list[Answer]:
    """One answer per unreadable file, then one per readable image or per observation (mean of its photos)."""
    readable = [f for f in files if f in outputs.probabilities]
    rows = np.array([outputs.probabilities[f] for f in readable]).reshape(len(readable), len(outputs.labels))
    if outputs.prior is not None:
        if options.month:
            months = np.full(len(readable), options.month)
        else:
            months = month_prior.months_of([photo_metadata.photo_datetime(f) for f in readable])
        rows = outputs.prior.apply(rows, months)
    group_of = dict(zip(files, groups))
    group_ids = np.array([group_of[f] for f in readable], dtype=object)
    keys, means = observations.mean_by_group(rows, group_ids)
    check = bool(outputs.checked_levels)
    if check:  # an observation's score is the mean of its photos' scores, level by level
        photo_scores = np.array([outputs.outlyingness[f] for f in readable]).reshape(-1, len(outputs.checked_levels))
        _, mean_scores = observations.mean_by_group(photo_scores, group_ids)
    members: dict[str, list[str]] = {}
    for path in readable:
        members.setdefault(group_of[path], []).append(path)
    answers = [Answer("error", outputs.level, file=path, error=message) for path, message in outputs.errors.items()]
    for i, (key, mean) in enumerate(zip(keys, means)):
        where = ({"file": key} if options.group == "none" else
                 {"observation": str(key), "files": tuple(members[key])})
        answers.append(_verdict(mean, mean_scores[i] if check else None, outputs, options, where))
    return answers


def _verdict(mean: np.ndarray, scores: np.ndarray | None, outputs: _Outputs, options: PredictOptions, where: dict
             ) -> Answer:
    """The answer for one photo or observation at the finest level that passes both checks; its top classes, and
    each coarser level's top taxa."""
    labels, taxonomy = outputs.labels, outputs.taxonomy
    flags = {} if scores is None else {
        level: np.array([outputs.calibration.is_out_of_class(score, _chosen_score(options),
                                                             _coarser(level, taxonomy))])
        for level, score in zip(outputs.checked_levels, scores)}
    levels = taxonomy.levels if options.back_off else taxonomy.levels[:1]
    decided = back_off(taxonomy, mean[None], options.min_confidence, flags, levels).iloc[0]
    answer = (None if decided["verdict"] != "answer" else
              {"level": decided["level"], "taxon": decided["taxon"], "probability": float(decided["probability"])})
    sure_of_classes = decided["verdict"] == "out_of_class" or decided["level"] == taxonomy.level
    shown = options.top_k if sure_of_classes else max(3, options.top_k)  # unsure of the classes: their top 3
    coarser = {level: top_k(taxonomy.probabilities(mean[None], level)[0], taxonomy.names(level), options.top_k)
               for level in levels[1:]}
    return Answer(decided["verdict"], outputs.level, top_k(mean, labels, shown),
                  {name: float(p) for name, p in zip(labels, mean)},
                  None if scores is None else float(scores[0]), answer=answer, coarser=coarser,
                  out_of_class_at=tuple(level for level, flagged in flags.items() if flagged[0]), **where)


def predict_in_chunks(model, paths: list[str], options: PredictOptions = PredictOptions(),
                      chunk: int | None = None) -> Iterator[list[Answer]]:
    """`predict`'s answers `chunk` files at a time (all at once when grouping into observations), as they come.

    A progress bar on stderr counts the photos when there are more than one batch of them.
    """
    files = image_files(paths)
    if not files:
        raise FileNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(paths)}")
    try:
        groups = observation_of(files, options.group, options.observations_csv)
    except ValueError as err:
        raise OptionError(str(err)) from None
    if isinstance(model, ExportedModel):
        answer, passes = _exported_answerer(model, options)
    else:
        answer, passes = _run_answerer(model, options)
    chunk = len(files) if options.group != "none" or not chunk else chunk
    with tqdm(total=passes * len(files), desc="predict", unit="photo", disable=len(files) <= options.batch_size,
              file=sys.stderr) as bar:
        for start in range(0, len(files), chunk):
            outputs = answer(files[start:start + chunk], bar)
            yield _answers_of(outputs, files[start:start + chunk], groups[start:start + chunk], options)


def predict(model, paths: list[str], options: PredictOptions = PredictOptions()) -> list[Answer]:
    """The answers of `model` (a loaded run, or `load_exported(path)`) for image files and folders of images.

    Unreadable files come first, as answers with verdict "error"; then one answer per readable photo (or
    per observation with `options.group`), in the order of the files.
    """
    return [answer for answers in predict_in_chunks(model, paths, options) for answer in answers]
