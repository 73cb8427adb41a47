"""Evaluating, explaining and exporting trained runs: `python -m pyck_eval <command>`."""

from pyck_tfds.console import quiet_tensorflow

quiet_tensorflow()  # before anything here imports TensorFlow; a TF_CPP_MIN_LOG_LEVEL the user set wins
