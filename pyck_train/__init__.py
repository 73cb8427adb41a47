"""Training mushroom classifiers: `python -m pyck_train --flagfile=configs/quickstart.flags`."""

from pyck_tfds.console import quiet_tensorflow

quiet_tensorflow()  # before anything here imports TensorFlow; a TF_CPP_MIN_LOG_LEVEL the user set wins
