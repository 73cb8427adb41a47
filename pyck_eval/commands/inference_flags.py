"""Flags of the commands that turn images into answers (report, predict), defined once."""

from __future__ import annotations

from absl import flags

from pyck_train.test_time_augmentation import TTA_MODES

flags.DEFINE_enum("tta", "none", list(TTA_MODES), "Test-time augmentation: flip (image + mirror) or flip_crops "
                  "(+ a central 85 % crop and its mirror); probabilities are averaged.")
flags.DEFINE_enum("metadata_prior", "none", ["none", "month"], "month: re-weight the image probabilities by "
                  "p(class | month) of the training split (the run's month_prior.json); undated images unchanged.")
