"""Backbone registry: every entry builds flat from [0, 255] input, with its own preprocessing."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest

from pyck_classifier.model.backbones.preprocessing import ImageNetPreprocessing
from pyck_classifier.model.backbones.registry import (
    available_backbones,
    build_backbone,
    get_backbone_spec,
    offline_backbones,
)
from tests.conftest import run_python

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


OFFLINE = """
import socket, sys

def refuse(*args, **kwargs):
    raise OSError("Name or service not known (network access refused by the test)")

socket.socket.connect = refuse
socket.getaddrinfo = refuse
from pyck_classifier.model.backbones.registry import build_backbone
try:
    build_backbone("mobilenet_v3_small", "imagenet", input_shape=(96, 96, 3))
except RuntimeError as err:
    print(err)
"""


def test_offline_imagenet_download_fails_fast_naming_the_alternatives(tmp_path):
    # A subprocess whose KERAS_HOME is empty before Keras reads it: no cached weights, whatever this machine has.
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras")}
    result = run_python("-c", OFFLINE, timeout=300, env=env)
    assert "\ncould not download ImageNet weights for 'mobilenet_v3_small' (offline?)" in result.stdout, (
        result.stdout + result.stderr[-2000:])
    for alternative in ("efficientnet_lite0", "--weights=none", "--weights=PATH"):
        assert alternative in result.stdout
    assert not os.path.exists(tmp_path / "keras" / "models" / "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5")


# Each keras.applications backbone against its own module's preprocess_input: ours in a layer, or theirs inside.
KERAS_PREPROCESSING = {"vgg16": "vgg16", "vgg19": "vgg19", "resnet50": "resnet50", "inception_v3": "inception_v3",
                       "mobilenet_v3_small": "mobilenet_v3", "efficientnet_b0": "efficientnet",
                       "efficientnet_v2_b0": "efficientnet_v2"}


@pytest.mark.parametrize("name", sorted(KERAS_PREPROCESSING))
def test_each_backbone_normalises_as_its_keras_module_says(name):
    images = np.random.default_rng(0).uniform(0, 255, (2, 75, 75, 3)).astype(np.float32)  # InceptionV3's minimum
    expected = getattr(keras.applications, KERAS_PREPROCESSING[name]).preprocess_input(images.copy())
    model = build_backbone(name, "none", input_shape=(75, 75, 3))
    if not np.allclose(expected, images):  # keras expects the caller to normalise: our layer must do it
        ours = keras.Model(model.input, model.get_layer("imagenet_preprocessing").output)
        np.testing.assert_allclose(ours.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-4)
    else:  # the keras model normalises [0, 255] itself: nothing of ours in front of it
        assert "imagenet_preprocessing" not in [layer.name for layer in model.layers]
