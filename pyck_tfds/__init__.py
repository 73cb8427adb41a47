"""Mushroom Observer as a TensorFlow Datasets dataset."""
