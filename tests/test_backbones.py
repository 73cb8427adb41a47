"""Backbone registry: every entry builds flat from [0, 255] input, with its own preprocessing."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pyck_train.modeling.backbones.preprocessing import ImageNetPreprocessing
from pyck_train.modeling.backbones.registry import (
    available_backbones,
    build_backbone,
    get_backbone_spec,
    offline_backbones,
)

HEAVY = {"efficientnet_b5", "efficientnet_b6", "efficientnet_b7"}


@pytest.mark.parametrize("name", [n for n in available_backbones() if n not in HEAVY])
def test_backbone_builds_flat_with_its_last_conv_layer(name):
    model = build_backbone(name, "none", input_shape=(240, 320, 3))
    assert model.input_shape == (None, 240, 320, 3)
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)  # flat: Grad-CAM can reach inside
    feature_map = model.get_layer(get_backbone_spec(name).last_conv_layer).output
    assert len(feature_map.shape) == 4
    assert len(model.output_shape) == 4


def test_registry_lists_the_study_backbones():
    expected = {"vgg16", "vgg19", "resnet50", "inception_v3", "mobilenet_v3_small", "mobilenet_v3_large",
                *(f"efficientnet_b{i}" for i in range(8)), *(f"efficientnet_v2_b{i}" for i in range(4)),
                "efficientnet_lite0"}
    assert expected <= set(available_backbones())
    assert "efficientnet_lite0" in offline_backbones()


@pytest.mark.parametrize("mode", ["caffe", "tf"])
def test_preprocessing_layer_matches_keras_preprocess_input(mode):
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    expected = keras.applications.imagenet_utils.preprocess_input(images.copy(), mode=mode)
    np.testing.assert_allclose(np.asarray(ImageNetPreprocessing(mode)(images)), expected, rtol=1e-5, atol=1e-4)


def test_model_with_preprocessing_round_trips_through_keras_format(tmp_path):
    model = build_backbone("vgg16", "none", input_shape=(64, 64, 3))
    path = tmp_path / "vgg.keras"
    model.save(path)
    images = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(keras.models.load_model(path).predict(images, verbose=0),
                               model.predict(images, verbose=0), rtol=1e-5)


def test_offline_imagenet_download_fails_fast_naming_the_alternatives(no_network, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no cached weights
    with pytest.raises(RuntimeError) as err:
        build_backbone("mobilenet_v3_small", "imagenet", input_shape=(96, 96, 3))
    for alternative in ("efficientnet_lite0", "--weights=none", "--weights=PATH"):
        assert alternative in str(err.value)


def test_weights_path_and_bad_names(tmp_path):
    source = build_backbone("efficientnet_lite0", "imagenet", input_shape=(64, 64, 3))
    path = str(tmp_path / "lite0.weights.h5")
    source.save_weights(path)
    reloaded = build_backbone("efficientnet_lite0", path, input_shape=(64, 64, 3))
    images = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), source.predict(images, verbose=0), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="neither"):
        build_backbone("efficientnet_lite0", str(tmp_path / "missing.h5"), (64, 64, 3))
    with pytest.raises(ValueError, match="available: "):
        build_backbone("resnet5", "none", (64, 64, 3))
