"""Optimiser, learning-rate schedule, loss and class weights of one training phase.

- `--optimizer=adam|adamw`: AdamW decouples weight decay from the gradient step
  (`--weight_decay`), the usual choice when fine-tuning a pre-trained base.
- `--lr_schedule=constant|cosine`: cosine decays to 0 over the phase after a linear warm-up
  of `--warmup_epochs`. With `constant`, the fine-tuning phase keeps the study's
  ReduceLROnPlateau and `partial` its exponential decay per epoch.
- `--label_smoothing`: categorical cross-entropy on smoothed one-hot labels (the training
  batches carry one-hot labels, which MixUp and CutMix need anyway).
- `--ema_momentum`: the optimizer keeps an exponential moving average of the weights (Keras's
  `use_ema`); `averaged_weights_callbacks` puts the averages in the model for validation and at
  every epoch's end, so the best checkpoint, early stopping and the epoch backup see them, and
  swaps the trained weights back before the next epoch trains.
- `--taxonomy_loss`: adds the cross-entropy of the genus and family probabilities (the sums of
  their classes') to a species or genus run's loss.
- `--class_weight=balanced`: each class weighs n / (classes x n_class) in the loss
  (scikit-learn's `compute_class_weight`), so a rare family counts as much as a common one.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from pyck_train.config import CLASS_WEIGHTS, LR_SCHEDULES, OPTIMIZERS


def learning_rate(schedule: str, rate: float, *, epochs: int, steps_per_epoch: int, warmup_epochs: float = 0.0,
                  exponential_decay: float | None = None):
    """A float for a constant rate, else a `LearningRateSchedule` over this phase's steps."""
    steps_per_epoch = max(steps_per_epoch, 1)
    if schedule == "cosine":
        warmup = int(round(warmup_epochs * steps_per_epoch))
        total = max(epochs * steps_per_epoch - warmup, 1)
        if warmup:
            return keras.optimizers.schedules.CosineDecay(0.0, total, warmup_target=rate, warmup_steps=warmup)
        return keras.optimizers.schedules.CosineDecay(rate, total)
    if schedule != "constant":
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose from {', '.join(LR_SCHEDULES)}")
    if exponential_decay is not None:
        return keras.optimizers.schedules.ExponentialDecay(rate, decay_steps=steps_per_epoch,
                                                           decay_rate=exponential_decay)
    return rate


def build_optimizer(name: str, rate, weight_decay: float = 0.0, ema_momentum: float = 0.0
                    ) -> keras.optimizers.Optimizer:
    """`name`'s optimizer; with `ema_momentum` > 0 it also keeps a moving average of the weights it trains."""
    averaged = dict(use_ema=True, ema_momentum=ema_momentum) if ema_momentum > 0 else {}
    if name == "adam":
        return keras.optimizers.Adam(rate, **averaged)
    if name == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=weight_decay, **averaged)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")


def averaged_weights_callbacks(ema_momentum: float) -> list[keras.callbacks.Callback]:
    """What makes a `build_optimizer(..., ema_momentum)` run validate and checkpoint its averaged weights: first
    in the callback list, so the callbacks after it see the averages at every epoch's end."""
    return [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if ema_momentum > 0 else []


def classification_loss(label_smoothing: float = 0.0, coarser: tuple[np.ndarray, ...] = (),
                        coarser_weight: float = 0.0, reduction: str | None = "sum_over_batch_size"
                        ) -> keras.losses.Loss:
    """Cross-entropy on one-hot (or mixed) labels, optionally smoothed; with `coarser` membership matrices
    (classes x taxa, `Taxonomy.membership`) and a weight, plus the cross-entropy at those levels (`TaxonomyLoss`).
    `reduction=None` gives each example's loss (the multi-worker loop's)."""
    if coarser and coarser_weight > 0:
        return TaxonomyLoss(coarser, coarser_weight, label_smoothing, reduction=reduction)
    return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing, reduction=reduction)


@keras.saving.register_keras_serializable(package="pyck")
class TaxonomyLoss(keras.losses.Loss):
    """Cross-entropy of the classes, plus `weight` x the mean cross-entropy of the summed probabilities at each
    coarser level (`--taxonomy_loss`): a mistake within the right genus costs less than one across families.
    The labels at a coarser level are the class labels summed over the same map, so mixed labels mix there too."""

    def __init__(self, membership, weight: float, label_smoothing: float = 0.0, name: str = "taxonomy_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.membership = [np.asarray(matrix, np.float32) for matrix in membership]
        self.weight, self.label_smoothing = float(weight), float(label_smoothing)

    def _cross_entropy(self, labels, probabilities):
        return keras.losses.categorical_crossentropy(labels, probabilities, label_smoothing=self.label_smoothing)

    def call(self, y_true, y_pred):
        coarser = [self._cross_entropy(keras.ops.matmul(y_true, matrix), keras.ops.matmul(y_pred, matrix))
                   for matrix in self.membership]
        return self._cross_entropy(y_true, y_pred) + self.weight * keras.ops.mean(keras.ops.stack(coarser), axis=0)

    def get_config(self) -> dict:
        return {**super().get_config(), "membership": [m.tolist() for m in self.membership],
                "weight": self.weight, "label_smoothing": self.label_smoothing}


def class_weights(mode: str, labels: np.ndarray, num_classes: int) -> dict[int, float] | None:
    """None for `none`; for `balanced`, n / (classes x n_class) per class present in `labels`."""
    if mode == "none":
        return None
    if mode != "balanced":
        raise ValueError(f"unknown class weighting {mode!r}; choose from {', '.join(CLASS_WEIGHTS)}")
    present = np.unique(labels)
    if len(present) < num_classes:
        missing = sorted(set(range(num_classes)) - set(present.tolist()))
        raise ValueError(f"class(es) {missing} have no training example: balanced weights are undefined")
    weights = compute_class_weight("balanced", classes=np.arange(num_classes), y=labels)
    return {i: float(w) for i, w in enumerate(weights)}
