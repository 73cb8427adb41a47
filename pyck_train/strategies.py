"""Transfer-learning strategies as phases, each saying which backbone layers train.

- `frozen`: the head trains on a frozen base.
- `freeze_then_finetune`: the study's 0.79 recipe; a frozen phase, then the whole base at a
  lower learning rate.
- `unfreeze`: the whole base trains from the start.
- `partial`: only the top N backbone layers train, rounded up to whole blocks.

BatchNormalization layers never train, and the base runs in inference mode (see
`pyck_classifier/model/classifier.py`), so fine-tuning cannot wreck their ImageNet statistics.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from pyck_classifier.model.backbones.registry import BackboneSpec

if TYPE_CHECKING:
    import keras

STRATEGIES = ("frozen", "freeze_then_finetune", "unfreeze", "partial")


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str
    base: str  # "none" | "all" | "top"


def phases(strategy: str) -> list[Phase]:
    if strategy == "frozen":
        return [Phase("head", "none")]
    if strategy == "freeze_then_finetune":
        return [Phase("head", "none"), Phase("finetune", "all")]
    if strategy == "unfreeze":
        return [Phase("full", "all")]
    if strategy == "partial":
        return [Phase("partial", "top")]
    raise ValueError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}")


def top_layers_by_block(base: keras.Model, count: int, spec: BackboneSpec) -> set[str]:
    """Names of the top `count` layers with weights, extended down to the start of the block they cut into."""
    weighted = [layer for layer in base.layers if layer.weights]
    chosen = weighted[-count:] if count > 0 else []
    if chosen:
        first_block = spec.block_of(chosen[0].name)
        if first_block is not None:
            start = next(i for i, layer in enumerate(weighted) if spec.block_of(layer.name) == first_block)
            chosen = weighted[start:]
    return {layer.name for layer in chosen}


def apply_phase(base: keras.Model, phase: Phase, spec: BackboneSpec, unfreeze_top_layers: int = 0) -> None:
    """Set `trainable` on the base's layers for `phase`; BatchNormalization layers stay frozen.

    `partial` unfreezes whole blocks by the backbone's block pattern (`BackboneSpec.block_pattern`).
    """
    import keras

    if phase.base == "none":
        base.trainable = False
        return
    base.trainable = True
    top = top_layers_by_block(base, unfreeze_top_layers, spec) if phase.base == "top" else None
    for layer in base.layers:
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = not is_batch_norm and (top is None or layer.name in top)
