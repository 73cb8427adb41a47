"""The model: backbones (registry), heads, the classifier, the one image preprocessing, feature extraction, LiteRT."""
