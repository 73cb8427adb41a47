"""Transfer-learning strategies as phases, each saying which backbone layers train.

- `frozen`: the head trains on a frozen base.
- `freeze_then_finetune`: the study's 0.79 recipe; a frozen phase, then the whole base at a
  lower learning rate.
- `unfreeze`: the whole base trains from the start.
- `partial`: only the top N backbone layers train, rounded up to whole blocks.

BatchNormalization layers never train, and the base runs in inference mode (see
`model.py`), so fine-tuning cannot wreck their ImageNet statistics.
"""

from __future__ import annotations

import dataclasses
import re

import keras

STRATEGIES = ("frozen", "freeze_then_finetune", "unfreeze", "partial")
# Name prefixes that group layers into blocks, per backbone family.
_BLOCK_PATTERNS = (
    r"^(block\d+[a-z]?)_",  # EfficientNet (+Lite, V2), VGG
    r"^(conv\d+_block\d+)_",  # ResNet
    r"^(expanded_conv(?:_\d+)?)_",  # MobileNetV3
    r"^(mixed\d+)",  # InceptionV3's last layer of a block
)


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


def block_of(layer_name: str) -> str | None:
    for pattern in _BLOCK_PATTERNS:
        match = re.match(pattern, layer_name)
        if match:
            return match.group(1)
    return None


def top_layers_by_block(base: keras.Model, count: int) -> set[str]:
    """Names of the top `count` layers with weights, extended down to the start of the block they cut into."""
    weighted = [layer for layer in base.layers if layer.weights]
    chosen = weighted[-count:] if count > 0 else []
    if chosen:
        first_block = block_of(chosen[0].name)
        if first_block is not None:
            start = next(i for i, layer in enumerate(weighted) if block_of(layer.name) == first_block)
            chosen = weighted[start:]
    return {layer.name for layer in chosen}


def apply_phase(base: keras.Model, phase: Phase, unfreeze_top_layers: int = 0) -> None:
    """Set `trainable` on the base's layers for `phase`; BatchNormalization layers stay frozen."""
    if phase.base == "none":
        base.trainable = False
        return
    base.trainable = True
    top = top_layers_by_block(base, unfreeze_top_layers) if phase.base == "top" else None
    for layer in base.layers:
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = not is_batch_norm and (top is None or layer.name in top)
