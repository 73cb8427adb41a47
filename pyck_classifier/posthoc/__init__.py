"""After the network: calibration, out-of-class scores, metadata priors, test-time augmentation, split scores."""
