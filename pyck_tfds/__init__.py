"""Mushroom Observer as a TensorFlow Datasets dataset: `import pyck_tfds` registers `mushroom_observer`.

The dump reader (`pyck_tfds.dump`) and `python -m pyck_tfds.inspect` are pure pandas, so this
package does not import TensorFlow Datasets itself: the builder is registered as soon as
`tensorflow_datasets` is imported (at once when it already is, in either import order). Imported
before TensorFlow, it keeps TensorFlow's start-up lines off as pyck's commands do (`pyck_tfds.console`).
"""

import wrapt

from pyck_tfds.console import quiet_tensorflow

quiet_tensorflow()  # a TF_CPP_MIN_LOG_LEVEL the user set wins


def _register_builder(_tfds_module) -> None:
    import pyck_tfds.mushroom_observer  # noqa: F401  (defining the Builder class registers it with TFDS)


wrapt.register_post_import_hook(_register_builder, "tensorflow_datasets")


def __getattr__(name: str):
    if name == "MushroomObserver":
        from pyck_tfds.mushroom_observer import Builder

        return Builder
    raise AttributeError(f"module 'pyck_tfds' has no attribute {name!r}")


__all__ = ["MushroomObserver"]
