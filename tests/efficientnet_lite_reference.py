"""An independent numpy forward pass of an EfficientNet-Lite PyTorch state dict (NCHW, OIHW).

Written from the architecture's definition, not from the Keras port: TF "SAME" padding is
computed here from its formula, convolutions are explicit sliding-window products.
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-3
STAGES = [(1, 3, 1, 1), (2, 3, 2, 6), (2, 5, 2, 6), (3, 3, 2, 6), (3, 5, 1, 6), (4, 5, 2, 6), (1, 3, 1, 6)]


def same_pad(x: np.ndarray, k: int, s: int) -> np.ndarray:
    _, _, h, w = x.shape
    pads = []
    for size in (h, w):
        out = math.ceil(size / s)
        total = max((out - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))


def conv(x: np.ndarray, weight: np.ndarray, stride: int) -> np.ndarray:
    k = weight.shape[-1]
    x = same_pad(x, k, stride)
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,ocij->nohw", windows, weight, optimize=True)


def depthwise(x: np.ndarray, weight: np.ndarray, stride: int) -> np.ndarray:
    k = weight.shape[-1]
    x = same_pad(x, k, stride)
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,cij->nchw", windows, weight[:, 0], optimize=True)


def bn(x: np.ndarray, sd: dict, key: str) -> np.ndarray:
    scale = sd[f"{key}.weight"] / np.sqrt(sd[f"{key}.running_var"] + EPS)
    shift = sd[f"{key}.bias"] - sd[f"{key}.running_mean"] * scale
    return x * scale[None, :, None, None] + shift[None, :, None, None]


def relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 6.0)


def lite0_logits(images_nhwc: np.ndarray, sd: dict) -> np.ndarray:
    """Logits of EfficientNet-Lite0 for float RGB images in [0, 255], NHWC."""
    x = ((images_nhwc.astype(np.float64) - 127.0) / 128.0).transpose(0, 3, 1, 2)
    sd = {k: v.astype(np.float64) for k, v in sd.items()}
    x = relu6(bn(conv(x, sd["_conv_stem.weight"], 2), sd, "_bn0"))
    index = 0
    for repeats, kernel, stride, expand in STAGES:
        for j in range(repeats):
            key = f"_blocks.{index}"
            inputs = x
            if expand != 1:
                x = relu6(bn(conv(x, sd[f"{key}._expand_conv.weight"], 1), sd, f"{key}._bn0"))
            x = relu6(bn(depthwise(x, sd[f"{key}._depthwise_conv.weight"], stride if j == 0 else 1), sd, f"{key}._bn1"))
            x = bn(conv(x, sd[f"{key}._project_conv.weight"], 1), sd, f"{key}._bn2")
            if (stride if j == 0 else 1) == 1 and x.shape == inputs.shape:
                x = x + inputs
            index += 1
    x = relu6(bn(conv(x, sd["_conv_head.weight"], 1), sd, "_bn1"))
    pooled = x.mean(axis=(2, 3))
    return pooled @ sd["_fc.weight"].T + sd["_fc.bias"]
