"""Grad-CAM and Grad-CAM++ for a pyck classifier, whatever registry backbone it holds.

The backbone is nested in the classifier as one layer, so a model from the classifier's input
to an inner conv layer would be "Graph disconnected". Instead the gradient model runs over the
inner base (image -> [chosen conv map, base output]) and the classifier's head layers are
re-applied to the base output inside the tape, up to the logits (pre-softmax scores).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from pyck_classifier.model.backbones.registry import get_backbone_spec
from pyck_classifier.model.classifier import BACKBONE_LAYER, backbone_of, layers_after
from pyck_classifier.model.heads import PROBABILITIES_LAYER


class GradCam:
    def __init__(self, classifier: keras.Model, backbone: str | None = None, layer: str | None = None):
        """`layer` (a layer of the nested base) defaults to the registry's last conv layer of `backbone`."""
        base = backbone_of(classifier)
        if layer is None:
            if backbone is None:
                raise ValueError("give the registry backbone name or --layer")
            layer = get_backbone_spec(backbone).last_conv_layer
        try:
            conv = base.get_layer(layer)
        except ValueError:
            convs = [lay.name for lay in base.layers if isinstance(lay, keras.layers.Conv2D)][-5:]
            raise ValueError(f"layer {layer!r} is not in backbone {base.name!r}; its last conv layers: {convs}"
                             ) from None
        self.layer = layer
        self.conv_and_base = keras.Model(base.inputs, [conv.output, base.output], name="grad_cam_base")
        self.head = [lay for lay in layers_after(classifier, BACKBONE_LAYER) if lay.name != PROBABILITIES_LAYER]

    def conv_map_and_logits(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        conv, x = self.conv_and_base(images, training=False)
        for layer in self.head:
            x = layer(x, training=False)
        return tf.cast(conv, tf.float32), tf.cast(x, tf.float32)

    def heatmaps(self, images: np.ndarray, classes: np.ndarray | None = None, plus: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
        """(n, h, w) heatmaps in [0, 1] at the conv map's resolution, for `classes` (default: the predicted
        ones), and the (n, classes) probabilities."""
        images = tf.convert_to_tensor(images, tf.float32)
        with tf.GradientTape() as tape:
            conv, logits = self.conv_map_and_logits(images)
            if classes is None:
                classes = tf.argmax(logits, axis=1)
            score = tf.gather(logits, tf.convert_to_tensor(classes, tf.int64), axis=1, batch_dims=1)
        grads = tape.gradient(score, conv)
        if plus:
            weights = _grad_cam_plus_plus_weights(conv, grads)
        else:
            weights = tf.reduce_mean(grads, axis=(1, 2))
        cam = tf.nn.relu(tf.einsum("nhwc,nc->nhw", conv, weights))
        peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
        cam = tf.math.divide_no_nan(cam, peak)
        return cam.numpy(), tf.nn.softmax(logits).numpy()


def _grad_cam_plus_plus_weights(conv: tf.Tensor, grads: tf.Tensor) -> tf.Tensor:
    """Chattopadhyay et al. 2018: pixel-wise alphas from 2nd/3rd powers of the gradients (exp(score) form)."""
    grads_2, grads_3 = grads ** 2, grads ** 3
    total = tf.reduce_sum(conv, axis=(1, 2), keepdims=True)
    alpha = tf.math.divide_no_nan(grads_2, 2.0 * grads_2 + total * grads_3)
    return tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2))
