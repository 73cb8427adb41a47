"""Trainer building blocks: shared preprocessing, heads, classifier, strategies, mixed precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from pyck_classifier.model.backbones.registry import available_backbones, get_backbone_spec
from pyck_classifier.model.classifier import backbone_of, build_classifier
from pyck_classifier.model.heads import STUDY_HEAD, parse_head
from pyck_classifier.model.image_preprocessing import decode_image, prepare_image
from pyck_train.strategies import apply_phase, phases

SMALL = (64, 96, 3)
LITE0 = get_backbone_spec("efficientnet_lite0")


def tiny_classifier(head: str = STUDY_HEAD) -> keras.Model:
    keras.utils.set_random_seed(0)  # the same weights whatever ran before
    return build_classifier("efficientnet_lite0", 3, weights="none", head=head, input_shape=SMALL)


def fit_one_step(model: keras.Model) -> float:
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    images = np.random.default_rng(0).uniform(0, 255, (4, *SMALL)).astype(np.float32)
    history = model.fit(images, np.array([0, 1, 2, 1]), epochs=1, batch_size=4, verbose=0)
    return history.history["loss"][-1]


def test_prepare_image_passes_dataset_size_and_crops_others():
    same = tf.constant(np.full((240, 320, 3), 7, np.uint8))
    assert np.array_equal(prepare_image(same, (240, 320)).numpy(), same.numpy())
    assert prepare_image(same, (240, 320)).dtype == tf.uint8
    portrait = np.zeros((400, 240, 3), np.uint8)
    portrait[:80] = 255  # top band: a centre crop to 4:3 removes it
    out = prepare_image(tf.constant(portrait), (240, 320)).numpy()
    assert out.shape == (240, 320, 3) and out.dtype == np.uint8 and out.max() == 0
    gray_png = tf.io.encode_png(tf.zeros((10, 10, 1), tf.uint8))
    assert decode_image(gray_png).shape == (10, 10, 3)


def test_head_spec_parsing():
    assert parse_head(STUDY_HEAD) == [("dense", 128), ("dropout", 0.25), ("dense", 32), ("dropout", 0.25)]
    assert parse_head("gap") == []
    for bad in ("dense:0", "dropout:1.5", "dense:12.5", "conv:3"):
        with pytest.raises(ValueError, match="bad head layer"):
            parse_head(bad)


def trainable_backbone_layers(model: keras.Model) -> set[str]:
    base = backbone_of(model)
    if not base.trainable:
        return set()
    return {layer.name for layer in base.layers if layer.trainable and layer.trainable_weights}


def weight_values(model: keras.Model) -> dict[str, np.ndarray]:
    return {w.path: np.array(w) for w in model.weights}


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["frozen", "freeze_then_finetune", "unfreeze", "partial"])
def test_which_layers_train_in_each_phase(strategy):
    model = tiny_classifier()
    base = backbone_of(model)
    head_weights = {w.path for w in model.trainable_weights if "head_" in w.path}
    for phase in phases(strategy):
        apply_phase(base, phase, LITE0, unfreeze_top_layers=5)
        trainable = trainable_backbone_layers(model)
        assert not any(isinstance(base.get_layer(n), keras.layers.BatchNormalization) for n in trainable)
        assert head_weights <= {w.path for w in model.trainable_weights}
        if phase.base == "none":
            assert trainable == set()
        elif phase.base == "all":
            convs = {layer.name for layer in base.layers if isinstance(layer, keras.layers.Conv2D)}
            assert convs <= trainable
        else:  # top 5 layers with weights cut into block7a: the whole block trains, nothing below it
            assert trainable == {"top_conv", "block7a_expand_conv", "block7a_dwconv", "block7a_project_conv"}
        # One optimiser step moves only the weights that should train: the head's and these layers' (never
        # BatchNormalization's statistics: the base runs in inference mode even while fine-tuned). A weight
        # whose gradient is 0 on this batch (a saturated ReLU6) may stay put, so each group is checked as a whole.
        before = weight_values(model)
        fit_one_step(model)
        moved = {path for path, value in weight_values(model).items() if not np.array_equal(value, before[path])}
        base_weights = {w.path for name in trainable for w in base.get_layer(name).trainable_weights}
        assert moved <= head_weights | base_weights, sorted(moved - head_weights - base_weights)[:5]
        assert moved & head_weights and (bool(moved & base_weights) == bool(base_weights))


def test_block_names_of_registry_backbones():
    assert get_backbone_spec("efficientnet_b3").block_of("block6d_project_conv") == "block6d"
    assert get_backbone_spec("resnet50").block_of("conv5_block3_2_conv") == "conv5_block3"
    assert get_backbone_spec("mobilenet_v3_small").block_of("expanded_conv_10_depthwise") == "expanded_conv_10"
    assert get_backbone_spec("vgg16").block_of("block5_conv3") == "block5"
    assert LITE0.block_of("top_conv") is None
    assert all(get_backbone_spec(name).block_pattern for name in available_backbones() if not name.startswith("test_"))


@pytest.mark.slow
def test_the_backbone_computes_in_training_what_it_computes_at_inference():
    model = tiny_classifier(head="gap")  # no dropout of the head's own
    images = np.random.default_rng(0).uniform(0, 255, (2, *SMALL)).astype(np.float32)
    for phase in phases("unfreeze"):
        apply_phase(backbone_of(model), phase, LITE0)
    np.testing.assert_allclose(np.asarray(model(images, training=True)), np.asarray(model(images, training=False)),
                               atol=1e-6)


@pytest.mark.slow
def test_mixed_precision_on_cpu_keeps_float32_output():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = tiny_classifier(head="gap")
        assert backbone_of(model).get_layer("stem_conv").compute_dtype == "float16"
        assert model.output.dtype == "float32"
        apply_phase(backbone_of(model), phases("frozen")[0], LITE0)
        assert np.isfinite(fit_one_step(model))  # loss scaling keeps float16 gradients finite
        probabilities = model.predict(np.zeros((2, *SMALL), np.float32), verbose=0)
        assert probabilities.dtype == np.float32 and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    finally:
        keras.mixed_precision.set_global_policy("float32")
