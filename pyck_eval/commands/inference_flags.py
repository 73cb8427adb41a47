"""Flags of the commands that turn images into answers (report, predict), defined once."""

from __future__ import annotations

from absl import flags

from pyck_classifier.posthoc.binned_prior import METADATA_PRIORS
from pyck_classifier.posthoc.test_time_augmentation import TTA_MODES

flags.DEFINE_enum("tta", "none", list(TTA_MODES), "Test-time augmentation: flip (image + mirror) or flip_crops "
                  "(+ a central 85 % crop and its mirror); probabilities are averaged.")
flags.DEFINE_enum("metadata_prior", "none", list(METADATA_PRIORS), "month: re-weight the "
                  "image probabilities by p(class | month) of the training split (the run's month_prior.json), undated "
                  "images unchanged; location (report only, *_csv datasets): by p(class | 10-degree cell) "
                  "(location_prior.json), images without coordinates unchanged; month+location: both.")
flags.DEFINE_bool("calibrated", True, "Apply the run's temperature (calibration.json, fitted on validation) to the "
                  "probabilities; --nocalibrated shows the network's raw softmax.")
flags.DEFINE_float("min_confidence", 0.0, "Below this top probability the answer is 'unsure' (its top 3 listed); "
                   "0 always answers.", lower_bound=0.0, upper_bound=1.0)
