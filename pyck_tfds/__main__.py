"""`python -m pyck_tfds build ...`: `tfds build` of pyck's dataset, quiet (see `pyck_tfds.tfds_cli`)."""

import sys

from pyck_tfds.tfds_cli import main

if __name__ == "__main__":
    main(sys.argv)
