"""Every flag of `python -m pyck_train`, documented and validated before any work starts.

Flagfiles in `configs/` set these; any flag can be overridden after `--flagfile`.
Batch size and learning rates are per replica: with N replicas the global batch is
N x --batch_size and the learning rates are multiplied by N (linear scaling rule).
"""

from __future__ import annotations

import dataclasses
import os

from absl import flags

from pyck_train.augmentation import AUGMENTATIONS
from pyck_train.backbones.registry import available_backbones
from pyck_train.heads import STUDY_HEAD, parse_head
from pyck_train.litert import RUNTIMES
from pyck_train.optimization import CLASS_WEIGHTS, LR_SCHEDULES, OPTIMIZERS
from pyck_train.strategies import STRATEGIES
from pyck_train.test_time_augmentation import TTA_MODES
from pyck_train.train import MULTI_WORKER_UNSUPPORTED, TrainConfig

# Data
flags.DEFINE_string("dataset", "mushroom_observer/family7", "TFDS name/config to train on.")
flags.DEFINE_string("data_dir", None, "The --data_dir given to `tfds build` (default: TFDS's own).")
flags.DEFINE_integer("train_subset", 0, "Train on the first N training examples only (0: all), as the "
                     "study did for tuning.", lower_bound=0)
flags.DEFINE_bool("cache", True, "Cache decoded images in memory after the first epoch (uint8: 230 KB per image).")
flags.DEFINE_bool("cache_features", False, "Frozen-base phases: run the base once per image and train the head "
                  "on the cached pooled features (many times faster per epoch on CPU; no image augmentation).")
flags.DEFINE_integer("shuffle_buffer", 2048, "Shuffle buffer, in examples.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed for weights init, shuffling and dropout.")

# Model
flags.DEFINE_enum("backbone", "efficientnet_lite0", available_backbones(), "Backbone from the registry.")
flags.DEFINE_string("weights", "imagenet", "'imagenet', 'none' (from scratch) or a path to a weights file.")
flags.DEFINE_string("head", STUDY_HEAD, "Head: 'gap' or comma-separated dense:UNITS / dropout:RATE layers.")

# Strategy and optimisation
flags.DEFINE_enum("strategy", "freeze_then_finetune", list(STRATEGIES), "Transfer-learning strategy.")
flags.DEFINE_integer("epochs", 10, "Epochs of the first phase (the head phase for frozen and "
                     "freeze_then_finetune).", lower_bound=1)
flags.DEFINE_integer("fine_tune_epochs", 20, "Maximum epochs of freeze_then_finetune's second phase.", lower_bound=0)
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate of the first phase, per replica.", lower_bound=0.0)
flags.DEFINE_float("fine_tune_learning_rate", 1e-4, "Learning rate of the fine-tuning phase, per replica.",
                   lower_bound=0.0)
flags.DEFINE_integer("unfreeze_top_layers", 20, "partial: how many top backbone layers with weights train "
                     "(rounded up to whole blocks).", lower_bound=1)
flags.DEFINE_float("lr_decay_rate", 0.9, "partial: exponential learning-rate decay per epoch.", lower_bound=0.0,
                   upper_bound=1.0)
flags.DEFINE_integer("reduce_lr_patience", 2, "ReduceLROnPlateau patience (factor 0.1) while fine-tuning.",
                     lower_bound=1)
flags.DEFINE_integer("early_stopping_patience", 3, "EarlyStopping patience while fine-tuning (best weights "
                     "restored).", lower_bound=1)
flags.DEFINE_integer("batch_size", 32, "Batch size per replica.", lower_bound=1)
flags.DEFINE_enum("optimizer", "adam", list(OPTIMIZERS), "adam, or adamw (decoupled weight decay).")
flags.DEFINE_float("weight_decay", 0.01, "adamw: decoupled weight decay.", lower_bound=0.0)
flags.DEFINE_enum("lr_schedule", "constant", list(LR_SCHEDULES), "constant (the fine-tuning phase then keeps "
                  "ReduceLROnPlateau, partial its exponential decay), or cosine decay to 0 over each phase.")
flags.DEFINE_float("warmup_epochs", 0.0, "cosine: linear warm-up from 0, in epochs, at the start of each phase.",
                   lower_bound=0.0)
flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing of the cross-entropy.", lower_bound=0.0, upper_bound=0.5)
flags.DEFINE_enum("class_weight", "none", list(CLASS_WEIGHTS), "balanced: weigh each class n / (classes x n_class) "
                  "in the loss, so rare classes count as much as common ones.")
flags.DEFINE_integer("steps_per_epoch", 0, "Limit on steps per epoch (0: the whole split); for smoke runs.",
                     lower_bound=0)

# Augmentation and evaluation
flags.DEFINE_enum("augment", "none", list(AUGMENTATIONS), "Training-batch augmentation: light (flip, rotation, zoom, "
                  "shift, brightness, contrast; no hue change) or randaugment (flip + RandAugment). Never applied "
                  "at evaluation, nor to --cache_features phases.")
flags.DEFINE_float("mixup", 0.0, "MixUp alpha on training batches (0: off).", lower_bound=0.0)
flags.DEFINE_float("cutmix", 0.0, "CutMix alpha on training batches (0: off); with --mixup too, one of the two per "
                   "batch.", lower_bound=0.0)
flags.DEFINE_enum("tta", "none", list(TTA_MODES), "Test-time augmentation of the final metrics: flip (image + mirror) "
                  "or flip_crops (+ a central 85 % crop and its mirror); probabilities are averaged.")
flags.DEFINE_enum("metadata_prior", "none", ["none", "month"], "month: also report the metrics with the image "
                  "probabilities re-weighted by p(class | month) of the training split (month_prior.json).")

# Precision and devices
flags.DEFINE_enum("precision", "auto", ["auto", "float32", "mixed_float16", "mixed_bfloat16"],
                  "auto: mixed_float16 on GPU, float32 on CPU (bfloat16 is slower than float32 on CPU).")
flags.DEFINE_enum("distribution", "auto", ["auto", "default", "mirrored", "multi_worker"],
                  "auto: mirrored with several GPUs, else default. multi_worker stops with an "
                  "explanation: Keras 3's fit does not support it yet (keras-team/keras#20585).")
flags.DEFINE_bool("jit_compile", False, "Compile train steps with XLA.")
flags.DEFINE_enum("runtime", "auto", list(RUNTIMES), "What runs the frozen base to extract features "
                  "(--cache_features, calibration): LiteRT (XNNPACK, several times faster on CPU, same numbers), "
                  "Keras, or auto: LiteRT without a GPU when there are at least 1,000 images to extract (below, "
                  "its ~15 s conversion costs more than it saves).")

# Outputs
flags.DEFINE_string("model_dir", None, "Where flags, labels, checkpoints, models, logs and metrics go.")
flags.DEFINE_bool("overwrite", False, "--model_dir holds a run trained with other flags: move it aside "
                  "(<model_dir>.replaced-<time>) and start afresh, instead of stopping.")
flags.DEFINE_bool("debug", False, "Show Python tracebacks instead of one-line errors (and on Ctrl-C).")


@flags.validator("head", message="--head must be 'gap' or dense:UNITS / dropout:RATE layers, comma-separated")
def _valid_head(value: str) -> bool:
    try:
        parse_head(value)
    except ValueError:
        return False
    return True


@flags.validator("weights", message="--weights must be 'imagenet', 'none' or an existing weights file")
def _valid_weights(value: str) -> bool:
    return value in ("imagenet", "none") or os.path.isfile(value)


@flags.validator("distribution", message=MULTI_WORKER_UNSUPPORTED)
def _supported_distribution(value: str) -> bool:
    return value != "multi_worker"


def mark_required() -> None:
    flags.mark_flag_as_required("model_dir")


def config_from_flags() -> TrainConfig:
    """The parsed flags as a TrainConfig (the trainer, tune and compare_backbones all start from it)."""
    values = flags.FLAGS
    return TrainConfig(**{field.name: getattr(values, field.name) for field in dataclasses.fields(TrainConfig)})

