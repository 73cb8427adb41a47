"""pyck's classifier library: what the trainer (`pyck_train`) and the evaluation (`pyck_eval`) both stand on.

- `model`: backbones and their specs, heads, the classifier, the one image preprocessing, feature extraction,
  the LiteRT runtime;
- `data`: the input pipelines and the one split reader, photo metadata (EXIF);
- `posthoc`: calibration and out-of-class scores, the month and location priors, test-time augmentation, the
  scores of a split per image and per observation;
- `run`: the run-directory contract (every file a model_dir holds) and its index page.

Nothing here imports the trainer or the evaluation; `tests/test_architecture.py` checks it.
"""

from pyck_tfds.console import quiet_tensorflow

quiet_tensorflow()  # before anything here imports TensorFlow; a TF_CPP_MIN_LOG_LEVEL the user set wins
