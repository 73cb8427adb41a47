"""The data a model reads: tf.data input pipelines over the built dataset (the one split reader), photo metadata."""

EVAL_BATCH_SIZE = 32  # images per batch when a trained model scores or predicts
