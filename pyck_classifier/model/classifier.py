"""A classifier = backbone from the registry + head, with the backbone always in inference mode.

The backbone is one nested layer called with `training=False` (keras-io's EfficientNet
fine-tuning recipe), and its BatchNormalization layers never train (`strategies.apply_phase`),
so they keep their ImageNet statistics even while the base is fine-tuned. Keras 3 passes the
outer `training=True` through to a nested model whatever it was called with, which would switch
on the backbone's own stochastic-depth Dropout layers (EfficientNet's `block*_drop`) during
`fit`: their rate is set to 0, so the base computes while training exactly what it computes at
inference (and a head trained on cached features is the head a plain frozen phase trains).
Grad-CAM reaches the last convolution through `backbone_of(model)` and
`BackboneSpec.last_conv_layer`.
"""

from __future__ import annotations

import keras

from pyck_classifier.model.backbones.registry import build_backbone
from pyck_classifier.model.heads import build_head

BACKBONE_LAYER = "backbone"


def build_classifier(
    backbone: str, num_classes: int, *, weights: str = "imagenet", head: str = "gap",
    input_shape: tuple[int, int, int],
) -> keras.Model:
    """float RGB [0, 255] images of `input_shape` (the dataset's) in, class probabilities (float32) out."""
    inputs = keras.Input(shape=input_shape, name="image")
    base = build_backbone(backbone, weights, input_shape)
    base.name = BACKBONE_LAYER
    for layer in base.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    features = base(inputs, training=False)
    outputs = build_head(features, head, num_classes)
    return keras.Model(inputs, outputs, name=f"{backbone}_classifier")


def backbone_of(model: keras.Model) -> keras.Model:
    return model.get_layer(BACKBONE_LAYER)


def layers_after(model: keras.Model, name: str) -> list[keras.layers.Layer]:
    """The layers that follow layer `name` in the classifier's chain (to re-apply them to another input)."""
    names = [layer.name for layer in model.layers]
    return model.layers[names.index(name) + 1:]


def with_temperature(model: keras.Model, temperature: float) -> keras.Model:
    """The classifier answering softmax(log p / T): its calibrated probabilities (`posthoc.calibration`)."""
    calibrated = keras.ops.softmax(keras.ops.log(keras.ops.maximum(model.output, 1e-30)) / temperature)
    return keras.Model(model.input, calibrated, name="calibrated")
