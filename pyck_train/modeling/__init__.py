"""pyck's model library: what the trainer and `pyck_eval` both stand on.

Backbones and their specs, heads, the classifier, image preprocessing, input pipelines,
feature extraction, test-time augmentation, the LiteRT runtime, calibration and
out-of-class scores, the month prior, scores, and the run-directory contract
(`run_directory`: every file name a run holds). Nothing here imports the trainer
(`pyck_train` flags, phases, tuning) nor `pyck_eval`; `tests/test_architecture.py` checks it.
"""
