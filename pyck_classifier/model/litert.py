"""LiteRT (TensorFlow Lite) conversion and a CPU runtime for frozen networks.

On a CPU, the same weights run several times faster through LiteRT's XNNPACK kernels than
through Keras, with the same numbers (float32: ~1e-6 apart). The runtime is the
`ai-edge-litert` interpreter: TensorFlow's own `tf.lite.Interpreter` is deprecated in its
favour. Conversion needs TensorFlow; running a converted model does not.

A converted model carries pyck's metadata (labels, input size, the pixel contract) in the
flatbuffer's standard `metadata` table under the name "pyck", readable without TensorFlow.
Conversions of a saved model are cached by the model file's hash (`PYCK_CACHE_DIR`, default
~/.cache/pyck), so the ~15 s conversion is paid once per model and variant.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterable

import numpy as np

from pyck_classifier.run.atomic_write import write_bytes_atomically
from pyck_classifier.usable_cpus import usable_cpus
from pyck_tfds.console import silenced_stderr

METADATA_NAME = "pyck"
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
RUNTIMES = ("auto", "keras", "litert")
FORMAT_VERSION = 1  # bump when a conversion of the same model would differ, so caches are not reused


class ExportError(ValueError):
    """A LiteRT file that cannot be used: missing, not a LiteRT model, or without pyck's metadata."""


def convert(model, quantize: str = "none", representative: Callable[[], Iterable[np.ndarray]] | None = None,
            metadata: dict | None = None) -> bytes:
    """The Keras `model` as LiteRT flatbuffer bytes (float inputs and outputs whatever the quantization).

    `int8` quantizes weights and activations, calibrated on the float32 batches `representative` yields.
    """
    import tensorflow as tf

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantize!r}: use one of {', '.join(QUANTIZATIONS)}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        if representative is None:
            raise ValueError("int8 quantization needs representative images to calibrate the activations")
        converter.representative_dataset = lambda: ([batch] for batch in representative())
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    tf_logger, level = logging.getLogger("tensorflow"), logging.getLogger("tensorflow").level
    tf_logger.setLevel(logging.ERROR)  # "Assets written to ..." of the SavedModel the converter goes through
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints that SavedModel's signatures
            content = converter.convert()
    finally:
        tf_logger.setLevel(level)
    return with_metadata(content, metadata) if metadata is not None else content


def with_metadata(content: bytes, metadata: dict) -> bytes:
    """`content` with `metadata` (JSON) in the flatbuffer's metadata table, as TFLite's own tools store it."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata).encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_NAME.encode()] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def read_metadata(content: bytes) -> dict | None:
    """pyck's metadata of a LiteRT model, None when it has none (no TensorFlow needed)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    for i in range(model.MetadataLength()):
        if model.Metadata(i).Name() == METADATA_NAME.encode():
            return json.loads(model.Buffers(model.Metadata(i).Buffer()).DataAsNumpy().tobytes())
    return None


class LiteRTModel:
    """A LiteRT model with Keras's `predict_on_batch`: float32 images in, the model's float32 outputs back."""

    def __init__(self, content: bytes, threads: int | None = None, name: str = "model"):
        from ai_edge_litert.interpreter import Interpreter

        self.content, self.name = content, name
        try:
            self.interpreter = Interpreter(model_content=content, num_threads=threads or usable_cpus())
        except ValueError as err:
            raise ExportError(f"{name} is not a LiteRT model ({err}); export it again") from None
        (self._input,), (self._output,) = (self.interpreter.get_input_details(),
                                            self.interpreter.get_output_details())
        self._batch = None

    @classmethod
    def from_file(cls, path: str, threads: int | None = None) -> LiteRTModel:
        if not os.path.isfile(path):
            raise ExportError(f"{path} does not exist: export it with `python -m pyck_eval export --model_dir=...`")
        with open(path, "rb") as f:
            return cls(f.read(), threads, name=path)

    @property
    def metadata(self) -> dict | None:
        return read_metadata(self.content)

    @property
    def input_shape(self) -> tuple:
        return (None, *(int(v) for v in self._input["shape"][1:]))

    @property
    def output_size(self) -> int:
        return int(self._output["shape"][-1])

    def predict_on_batch(self, images) -> np.ndarray:
        images = np.asarray(images, np.float32)
        if self._batch != len(images):
            self.interpreter.resize_tensor_input(self._input["index"], images.shape)
            # The first allocation prints "INFO: Created TensorFlow Lite XNNPACK delegate" from C++.
            with silenced_stderr() if self._batch is None else contextlib.nullcontext():
                self.interpreter.allocate_tensors()
            self._batch = len(images)
        self.interpreter.set_tensor(self._input["index"], images)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"]).copy()


def _cache_dir() -> str:
    return os.environ.get("PYCK_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "pyck")


def cached_conversion(model, source_file: str | None, variant: str) -> bytes:
    """`convert(model)` (float32), read from the cache when `source_file` (the saved model) was converted before."""
    if source_file is None:
        return convert(model)
    with open(source_file, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:32]
    path = os.path.join(_cache_dir(), "litert", f"{digest}_{variant}_v{FORMAT_VERSION}.tflite")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return f.read()
    content = convert(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_bytes_atomically(path, content)
    return content


def resolve_runtime(runtime: str) -> str:
    """`auto`: LiteRT on a machine without a GPU, Keras with one (LiteRT's GPU path is not used)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}: use one of {', '.join(RUNTIMES)}")
    if runtime != "auto":
        return runtime
    import tensorflow as tf

    return "keras" if tf.config.list_physical_devices("GPU") else "litert"


def runnable(model, runtime: str, source_file: str | None = None, variant: str = "model"):
    """`model` itself (Keras), or its LiteRT conversion with the same `predict_on_batch`."""
    if resolve_runtime(runtime) == "keras":
        return model
    return LiteRTModel(cached_conversion(model, source_file, variant), name=f"{variant} (LiteRT)")
