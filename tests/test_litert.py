"""LiteRT conversion and runtime on small Keras models: same numbers as Keras, metadata, clear errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from pyck_classifier.model import feature_extraction, litert


def small_classifier(seed: int = 0) -> keras.Model:
    """A tiny image classifier with the classifier's contract: [0, 255] pixels in, normalised inside."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((48, 64, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(64, 3, strides=2, activation="relu")(x)  # weights that outweigh the file's overhead
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))


def images(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, 48, 64, 3)).astype(np.float32)


def test_float32_conversion_gives_the_keras_probabilities_and_carries_its_metadata():
    model = small_classifier()
    content = litert.convert(model, metadata={"labels": ["a", "b", "c", "d"], "input_size": [48, 64]})
    converted = litert.LiteRTModel(content)
    for batch in (images(5), images(1, seed=2), images(7, seed=3)):  # the interpreter resizes to each batch
        np.testing.assert_allclose(converted.predict_on_batch(batch), model.predict_on_batch(batch), atol=1e-4)
    assert converted.metadata == {"labels": ["a", "b", "c", "d"], "input_size": [48, 64]}
    assert converted.input_shape == (None, 48, 64, 3) and converted.output_size == 4
    assert litert.read_metadata(litert.convert(model)) is None


def test_quantized_conversions_are_smaller_and_stay_close():
    model = small_classifier()
    batch = images(16)
    reference = model.predict_on_batch(batch)
    sizes = {}
    for quantize in litert.QUANTIZATIONS:
        content = litert.convert(model, quantize, representative=lambda: (images(1, seed=s) for s in range(20)))
        sizes[quantize] = len(content)
        outputs = litert.LiteRTModel(content).predict_on_batch(batch)
        assert np.abs(outputs - reference).max() < (1e-4 if quantize == "none" else 0.1), quantize
    assert sizes["int8"] < sizes["none"] and sizes["dynamic"] < sizes["none"]
    with pytest.raises(ValueError, match="representative images"):
        litert.convert(model, "int8")


def test_a_corrupt_or_missing_export_is_one_clear_error(tmp_path):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(litert.ExportError, match="is not a LiteRT model.*export it again"):
        litert.LiteRTModel.from_file(str(bad))
    with pytest.raises(litert.ExportError, match="does not exist: export it with"):
        litert.LiteRTModel.from_file(str(tmp_path / "missing.tflite"))


def test_predict_batches_through_litert_equals_keras():
    model = small_classifier()
    extractor = keras.Model(model.input, model.layers[-2].output)
    batches = tf.data.Dataset.from_tensor_slices((images(20), np.arange(20))).batch(8)
    keras_rows, labels, _ = feature_extraction.predict_batches(extractor, batches)
    litert_rows, litert_labels, _ = feature_extraction.predict_batches(litert.runnable(extractor, "litert"), batches)
    np.testing.assert_allclose(litert_rows, keras_rows, atol=1e-4)
    np.testing.assert_array_equal(litert_labels, labels)
    assert litert.runnable(extractor, "keras") is extractor
    with pytest.raises(ValueError, match="unknown runtime"):
        litert.resolve_runtime("onnx")


def test_conversions_of_a_saved_model_are_cached_by_its_content(tmp_path, monkeypatch):
    monkeypatch.setenv("PYCK_CACHE_DIR", str(tmp_path / "cache"))
    model = small_classifier()
    path = str(tmp_path / "model.keras")
    model.save(path)
    calls = []
    real = litert.convert
    monkeypatch.setattr(litert, "convert", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = litert.cached_conversion(model, path, "probabilities")
    assert litert.cached_conversion(model, path, "probabilities") == first and len(calls) == 1
    litert.cached_conversion(model, path, "features")  # another variant of the same model converts again
    small_classifier(seed=5).save(path)  # new weights in the same file: a new entry
    litert.cached_conversion(model, path, "probabilities")
    assert len(calls) == 3
    assert not [p for p in (tmp_path / "cache").rglob("*.partial")]
