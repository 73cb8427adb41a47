"""`TrainConfig`: every training setting, its default, its help and its allowed values, in one place.

`python -m pyck_train`'s flags are generated from these fields (`pyck_tfds.options`), so a
config built in Python and the command line with the same values train the same model.
Batch size and learning rates are per replica: with N replicas the global batch is
N x batch_size and the learning rates are multiplied by N (linear scaling rule).
No TensorFlow here: `--help` and flag parsing stay fast.
"""

from __future__ import annotations

import dataclasses

from pyck_classifier.model.backbones.registry import available_backbones
from pyck_classifier.model.heads import STUDY_HEAD
from pyck_classifier.model.litert import RUNTIMES
from pyck_classifier.posthoc.binned_prior import METADATA_PRIORS
from pyck_classifier.posthoc.test_time_augmentation import TTA_HELP, TTA_MODES
from pyck_tfds.built_datasets import DEFAULT_DATASET
from pyck_tfds.options import option
from pyck_train.strategies import STRATEGIES

AUGMENTATIONS = ("none", "light", "randaugment")
OPTIMIZERS = ("adam", "adamw")
LR_SCHEDULES = ("constant", "cosine")
CLASS_WEIGHTS = ("none", "balanced")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
DISTRIBUTIONS = ("auto", "default", "mirrored", "multi_worker")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    model_dir: str = option(help="Where flags, labels, checkpoints, models, logs and metrics go.")
    # Data
    dataset: str = option(DEFAULT_DATASET, "TFDS name/config to train on.")
    data_dir: str | None = option(None, "The --data_dir given to `tfds build` (default: TFDS's own).")
    train_subset: int = option(0, "Train on the first N training examples only (0: all), as the study did for "
                                "tuning.", lower=0)
    cache: bool = option(True, "Cache decoded images in memory after the first epoch (uint8: 230 KB per image).")
    cache_features: bool = option(False, "Frozen-base phases: run the base once per image and train the head on "
                                   "the cached pooled features (many times faster per epoch on CPU; no image "
                                   "augmentation).")
    shuffle_buffer: int = option(2048, "Shuffle buffer, in examples.", lower=1)
    seed: int = option(0, "Seed for weights init, shuffling and dropout.")
    # Model
    backbone: str = option("efficientnet_lite0", "Backbone from the registry.", choices=available_backbones())
    weights: str = option("imagenet", "'imagenet', 'none' (from scratch) or a path to a weights file.")
    head: str = option(STUDY_HEAD, "Head: 'gap' or comma-separated dense:UNITS / dropout:RATE layers.")
    # Transfer recipe and optimisation
    strategy: str = option("freeze_then_finetune", "Transfer-learning strategy (the phases and which backbone "
                            "layers each trains).", choices=STRATEGIES)
    epochs: int = option(10, "Epochs of the first phase (the head phase for frozen and freeze_then_finetune).",
                          lower=1)
    fine_tune_epochs: int = option(20, "Maximum epochs of freeze_then_finetune's second phase.", lower=0)
    learning_rate: float = option(1e-3, "Learning rate of the first phase, per replica.", lower=0.0)
    fine_tune_learning_rate: float = option(1e-4, "Learning rate of the fine-tuning phase, per replica.", lower=0.0)
    unfreeze_top_layers: int = option(20, "partial: how many top backbone layers with weights train (rounded up "
                                       "to whole blocks).", lower=1)
    lr_decay_rate: float = option(0.9, "partial: exponential learning-rate decay per epoch.", lower=0.0, upper=1.0)
    reduce_lr_patience: int = option(2, "ReduceLROnPlateau patience (factor 0.1) while fine-tuning.", lower=1)
    early_stopping_patience: int = option(3, "EarlyStopping patience while fine-tuning (best weights restored).",
                                           lower=1)
    batch_size: int = option(32, "Batch size per replica.", lower=1)
    steps_per_epoch: int = option(0, "Limit on steps per epoch (0: the whole split); for smoke runs.", lower=0)
    optimizer: str = option("adam", "adam, or adamw (decoupled weight decay).", choices=OPTIMIZERS)
    weight_decay: float = option(0.01, "adamw: decoupled weight decay.", lower=0.0)
    lr_schedule: str = option("constant", "constant (the fine-tuning phase then keeps ReduceLROnPlateau, partial "
                               "its exponential decay), or cosine decay to 0 over each phase.", choices=LR_SCHEDULES)
    warmup_epochs: float = option(0.0, "cosine: linear warm-up from 0, in epochs, at the start of each phase.",
                                   lower=0.0)
    label_smoothing: float = option(0.0, "Label smoothing of the cross-entropy.", lower=0.0, upper=0.5)
    taxonomy_loss: float = option(0.0, "A species or genus run: add this weight x the mean cross-entropy of the "
                                  "summed probabilities at each coarser level (genus, family) to the loss (0: off).",
                                  lower=0.0)
    ema_momentum: float = option(0.0, "Keep an exponential moving average of the weights with this momentum "
                                 "(e.g. 0.99; 0: off): validation, the best checkpoint and the final model use the "
                                 "averaged weights, training goes on from the trained ones.", lower=0.0, upper=0.9999)
    class_weight: str = option("none", "balanced: weigh each class n / (classes x n_class) in the loss, so rare "
                                "classes count as much as common ones.", choices=CLASS_WEIGHTS)
    # Augmentation and evaluation
    augment: str = option("none", "Training-batch augmentation: light (flip, rotation, zoom, shift, brightness, "
                           "contrast; no hue change) or randaugment (flip + RandAugment). Never applied at "
                           "evaluation, nor to --cache_features phases.", choices=AUGMENTATIONS)
    mixup: float = option(0.0, "MixUp alpha on training batches (0: off).", lower=0.0)
    cutmix: float = option(0.0, "CutMix alpha on training batches (0: off); with --mixup too, one of the two per "
                            "batch.", lower=0.0)
    tta: str = option("none", f"Of the final metrics. {TTA_HELP}", choices=TTA_MODES)
    metadata_prior: str = option("none", "month: also report the metrics with the image probabilities re-weighted "
                                  "by p(class | month) of the training split (month_prior.json); location: by "
                                  "p(class | 10-degree latitude/longitude cell) (location_prior.json; *_csv datasets "
                                  "carry coordinates); month+location: by both, and each alone.",
                                  choices=METADATA_PRIORS)
    # Precision and devices
    precision: str = option("auto", "auto: mixed_float16 on GPU, float32 on CPU (bfloat16 is slower than float32 "
                             "on CPU).", choices=PRECISIONS)
    distribution: str = option("auto", "tf.distribute strategy. auto: mirrored with several GPUs, else default. "
                                "multi_worker: every machine of TF_CONFIG's cluster trains (MultiWorkerMirrored"
                                "Strategy, a custom loop over strategy.run since Keras 3's fit cannot); the chief "
                                "writes model_dir, which must be shared storage (BUILD.md).", choices=DISTRIBUTIONS)
    data_service: str | None = option(None, "grpc://HOST:PORT of a tf.data service dispatcher (`python -m "
                                       "pyck_train.data_service`): its workers read, decode, prepare, augment and "
                                       "batch the training split, each example once per epoch; the training split is "
                                       "then not cached here and its order is not a function of the seed. With "
                                       "--distribution=multi_worker the workers share one job: each batch goes to "
                                       "one of them.")
    jit_compile: bool = option(False, "Compile train steps with XLA.")
    runtime: str = option("auto", "What runs the frozen base to extract features (--cache_features, calibration): "
                           "LiteRT (XNNPACK, several times faster on CPU, same numbers), Keras, or auto: LiteRT "
                           "without a GPU when there are at least 1,000 images to extract (below, its ~15 s "
                           "conversion costs more than it saves).", choices=RUNTIMES)

    def to_flagfile(self) -> str:
        """A flagfile that reproduces this config with `python -m pyck_train --flagfile=...`."""
        lines = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool):
                lines.append(f"--{field.name}" if value else f"--no{field.name}")
            elif value is not None:
                lines.append(f"--{field.name}={value}")
        return "\n".join(lines) + "\n"
