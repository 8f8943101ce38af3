"""skysift.detection: source detection and classification kernels (Zhao et al. 2025): labels, pasting, crops, merging; no Spark."""
