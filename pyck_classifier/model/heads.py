"""Classification heads from a short spec: `gap` or `dense:128,dropout:0.25,dense:32,dropout:0.25`.

Every head starts with global average pooling of the backbone's feature map and ends with a
softmax kept in float32, so mixed precision never produces float16 probabilities.
"""

from __future__ import annotations

STUDY_HEAD = "dense:128,dropout:0.25,dense:32,dropout:0.25"
# Layer names other modules reach for: pooled features, logits, and the float32 softmax.
POOL_LAYER = "head_pool"
LOGITS_LAYER = "head_logits"
PROBABILITIES_LAYER = "probabilities"


def parse_head(spec: str) -> list[tuple[str, float]]:
    """`"dense:128,dropout:0.25"` -> [("dense", 128), ("dropout", 0.25)]; `"gap"` -> []."""
    spec = spec.strip().lower()
    if spec == "gap":
        return []
    layers = []
    for token in spec.split(","):
        kind, _, value = token.strip().partition(":")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if kind == "dense" and number.is_integer() and number >= 1:
            layers.append(("dense", int(number)))
        elif kind == "dropout" and 0.0 <= number < 1.0:
            layers.append(("dropout", number))
        else:
            raise ValueError(
                f"bad head layer {token.strip()!r} in {spec!r}: use dense:UNITS (UNITS >= 1) or dropout:RATE "
                "(0 <= RATE < 1), comma-separated, or 'gap'"
            )
    return layers


def build_head(features, spec: str, num_classes: int):
    """Apply the head to a 4-D feature map; returns float32 class probabilities."""
    import keras

    x = keras.layers.GlobalAveragePooling2D(name=POOL_LAYER)(features)
    for i, (kind, value) in enumerate(parse_head(spec)):
        if kind == "dense":
            x = keras.layers.Dense(value, activation="relu", name=f"head_dense_{i}")(x)
        else:
            x = keras.layers.Dropout(value, name=f"head_dropout_{i}")(x)
    logits = keras.layers.Dense(num_classes, name=LOGITS_LAYER)(x)
    return keras.layers.Activation("softmax", dtype="float32", name=PROBABILITIES_LAYER)(logits)
