"""Mushroom Observer as a TensorFlow Datasets dataset: `import pyck_tfds` registers `mushroom_observer`.

The dump reader (`pyck_tfds.dump`) and `python -m pyck_tfds.inspect` are pure pandas, so this
package does not import TensorFlow Datasets itself: the builder is registered as soon as
`tensorflow_datasets` is imported (at once when it already is, in either import order).
"""

import wrapt


def _register_builder(_tfds_module) -> None:
    import pyck_tfds.mushroom_observer  # noqa: F401  (defining the Builder class registers it with TFDS)


wrapt.register_post_import_hook(_register_builder, "tensorflow_datasets")


def __getattr__(name: str):
    if name == "MushroomObserver":
        from pyck_tfds.mushroom_observer import Builder

        return Builder
    raise AttributeError(f"module 'pyck_tfds' has no attribute {name!r}")


__all__ = ["MushroomObserver"]
